"""Every use case a traced function runs (a layer function its handler hands the runtime)
is marked ``traced``, so its database time is a subsegment of the function's trace
(``tests/integration/test_tracing.py`` shows one reaching the X-Ray daemon). The ingest
functions, whose callers wait on a cold start, never load the X-Ray SDK."""

from __future__ import annotations

import ast
import importlib
import inspect
from collections.abc import Callable, Iterator
from types import ModuleType
from typing import Any

import pytest

from funnel.operations.replay import replay
from funnel.platform.observability import traced

TRACED = [
    "leads_admin_handler",
    "retention_handler",
    "migrate_handler",
    "buffer_handler",
    "rollup_handler",
    "metrics_handler",
]
UNTRACED = ["webhook_handler", "collect_handler", "health_handler", "unsubscribe_handler"]
# What a handler builds with the runtime, rather than calls: the use case it runs.
RUNS: dict[str, Callable[..., Any]] = {"BatchReplayer": replay}
# Every traced use case is the same wrapper around its function.
TRACED_CODE = traced(lambda: None).__code__


def _hands_the_runtime(argument: ast.expr) -> bool:
    """``app.runtime()``, ``get_runtime()`` or ``get_runtime``."""
    if isinstance(argument, ast.Call):
        argument = argument.func
    return (isinstance(argument, ast.Attribute) and argument.attr == "runtime") or (
        isinstance(argument, ast.Name) and argument.id == "get_runtime"
    )


def use_cases(module: ModuleType) -> Iterator[tuple[str, Callable[..., Any]]]:
    """What the handler module hands the runtime to, by name."""
    for node in ast.walk(ast.parse(inspect.getsource(module))):
        if isinstance(node, ast.Call) and node.args and _hands_the_runtime(node.args[0]):
            assert isinstance(node.func, ast.Name), ast.unparse(node)
            name = node.func.id
            yield name, RUNS.get(name, getattr(module, name))


@pytest.mark.parametrize("name", TRACED)
def test_every_use_case_of_a_traced_function_is_traced(name: str) -> None:
    module = importlib.import_module(name)
    assert module.observability.traced
    found = dict(use_cases(module))
    assert found, f"{name} hands the runtime to nothing"
    assert [case for case, function in found.items() if function.__code__ is not TRACED_CODE] == []


@pytest.mark.parametrize("name", UNTRACED)
def test_the_ingest_functions_are_not_traced(name: str) -> None:
    assert not importlib.import_module(name).observability.traced

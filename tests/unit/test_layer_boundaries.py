"""The domain and its use cases take plain values, never HTTP types: no module of the
domain's sub-packages imports the HTTP resolver (``funnel.platform.http``) or Powertools'
event handler, read from their import statements (so an import inside a function counts
too)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

LAYER = Path(__file__).resolve().parents[2] / "layers" / "funnel" / "funnel"
DOMAIN = ("capture", "webhooks", "privacy", "readmodel", "metrics")
HTTP = ("funnel.platform.http", "aws_lambda_powertools.event_handler")


def imported_modules(path: Path, layer: Path = LAYER) -> set[str]:
    """Every module ``path`` imports: ``import a.b`` is ``a.b``; ``from a import b`` is ``a``
    and ``a.b`` (``b`` may be a module); relative imports are resolved against ``layer``."""
    package = ".".join(path.relative_to(layer.parent).with_suffix("").parts[:-1])
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{parent}.{base}" if base else parent
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names)
    return names


def is_http(module: str) -> bool:
    return any(module == forbidden or module.startswith(f"{forbidden}.") for forbidden in HTTP)


def domain_modules() -> list[Path]:
    return sorted(path for package in DOMAIN for path in (LAYER / package).rglob("*.py"))


def test_every_domain_package_is_read():
    read = {path.relative_to(LAYER).parts[0] for path in domain_modules()}
    assert read == set(DOMAIN)


@pytest.mark.parametrize("path", domain_modules(), ids=lambda path: str(path.relative_to(LAYER)))
def test_no_domain_module_imports_http_types(path):
    assert sorted(filter(is_http, imported_modules(path))) == []


@pytest.mark.parametrize(
    ("source", "seen"),
    [
        ("from funnel.platform.http import RawRequest", True),
        ("from funnel.platform import http", True),
        ("import funnel.platform.http", True),
        ("def f():\n    from aws_lambda_powertools.event_handler import Response", True),
        ("from aws_lambda_powertools.event_handler.openapi.types import OpenAPIResponse", True),
        ("from ..platform import http", True),
        ("from funnel.platform.body import strict_json", False),
        ("from aws_lambda_powertools import Logger", False),
        ("from funnel.platform import httpx_like", False),
    ],
)
def test_the_check_sees_every_form_of_import(tmp_path, source, seen):
    # Given a module of a domain package importing in one of the ways Python allows
    layer = tmp_path / "funnel"
    module = layer / "capture" / "example.py"
    module.parent.mkdir(parents=True)
    module.write_text(source)
    # Then the check reads it as importing HTTP types, or not
    assert any(map(is_http, imported_modules(module, layer))) is seen

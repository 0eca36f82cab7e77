"""The layer's folders tell its architecture: every module lives in a sub-package by role,
imports run one way (platform, capture, webhooks, privacy, readmodel, metrics, operations:
a package imports only those before it), and each function loads the sub-packages the
README's table says, no more."""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
LAYER = REPO / "layers" / "funnel" / "funnel"
ORDER = ["platform", "capture", "webhooks", "privacy", "readmodel", "metrics", "operations"]


def imported_modules(path: Path) -> set[str]:
    """Every ``funnel.*`` module ``path`` imports, at its top or inside a function."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "funnel":
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name.split(".")[0] == "funnel")
    return found


def package_of(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in ORDER else None


def test_every_module_of_the_layer_is_in_a_sub_package_of_a_known_role():
    top = {path.name for path in LAYER.glob("*.py")}
    assert top == {"__init__.py"}
    packages = {path.parent.name for path in LAYER.glob("*/__init__.py")}
    assert packages == set(ORDER)


def test_imports_inside_the_layer_run_down_the_order_of_its_packages():
    upward = []
    for path in LAYER.rglob("*.py"):
        importer = path.relative_to(LAYER).parts[0]
        if importer not in ORDER:
            continue
        for module in imported_modules(path):
            imported = package_of(module)
            if imported is not None and ORDER.index(imported) > ORDER.index(importer):
                upward.append(f"{path.relative_to(LAYER)} imports {module}")
    assert upward == []


def test_the_order_is_strict_enough_to_fail_an_upward_import(tmp_path):
    # The check above would pass on a layer that had no imports at all: prove it sees one.
    module = tmp_path / "beacons.py"
    module.write_text("from funnel.metrics import api\n\ndef f():\n    import funnel.readmodel.sketch\n")
    assert {package_of(name) for name in imported_modules(module)} == {"metrics", "readmodel"}


def readme_table() -> dict[str, set[str]]:
    readme = (REPO / "README.md").read_text()
    rows = re.findall(r"^\| \w+ \| `(\w+_handler)` \| ([^|]+) \|$", readme, flags=re.MULTILINE)
    return {
        handler: set() if loaded.strip().startswith("none") else {p.strip() for p in loaded.split(",")}
        for handler, loaded in rows
    }


def loaded_on_import(handler: str) -> set[str]:
    code = (
        "import importlib, json, sys\n"
        f"importlib.import_module({handler!r})\n"
        "print(json.dumps(sorted({name.split('.')[1] for name in sys.modules"
        " if name.startswith('funnel.')})))\n"
    )
    completed = subprocess.run(  # noqa: S603 - this interpreter, our own code
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    return set(json.loads(completed.stdout))


def test_the_readme_names_every_function_of_the_template():
    from funnel_local.template import load_template

    handlers = {spec.handler_module for spec in load_template(REPO / "template.yaml").functions.values()}
    assert set(readme_table()) == handlers


@pytest.mark.parametrize("handler", sorted(readme_table()))
def test_a_function_loads_the_sub_packages_the_readme_says(handler):
    assert loaded_on_import(handler) == readme_table()[handler]

"""The repository agrees with itself: the editable install's paths with the template's
code folders, the SQL files with the code that names them, the events with the routes."""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path

from funnel.platform.sql import QUERIES
from funnel_local.template import load_template

REPO = Path(__file__).resolve().parents[2]


def test_every_code_folder_of_the_template_is_on_the_development_path():
    template = load_template(REPO / "template.yaml")
    folders = {spec.code_dir for spec in template.functions.values()}
    folders |= {layer for spec in template.functions.values() for layer in spec.layer_dirs}
    configured = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["hatch"]["build"][
        "dev-mode-dirs"
    ]
    on_path = {(REPO / entry).resolve() for entry in configured}
    assert {folder.resolve() for folder in folders} <= on_path


def test_every_query_named_in_the_code_exists_and_every_file_is_used():
    source = "\n".join(p.read_text() for p in (REPO / "layers" / "funnel" / "funnel").rglob("*.py"))
    named = set(re.findall(r'query\(\s*"([a-z_]+/[a-z_]+)"', source))
    assert named == set(QUERIES)


def test_every_sample_api_event_matches_a_route_of_the_template():
    routes = {route.route_key for route in load_template(REPO / "template.yaml").routes}
    for path in (REPO / "events").rglob("*.json"):
        event = json.loads(path.read_text())
        if "routeKey" in event:
            assert event["routeKey"] in routes, path


def _pins(path: Path) -> dict[str, str]:
    pins = {}
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if "==" in line:
            name, version = line.split("==", 1)
            pins[re.sub(r"[-_.]+", "-", name.split("[")[0]).lower()] = version.strip()
    return pins


LAYER_REQUIREMENTS = ("requirements.txt", "requirements-tracing.txt", "requirements-analytics.txt")


def test_the_layers_ship_the_versions_the_tests_run_each_package_once_and_no_boto():
    layers = [_pins(REPO / "layers" / "funnel" / name) for name in LAYER_REQUIREMENTS]
    development = _pins(REPO / "requirements-dev.txt")
    shipped = {name: version for layer in layers for name, version in layer.items()}
    assert sum(len(layer) for layer in layers) == len(shipped)
    assert {name: development.get(name) for name in shipped} == shipped
    assert not {"boto3", "botocore", "s3transfer"} & set(shipped)


def test_numpy_and_the_xray_sdk_are_not_in_the_layer_every_function_loads():
    base = _pins(REPO / "layers" / "funnel" / "requirements.txt")
    assert not {"numpy", "datasketches", "aws-xray-sdk", "wrapt"} & set(base)

"""The strict decoder's nesting limit: 32 levels of objects and arrays, counted exactly,
whatever the text inside strings looks like."""

from __future__ import annotations

import json

import pytest

from funnel.platform.http import MAX_JSON_DEPTH, JsonTooDeep, strict_json


def arrays(levels: int) -> str:
    return "[" * levels + "]" * levels


def objects(levels: int) -> str:
    return '{"a":' * (levels - 1) + "{}" + "}" * (levels - 1)


@pytest.mark.parametrize("build", [arrays, objects])
def test_32_levels_parse_and_33_are_too_deep(build):
    assert MAX_JSON_DEPTH == 32
    assert strict_json(build(32)) == json.loads(build(32))
    with pytest.raises(JsonTooDeep, match="deeper than 32"):
        strict_json(build(33))


def test_the_deepest_branch_counts_not_the_first():
    # Given a wide body whose last element alone goes one level too deep
    wide = {"events": [{"p": [1]} for _ in range(100)] + [json.loads(arrays(31))]}
    with pytest.raises(JsonTooDeep):
        strict_json(json.dumps(wide))


def test_brackets_inside_strings_are_text():
    text = json.dumps({"s": "[" * 100 + "{" * 100})
    assert strict_json(text) == json.loads(text)


def test_nesting_beyond_pythons_recursion_is_too_deep_too():
    with pytest.raises(JsonTooDeep):
        strict_json(arrays(100_000))


@pytest.mark.parametrize("scalar", ["1", '"text"', "null", "true"])
def test_a_scalar_body_has_no_depth_to_refuse(scalar):
    assert strict_json(scalar) == json.loads(scalar)

"""Counts in payloads are JSON integers: 3.0 is the integer 3 (JSON has one number type,
and the document's "integer" includes it), while 3.5, "3" and true are refused."""

from __future__ import annotations

import pytest
from pydantic import TypeAdapter, ValidationError

from funnel.platform.schemas import Count

COUNT = TypeAdapter(Count)


@pytest.mark.parametrize(("value", "read"), [(0, 0), (3, 3), (3.0, 3), (1_000_000_000, 1_000_000_000)])
def test_integral_numbers_are_counts(value, read):
    assert COUNT.validate_python(value) == read and type(COUNT.validate_python(value)) is int


@pytest.mark.parametrize("value", [3.5, "3", True, -1, -1.0, 1_000_000_001, float("nan"), None])
def test_anything_else_is_refused(value):
    with pytest.raises(ValidationError):
        COUNT.validate_python(value)

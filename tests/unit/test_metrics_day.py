"""A metrics day as the document states it (its pattern) and as the code checks it agree
on both sides of the 2000-01-01 floor."""

from __future__ import annotations

import re

import pytest
from pydantic import TypeAdapter, ValidationError

from funnel.metrics.schemas import Day

DAY = TypeAdapter(Day)
PATTERN = re.compile(DAY.json_schema()["pattern"])


@pytest.mark.parametrize("text", ["2000-01-01", "2026-02-28", "2099-12-31"])
def test_a_day_from_the_floor_on_is_taken_by_both(text):
    assert PATTERN.search(text)
    assert DAY.validate_python(text).isoformat() == text


@pytest.mark.parametrize("text", ["1999-12-31", "0999-01-01", "2026-13-01", "2026-1-01", "20260101"])
def test_a_day_before_the_floor_or_not_yyyy_mm_dd_is_refused_by_both(text):
    assert not PATTERN.search(text)
    with pytest.raises(ValidationError):
        DAY.validate_python(text)

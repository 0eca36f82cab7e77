"""The metrics API's per-container answer cache: one data version, a bounded age."""

from __future__ import annotations

from datetime import UTC, datetime

from funnel.metrics.api import ReportCache
from funnel.platform.schemas import ErrorResponse

V1 = datetime(2026, 2, 8, 1, tzinfo=UTC)
V2 = datetime(2026, 2, 8, 2, tzinfo=UTC)
ANSWER = ErrorResponse(error="stand_in")


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_an_answer_is_served_for_its_version_only():
    cache = ReportCache(clock=Clock())
    cache.put("summary", V1, ANSWER)
    assert cache.get("summary", V1) is ANSWER
    assert cache.get("summary", V2) is None
    assert cache.get("other", V1) is None


def test_an_answer_expires_after_its_age_even_when_the_version_holds():
    clock = Clock()
    cache = ReportCache(max_age_seconds=60, clock=clock)
    cache.put("summary", V1, ANSWER)
    clock.now += 60
    assert cache.get("summary", V1) is ANSWER
    clock.now += 0.5
    assert cache.get("summary", V1) is None


def test_by_default_an_answer_is_served_for_60_seconds():
    clock = Clock()
    cache = ReportCache(clock=clock)
    cache.put("summary", V1, ANSWER)
    clock.now += 60
    assert cache.get("summary", V1) is ANSWER
    clock.now += 0.001
    assert cache.get("summary", V1) is None


def test_the_least_recently_used_answer_goes_first():
    cache = ReportCache(max_entries=2, clock=Clock())
    cache.put("a", V1, ANSWER)
    cache.put("b", V1, ANSWER)
    cache.get("a", V1)
    cache.put("c", V1, ANSWER)
    assert (cache.get("a", V1), cache.get("b", V1), cache.get("c", V1)) == (ANSWER, None, ANSWER)

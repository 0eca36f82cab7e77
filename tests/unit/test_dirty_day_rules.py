"""Which days a write marks dirty, and when a day settles (``funnel.readmodel.dirty_days``), at the
edges of the UTC day, with the clock given."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from funnel.readmodel.dirty_days import Changed, days_between, first_unmarked_day, settled_through

FEB = {day: date(2026, 2, day) for day in range(1, 29)}


@pytest.mark.parametrize(
    ("written_at", "first_unmarked"),
    [
        (datetime(2026, 2, 14, 0, 0, tzinfo=UTC), FEB[13]),
        (datetime(2026, 2, 14, 23, 59, 59, 999_999, tzinfo=UTC), FEB[13]),
        (datetime(2026, 2, 15, 0, 0, tzinfo=UTC), FEB[14]),
        # 19:00 on 02-14 in New York is 00:00 on 02-15 in UTC
        (datetime(2026, 2, 14, 19, 0, tzinfo=timezone(timedelta(hours=-5))), FEB[14]),
    ],
)
def test_a_write_leaves_yesterday_by_its_utc_clock_unmarked(written_at, first_unmarked):
    assert first_unmarked_day(written_at) == first_unmarked


@pytest.mark.parametrize(
    ("now", "through"),
    [
        # 02-13 settles an hour after 02-14 ends
        (datetime(2026, 2, 15, 0, 59, 59, 999_999, tzinfo=UTC), FEB[12]),
        (datetime(2026, 2, 15, 1, 0, tzinfo=UTC), FEB[13]),
        (datetime(2026, 2, 15, 23, 59, tzinfo=UTC), FEB[13]),
    ],
)
def test_a_day_settles_an_hour_after_the_day_after_it_ends(now, through):
    assert settled_through(now) == through


def test_a_write_marks_the_days_it_changed_before_yesterday_oldest_first():
    # Given a write at noon on 02-14 that changed 02-14, 02-13, 02-12 and 02-03
    changed = Changed({FEB[14], FEB[3]})
    changed.add(FEB[13], FEB[12])

    # Then it marks 02-03 and 02-12
    assert changed.due(datetime(2026, 2, 14, 12, tzinfo=UTC)) == (FEB[3], FEB[12])


def test_a_write_that_may_have_changed_every_day_from_one_on_marks_them_up_to_the_day_before_yesterday():
    # Given a write that moved a first visit back to 02-09, and one that moved it to yesterday
    earlier, recent = Changed(), Changed()
    earlier.add_from(FEB[11])
    earlier.add_from(FEB[9])
    recent.add_from(FEB[13])
    noon = datetime(2026, 2, 14, 12, tzinfo=UTC)

    # Then the first marks 02-09 to 02-12 (the earliest start wins), the second nothing
    assert earlier.due(noon) == (FEB[9], FEB[10], FEB[11], FEB[12])
    assert recent.due(noon) == ()


def test_days_between_includes_both_ends_and_is_empty_backwards():
    assert days_between(FEB[27], date(2026, 3, 1)) == [FEB[27], FEB[28], date(2026, 3, 1)]
    assert days_between(FEB[2], FEB[1]) == []

"""``funnel.readmodel.sketch_blocks``: a window tiled by few aligned blocks, and a merged sketch
that merges like the days it came from."""

from __future__ import annotations

from datetime import date, timedelta

from hypothesis import given
from hypothesis import strategies as st

from funnel.readmodel.sketch import decode, merge, union_decoded, union_estimate, visitors_sketch
from funnel.readmodel.sketch_blocks import MAX_LEVEL, block_start, decompose, stored_pieces


@given(
    first=st.dates(min_value=date(2020, 1, 1), max_value=date(2030, 1, 1)),
    length=st.integers(min_value=1, max_value=800),
)
def test_a_window_is_tiled_exactly_by_aligned_pieces_few_in_number(first, length):
    last = first + timedelta(days=length - 1)
    pieces = decompose(first, last)
    covered = []
    for level, start in pieces:
        assert 0 <= level <= MAX_LEVEL
        assert block_start(start, level) == start  # aligned
        covered += [start + timedelta(days=n) for n in range(1 << level)]
    assert covered == [first + timedelta(days=n) for n in range(length)]
    # at most the ragged ends of each level, plus the whole top-level blocks between
    assert len(pieces) <= 2 * MAX_LEVEL + length // (1 << MAX_LEVEL)


def test_a_90_day_window_is_about_ten_pieces_and_only_whole_blocks_are_looked_up():
    pieces = decompose(date(2026, 8, 24), date(2026, 11, 21))
    assert len(pieces) <= 12
    stored = stored_pieces(date(2026, 8, 24), date(2026, 11, 21))
    assert list(zip(stored["levels"], stored["first_days"], strict=True)) == [p for p in pieces if p[0]]


def test_merged_sketches_merge_like_the_days_they_came_from():
    days = [visitors_sketch(f"v{n % 37}-{day}" for n in range(day * 5)) for day in range(1, 9)]
    block = merge(decode(day) for day in days[:4])
    assert union_decoded([decode(block), *(decode(day) for day in days[4:])]) == union_estimate(days)

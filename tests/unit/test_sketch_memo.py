"""``funnel.readmodel.sketch.SketchMemo``: decoded sketches kept up to a byte budget, least recently
used out first; and a union of decoded sketches equals the union of their bytes."""

from __future__ import annotations

from funnel.readmodel.sketch import SketchMemo, decode, union_decoded, union_estimate, visitors_sketch


def test_the_least_recently_used_sketches_go_first_past_the_byte_budget():
    memo: SketchMemo[str] = SketchMemo(max_bytes=100)
    memo.put("a", "A", 40)
    memo.put("b", "B", 40)
    assert memo.get("a") == "A"  # now b is the least recently used
    memo.put("c", "C", 40)
    assert memo.get("b") is None
    assert (memo.get("a"), memo.get("c")) == ("A", "C")
    assert len(memo) == 2


def test_replacing_a_key_counts_its_bytes_once_and_an_oversized_value_is_not_kept():
    memo: SketchMemo[str] = SketchMemo(max_bytes=100)
    memo.put("a", "A", 60)
    memo.put("a", "A2", 60)
    assert memo.get("a") == "A2"
    memo.put("huge", "H", 101)
    assert "huge" not in memo
    assert memo.get("a") == "A2"
    memo.clear()
    assert len(memo) == 0


def test_a_union_of_decoded_sketches_is_the_union_of_their_bytes():
    days = [
        visitors_sketch(f"v{n}" for n in range(start, start + size)) for start, size in ((0, 5), (3, 4000))
    ]
    assert union_decoded([decode(day) for day in days]) == union_estimate([*days, None])

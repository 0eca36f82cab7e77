"""Mergeable distinct counts: one HyperLogLog sketch of visitor ids per property and day
(Apache DataSketches, lg_k = 14, HLL_8), so a window's unique visitors are the union of
its days' sketches and no raw event is read. Small sets are held exactly (the sketch's
list and set modes); from about 10,000 on the relative standard error is about 0.8 %.

``SketchMemo`` keeps decoded sketches in a warm container, so a day's sketch is fetched
and deserialised once per version of its rollup row rather than once per request."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Hashable, Iterable
from typing import Any

import datasketches

LG_K = 14
# Decoded sketches a warm container keeps, by their serialised size: a full HLL_8 sketch
# is about 16 KB, so about 3,000 of them (a 366-day window and its comparison window of
# three large properties); a small one (list or set mode) costs only its few bytes.
MEMO_BYTES = 48 * 1024 * 1024


def visitors_sketch(visitor_ids: Iterable[str]) -> bytes:
    """The compact serialised sketch of a day's visitor ids."""
    sketch = datasketches.hll_sketch(LG_K, datasketches.tgt_hll_type.HLL_8)
    for visitor_id in visitor_ids:
        sketch.update(visitor_id)
    return bytes(sketch.serialize_compact())


def decode(serialized: bytes) -> Any:
    """A serialised sketch, deserialised (a ``datasketches.hll_sketch``)."""
    return datasketches.hll_sketch.deserialize(bytes(serialized))


def _union(sketches: Iterable[Any]) -> Any:
    union = datasketches.hll_union(LG_K)
    for sketch in sketches:
        union.update(sketch)
    return union


def union_decoded(sketches: Iterable[Any]) -> int:
    """Distinct visitors across several days' decoded sketches (``decode``)."""
    return round(_union(sketches).get_estimate())


def merge(sketches: Iterable[Any]) -> bytes:
    """The compact serialised union of decoded sketches: a sketch of every visitor of
    any of them, which merges with others like a day's (``funnel.readmodel.sketch_blocks``)."""
    return bytes(_union(sketches).get_result(datasketches.tgt_hll_type.HLL_8).serialize_compact())


def union_estimate(sketches: Iterable[bytes | None]) -> int:
    """Distinct visitors across several days' sketches (each visitor counted once)."""
    return union_decoded(decode(serialized) for serialized in sketches if serialized)


class SketchMemo[Decoded]:
    """Decoded sketches kept by a warm container, least recently used out first.

    A key must name one immutable version of what was decoded (for a rollup row: its id
    and ``generated_at``, which every re-roll of the day changes), so an entry is never
    stale: a new version is a new key, and the old one ages out.

    Parameters
    ----------
    max_bytes
        How many serialised bytes the kept sketches may add up to.
    """

    def __init__(self, max_bytes: int = MEMO_BYTES) -> None:
        self._max_bytes = max_bytes
        self._bytes = 0
        self._entries: OrderedDict[Hashable, tuple[Decoded, int]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Hashable) -> Decoded | None:
        """The decoded value stored under ``key``, or None."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            self._entries.move_to_end(key)
            return entry[0]

    def put(self, key: Hashable, value: Decoded, size: int) -> None:
        """Keep ``value`` (decoded from ``size`` serialised bytes) under ``key``."""
        if size > self._max_bytes:
            return
        with self._lock:
            previous = self._entries.pop(key, None)
            if previous is not None:
                self._bytes -= previous[1]
            self._entries[key] = (value, size)
            self._bytes += size
            while self._bytes > self._max_bytes:
                _, (_, dropped) = self._entries.popitem(last=False)
                self._bytes -= dropped

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._bytes = 0

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)

    def __contains__(self, key: Hashable) -> bool:
        with self._lock:
            return key in self._entries

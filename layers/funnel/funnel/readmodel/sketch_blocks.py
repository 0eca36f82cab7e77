"""Pre-merged visitor sketches of aligned runs of days, so the cost of a window's unique
visitors follows the log of its length, not its days times its properties.

A block of level ``k`` (1 to ``MAX_LEVEL``) covers the ``2**k`` days whose ordinal day
numbers share ``ordinal >> k``; level 0 is a single day (its ``daily_metric_rollups``
row). Any window splits into at most about ``2 * MAX_LEVEL`` aligned pieces
(``decompose``): a 90-day window into about ten instead of ninety days.

Writing: the rollups replace a day and then, in the same transaction, rebuild the blocks
that contain it from the two halves one level down (``rebuild``): two sketches per level,
six levels. The 64-day run's advisory lock orders two days of the same run.
``python -m funnel rollups-blocks`` rebuilds the blocks of any stored days (rollups older
than raw retention are never recomputed, so their blocks are built only this way).

Reading: a block names the day rows it was merged from and their versions
(``generated_at``). A reader (``queries/metrics/list_window_sketches.sql``) uses a block
only where those are exactly the rows its snapshot has for those days, so a block that
is missing or behind (data written before blocks existed, a day purged, a row written by
hand) costs speed, never correctness: its days are merged one by one instead.

A merged HyperLogLog keeps the maximum of each register, so a block holds the same
registers as its days merged one by one. Which estimator the final union applies can
still depend on how it was assembled (HIP for a union that only ever saw exact lists,
the composite estimator once a merged sketch is itself a union), so a window's estimate
may differ from the day-by-day one by a fraction of the sketch's standard error; for
fewer distinct visitors than the exact modes hold, it is the same exact count.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping, Sequence
from datetime import UTC, date
from typing import Any

import psycopg
from psycopg.rows import dict_row

from funnel.platform.runtime import Runtime
from funnel.platform.sql import query
from funnel.privacy.retention import Horizon, first_kept_days
from funnel.readmodel import sketch

MAX_LEVEL = 6
LOCK_SPACE = 480_913_228  # funnel.readmodel.rollups.LOCK_SPACE + 1


def block_start(day: date, level: int) -> date:
    """The first day of the block of ``level`` that contains ``day``."""
    return date.fromordinal(day.toordinal() >> level << level)


def decompose(first: date, last: date) -> list[tuple[int, date]]:
    """The aligned pieces ``(level, first_day)`` that exactly tile ``first..last``
    (inclusive), largest first where alignment allows; level 0 is a single day."""
    pieces = []
    start, end = first.toordinal(), last.toordinal()
    while start <= end:
        level = MAX_LEVEL
        while level and (start % (1 << level) or start + (1 << level) - 1 > end):
            level -= 1
        pieces.append((level, date.fromordinal(start)))
        start += 1 << level
    return pieces


def stored_pieces(first: date, last: date) -> dict[str, list[Any]]:
    """The pieces of ``first..last`` that can be stored blocks (level 1 and up), as the
    ``levels`` and ``first_days`` arrays of ``queries/metrics/list_window_sketches.sql``."""
    pieces = [(level, start) for level, start in decompose(first, last) if level]
    return {"levels": [level for level, _ in pieces], "first_days": [start for _, start in pieces]}


# --- writing ----------------------------------------------------------------------------


def _merged_sources(halves: Sequence[Mapping[str, Any]]) -> dict[str, str]:
    by_source: dict[str, list[Any]] = {}
    for half in halves:
        for source, encoded in half["source_visitor_sketches"].items():
            by_source.setdefault(source, []).append(sketch.decode(base64.b64decode(encoded)))
    return {
        source: base64.b64encode(sketch.merge(sketches)).decode("ascii")
        for source, sketches in sorted(by_source.items())
    }


def rebuild(
    conn: psycopg.Connection,
    first: date,
    last: date,
    *,
    property_id: str | None,
    since: date | None = None,
) -> int:
    """Rebuild every block that contains a day of ``first..last`` (of every property, or
    only ``property_id``) from its halves one level down, smallest level first, so each
    is built from halves already current; call inside the transaction that replaced the
    days' rows. Returns the blocks written or deleted.

    The locks of the 64-day runs are taken in order, so two rebuilds never wait on each
    other in a cycle.

    Parameters
    ----------
    since
        Leave alone the blocks that start before this day (those the retention purge
        removes: rollups older than it are going).
    """
    for top_block in range(first.toordinal() >> MAX_LEVEL, (last.toordinal() >> MAX_LEVEL) + 1):
        conn.execute(query("sketch_blocks/lock_blocks"), {"lock_space": LOCK_SPACE, "top_block": top_block})
    cursor = conn.cursor(row_factory=dict_row, binary=True)
    changed = 0
    for level in range(1, MAX_LEVEL + 1):
        for start in range(block_start(first, level).toordinal(), last.toordinal() + 1, 1 << level):
            if since is None or start >= since.toordinal():
                changed += _rebuild_block(cursor, level, date.fromordinal(start), property_id)
    return changed


def rebuild_stored(runtime: Runtime, first: date, last: date) -> int:
    """Rebuild every block that contains a day of ``first..last`` from the stored daily
    rows, one 64-day run per transaction (``python -m funnel rollups-blocks``): for days
    whose rollups predate their blocks, and days past raw retention, which the rollups
    never recompute. Blocks that start before the first day rollup retention keeps are
    left to the purge. Returns the blocks written or deleted."""
    today = runtime.clock().astimezone(UTC).date()
    kept = first_kept_days(today, runtime.settings.privacy)[Horizon.ROLLUP]
    first = max(first, kept)
    if first > last:
        return 0
    changed = 0
    for top_block in range(first.toordinal() >> MAX_LEVEL, (last.toordinal() >> MAX_LEVEL) + 1):
        start = max(first, date.fromordinal(top_block << MAX_LEVEL))
        end = min(last, date.fromordinal(((top_block + 1) << MAX_LEVEL) - 1))

        def run(conn: psycopg.Connection, start: date = start, end: date = end) -> int:
            return rebuild(conn, start, end, property_id=None, since=kept)

        changed += runtime.database.run(run)
    return changed


def _rebuild_block(
    cursor: psycopg.Cursor[dict[str, Any]],
    level: int,
    first_day: date,
    property_id: str | None,
) -> int:
    params = {
        "level": level,
        "first_day": first_day,
        "half_day": date.fromordinal(first_day.toordinal() + (1 << (level - 1))),
        "property_id": property_id,
    }
    statement = (
        query("sketch_blocks/list_day_halves") if level == 1 else query("sketch_blocks/list_block_halves")
    )
    halves_by_property: dict[str, list[dict[str, Any]]] = {}
    for half in cursor.execute(statement, params).fetchall():
        halves_by_property.setdefault(half["property_id"], []).append(half)
    rebuilt = []
    for property, halves in sorted(halves_by_property.items()):
        visitors = [sketch.decode(half["visitors_sketch"]) for half in halves if half["visitors_sketch"]]
        rebuilt.append(
            {
                "level": level,
                "first_day": first_day,
                "property_id": property,
                "visitors_sketch": sketch.merge(visitors) if visitors else None,
                "source_visitor_sketches": json.dumps(_merged_sources(halves)),
                "day_rows": [member for half in halves for member in half["day_rows"]],
                "day_versions": [version for half in halves for version in half["day_versions"]],
            }
        )
    if rebuilt:
        cursor.executemany(query("sketch_blocks/upsert_block"), rebuilt)
    deleted = cursor.execute(
        query("sketch_blocks/delete_empty_blocks"),
        {**params, "only_property": property_id, "property_ids": sorted(halves_by_property)},
    ).rowcount
    return len(rebuilt) + max(deleted, 0)

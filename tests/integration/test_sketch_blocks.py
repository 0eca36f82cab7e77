"""Sketch blocks kept by the rollups and read by the metrics API: a month of generated
traffic rolled up day by day; the blocks' merged counts against the exact distinct counts
and against the days merged one by one, a late visit re-rolled, blocks missing or behind."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta

import psycopg
import pytest

from funnel.metrics import api
from funnel.metrics.api import _window_sketches, channel_visitors, read_traffic
from funnel.metrics.schemas import Window
from funnel.platform.runtime import Runtime, get_runtime
from funnel.privacy.retention import Horizon, first_kept_days
from funnel.readmodel.rollups import Trigger, run_rollups
from funnel.readmodel.sketch_blocks import decompose, rebuild
from funnel_ops.cli import main as cli
from tests.integration.test_rollups_window_unique import (
    FIRST,
    LAST,
    NOW,
    exact_counts,
    generate_month,
    window_estimates,
)
from tests.read_model import metric_day

pytestmark = pytest.mark.integration

WINDOW = Window(start=FIRST, end=LAST)


@pytest.fixture
def runtime(lambda_env: pytest.MonkeyPatch) -> Runtime:
    pinned = get_runtime()
    pinned.clock = lambda: NOW
    api.decoded_sketches.clear()
    return pinned


def block_members(db: psycopg.Connection) -> dict[tuple[int, object], list[uuid.UUID]]:
    return {
        (level, first_day): rows
        for level, first_day, rows in db.execute(
            "SELECT level, first_day, day_rows FROM visitor_sketch_blocks ORDER BY level, first_day"
        )
    }


def day_rows(db: psycopg.Connection, first: object, last: object) -> list[uuid.UUID]:
    return [
        row_id
        for (row_id,) in db.execute(
            "SELECT id FROM daily_metric_rollups WHERE day BETWEEN %s AND %s ORDER BY day", (first, last)
        )
    ]


def counts(db: psycopg.Connection, window: Window = WINDOW) -> tuple[int, dict[str, int]]:
    with db.transaction():
        return read_traffic(db, window, None).unique_visitors, channel_visitors(db, window)


def add_visit(db: psycopg.Connection, visitor_id: uuid.UUID, at: datetime, source: str) -> None:
    """One page view (with its session and event) of a known visitor."""
    visit = {"id": uuid.uuid4(), "visitor": visitor_id, "at": at, "source": source}
    db.execute(
        "INSERT INTO sessions (id, property_id, visitor_id, started_at, last_seen_at, traffic_source, "
        "device_type) VALUES (%(id)s, 'default', %(visitor)s, %(at)s, %(at)s, %(source)s, 'desktop')",
        visit,
    )
    db.execute(
        "INSERT INTO events (id, property_id, visitor_id, session_id, event_type, client_event_id, path, "
        "occurred_at) "
        "VALUES (%(id)s, 'default', %(visitor)s, %(id)s, 'page_view', %(id)s::text, '/', %(at)s)",
        visit,
    )
    db.execute(
        "INSERT INTO web_traffic_logs (id, event_id, property_id, visitor_id, session_id, occurred_at, path, "
        "traffic_source, device_type, is_entrance) "
        "VALUES (%(id)s, %(id)s, 'default', %(visitor)s, %(id)s, %(at)s, '/', %(source)s, 'desktop', true)",
        visit,
    )


def add_visitor(db: psycopg.Connection, at: datetime) -> uuid.UUID:
    visitor_id = uuid.uuid4()
    db.execute(
        "INSERT INTO visitors (id, property_id, visitor_key, first_seen_at, last_seen_at) "
        "VALUES (%s, 'default', %s, %s, %s)",
        (visitor_id, f"v:{visitor_id}", at, at),
    )
    return visitor_id


def test_the_rollups_keep_every_block_of_their_days_and_each_names_its_days(runtime, db):
    # Given a month of traffic rolled up day by day
    with db.transaction():
        generate_month(db, visitors=300, visit_modulus=4)
    run_rollups(runtime, from_day=FIRST, to_day=LAST, trigger=Trigger.CLI)

    # Then every block wholly inside the month exists, naming exactly its days' rows
    blocks = block_members(db)
    for level in range(1, 7):
        start = FIRST.toordinal() >> level << level
        while start + (1 << level) - 1 <= LAST.toordinal():
            if start >= FIRST.toordinal():
                first_day = FIRST.fromordinal(start)
                last_day = FIRST.fromordinal(start + (1 << level) - 1)
                assert blocks[(level, first_day)] == day_rows(db, first_day, last_day)
            start += 1 << level
    # And the blocks that reach outside the month name only its days
    for (level, first_day), rows in blocks.items():
        last_day = first_day + timedelta(days=(1 << level) - 1)
        assert rows == day_rows(db, max(first_day, FIRST), min(last_day, LAST))


def test_a_window_read_through_blocks_counts_like_its_days_merged_one_by_one(runtime, db):
    # Given a month of 20,000 visitors (full sketches), rolled up
    with db.transaction():
        generate_month(db, visitors=20_000, visit_modulus=10)
    run_rollups(runtime, from_day=FIRST, to_day=LAST, trigger=Trigger.CLI)
    exact, exact_by_source = exact_counts(db)
    assert (
        len(decompose(FIRST, LAST)) < 30
        and db.execute("SELECT count(*) FROM visitor_sketch_blocks").fetchone()[0]
    )

    # When the window is read with its blocks, then without any
    through_blocks, sources_through_blocks = counts(db)
    db.execute("DELETE FROM visitor_sketch_blocks")
    api.decoded_sketches.clear()
    day_by_day, sources_day_by_day = counts(db)

    # Then both are within 2 % of the exact counts, and within about the sketch's standard
    # error (0.8 %) of each other: the same registers, read by one estimator or the other
    assert abs(through_blocks - exact) / exact <= 0.02
    assert abs(through_blocks - day_by_day) / day_by_day <= 0.01
    for source, count in exact_by_source.items():
        assert abs(sources_through_blocks[source] - count) / count <= 0.02
        assert abs(sources_through_blocks[source] - sources_day_by_day[source]) / count <= 0.01


def test_a_small_sites_window_through_blocks_is_exact(runtime, db):
    with db.transaction():
        generate_month(db, visitors=50, visit_modulus=3)
    run_rollups(runtime, from_day=FIRST, to_day=LAST, trigger=Trigger.CLI)
    exact, exact_by_source = exact_counts(db)

    visitors, by_source = counts(db)

    assert visitors == exact == 50
    assert {source: n for source, n in by_source.items() if n} == exact_by_source


def test_a_late_visit_rolled_up_again_is_in_the_blocks_and_the_window(runtime, db):
    # Given a small site's month, rolled up, and its window's count
    with db.transaction():
        generate_month(db, visitors=50, visit_modulus=3)
    run_rollups(runtime, from_day=FIRST, to_day=LAST, trigger=Trigger.CLI)
    before, _ = counts(db)
    versions = dict(db.execute("SELECT id, generated_at FROM visitor_sketch_blocks").fetchall())

    # When a new visitor's page view of mid-month arrives late and that day is rolled up again
    at = datetime.combine(FIRST + timedelta(days=13), datetime.min.time(), UTC) + timedelta(hours=9)
    add_visit(db, add_visitor(db, at), at, "email")
    runtime.clock = lambda: NOW + timedelta(hours=1)
    run_rollups(runtime, from_day=at.date(), to_day=at.date(), trigger=Trigger.CLI)

    # Then the six blocks that contain the day were rebuilt, and no other
    rebuilt = [
        (level, first_day)
        for block_id, level, first_day, generated_at in db.execute(
            "SELECT id, level, first_day, generated_at FROM visitor_sketch_blocks"
        )
        if versions.get(block_id) != generated_at
    ]
    assert sorted(rebuilt) == sorted(
        (level, FIRST.fromordinal(at.date().toordinal() >> level << level)) for level in range(1, 7)
    )
    # And the window counts the newcomer, overall and under its channel
    after, by_source = counts(db)
    assert after == before + 1
    assert by_source["email"] == 1


def test_a_block_rebuilt_twice_in_one_run_is_never_read_stale_from_memory(runtime, db):
    # Given a month rolled up but for one day, whose level-1 block holds the day before,
    # and a warm container that has read the month (and kept its decoded sketches)
    with db.transaction():
        generate_month(db, visitors=50, visit_modulus=3)
    later = next(FIRST + timedelta(days=n) for n in range(1, 30) if (FIRST.toordinal() + n) % 2)
    run_rollups(runtime, from_day=FIRST, to_day=later - timedelta(days=1), trigger=Trigger.CLI)
    run_rollups(runtime, from_day=later + timedelta(days=1), to_day=LAST, trigger=Trigger.CLI)
    before, _ = counts(db)

    # When that day, with a new visitor, is rolled up at the same clock (as the days of one
    # run are)
    at = datetime.combine(later, datetime.min.time(), UTC) + timedelta(hours=9)
    add_visit(db, add_visitor(db, at), at, "email")
    run_rollups(runtime, from_day=later, to_day=later, trigger=Trigger.CLI)

    # Then the warm container counts the new visitor, as a cold one does
    warm = counts(db)
    assert warm[0] == before + 1
    api.decoded_sketches.clear()
    assert warm == counts(db)


def day_by_day(db: psycopg.Connection) -> int:
    """The month's visitors merged from its daily rows alone, as they are now."""
    return round(window_estimates(db)[0])


@pytest.mark.parametrize("drift", ["a day rewritten", "a day deleted", "a day added", "blocks missing"])
def test_blocks_behind_their_days_are_ignored_and_rollups_blocks_rebuilds_them(runtime, db, drift):
    # Given a small site's rolled-up month, changed since its blocks were built
    with db.transaction():
        generate_month(db, visitors=50, visit_modulus=3)
    run_rollups(runtime, from_day=FIRST, to_day=LAST, trigger=Trigger.CLI)
    changed = FIRST + timedelta(days=20)
    if drift == "a day rewritten":
        db.execute("UPDATE daily_metric_rollups SET generated_at = now() WHERE day = %s", (changed,))
    elif drift == "a day deleted":
        db.execute("DELETE FROM daily_metric_rollups WHERE day = %s", (changed,))
    elif drift == "a day added":
        db.execute("DROP TABLE IF EXISTS taken")
        db.execute("CREATE TEMP TABLE taken AS SELECT * FROM daily_metric_rollups WHERE day = %s", (changed,))
        db.execute("DELETE FROM daily_metric_rollups WHERE day = %s", (changed,))
        assert cli(["rollups-blocks", "--from", str(FIRST), "--to", str(LAST)]) == 0
        db.execute("INSERT INTO daily_metric_rollups SELECT * FROM taken")
    else:
        db.execute("DELETE FROM visitor_sketch_blocks WHERE level = 1")
    stale = {
        block_id
        for (block_id,) in db.execute(
            "SELECT id FROM visitor_sketch_blocks WHERE %s BETWEEN first_day AND last_day", (changed,)
        )
    }
    changed_row = db.execute("SELECT id FROM daily_metric_rollups WHERE day = %s", (changed,)).fetchone()
    api.decoded_sketches.clear()

    # When the window is read
    with db.transaction():
        days, blocks = _window_sketches(db, WINDOW, None)
        visitors = read_traffic(db, WINDOW, None).unique_visitors

    # Then no block that missed the change is read, its days are read instead, and the count
    # is what the days alone say
    if drift != "blocks missing":
        assert stale and not stale & {block_id for block_id, _ in blocks}
    if changed_row is not None and drift != "blocks missing":
        assert changed_row[0] in {row_id for row_id, _ in days}
    assert visitors == day_by_day(db)

    # When the blocks are rebuilt from the stored days
    assert cli(["rollups-blocks", "--from", str(FIRST), "--to", str(LAST)]) == 0
    api.decoded_sketches.clear()

    # Then every block of the month names its days again, and the count is unchanged
    for (level, first_day), rows in block_members(db).items():
        last_day = first_day + timedelta(days=(1 << level) - 1)
        assert rows == day_rows(db, max(first_day, FIRST), min(last_day, LAST))
    with db.transaction():
        assert read_traffic(db, WINDOW, None).unique_visitors == visitors


def test_rollups_blocks_refuses_a_reversed_range(runtime, capsys):
    assert cli(["rollups-blocks", "--from", str(LAST), "--to", str(FIRST)]) == 2
    assert "--from must not be after --to" in capsys.readouterr().err


# --------------------------------------------------------------- two properties, by hand


def two_properties(db: psycopg.Connection, first: date, days: int) -> dict[str, set[str]]:
    """``days`` days from ``first`` of two properties, each day with its own visitors (seen
    on that day only, so a day read twice or not at all changes the count), and one visitor
    of each property seen on every day; blocks built. Returns the visitors by property."""
    seen: dict[str, set[str]] = {"www": set(), "docs": set()}
    for n in range(days):
        day = first + timedelta(days=n)
        for property_id, ids in seen.items():
            visitors = {f"{property_id}-{day}-{k}" for k in range(3)} | {f"{property_id}-regular"}
            metric_day(
                db, day, property_id=property_id, visitors=visitors, source_visitors={"direct": visitors}
            )
            ids.update(visitors)
    with db.transaction():
        rebuild(db, first, first + timedelta(days=days - 1), property_id=None)
    return seen


def coverage(db: psycopg.Connection, window: Window, property_id: str | None) -> dict[str, list[date]]:
    """The days each property's listed sketches stand for, in order, repeats kept."""
    with db.transaction():
        days, blocks = _window_sketches(db, window, property_id)
    covered: dict[str, list[date]] = {}
    for row_id, _ in days:
        property_of, day = db.execute(
            "SELECT property_id, day FROM daily_metric_rollups WHERE id = %s", (row_id,)
        ).fetchone()
        covered.setdefault(property_of, []).append(day)
    for block_id, _ in blocks:
        property_of, first_day, last_day = db.execute(
            "SELECT property_id, first_day, last_day FROM visitor_sketch_blocks WHERE id = %s", (block_id,)
        ).fetchone()
        covered.setdefault(property_of, []).extend(
            first_day + timedelta(days=n) for n in range((last_day - first_day).days + 1)
        )
    return {property_of: sorted(days) for property_of, days in covered.items()}


@pytest.mark.parametrize(("start_offset", "length"), [(0, 1), (0, 64), (3, 90), (1, 2), (5, 37), (0, 120)])
@pytest.mark.parametrize("docs_blocks", ["current", "stale", "missing"])
def test_each_propertys_window_is_read_day_for_day_once(runtime, db, start_offset, length, docs_blocks):
    # Given 130 days of two properties with their blocks, the docs' blocks then current,
    # behind a changed day, or gone
    first = date(2026, 1, 1)
    seen = two_properties(db, first, 130)
    if docs_blocks == "stale":
        db.execute(
            "UPDATE daily_metric_rollups SET generated_at = now() WHERE property_id = 'docs' AND day = %s",
            (first + timedelta(days=start_offset + length // 2),),
        )
    elif docs_blocks == "missing":
        db.execute("DELETE FROM visitor_sketch_blocks WHERE property_id = 'docs'")
    window = Window(
        start=first + timedelta(days=start_offset), end=first + timedelta(days=start_offset + length - 1)
    )
    window_days = [window.start + timedelta(days=n) for n in range(length)]

    # Then every day of the window of each property is stood for exactly once, with or
    # without that property's filter
    assert coverage(db, window, None) == {"www": window_days, "docs": window_days}
    assert coverage(db, window, "docs") == {"docs": window_days}
    if length > 1:
        assert db.execute("SELECT count(*) FROM visitor_sketch_blocks").fetchone()[0]

    # And the counts are exact: the day-only visitors of the window's days and the regulars
    api.decoded_sketches.clear()
    expected = {
        property_id: {v for v in ids if v.endswith("-regular") or any(f"-{day}-" in v for day in window_days)}
        for property_id, ids in seen.items()
    }
    with db.transaction():
        assert read_traffic(db, window, None).unique_visitors == sum(len(ids) for ids in expected.values())
        assert read_traffic(db, window, "docs").unique_visitors == len(expected["docs"])
        assert channel_visitors(db, window) == {"direct": sum(len(ids) for ids in expected.values())}


def test_rollups_blocks_leaves_blocks_that_start_before_rollup_retention_to_the_purge(runtime, db):
    # Given days stored on both sides of the first day rollup retention keeps
    kept = first_kept_days(NOW.date(), runtime.settings.privacy)[Horizon.ROLLUP]
    for n in range(-3, 3):
        metric_day(db, kept + timedelta(days=n), visitors={f"v{n}"})

    # When their blocks are rebuilt
    assert (
        cli(
            ["rollups-blocks", "--from", str(kept - timedelta(days=3)), "--to", str(kept + timedelta(days=2))]
        )
        == 0
    )

    # Then no block starts before that day
    firsts = [first_day for (first_day,) in db.execute("SELECT first_day FROM visitor_sketch_blocks")]
    assert firsts and min(firsts) >= kept

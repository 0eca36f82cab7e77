"""Unique visitors over a window from the daily sketches alone: a month of generated
traffic, most visitors seen on several days, rolled up day by day; the union of the
days' sketches against the exact COUNT(DISTINCT) over the month's raw page views."""

from __future__ import annotations

import base64
from collections.abc import Iterable
from datetime import UTC, date, datetime

import datasketches
import psycopg
import pytest

from funnel.platform.runtime import Runtime, get_runtime
from funnel.readmodel.rollups import Trigger, run_rollups

pytestmark = pytest.mark.integration

FIRST = date(2026, 5, 1)
LAST = date(2026, 5, 30)
NOW = datetime(2026, 6, 2, 8, tzinfo=UTC)
SOURCES = ("direct", "organic_search", "social", "referral")


@pytest.fixture
def runtime(lambda_env: pytest.MonkeyPatch) -> Runtime:
    pinned = get_runtime()
    pinned.clock = lambda: NOW
    return pinned


def generate_month(db: psycopg.Connection, visitors: int, visit_modulus: int) -> None:
    """``visitors`` visitors over the 30 days from FIRST; visitor g visits day d (one
    session, one page view at a time of day of its own) when a hash of (g, d) falls in
    one of ``visit_modulus`` buckets, so each day sees a different, overlapping crowd."""
    params = {"visitors": visitors, "modulus": visit_modulus, "first": FIRST}
    db.execute(
        "INSERT INTO visitors (id, property_id, visitor_key, first_seen_at, last_seen_at) "
        "SELECT md5('visitor' || g)::uuid, 'default', 'v:' || g, %(first)s::date - 40, %(first)s::date + 30 "
        "  FROM generate_series(1, %(visitors)s) AS g",
        params,
    )
    db.execute(
        "CREATE TEMP TABLE visits ON COMMIT DROP AS "
        "SELECT md5('visit' || g || ':' || d)::uuid AS id, md5('visitor' || g)::uuid AS visitor_id, "
        "       (%(first)s::date + d)::timestamp AT TIME ZONE 'UTC' "
        "         + (abs(hashtext('t' || g || ':' || d)) %% 86400000) * interval '1 millisecond' AS at, "
        "       (ARRAY['direct', 'organic_search', 'social', 'referral'])[1 + abs(hashtext('s' || g)) %% 4] "
        "         AS source "
        "  FROM generate_series(1, %(visitors)s) AS g, generate_series(0, 29) AS d "
        " WHERE abs(hashtext(g || ':' || d)) %% %(modulus)s = 0",
        params,
    )
    db.execute(
        "INSERT INTO sessions (id, property_id, visitor_id, started_at, last_seen_at, traffic_source, "
        "device_type) SELECT id, 'default', visitor_id, at, at, source, 'desktop' FROM visits"
    )
    db.execute(
        "INSERT INTO events (id, property_id, visitor_id, session_id, event_type, client_event_id, path, "
        "occurred_at) SELECT id, 'default', visitor_id, id, 'page_view', id::text, '/', at FROM visits"
    )
    db.execute(
        "INSERT INTO web_traffic_logs (id, event_id, property_id, visitor_id, session_id, occurred_at, path, "
        "traffic_source, device_type, is_entrance) "
        "SELECT id, id, 'default', visitor_id, id, at, '/', source, 'desktop', true FROM visits"
    )


def union(sketches: Iterable[bytes]) -> float:
    merged = datasketches.hll_union(14)
    for serialized in sketches:
        merged.update(datasketches.hll_sketch.deserialize(bytes(serialized)))
    return merged.get_result().get_estimate()


def window_estimates(db: psycopg.Connection) -> tuple[float, dict[str, float]]:
    rows = db.execute(
        "SELECT visitors_sketch, source_visitor_sketches FROM daily_metric_rollups "
        "WHERE day BETWEEN %s AND %s",
        (FIRST, LAST),
    ).fetchall()
    by_source = {
        source: union(base64.b64decode(per_source[source]) for _, per_source in rows if source in per_source)
        for source in SOURCES
    }
    return union(sketch for sketch, _ in rows), by_source


def exact_counts(db: psycopg.Connection) -> tuple[int, dict[str, int]]:
    total = db.execute("SELECT count(DISTINCT visitor_id) FROM web_traffic_logs").fetchone()[0]
    by_source = dict(
        db.execute(
            "SELECT traffic_source, count(DISTINCT visitor_id) FROM web_traffic_logs GROUP BY 1"
        ).fetchall()
    )
    return total, by_source


def test_a_months_unique_visitors_from_daily_sketches_are_within_two_percent(runtime, db):
    # Given a month of traffic from 20,000 visitors, about a tenth of them each day
    with db.transaction():
        generate_month(db, visitors=20_000, visit_modulus=10)
    exact, exact_by_source = exact_counts(db)
    daily = db.execute(
        "SELECT count(DISTINCT visitor_id) FROM web_traffic_logs "
        "GROUP BY (occurred_at AT TIME ZONE 'UTC')::date"
    ).fetchall()
    assert exact > 15_000 and sum(n for (n,) in daily) > 2.5 * exact  # visitors come back

    # When the month is rolled up, day by day
    report = run_rollups(runtime, from_day=FIRST, to_day=LAST, trigger=Trigger.CLI)
    assert len(report.days) == 30

    # Then the union of the daily sketches is within 2 % of the exact distinct count,
    # overall and per traffic source
    estimate, by_source = window_estimates(db)
    assert abs(estimate - exact) / exact <= 0.02, (estimate, exact)
    for source, count in exact_by_source.items():
        assert abs(by_source[source] - count) / count <= 0.02, (source, by_source[source], count)


def test_a_small_sites_window_count_is_exact(runtime, db):
    # Given a month of a small site: 50 visitors, each back on about a third of the days
    with db.transaction():
        generate_month(db, visitors=50, visit_modulus=3)
    exact, exact_by_source = exact_counts(db)
    assert exact == 50

    # When it is rolled up
    run_rollups(runtime, from_day=FIRST, to_day=LAST, trigger=Trigger.CLI)

    # Then the window's count from the sketches is exact
    estimate, by_source = window_estimates(db)
    assert round(estimate) == exact
    assert {source: round(value) for source, value in by_source.items() if value} == exact_by_source

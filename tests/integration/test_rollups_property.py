"""The rollups against a naive recomputation: for random raw traffic, leads, ingest
counters and tenant events, with instants on and around UTC midnight (00:00:00 and
23:59:59.999), every rolled-up value of three consecutive days equals what plain Python
computes from the same rows, written here without the code under test."""

from __future__ import annotations

import base64
import math
from collections import Counter, defaultdict
from datetime import UTC, date, datetime, timedelta
from typing import Any

import datasketches
import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from psycopg.rows import dict_row

from funnel.platform.runtime import Runtime, get_runtime
from funnel.readmodel.rollups import Trigger, run_rollups
from tests import raw_data

pytestmark = pytest.mark.integration

DAY = date(2026, 6, 10)
DAYS = (DAY - timedelta(days=1), DAY, DAY + timedelta(days=1))
NOW = datetime(2026, 6, 13, 9, 30, tzinfo=UTC)
MS = timedelta(milliseconds=1)
PROPERTIES = ("default", "docs")
SOURCES = ("direct", "organic_search", "social", "email")
# More than ten, so the top-ten cut of landing paths is exercised.
PATHS = tuple(f"/p{i}" for i in range(12))
TENANTS = ("tenant-a", "tenant-b")


def midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def day_of(at: datetime) -> date:
    return at.astimezone(UTC).date()


# Every midnight around the days rolled up, and the last millisecond before each; the
# first and last are on days the run does not cover, which must not leak into it.
EDGES = [midnight(DAYS[0] + timedelta(days=n)) for n in range(4)] + [
    midnight(DAYS[0] + timedelta(days=n)) - MS for n in range(4)
]
instants = st.one_of(
    st.sampled_from(EDGES),
    st.datetimes(
        min_value=datetime(2026, 6, 8, 12), max_value=datetime(2026, 6, 12, 12), timezones=st.just(UTC)
    ),
)
first_seen_instants = st.one_of(st.just(datetime(2026, 1, 5, tzinfo=UTC)), instants)
counts = st.integers(min_value=0, max_value=5000)


def tenant_payload(event_type: str) -> st.SearchStrategy[dict[str, Any]]:
    if event_type == "scan.completed":
        return st.fixed_dictionaries(
            {"mediaCount": counts, "identitiesDetected": counts, "durationMs": counts},
            optional={"suggestionsGenerated": counts},
        )
    if event_type == "scan.failed":
        return st.fixed_dictionaries({"mediaCount": counts})
    if event_type == "cluster.created":
        return st.fixed_dictionaries({"identityCount": counts})
    if event_type == "suggestion.resolved":
        return st.just({"resolution": "accepted"})
    return st.just({})


tenant_events = st.sampled_from(
    [
        "tenant.created",
        "apikey.created",
        "scan.completed",
        "scan.failed",
        "cluster.created",
        "suggestion.resolved",
    ]
).flatmap(
    lambda event_type: st.tuples(
        st.sampled_from(TENANTS), st.just(event_type), instants, tenant_payload(event_type)
    )
)


@st.composite
def worlds(draw: st.DrawFn) -> dict[str, Any]:
    visitors = draw(st.lists(st.tuples(st.sampled_from(PROPERTIES), first_seen_instants), max_size=6))
    sessions = (
        draw(st.lists(st.tuples(st.integers(0, len(visitors) - 1), instants), max_size=8)) if visitors else []
    )
    page_views = (
        draw(
            st.lists(
                st.fixed_dictionaries(
                    {
                        "session": st.integers(0, len(sessions) - 1),
                        "at": instants,
                        "path": st.sampled_from(PATHS),
                        "source": st.sampled_from(SOURCES),
                        "ttfb_ms": st.none() | st.integers(0, 3000),
                        "entrance": st.booleans(),
                        "exit": st.booleans(),
                        "conversion": st.booleans(),
                    }
                ),
                max_size=25,
            )
        )
        if sessions
        else []
    )
    forms = (
        draw(
            st.lists(
                st.tuples(
                    st.integers(0, len(sessions) - 1),
                    instants,
                    st.sampled_from(["form_start", "form_submit", "custom"]),
                ),
                max_size=8,
            )
        )
        if sessions
        else []
    )
    leads = draw(
        st.lists(
            st.tuples(st.sampled_from(PROPERTIES), instants, st.none() | first_seen_instants), max_size=5
        )
    )
    counters = draw(
        st.dictionaries(
            st.tuples(
                st.sampled_from(PROPERTIES),
                st.sampled_from((DAYS[0] - timedelta(days=1), *DAYS)),
                st.sampled_from(["event", "lead"]),
                st.sampled_from(["accepted", "rejected", "duplicate", "bot"]),
                st.sampled_from(["", "validation_failed", "invalid_json"]),
            ),
            st.integers(1, 1000),
            max_size=6,
        )
    )
    usage = draw(st.lists(tenant_events, max_size=10))
    return {
        "visitors": visitors,
        "sessions": sessions,
        "page_views": page_views,
        "forms": forms,
        "leads": leads,
        "counters": counters,
        "tenant_events": usage,
    }


# --------------------------------------------------------------------------- the world in SQL


def store(db: psycopg.Connection, world: dict[str, Any]) -> dict[str, list[Any]]:
    """Write the world's rows; returns the visitor and session ids, by index."""
    db.execute(
        "TRUNCATE visitors, sessions, events, web_traffic_logs, leads, ingest_counters, tenant_events, "
        "daily_metric_rollups, daily_ingest_rollups, service_usage_rollups, rollup_runs CASCADE"
    )
    visitor_ids = [raw_data.visitor(db, seen, property_id=prop) for prop, seen in world["visitors"]]
    session_ids = [raw_data.session(db, visitor_ids[v], at) for v, at in world["sessions"]]
    for view in world["page_views"]:
        raw_data.page_view(
            db,
            session_ids[view["session"]],
            view["at"],
            path=view["path"],
            source=view["source"],
            ttfb_ms=view["ttfb_ms"],
            entrance=view["entrance"],
            exit=view["exit"],
            conversion=view["conversion"],
        )
    for s, at, event_type in world["forms"]:
        raw_data.event(db, session_ids[s], at, event_type)
    for prop, captured_at, first_seen in world["leads"]:
        raw_data.lead(db, captured_at, property_id=prop, visitor_first_seen_at=first_seen)
    for (prop, day, kind, outcome, code), count in world["counters"].items():
        raw_data.counter(db, day, kind, outcome, count, property_id=prop, code=code)
    for tenant, event_type, at, payload in world["tenant_events"]:
        raw_data.tenant_event(db, tenant, event_type, at, payload)
    return {"visitors": visitor_ids, "sessions": session_ids}


# --------------------------------------------------------------------------- the naive rollup


def expected_metrics(world: dict[str, Any], ids: dict[str, list[Any]]) -> dict[tuple[date, str], dict]:
    visitors = world["visitors"]
    session_visitor = [v for v, _ in world["sessions"]]
    rows: dict[tuple[date, str], dict] = {}

    def row(day: date, prop: str) -> dict:
        return rows.setdefault(
            (day, prop),
            {
                "visitors": set(),
                "source_visitors": defaultdict(set),
                "returning_visitors": set(),
                "total_page_views": 0,
                "total_sessions": 0,
                "total_entrances": 0,
                "total_exits": 0,
                "total_conversions": 0,
                "form_starts": 0,
                "form_submits": 0,
                "new_leads": 0,
                "time_to_first_capture_sum_ms": 0,
                "time_to_first_capture_count": 0,
                "traffic_source_breakdown": Counter(),
                "landing": defaultdict(lambda: [0, 0]),
            },
        )

    for view in world["page_views"]:
        v = session_visitor[view["session"]]
        prop, first_seen = visitors[v]
        day = day_of(view["at"])
        if day not in DAYS:
            continue
        r = row(day, prop)
        visitor_id = str(ids["visitors"][v])
        r["visitors"].add(visitor_id)
        r["source_visitors"][view["source"]].add(visitor_id)
        if first_seen < midnight(day):
            r["returning_visitors"].add(visitor_id)
        r["total_page_views"] += 1
        r["total_entrances"] += view["entrance"]
        r["total_exits"] += view["exit"]
        r["total_conversions"] += view["entrance"] and view["conversion"]
        r["traffic_source_breakdown"][view["source"]] += 1
        if view["entrance"]:
            r["landing"][view["path"]][0] += 1
            r["landing"][view["path"]][1] += view["conversion"]
    for v, started_at in world["sessions"]:
        if day_of(started_at) in DAYS:
            row(day_of(started_at), visitors[v][0])["total_sessions"] += 1
    for s, at, event_type in world["forms"]:
        if day_of(at) in DAYS and event_type != "custom":
            key = "form_starts" if event_type == "form_start" else "form_submits"
            row(day_of(at), visitors[session_visitor[s]][0])[key] += 1
    for prop, captured_at, first_seen in world["leads"]:
        if day_of(captured_at) in DAYS:
            r = row(day_of(captured_at), prop)
            r["new_leads"] += 1
            if first_seen is not None:
                r["time_to_first_capture_sum_ms"] += max(0, (captured_at - first_seen) // MS)
                r["time_to_first_capture_count"] += 1

    for r in rows.values():
        r["returning_visitors"] = len(r["returning_visitors"])
        r["unique_visitors"] = len(r["visitors"])
        r["traffic_source_breakdown"] = dict(r["traffic_source_breakdown"])
        ranked = sorted(r.pop("landing").items(), key=lambda item: (-item[1][0], item[0]))[:10]
        r["top_landing_paths"] = [
            {"path": path, "entrances": entrances, "conversions": conversions}
            for path, (entrances, conversions) in ranked
        ]
    return rows


def expected_ingest(world: dict[str, Any]) -> dict[tuple[date, str], dict]:
    session_visitor = [v for v, _ in world["sessions"]]
    rows: dict[tuple[date, str], dict] = {}
    fields = ("events_accepted", "events_rejected", "events_duplicate", "events_bot")
    blank = {**dict.fromkeys(fields, 0), "leads_accepted": 0, "leads_rejected": 0, "error_breakdown": {}}
    ttfbs: dict[tuple[date, str], list[int]] = defaultdict(list)
    for view in world["page_views"]:
        day = day_of(view["at"])
        if day in DAYS:
            key = (day, world["visitors"][session_visitor[view["session"]]][0])
            rows.setdefault(key, {**blank, "error_breakdown": {}})
            if view["ttfb_ms"] is not None:
                ttfbs[key].append(view["ttfb_ms"])
    for (prop, day, kind, outcome, code), count in world["counters"].items():
        if day not in DAYS:
            continue
        r = rows.setdefault((day, prop), {**blank, "error_breakdown": {}})
        if (kind, outcome) in {("lead", "duplicate"), ("lead", "bot")}:
            continue
        r[f"{kind}s_{outcome}"] += count
        if outcome == "rejected":
            r["error_breakdown"][f"{kind}:{code}"] = r["error_breakdown"].get(f"{kind}:{code}", 0) + count
    for key, r in rows.items():
        values = sorted(ttfbs[key])
        # percentile_disc(0.95): the first value whose cumulative share reaches 95 %
        r["p95_ttfb_ms"] = values[math.ceil(0.95 * len(values)) - 1] if values else None
        r["ttfb_samples"] = len(values)
    return rows


def expected_usage(world: dict[str, Any]) -> dict[tuple[date, str], dict]:
    rows: dict[tuple[date, str], dict] = {}
    usage_types = {"scan.completed", "scan.failed", "cluster.created", "suggestion.resolved"}
    for tenant, event_type, at, payload in world["tenant_events"]:
        if day_of(at) not in DAYS or event_type not in usage_types:
            continue
        r = rows.setdefault(
            (day_of(at), tenant),
            dict.fromkeys(
                (
                    "scans_completed",
                    "scans_failed",
                    "media_processed",
                    "identities_detected",
                    "clusters_created",
                    "suggestions_generated",
                    "suggestions_resolved",
                    "scan_duration_sum_ms",
                    "scan_duration_count",
                ),
                0,
            ),
        )
        if event_type == "scan.completed":
            r["scans_completed"] += 1
            r["media_processed"] += payload["mediaCount"]
            r["identities_detected"] += payload["identitiesDetected"]
            r["suggestions_generated"] += payload.get("suggestionsGenerated", 0)
            r["scan_duration_sum_ms"] += payload["durationMs"]
            r["scan_duration_count"] += 1
        elif event_type == "scan.failed":
            r["scans_failed"] += 1
        elif event_type == "cluster.created":
            r["clusters_created"] += 1
        else:
            r["suggestions_resolved"] += 1
    for r in rows.values():
        total, count = r["scan_duration_sum_ms"], r["scan_duration_count"]
        # rounded half up (all values are non-negative)
        r["avg_scan_duration_ms"] = (2 * total + count) // (2 * count) if count else None
    return rows


# --------------------------------------------------------------------------- the property


def estimate(serialized: bytes) -> int:
    return round(datasketches.hll_sketch.deserialize(bytes(serialized)).get_estimate())


def stored(db: psycopg.Connection, table: str, key: str) -> dict[tuple[date, str], dict]:
    rows = db.cursor(row_factory=dict_row).execute(f"SELECT * FROM {table}").fetchall()
    return {(row["day"], row[key]): row for row in rows}


@pytest.fixture
def runtime(lambda_env: pytest.MonkeyPatch) -> Runtime:
    pinned = get_runtime()
    pinned.clock = lambda: NOW
    return pinned


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(world=worlds())
def test_every_rolled_up_value_equals_a_naive_recomputation(runtime, db, world):
    # Given random raw rows around three UTC days
    ids = store(db, world)

    # When the three days are rolled up
    report = run_rollups(runtime, from_day=DAYS[0], to_day=DAYS[-1], trigger=Trigger.CLI)

    # Then every marketing row is the naive recomputation's (a sketch's estimate is exact
    # at these sizes), and no other row exists
    metrics = stored(db, "daily_metric_rollups", "property_id")
    expected = expected_metrics(world, ids)
    assert metrics.keys() == expected.keys()
    for key, want in expected.items():
        row = metrics[key]
        visitors, per_source = want.pop("visitors"), want.pop("source_visitors")
        if visitors:
            assert estimate(row["visitors_sketch"]) == len(visitors)
        else:
            assert row["visitors_sketch"] is None
        assert {
            source: estimate(base64.b64decode(text))
            for source, text in row["source_visitor_sketches"].items()
        } == {source: len(ids_) for source, ids_ in per_source.items()}
        assert {name: row[name] for name in want} == want, key

    # And every ingest row
    ingest = stored(db, "daily_ingest_rollups", "property_id")
    expected_rows = expected_ingest(world)
    assert ingest.keys() == expected_rows.keys()
    for key, want in expected_rows.items():
        assert {name: ingest[key][name] for name in want} == want, key

    # And every service usage row
    usage = stored(db, "service_usage_rollups", "tenant_id")
    expected_rows = expected_usage(world)
    assert usage.keys() == expected_rows.keys()
    for key, want in expected_rows.items():
        assert {name: usage[key][name] for name in want} == want, key

    # And the monitor, checking the same days, finds nothing amiss
    assert report.discrepancies == ()
    assert [result.day for result in report.days] == list(DAYS)

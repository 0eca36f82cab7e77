"""Rows of the read model written straight with SQL, for the metrics API's tests: the
rollups, the ledger of rollup runs, tenant milestones and leads. The metrics API only
reads these tables, so its tests need no rollup engine."""

from __future__ import annotations

import base64
import uuid
from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime

import psycopg
from psycopg.types.json import Jsonb

from funnel.readmodel.sketch import visitors_sketch


def metric_day(
    db: psycopg.Connection,
    day: date,
    *,
    property_id: str = "default",
    visitors: Iterable[str] = (),
    returning: int = 0,
    page_views: int = 0,
    entrances: int = 0,
    conversions: int = 0,
    form_starts: int = 0,
    form_submits: int = 0,
    new_leads: int = 0,
    time_to_first_capture_ms: Iterable[int] = (),
    sources: Mapping[str, int] | None = None,
    source_visitors: Mapping[str, Iterable[str]] | None = None,
) -> None:
    """A ``daily_metric_rollups`` row: ``visitors`` become the count and the sketch,
    ``sources`` the page views per traffic source, ``source_visitors`` the sketch per source."""
    visitor_ids = sorted(set(visitors))
    captures = list(time_to_first_capture_ms)
    db.execute(
        "INSERT INTO daily_metric_rollups (property_id, day, unique_visitors, returning_visitors, "
        "visitors_sketch, source_visitor_sketches, total_page_views, total_entrances, total_conversions, "
        "form_starts, form_submits, new_leads, time_to_first_capture_sum_ms, time_to_first_capture_count, "
        "traffic_source_breakdown) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
        (
            property_id,
            day,
            len(visitor_ids),
            returning,
            visitors_sketch(visitor_ids) if visitor_ids else None,
            Jsonb(
                {
                    source: base64.b64encode(visitors_sketch(ids)).decode()
                    for source, ids in (source_visitors or {}).items()
                }
            ),
            page_views,
            entrances,
            conversions,
            form_starts,
            form_submits,
            new_leads,
            sum(captures),
            len(captures),
            Jsonb(dict(sources or {})),
        ),
    )


def breakdown_day(
    db: psycopg.Connection,
    day: date,
    dimension: str,
    key: str,
    *,
    visitors: Iterable[str],
    page_views: int,
    entrances: int = 0,
    conversions: int = 0,
    property_id: str = "default",
) -> None:
    """A ``daily_breakdown_rollups`` row: ``visitors`` become the count and the sketch."""
    visitor_ids = sorted(set(visitors))
    db.execute(
        "INSERT INTO daily_breakdown_rollups (property_id, day, dimension, key, visitors, visitors_sketch, "
        "page_views, entrances, conversions, generated_at) "
        "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, now())",
        (
            property_id,
            day,
            dimension,
            key,
            len(visitor_ids),
            visitors_sketch(visitor_ids),
            page_views,
            entrances,
            conversions,
        ),
    )


def ingest_day(
    db: psycopg.Connection,
    day: date,
    *,
    property_id: str = "default",
    accepted: int = 0,
    rejected: int = 0,
    duplicate: int = 0,
    bot: int = 0,
    p95_ttfb_ms: int | None = None,
    ttfb_samples: int = 0,
) -> None:
    """A ``daily_ingest_rollups`` row."""
    db.execute(
        "INSERT INTO daily_ingest_rollups (property_id, day, events_accepted, events_rejected, "
        "events_duplicate, events_bot, p95_ttfb_ms, ttfb_samples) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
        (property_id, day, accepted, rejected, duplicate, bot, p95_ttfb_ms, ttfb_samples),
    )


def usage_day(
    db: psycopg.Connection,
    day: date,
    tenant_id: str,
    *,
    completed: int = 0,
    failed: int = 0,
    media: int = 0,
    identities: int = 0,
    clusters: int = 0,
    generated: int = 0,
    resolved: int = 0,
    durations_ms: Iterable[int] = (),
) -> None:
    """A ``service_usage_rollups`` row; ``durations_ms`` are the day's scan durations."""
    durations = list(durations_ms)
    db.execute(
        "INSERT INTO service_usage_rollups (day, tenant_id, scans_completed, scans_failed, media_processed, "
        "identities_detected, clusters_created, suggestions_generated, suggestions_resolved, "
        "avg_scan_duration_ms, scan_duration_sum_ms, scan_duration_count) "
        "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
        (
            day,
            tenant_id,
            completed,
            failed,
            media,
            identities,
            clusters,
            generated,
            resolved,
            sum(durations) // len(durations) if durations else None,
            sum(durations),
            len(durations),
        ),
    )


def rollup_run(
    db: psycopg.Connection,
    *,
    to_day: date,
    finished_at: datetime,
    from_day: date | None = None,
    status: str = "succeeded",
    dry_run: bool = False,
) -> None:
    """A finished ``rollup_runs`` row."""
    db.execute(
        "INSERT INTO rollup_runs (trigger, from_day, to_day, dry_run, status, started_at, finished_at) "
        "VALUES ('schedule', %s, %s, %s, %s, %s, %s)",
        (from_day or to_day, to_day, dry_run, status, finished_at, finished_at),
    )


def lead(
    db: psycopg.Connection,
    email: str,
    captured_at: datetime,
    *,
    property_id: str = "default",
    source: str | None = None,
    utm_source: str | None = None,
    utm_campaign: str | None = None,
) -> uuid.UUID:
    """A lead first captured at ``captured_at`` with that first touch."""
    row = db.execute(
        "INSERT INTO leads (email_normalized, property_id, first_touch_source, first_touch_utm_source, "
        "first_touch_utm_campaign, first_captured_at, last_captured_at) "
        "VALUES (%s, %s, %s, %s, %s, %s, %s) RETURNING id",
        (email, property_id, source, utm_source, utm_campaign, captured_at, captured_at),
    ).fetchone()
    assert row is not None
    lead_id: uuid.UUID = row[0]
    return lead_id


def february_cohort(db: psycopg.Connection) -> None:
    """Leads and tenants around the window 2026-02-01..2026-02-07, and their usage.

    ======  ==================  =====================  ===============  ================
    lead    first captured      property, source       utm_source       utm_campaign
    ======  ==================  =====================  ===============  ================
    L1      02-02 09:00         default, organic       google           spring
    L2      02-05 15:00         default, direct        -                -
    Lnone   02-04 12:00         default, -             -                -
    Ldocs   02-03 08:00         docs, referral         partner          -
    Lold    01-10 10:00         default, paid_search   google           winter
    ======  ==================  =====================  ===============  ================

    ======  ==================  =====  ==============  ================  =====================
    tenant  created             lead   first API key   first scan        completed scans on
    ======  ==================  =====  ==============  ================  =====================
    T1      02-02 10:00         L1     02-02 12:00     02-03 10:00 (24h) 02-03
    T2      02-04 00:00         Lold   02-08 (after)   02-06 12:00 (60h) 02-06
    T3      02-06 08:00         -      02-06 09:00     -                 (02-06: failed only)
    T5      02-07 23:59:59      L2     -               02-08 01:00       02-08 (after)
    T6      02-01 00:00         -      02-01 01:00     02-01 06:00 (6h)  02-01
    T4      01-20 (before)      -      01-20           01-21             01-28, 02-02
    ======  ==================  =====  ==============  ================  =====================

    Usage rows (completed, failed, media, identities, clusters, generated, resolved,
    durations): T1 02-03 (1, 0, 10, 4, 1, 5, 2, [3000]); T2 02-06 (2, 1, 30, 6, 0, 0, 1,
    [4000, 5000]); T3 02-06 (0, 1, 0, 0, 0, 0, 0, []); T6 02-01 (2, 0, 5, 1, 2, 5, 5, [400,
    600]); T4 02-02 (1, 0, 1, 1, 0, 0, 0, [500]); T4 01-28 (3, 1, 20, 8, 1, 4, 1, [2000,
    3000, 4000]); T5 02-08 (1, 0, 2, 0, 0, 0, 0, [100]).
    """
    l1 = lead(
        db, "l1@example.com", at(2, 2, 9), source="organic_search", utm_source="google", utm_campaign="spring"
    )
    l2 = lead(db, "l2@example.com", at(2, 5, 15), source="direct")
    lead(db, "lnone@example.com", at(2, 4, 12))
    lead(db, "ldocs@example.com", at(2, 3, 8), property_id="docs", source="referral", utm_source="partner")
    lold = lead(
        db,
        "lold@example.com",
        at(1, 10, 10),
        source="paid_search",
        utm_source="google",
        utm_campaign="winter",
    )
    tenant(db, "T1", at(2, 2, 10), lead_id=l1, api_key_at=at(2, 2, 12), first_scan_at=at(2, 3, 10))
    tenant(db, "T2", at(2, 4, 0), lead_id=lold, api_key_at=at(2, 8, 0), first_scan_at=at(2, 6, 12))
    tenant(db, "T3", at(2, 6, 8), api_key_at=at(2, 6, 9))
    tenant(db, "T5", at(2, 7, 23, 59, 59), lead_id=l2, first_scan_at=at(2, 8, 1))
    tenant(db, "T6", at(2, 1, 0), api_key_at=at(2, 1, 1), first_scan_at=at(2, 1, 6))
    tenant(
        db, "T4", at(1, 20, 0), api_key_at=at(1, 20, 1), first_scan_at=at(1, 21, 0), last_scan_at=at(2, 2, 9)
    )
    usage_day(
        db,
        date(2026, 2, 3),
        "T1",
        completed=1,
        media=10,
        identities=4,
        clusters=1,
        generated=5,
        resolved=2,
        durations_ms=[3000],
    )
    usage_day(
        db,
        date(2026, 2, 6),
        "T2",
        completed=2,
        failed=1,
        media=30,
        identities=6,
        resolved=1,
        durations_ms=[4000, 5000],
    )
    usage_day(db, date(2026, 2, 6), "T3", failed=1)
    usage_day(
        db,
        date(2026, 2, 1),
        "T6",
        completed=2,
        media=5,
        identities=1,
        clusters=2,
        generated=5,
        resolved=5,
        durations_ms=[400, 600],
    )
    usage_day(db, date(2026, 2, 2), "T4", completed=1, media=1, identities=1, durations_ms=[500])
    usage_day(
        db,
        date(2026, 1, 28),
        "T4",
        completed=3,
        failed=1,
        media=20,
        identities=8,
        clusters=1,
        generated=4,
        resolved=1,
        durations_ms=[2000, 3000, 4000],
    )
    usage_day(db, date(2026, 2, 8), "T5", completed=1, media=2, durations_ms=[100])


def at(month: int, day: int, hour: int, minute: int = 0, second: int = 0) -> datetime:
    """A UTC moment of 2026."""
    return datetime(2026, month, day, hour, minute, second, tzinfo=UTC)


def tenant(
    db: psycopg.Connection,
    tenant_id: str,
    created_at: datetime | None,
    *,
    lead_id: uuid.UUID | None = None,
    api_key_at: datetime | None = None,
    first_scan_at: datetime | None = None,
    last_scan_at: datetime | None = None,
) -> None:
    """A ``tenant_milestones`` row; its last completed scan is its first unless given (the
    metrics rely on it being the latest scan its usage rows count)."""
    db.execute(
        "INSERT INTO tenant_milestones (tenant_id, tenant_created_at, lead_id, first_api_key_at, "
        "first_scan_at, last_scan_at) VALUES (%s, %s, %s, %s, %s, %s)",
        (tenant_id, created_at, lead_id, api_key_at, first_scan_at, last_scan_at or first_scan_at),
    )

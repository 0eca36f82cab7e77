"""Visitors now (``GET /v1/metrics/now``): distinct visitors with an event in the last five
minutes, live from raw events, at the edges of its window with a pinned clock, and read
through the covering index of migration 0015 whatever the table holds."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import psycopg
import pytest

import metrics_handler
from funnel.capture.sessions import MAX_CLIENT_AHEAD
from funnel.metrics.windows import NOW_WINDOW_SECONDS
from funnel.platform.runtime import reset_runtime
from funnel.platform.sql import query
from tests.builders import api_event, response_json
from tests.conftest import ADMIN_KEY
from tests.raw_data import event, session, visitor
from tests.read_model import at

pytestmark = pytest.mark.integration

NOW = at(2, 14, 9, 30)
WINDOW = timedelta(seconds=NOW_WINDOW_SECONDS)


@pytest.fixture
def api(lambda_env, set_clock, db):  # type: ignore[no-untyped-def]
    lambda_env.setenv("METRICS_API_KEYS", "local-metrics-key")
    reset_runtime()
    set_clock(NOW)


def now(
    context: Any, query_string: str | None = "propertyId=default", **headers: str | None
) -> dict[str, Any]:
    event_ = api_event("metrics/now", query=query_string, headers=headers or None)
    response: dict[str, Any] = metrics_handler.lambda_handler(event_, context)
    return response


def visit(db: psycopg.Connection, *moments: Any, property_id: str = "default") -> None:
    """One visitor of ``property_id`` with an event at each moment."""
    visitor_id = visitor(db, NOW - timedelta(days=3), property_id=property_id)
    session_id = session(db, visitor_id, NOW - timedelta(hours=1))
    for moment in moments:
        event(db, session_id, moment, "page_view")


class TestVisitorsNow:
    def test_the_sample_event_is_answered_with_the_metrics_key(self, api, db, context):
        visit(db, NOW - timedelta(seconds=10))
        response = now(context)
        assert response["statusCode"] == 200, response["body"]
        assert response_json(response) == {
            "propertyId": "default",
            "visitors": 1,
            "windowSeconds": 300,
            "asOf": "2026-02-14T09:30:00Z",
        }

    def test_the_admin_key_reads_it_too_and_a_wrong_key_is_401(self, api, db, context):
        assert now(context, authorization=None, **{"x-admin-key": ADMIN_KEY})["statusCode"] == 200
        assert now(context, authorization="Bearer wrong")["statusCode"] == 401

    def test_a_visitor_counts_once_however_many_events(self, api, db, context):
        visit(db, NOW - timedelta(seconds=100), NOW - timedelta(seconds=50), NOW)
        visit(db, NOW - timedelta(seconds=200))
        assert response_json(now(context))["visitors"] == 2

    @pytest.mark.parametrize(
        ("offset", "counted"),
        [
            (-WINDOW, False),
            (-WINDOW + timedelta(microseconds=1), True),
            (timedelta(0), True),
            (MAX_CLIENT_AHEAD, True),
            (MAX_CLIENT_AHEAD + timedelta(microseconds=1), False),
        ],
    )
    def test_the_window_is_the_last_five_minutes_and_a_clock_ahead_as_ingest_believes_it(
        self, api, db, context, offset, counted
    ):
        visit(db, NOW + offset)
        assert response_json(now(context))["visitors"] == int(counted)

    def test_one_property_or_every_property(self, api, db, context):
        visit(db, NOW - timedelta(seconds=5))
        visit(db, NOW - timedelta(seconds=5), property_id="docs")
        visit(db, NOW - timedelta(seconds=5), property_id="docs")
        assert response_json(now(context, "propertyId=docs"))["visitors"] == 2
        everything = response_json(now(context, ""))
        assert (everything["propertyId"], everything["visitors"]) == (None, 3)
        assert response_json(now(context, "propertyId=unknown"))["visitors"] == 0

    @pytest.mark.parametrize(
        ("query_string", "status"),
        [
            ("propertyId=", 422),
            ("propertyId=no%20spaces", 422),
            ("period=today", 400),
            ("from=2026-02-01", 400),
        ],
    )
    def test_bad_or_unknown_parameters_are_refused(self, api, context, row_counts, query_string, status):
        before = row_counts()
        response = now(context, query_string)
        assert response["statusCode"] == status
        if status == 400:
            assert response_json(response)["accepted"] == ["format", "propertyId", "table"]
        assert row_counts() == before


class TestIndex:
    def test_the_read_is_a_range_of_the_covering_index_however_many_old_events(self, db):
        # Given a property with many old events and few recent ones, statistics current
        visitor_id = visitor(db, NOW - timedelta(days=30))
        session_id = session(db, visitor_id, NOW - timedelta(days=30))
        db.execute(
            "INSERT INTO events (id, property_id, visitor_id, session_id, event_type, client_event_id, "
            "occurred_at) SELECT gen_random_uuid(), 'default', %s, %s, 'page_view', 'old' || n, "
            "%s::timestamptz + n * interval '1 second' FROM generate_series(1, 20000) AS n",
            (visitor_id, session_id, NOW - timedelta(days=30)),
        )
        db.execute("VACUUM ANALYZE events")
        params = {"since_at": NOW - WINDOW, "until_at": NOW + MAX_CLIENT_AHEAD, "property_id": "default"}

        # When the count of one property is planned
        plan = "\n".join(
            row[0] for row in db.execute(b"EXPLAIN " + query("metrics/count_visitors_now").encode(), params)
        )

        # Then it reads a range of the covering index, from the index alone
        assert "Index Only Scan using events_property_occurred_visitor_idx" in plan
        assert "Seq Scan" not in plan

    def test_the_old_index_is_replaced_not_kept_beside_it(self, db):
        names = {row[0] for row in db.execute("SELECT indexname FROM pg_indexes WHERE tablename = 'events'")}
        assert "events_property_occurred_visitor_idx" in names
        assert "events_property_occurred_idx" not in names

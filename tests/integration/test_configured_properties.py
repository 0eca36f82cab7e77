"""Properties are configured (``PROPERTY_IDS``): the public routes collect for those only,
and refusals of any other name are counted under one bucket, so no caller can grow the
tables with names of its choosing (issue 11, item 6)."""

from __future__ import annotations

from datetime import UTC, datetime

import psycopg
import pytest

import collect_handler
from funnel.capture.collect import UNKNOWN_PROPERTY
from funnel.capture.identity import DailySalts
from funnel.platform.runtime import reset_runtime
from tests.builders import api_event, response_json, sample_body
from tests.conftest import UNBOUNDED_CLIENTS

pytestmark = pytest.mark.integration

NOW = datetime(2026, 11, 21, 14, 5, tzinfo=UTC)
DATA_TABLES = ("visitors", "sessions", "events", "web_traffic_logs", "leads", "consent_records")


@pytest.fixture
def site(lambda_env, set_clock, db):  # type: ignore[no-untyped-def]
    # The handler's salts are cached per day: a fresh cache, so none of this test's days
    # stays cached for a later test (whose emptied tables would lack that day's salt).
    lambda_env.setattr(collect_handler, "salts", DailySalts())
    lambda_env.setenv("ALLOWED_ORIGINS", "https://www.example.com")
    lambda_env.setenv("PROPERTY_IDS", "default, docs")
    for name, value in UNBOUNDED_CLIENTS.items():
        lambda_env.setenv(name, value)
    reset_runtime()
    set_clock(NOW)
    return lambda_env


def page_view(event_id: str, property_id: str | None) -> dict:
    event = {"type": "page_view", "eventId": event_id, "visitorId": "vis_property_1", "path": "/"}
    if property_id is not None:
        event["propertyId"] = property_id
    return event


def post_events(context, *events: dict) -> dict:  # type: ignore[no-untyped-def]
    return collect_handler.lambda_handler(
        api_event("collect/beacon_batch", body={"events": list(events)}), context
    )


def counters(db: psycopg.Connection) -> list[tuple]:
    return db.execute(
        "SELECT property_id, kind, outcome, code, sum(count)::int FROM ingest_counters "
        "GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4"
    ).fetchall()


def nothing_stored(db: psycopg.Connection) -> None:
    for table in DATA_TABLES:
        assert db.execute(f"SELECT count(*) FROM {table}").fetchone() == (0,), table


def test_events_of_configured_properties_are_stored(site, db, context):
    # When the two configured properties (and the default, named by omission) send page views
    response = post_events(context, page_view("evt_prop_dflt_1", None), page_view("evt_prop_docs_1", "docs"))

    # Then both are stored, each under its property
    assert response["statusCode"] == 202
    assert db.execute("SELECT property_id FROM events ORDER BY property_id").fetchall() == [
        ("default",),
        ("docs",),
    ]


def test_a_beacon_of_an_unknown_property_is_422_and_stores_nothing(site, db, context):
    # When a page view names a property that is not configured
    response = post_events(context, page_view("evt_prop_unkn_1", "not-configured"))

    # Then it is refused clearly, nothing is stored, and it is counted under the one bucket
    assert response["statusCode"] == 422
    assert response_json(response)["error"] == "unknown_property"
    nothing_stored(db)
    assert counters(db) == [(UNKNOWN_PROPERTY, "event", "rejected", "unknown_property", 1)]


def test_one_unknown_property_refuses_the_whole_batch(site, db, context):
    # When a batch mixes a configured property with an unknown one
    response = post_events(
        context, page_view("evt_prop_mixd_1", "docs"), page_view("evt_prop_mixd_2", "elsewhere")
    )

    # Then none of it is stored (a request is one transaction, refused whole)
    assert response["statusCode"] == 422
    assert response_json(response)["error"] == "unknown_property"
    nothing_stored(db)
    assert counters(db) == [("docs", "event", "rejected", "unknown_property", 2)]


def test_a_lead_of_an_unknown_property_is_422_and_stores_nothing(site, db, context):
    body = {**sample_body("collect/lead_capture_json"), "propertyId": "not-configured"}
    response = collect_handler.lambda_handler(api_event("collect/lead_capture_json", body=body), context)

    assert response["statusCode"] == 422
    assert response_json(response)["error"] == "unknown_property"
    nothing_stored(db)
    assert counters(db) == [(UNKNOWN_PROPERTY, "lead", "rejected", "unknown_property", 1)]


def test_refusals_of_many_invented_names_add_no_name_to_any_table(site, db, context):
    # When a caller invents 200 property names, valid and invalid ones
    for n in range(100):
        post_events(context, page_view(f"evt_invented_{n:04d}", f"invented-{n}"))
        post_events(context, {**page_view(f"evt_broken_{n:05d}", f"broken-{n}"), "type": "nope"})

    # Then every refusal is counted under the one bucket, per error code
    assert counters(db) == [
        (UNKNOWN_PROPERTY, "event", "rejected", "unknown_property", 100),
        (UNKNOWN_PROPERTY, "event", "rejected", "validation_failed", 100),
    ]
    # And no table holds any invented name
    nothing_stored(db)
    names = db.execute("SELECT DISTINCT property_id FROM ingest_counters").fetchall()
    assert names == [(UNKNOWN_PROPERTY,)]


def test_a_refused_request_of_a_configured_property_is_counted_under_it(site, db, context):
    post_events(context, {**page_view("evt_prop_bad_01", "docs"), "type": "nope"})
    assert counters(db) == [("docs", "event", "rejected", "validation_failed", 1)]


def test_without_configuration_only_the_default_property_is_collected(lambda_env, set_clock, db, context):
    # Given no PROPERTY_IDS (the settings' default, which the template's default matches)
    lambda_env.delenv("PROPERTY_IDS", raising=False)
    reset_runtime()
    set_clock(NOW)

    # Then the default property is collected, and docs is unknown
    assert post_events(context, page_view("evt_prop_only_1", None))["statusCode"] == 202
    refused = post_events(context, page_view("evt_prop_only_2", "docs"))
    assert (refused["statusCode"], response_json(refused)["error"]) == (422, "unknown_property")

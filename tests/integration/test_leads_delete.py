"""POST /v1/leads/delete through the Lambda handler, on real PostgreSQL: delete by email
reaches every row, detaches usage data, audits without the address, and is idempotent."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any

import psycopg
import pytest
from psycopg.types.json import Jsonb

import leads_admin_handler
from tests.builders import api_event, response_json
from tests.conftest import ADMIN_KEY

pytestmark = pytest.mark.integration

EMAIL = "ada.lovelace@example.org"
SAMPLE_REQUEST_ID = "c6af9ac6-7b61-11e6-9a41-93e8deadbeef"
AT = datetime(2026, 2, 10, 9, 30, tzinfo=UTC)


def delete_event(
    *, body: Any = None, raw_body: str | None = None, headers: dict[str, str | None] | None = None
) -> dict[str, Any]:
    """``events/leads_admin/delete_lead.json`` with the test admin key, and changes."""
    return api_event(
        "leads_admin/delete_lead",
        body=body,
        raw_body=raw_body,
        headers={"x-admin-key": ADMIN_KEY, **(headers or {})},
    )


def invoke(event, context):  # type: ignore[no-untyped-def]
    return leads_admin_handler.lambda_handler(event, context)


def add_visitor(db: psycopg.Connection, key: str = "v:anon-1") -> uuid.UUID:
    return db.execute(
        "INSERT INTO visitors (property_id, visitor_key, first_seen_at, last_seen_at) "
        "VALUES ('default', %s, %s, %s) RETURNING id",
        (key, AT, AT),
    ).fetchone()[0]


def add_session(db: psycopg.Connection, visitor_id: uuid.UUID) -> uuid.UUID:
    session_id = uuid.uuid4()
    db.execute(
        "INSERT INTO sessions (id, property_id, visitor_id, started_at, last_seen_at, traffic_source, "
        "device_type) VALUES (%s, 'default', %s, %s, %s, 'direct', 'desktop')",
        (session_id, visitor_id, AT, AT),
    )
    return session_id


def add_lead(db: psycopg.Connection, email: str, visitor_id: uuid.UUID | None = None) -> uuid.UUID:
    """A captured lead with everything that refers to it: consent history, a visitor link,
    a form submission carrying the address, and an attributed tenant."""
    lead_id = db.execute(
        "INSERT INTO leads (email_normalized, visitor_id, consent_status, consent_wording_version) "
        "VALUES (%s, %s, 'granted', 'v1') RETURNING id",
        (email, visitor_id),
    ).fetchone()[0]
    db.execute(
        "INSERT INTO consent_records (lead_id, status, source, wording_version) "
        "VALUES (%s, 'granted', 'form:newsletter', 'v1')",
        (lead_id,),
    )
    if visitor_id is not None:
        db.execute("INSERT INTO lead_identities (lead_id, visitor_id) VALUES (%s, %s)", (lead_id, visitor_id))
    db.execute(
        "INSERT INTO form_submissions (id, property_id, lead_id, visitor_id, form_id, path, payload, "
        "submitted_at) VALUES (%s, 'default', %s, %s, 'newsletter', '/pricing', %s, %s)",
        (uuid.uuid4(), lead_id, visitor_id, Jsonb({"email": email, "company": "Analytical Engines"}), AT),
    )
    tenant = f"tenant-{lead_id.hex[:8]}"
    db.execute(
        "INSERT INTO tenant_events (id, tenant_id, event_type, payload, lead_id, occurred_at) "
        "VALUES (%s, %s, 'tenant.created', '{}', %s, %s)",
        (uuid.uuid4(), tenant, lead_id, AT),
    )
    db.execute(
        "INSERT INTO tenant_milestones (tenant_id, tenant_created_at, lead_id) VALUES (%s, %s, %s)",
        (tenant, AT, lead_id),
    )
    return lead_id


def everything(db: psycopg.Connection) -> str:
    """Every column of every row of every table, as lower-cased JSON text."""
    tables = [
        row[0] for row in db.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'").fetchall()
    ]
    rows = [db.execute(f'SELECT row_to_json(t)::text FROM "{table}" t').fetchall() for table in tables]
    return json.dumps(rows).lower()


def audit_entries(db: psycopg.Connection, action: str = "lead.delete") -> list[tuple]:
    return db.execute(
        "SELECT actor, subject_type, subject_id, request_id, details "
        "FROM audit_log WHERE action = %s ORDER BY id",
        (action,),
    ).fetchall()


def test_a_known_email_is_erased_everywhere_and_usage_data_is_detached(lambda_env, db, context):
    # Given a lead with consent history, a visitor link, a form submission and a tenant
    visitor_id = add_visitor(db)
    session_id = add_session(db, visitor_id)
    lead_id = add_lead(db, EMAIL, visitor_id)
    assert EMAIL in everything(db)

    # When an admin deletes it by email, written differently
    response = invoke(delete_event(body={"email": "  Ada.Lovelace@EXAMPLE.org "}), context)

    # Then the answer says what went
    assert response["statusCode"] == 200
    assert response_json(response) == {
        "ok": True,
        "deleted": True,
        "removed": {
            "leads": 1,
            "leadIdentities": 1,
            "consentRecords": 1,
            "formSubmissionsScrubbed": 1,
            "tenantEventsUnlinked": 1,
            "tenantMilestonesUnlinked": 1,
        },
    }
    # And the lead, its consent records and its identities are gone
    assert db.execute("SELECT count(*) FROM leads").fetchone()[0] == 0
    assert db.execute("SELECT count(*) FROM consent_records").fetchone()[0] == 0
    assert db.execute("SELECT count(*) FROM lead_identities").fetchone()[0] == 0
    # And the form submission stays, scrubbed and detached
    assert db.execute("SELECT lead_id, payload, form_id FROM form_submissions").fetchall() == [
        (None, None, "newsletter")
    ]
    # And the tenant's usage data stays, no longer pointing at the lead
    assert db.execute("SELECT lead_id FROM tenant_events").fetchall() == [(None,)]
    assert db.execute("SELECT lead_id, tenant_created_at FROM tenant_milestones").fetchall() == [(None, AT)]
    # And the pseudonymous visitor and session stay (they expire with the raw data)
    assert db.execute("SELECT id FROM visitors").fetchall() == [(visitor_id,)]
    assert db.execute("SELECT id FROM sessions").fetchall() == [(session_id,)]
    # And nothing anywhere holds the address any more
    dump = everything(db)
    assert EMAIL not in dump
    assert "ada.lovelace" not in dump
    # And the deletion is audited by lead id and request id, with counts and no address
    [(actor, subject_type, subject_id, request_id, details)] = audit_entries(db)
    assert (actor, subject_type, subject_id, request_id) == ("admin", "lead", str(lead_id), SAMPLE_REQUEST_ID)
    assert details == {"found": True, **response_json(response)["removed"]}


def test_the_foreign_keys_detach_usage_data_too(lambda_env, db):
    # Given a lead referenced by tenant events and milestones
    lead_id = add_lead(db, EMAIL)

    # When the lead row is deleted directly (as the deletion's last statement does)
    db.execute("DELETE FROM consent_records WHERE lead_id = %s", (lead_id,))
    db.execute("DELETE FROM form_submissions WHERE lead_id = %s", (lead_id,))
    db.execute("DELETE FROM leads WHERE id = %s", (lead_id,))

    # Then ON DELETE SET NULL leaves them without the lead
    assert db.execute("SELECT lead_id FROM tenant_events").fetchall() == [(None,)]
    assert db.execute("SELECT lead_id FROM tenant_milestones").fetchall() == [(None,)]


def test_other_leads_are_untouched(lambda_env, db, context):
    # Given two leads
    add_lead(db, EMAIL)
    other_id = add_lead(db, "grace.hopper@example.org", add_visitor(db, "v:anon-2"))

    # When one is deleted
    assert response_json(invoke(delete_event(), context))["deleted"] is True

    # Then the other keeps all its rows
    assert db.execute("SELECT id FROM leads").fetchall() == [(other_id,)]
    for table in (
        "consent_records",
        "lead_identities",
        "form_submissions",
        "tenant_events",
        "tenant_milestones",
    ):
        linked = db.execute(f"SELECT lead_id FROM {table} WHERE lead_id IS NOT NULL").fetchall()
        assert linked == [(other_id,)], table
    payload = db.execute("SELECT payload FROM form_submissions WHERE lead_id = %s", (other_id,)).fetchone()[0]
    assert payload["email"] == "grace.hopper@example.org"


def test_an_unknown_email_answers_not_deleted_and_is_still_audited(lambda_env, db, context, row_counts):
    # Given a lead with another address
    add_lead(db, "grace.hopper@example.org")
    before = row_counts()

    # When an unknown address is deleted
    response = invoke(delete_event(body={"email": "nobody@example.net"}), context)

    # Then it answers 200, deleted false, changes nothing but the audit log
    assert response["statusCode"] == 200
    assert response_json(response) == {"ok": True, "deleted": False}
    assert row_counts() == {**before, "audit_log": before["audit_log"] + 1}
    assert audit_entries(db) == [("admin", "lead", None, SAMPLE_REQUEST_ID, {"found": False})]
    assert "nobody" not in everything(db)


def test_deleting_twice_is_idempotent(lambda_env, db, context):
    # Given a lead deleted once
    add_lead(db, EMAIL)
    assert response_json(invoke(delete_event(), context))["deleted"] is True

    # When the same deletion is repeated
    response = invoke(delete_event(), context)

    # Then it succeeds again, with nothing left to delete
    assert response["statusCode"] == 200
    assert response_json(response) == {"ok": True, "deleted": False}
    assert [entry[4]["found"] for entry in audit_entries(db)] == [True, False]


class TestRejections:
    """Every refused request answers 4xx and writes nothing (not even an audit entry)."""

    @pytest.mark.parametrize(
        ("change", "status", "error"),
        [
            ({"headers": {"x-admin-key": None}}, 401, "unauthorized"),
            ({"headers": {"x-admin-key": "wrong-key"}}, 401, "unauthorized"),
            ({"headers": {"x-admin-key": "wrong-key"}, "raw_body": "{not json"}, 401, "unauthorized"),
            ({"raw_body": "{not json"}, 400, "invalid_json"),
            ({"raw_body": ""}, 400, "empty_body"),
            ({"body": {}}, 422, "validation_failed"),
            ({"body": {"email": "not-an-address"}}, 422, "validation_failed"),
            ({"body": {"email": "ada@@example.org"}}, 422, "validation_failed"),
            ({"body": {"email": 42}}, 422, "validation_failed"),
            ({"body": {"email": EMAIL, "cascade": True}}, 422, "validation_failed"),
            ({"body": [EMAIL]}, 422, "validation_failed"),
            ({"headers": {"content-type": "text/csv"}}, 415, "unsupported_media_type"),
        ],
    )
    def test_a_bad_request_is_refused_and_writes_nothing(
        self, change, status, error, lambda_env, db, context, row_counts
    ):
        # Given a lead with the sample's address
        add_lead(db, EMAIL)
        before = row_counts()

        # When the request is refused
        response = invoke(delete_event(**change), context)

        # Then it says why, never echoing the address, and the lead is intact
        assert response["statusCode"] == status
        assert response_json(response)["error"] == error
        assert "lovelace" not in response["body"].lower()
        assert row_counts() == before

    def test_without_a_configured_admin_key_the_route_is_closed(self, lambda_env, db, context, row_counts):
        lambda_env.delenv("ADMIN_API_KEY")
        before = row_counts()
        response = invoke(delete_event(), context)
        assert response["statusCode"] == 503
        assert response_json(response)["error"] == "admin_auth_not_configured"
        assert row_counts() == before

    def test_a_get_is_not_allowed(self, lambda_env, db, context, row_counts):
        event = delete_event()
        event["requestContext"]["http"]["method"] = "GET"
        event["routeKey"] = "ANY /v1/leads/delete"
        before = row_counts()
        response = invoke(event, context)
        assert response["statusCode"] == 405 and response["headers"]["Allow"] == "POST"
        assert row_counts() == before

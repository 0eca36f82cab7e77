"""POST /v1/webhooks/description-service through the Lambda handler, on real PostgreSQL."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from pydantic import TypeAdapter

import webhook_handler
from funnel.webhooks.ingest import delivery_digest
from funnel.webhooks.schemas import WebhookDelivery
from tests.builders import as_base64, response_json, webhook_event
from tests.conftest import OTHER_SIGNING_SECRET, SIGNING_SECRET, load_event

pytestmark = pytest.mark.integration

SAMPLES = [
    "tenant_created",
    "apikey_created",
    "scan_completed",
    "scan_failed",
    "cluster_created",
    "suggestion_resolved",
]


# A whole second, after every sample's occurredAt.
SIGNED_AT = datetime(2026, 2, 13, 13, 0, tzinfo=UTC)


def invoke(event, context):  # type: ignore[no-untyped-def]
    return webhook_handler.lambda_handler(event, context)


def stored_events(db: psycopg.Connection) -> list[tuple]:
    return db.execute(
        "SELECT id, tenant_id, event_type, subject_id, payload, lead_id "
        "FROM tenant_events ORDER BY occurred_at, subject_id"
    ).fetchall()


@pytest.mark.parametrize("sample", SAMPLES)
def test_each_event_type_is_stored_once_with_its_id(sample, lambda_env, db, context):
    # Given a sample delivery of this event type
    event = load_event(f"webhook_ingest/{sample}.json")
    event["headers"]["x-admin-key"] = "test-admin-key"

    # When it is delivered
    response = invoke(event, context)

    # Then it is stored and its id returned
    assert response["statusCode"] == 200
    body = response_json(response)
    assert body["ok"] is True and "duplicate" not in body
    rows = stored_events(db)
    assert len(rows) == 1
    assert str(rows[0][0]) == body["eventId"]
    assert rows[0][2] == json.loads(event["body"])["eventType"]


def test_only_allowlisted_payload_fields_are_stored_and_the_email_is_dropped(lambda_env, db, context):
    # Given a tenant.created carrying an email and a field the schema does not know
    document = json.loads(load_event("webhook_ingest/tenant_created.json")["body"])
    document["payload"]["phone"] = "+1 555 0100"
    event = webhook_event(body=document)

    # When it is delivered
    assert invoke(event, context)["statusCode"] == 200

    # Then only declared, non-personal fields are kept
    payload = stored_events(db)[0][4]
    assert payload == {"siteUrl": "https://example.org/", "createdAt": "2026-02-13T12:00:00Z"}
    dump = json.dumps(db.execute("SELECT row_to_json(t) FROM tenant_events t").fetchall()).lower()
    # (the phone number whole: "555" alone can occur in a timestamp's microseconds or an id)
    assert "lovelace" not in dump and "555 0100" not in dump


def test_an_address_inside_an_error_message_is_replaced_but_the_subject_id_is_kept(lambda_env, db, context):
    # Given a failed scan whose error quotes an address, for a job named after one
    document = json.loads(load_event("webhook_ingest/scan_failed.json")["body"])
    document["payload"]["jobId"] = "job@batch.example"
    document["payload"]["errorMessage"] = "SMTP 550 for ada.lovelace@example.org: mailbox full"
    event = webhook_event("scan_failed", body=document)

    # When it is delivered
    assert invoke(event, context)["statusCode"] == 200

    # Then the message keeps everything but the address, and the job keeps its id
    (subject_id, payload) = db.execute("SELECT subject_id, payload FROM tenant_events").fetchone()
    assert payload["errorMessage"] == "SMTP 550 for [email]: mailbox full"
    assert subject_id == payload["jobId"] == "job@batch.example"


def test_tenant_created_is_attributed_to_the_lead_with_the_same_normalised_email(lambda_env, db, context):
    # Given a lead captured as ada.lovelace@example.org
    lead_id = db.execute(
        "INSERT INTO leads (email_normalized) VALUES ('ada.lovelace@example.org') RETURNING id"
    ).fetchone()[0]

    # When the tenant signs up as "  Ada.Lovelace@EXAMPLE.org "
    event = webhook_event(
        payload={"siteUrl": "https://example.org", "email": "  Ada.Lovelace@EXAMPLE.org "},
    )
    assert invoke(event, context)["statusCode"] == 200

    # Then the event and the tenant's milestones carry the lead
    assert stored_events(db)[0][5] == lead_id
    milestone = db.execute("SELECT lead_id, tenant_created_at FROM tenant_milestones").fetchone()
    assert milestone == (lead_id, datetime(2026, 2, 13, 12, 0, tzinfo=UTC))


def test_an_unknown_email_attributes_nothing(lambda_env, db, context):
    event = webhook_event(payload={"email": "nobody@example.net"})
    assert invoke(event, context)["statusCode"] == 200
    assert stored_events(db)[0][5] is None


def test_a_tenant_created_without_an_email_starts_its_milestones_without_a_lead(lambda_env, db, context):
    # Given a lead, and a tenant created without an email
    db.execute("INSERT INTO leads (email_normalized) VALUES ('ada.lovelace@example.org')")
    document = json.loads(load_event("webhook_ingest/tenant_created.json")["body"])
    del document["payload"]["email"]

    # When it is delivered
    assert invoke(webhook_event(body=document), context)["statusCode"] == 200

    # Then the tenant is on record from its creation, attributed to no one
    assert stored_events(db)[0][5] is None
    milestone = db.execute("SELECT lead_id, tenant_created_at FROM tenant_milestones").fetchone()
    assert milestone == (None, datetime(2026, 2, 13, 12, 0, tzinfo=UTC))


def test_milestones_follow_events_in_any_order(lambda_env, db, context):
    # Given a lead, and its tenant whose scan events arrive before its creation
    lead_id = db.execute(
        "INSERT INTO leads (email_normalized) VALUES ('ada.lovelace@example.org') RETURNING id"
    ).fetchone()[0]
    for sample, webhook_id, occurred in [
        ("scan_completed", "m1", "2026-02-15T10:00:00Z"),
        ("scan_completed", "m2", "2026-02-14T09:00:00Z"),
        ("apikey_created", "m3", "2026-02-13T12:05:00Z"),
        ("tenant_created", "m4", "2026-02-13T12:00:00Z"),
    ]:
        document = json.loads(load_event(f"webhook_ingest/{sample}.json")["body"])
        document["occurredAt"] = occurred
        if sample == "scan_completed":
            document["payload"]["jobId"] = webhook_id
        event = webhook_event(sample, body=document, headers={"webhook-id": webhook_id})
        assert invoke(event, context)["statusCode"] == 200

    # Then the milestones hold the earliest and latest of each, and the late creation's lead
    row = db.execute(
        "SELECT lead_id, tenant_created_at, first_api_key_at, first_scan_at, last_scan_at "
        "FROM tenant_milestones"
    ).fetchone()
    assert row == (
        lead_id,
        datetime(2026, 2, 13, 12, 0, tzinfo=UTC),
        datetime(2026, 2, 13, 12, 5, tzinfo=UTC),
        datetime(2026, 2, 14, 9, 0, tzinfo=UTC),
        datetime(2026, 2, 15, 10, 0, tzinfo=UTC),
    )


@pytest.mark.parametrize("sample", ["scan_failed", "cluster_created", "suggestion_resolved"])
def test_events_without_a_milestone_leave_the_milestones_alone(sample, lambda_env, db, context):
    # Given a tenant that has been created, and another that never has
    created = webhook_event("tenant_created", headers={"webhook-id": "created"})
    assert invoke(created, context)["statusCode"] == 200
    before = db.execute("SELECT * FROM tenant_milestones").fetchall()
    document = json.loads(load_event(f"webhook_ingest/{sample}.json")["body"])
    stranger = {
        **document,
        "tenantId": "tenant-never-created",
        "payload": {**document["payload"], "tenantId": None},
    }

    # When events that mark no milestone arrive for both
    for webhook_id, body in [("known", document), ("stranger", stranger)]:
        event = webhook_event(sample, body=body, headers={"webhook-id": webhook_id})
        assert invoke(event, context)["statusCode"] == 200

    # Then both are stored, the known tenant's milestones are as they were and the other
    # tenant has none
    assert len(stored_events(db)) == 3
    assert db.execute("SELECT * FROM tenant_milestones").fetchall() == before


def test_a_redelivery_answers_with_the_original_event_and_writes_nothing(lambda_env, db, context, row_counts):
    # Given a stored delivery
    event = webhook_event("scan_completed")
    first = response_json(invoke(event, context))
    before = row_counts()

    # When the same webhook-id and body arrive again (days later, as far as we know)
    response = invoke(event, context)

    # Then it is acknowledged as a duplicate of the same event, and nothing changes
    assert response["statusCode"] == 200
    assert response_json(response) == {"ok": True, "eventId": first["eventId"], "duplicate": True}
    assert row_counts() == before


def test_no_hash_of_the_address_is_kept_yet_redeliveries_and_reuses_are_told_apart(
    lambda_env, db, context, row_counts
):
    # Given a stored tenant.created, which carries an email
    document = json.loads(load_event("webhook_ingest/tenant_created.json")["body"])
    first = webhook_event(body=document, headers={"webhook-id": "msg_created"})
    assert invoke(first, context)["statusCode"] == 200

    # Then what is kept to recognise its body is the same whatever the address was, so it
    # cannot confirm a guessed one
    stored = bytes(db.execute("SELECT body_sha256 FROM webhook_deliveries").fetchone()[0])
    assert stored != hashlib.sha256(first["body"].encode()).digest()
    other_address = {**document, "payload": {**document["payload"], "email": "someone.else@example.net"}}
    event = TypeAdapter(WebhookDelivery).validate_python(other_address).root
    assert delivery_digest(event, json.dumps(other_address).encode()) == stored

    # And a redelivery is still a duplicate, while the id reused for another site is a conflict
    before = row_counts()
    redelivered = invoke(webhook_event(body=document, headers={"webhook-id": "msg_created"}), context)
    assert response_json(redelivered)["duplicate"] is True
    moved = {**document, "payload": {**document["payload"], "siteUrl": "https://elsewhere.example/"}}
    assert (
        invoke(webhook_event(body=moved, headers={"webhook-id": "msg_created"}), context)["statusCode"] == 409
    )
    assert row_counts() == before


def test_the_same_webhook_id_with_another_body_is_a_conflict(lambda_env, db, context, row_counts):
    # Given a stored delivery
    assert invoke(webhook_event("scan_completed"), context)["statusCode"] == 200
    before = row_counts()

    # When its webhook-id is reused for a different event
    reused = webhook_event("scan_failed", headers={"webhook-id": "msg_sample_scan_completed"})
    response = invoke(reused, context)

    # Then it is refused with 409 and nothing is written
    assert response["statusCode"] == 409
    assert response_json(response)["error"] == "webhook_id_reused"
    assert row_counts() == before


def test_the_same_event_under_a_new_webhook_id_is_a_duplicate(lambda_env, db, context, row_counts):
    # Given a stored scan.completed
    first = response_json(invoke(webhook_event("scan_completed"), context))

    # When the same tenant, type, occurredAt and job arrive under another webhook-id
    again = webhook_event("scan_completed", headers={"webhook-id": "msg_resent"})
    second = invoke(again, context)

    # Then it is the same event (the duplicate rule, docs/webhooks.md#idempotency), stored once
    assert response_json(second) == {"ok": True, "eventId": first["eventId"], "duplicate": True}
    assert len(stored_events(db)) == 1
    # And a redelivery of the new id answers with that same event
    assert response_json(invoke(again, context))["eventId"] == first["eventId"]


def test_a_reused_webhook_id_carrying_another_stored_event_is_a_conflict(lambda_env, db, context, row_counts):
    # Given two stored events, each under its own webhook-id
    for sample, webhook_id in (("scan_completed", "msg_a"), ("scan_failed", "msg_b")):
        assert invoke(webhook_event(sample, headers={"webhook-id": webhook_id}), context)["statusCode"] == 200
    before = row_counts()

    # When the first id arrives again carrying the second event (a duplicate of a stored one)
    response = invoke(webhook_event("scan_failed", headers={"webhook-id": "msg_a"}), context)

    # Then the reuse wins over the duplicate rule: 409, and nothing is written
    assert response["statusCode"] == 409
    assert response_json(response)["error"] == "webhook_id_reused"
    assert row_counts() == before


def test_a_duplicate_under_a_new_id_keeps_its_tenants_milestones(lambda_env, db, context):
    # Given a stored scan, then the same scan under a new webhook-id
    assert invoke(webhook_event("scan_completed"), context)["statusCode"] == 200
    milestones = db.execute("SELECT * FROM tenant_milestones").fetchall()
    resent = webhook_event("scan_completed", headers={"webhook-id": "msg_resent"})

    # When it is answered as a duplicate
    assert response_json(invoke(resent, context))["duplicate"] is True

    # Then the failed attempt to store it left the milestones untouched
    assert db.execute("SELECT * FROM tenant_milestones").fetchall() == milestones
    assert db.execute("SELECT count(*) FROM webhook_deliveries").fetchone()[0] == 2


def test_two_jobs_finishing_in_the_same_second_are_two_events(lambda_env, db, context):
    # Given two scans of one tenant completed at the same timestamp
    for job in ("job-a", "job-b"):
        document = json.loads(load_event("webhook_ingest/scan_completed.json")["body"])
        document["payload"]["jobId"] = job
        event = webhook_event("scan_completed", body=document, headers={"webhook-id": f"msg_{job}"})
        assert invoke(event, context)["statusCode"] == 200

    # Then both are counted
    assert sorted(row[3] for row in stored_events(db)) == ["job-a", "job-b"]


def test_without_a_webhook_id_the_duplicate_rule_still_holds(lambda_env, db, context):
    event = webhook_event("cluster_created", headers={"webhook-id": None})
    first = response_json(invoke(event, context))
    second = response_json(invoke(event, context))
    assert second == {"ok": True, "eventId": first["eventId"], "duplicate": True}
    assert len(stored_events(db)) == 1


class TestAuthentication:
    def test_a_missing_admin_key_is_401(self, lambda_env, db, context, row_counts):
        response = invoke(webhook_event(headers={"x-admin-key": None}), context)
        assert response["statusCode"] == 401
        assert response_json(response) == {"ok": False, "error": "unauthorized", "details": None}
        assert sum(row_counts().values()) == 0

    def test_a_wrong_admin_key_is_401_even_for_an_invalid_body(self, lambda_env, db, context, row_counts):
        # Authentication comes first: an unauthenticated caller learns nothing of the schema
        response = invoke(webhook_event(raw_body="{not json", headers={"x-admin-key": "guess"}), context)
        assert response["statusCode"] == 401
        assert sum(row_counts().values()) == 0

    def test_no_configured_admin_key_is_503_admin_auth_not_configured(
        self, lambda_env, db, context, row_counts
    ):
        lambda_env.delenv("ADMIN_API_KEY")
        from funnel.platform.runtime import reset_runtime

        reset_runtime()
        response = invoke(webhook_event(), context)
        assert response["statusCode"] == 503
        assert response_json(response)["error"] == "admin_auth_not_configured"
        assert sum(row_counts().values()) == 0


class TestSignatures:
    @pytest.fixture(autouse=True)
    def _signing(self, lambda_env):  # type: ignore[no-untyped-def]
        from funnel.platform.runtime import reset_runtime

        lambda_env.setenv("WEBHOOK_SIGNING_SECRETS", f"{SIGNING_SECRET} {OTHER_SIGNING_SECRET}")
        reset_runtime()

    def test_a_signed_delivery_is_accepted(self, db, context):
        assert invoke(webhook_event(sign_with=SIGNING_SECRET), context)["statusCode"] == 200

    def test_a_rotated_secret_is_accepted(self, db, context):
        assert invoke(webhook_event(sign_with=OTHER_SIGNING_SECRET), context)["statusCode"] == 200

    def test_one_good_signature_among_bad_ones_passes(self, db, context):
        unknown = "whsec_" + "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo="
        event = webhook_event(sign_with=[unknown, SIGNING_SECRET, unknown])
        assert invoke(event, context)["statusCode"] == 200

    @pytest.mark.parametrize(
        ("mutation", "reason"),
        [
            ({"webhook-signature": None}, "missing_signature_headers"),
            ({"webhook-timestamp": None}, "missing_signature_headers"),
            ({"webhook-timestamp": "soon"}, "invalid_timestamp"),
            ({"webhook-signature": "v1,AAAA"}, "signature_mismatch"),
            ({"webhook-signature": "v2,whatever"}, "signature_mismatch"),
        ],
    )
    def test_a_missing_or_wrong_signature_is_401(self, mutation, reason, db, context, row_counts):
        event = webhook_event(sign_with=SIGNING_SECRET)
        for name, value in mutation.items():
            if value is None:
                event["headers"].pop(name)
            else:
                event["headers"][name] = value
        response = invoke(event, context)
        assert response["statusCode"] == 401
        assert response_json(response) == {
            "ok": False,
            "error": "invalid_signature",
            "details": {"reason": reason},
        }
        assert sum(row_counts().values()) == 0

    def test_a_body_changed_after_signing_is_401(self, db, context, row_counts):
        event = webhook_event(sign_with=SIGNING_SECRET)
        event["body"] = event["body"].replace("tenant-7f3a", "tenant-evil")
        assert invoke(event, context)["statusCode"] == 401
        assert sum(row_counts().values()) == 0

    @pytest.mark.parametrize(("offset", "status"), [(-300, 200), (300, 200), (-301, 401), (301, 401)])
    def test_timestamps_are_accepted_within_five_minutes_either_way(
        self, offset, status, set_clock, db, context
    ):
        # Given the function's clock pinned to a whole second
        set_clock(SIGNED_AT)

        # When a delivery is signed `offset` seconds away from it
        event = webhook_event(sign_with=SIGNING_SECRET, timestamp=int(SIGNED_AT.timestamp()) + offset)

        # Then 300 s either way is accepted, and 301 s is not
        response = invoke(event, context)
        assert response["statusCode"] == status
        if status == 401:
            assert response_json(response)["details"] == {"reason": "timestamp_out_of_tolerance"}

    @pytest.mark.parametrize(("offset", "status"), [(60, 200), (61, 401)])
    def test_the_tolerance_follows_its_setting(self, offset, status, lambda_env, set_clock, db, context):
        from funnel.platform.runtime import reset_runtime

        lambda_env.setenv("WEBHOOK_TOLERANCE_SECONDS", "60")
        reset_runtime()
        set_clock(SIGNED_AT)
        event = webhook_event(sign_with=SIGNING_SECRET, timestamp=int(SIGNED_AT.timestamp()) - offset)
        assert invoke(event, context)["statusCode"] == status

    def test_a_bad_configured_secret_is_an_operator_error_not_a_500(
        self, lambda_env, db, context, row_counts
    ):
        from funnel.platform.runtime import reset_runtime

        lambda_env.setenv("WEBHOOK_SIGNING_SECRETS", "not-a-whsec-secret")
        reset_runtime()
        response = invoke(webhook_event(sign_with=SIGNING_SECRET), context)
        assert response["statusCode"] == 503
        assert response_json(response)["error"] == "webhook_signing_not_configured"
        assert sum(row_counts().values()) == 0


def _document(**changes):  # type: ignore[no-untyped-def]
    document = json.loads(load_event("webhook_ingest/scan_completed.json")["body"])
    for dotted, value in changes.items():
        target = document
        *path, last = dotted.split("__")
        for part in path:
            target = target[part]
        target[last] = value
    return document


@pytest.mark.parametrize(
    ("event", "status", "error"),
    [
        pytest.param(webhook_event(raw_body="{not json"), 400, "invalid_json", id="malformed-json"),
        pytest.param(webhook_event(raw_body=""), 400, "empty_body", id="empty-body"),
        pytest.param(
            webhook_event(raw_body=json.dumps({"pad": "x" * (256 * 1024)})),
            413,
            "payload_too_large",
            id="oversize",
        ),
        pytest.param(
            as_base64(webhook_event(), b"\xff\xfe\x00binary"), 400, "invalid_body_encoding", id="binary-body"
        ),
        pytest.param(
            {**webhook_event(), "body": "%%%not-base64", "isBase64Encoded": True},
            400,
            "invalid_body_encoding",
            id="bad-base64",
        ),
        pytest.param(webhook_event(raw_body="[1, 2]"), 422, "validation_failed", id="json-array"),
        pytest.param(
            webhook_event(headers={"content-type": "text/xml"}), 415, "unsupported_media_type", id="xml"
        ),
        pytest.param(
            webhook_event(headers={"content-type": "multipart/form-data"}),
            415,
            "unsupported_media_type",
            id="multipart-without-boundary",
        ),
        pytest.param(
            webhook_event(headers={"content-type": "application/x-www-form-urlencoded"}),
            415,
            "unsupported_media_type",
            id="form-to-a-json-only-route",
        ),
        pytest.param(
            webhook_event(body=_document(eventType="scan.exploded")), 422, "unknown_event_type", id="type"
        ),
        pytest.param(
            webhook_event(body={"tenantId": "t", "occurredAt": "2026-02-13T12:00:00Z"}),
            422,
            "validation_failed",
            id="no-type",
        ),
        pytest.param(
            webhook_event(body=_document(extra="x")), 422, "validation_failed", id="unknown-envelope-field"
        ),
        pytest.param(
            webhook_event(body=_document(occurredAt="2026-02-13T12:00:00")),
            422,
            "validation_failed",
            id="naive-datetime",
        ),
        pytest.param(
            webhook_event(body=_document(occurredAt="yesterday")), 422, "validation_failed", id="bad-date"
        ),
        pytest.param(
            webhook_event(body=_document(occurredAt="2099-01-01T00:00:00Z")),
            422,
            "validation_failed",
            id="future",
        ),
        pytest.param(
            webhook_event(body=_document(occurredAt="1999-01-01T00:00:00Z")),
            422,
            "validation_failed",
            id="ancient",
        ),
        pytest.param(
            webhook_event(body=_document(payload__mediaCount=-1)), 422, "validation_failed", id="negative"
        ),
        pytest.param(
            webhook_event(body=_document(payload__mediaCount="20")),
            422,
            "validation_failed",
            id="count-as-string",
        ),
        pytest.param(
            webhook_event(body=_document(payload__mediaCount=True)), 422, "validation_failed", id="bool"
        ),
        pytest.param(
            webhook_event(body=_document(payload__jobId=None)), 422, "validation_failed", id="no-job"
        ),
        pytest.param(
            webhook_event(body=_document(payload__tenantId="someone-else")),
            422,
            "validation_failed",
            id="tenant-mismatch",
        ),
        pytest.param(
            webhook_event(body=_document(tenantId="has spaces")), 422, "validation_failed", id="tenant-id"
        ),
        pytest.param(
            webhook_event(body=_document(tenantId="t" * 129)), 422, "validation_failed", id="long-tenant"
        ),
        pytest.param(
            webhook_event("scan_failed", payload={"jobId": "j", "mediaCount": 1, "errorMessage": "a\x00b"}),
            422,
            "validation_failed",
            id="nul-text",
        ),
        pytest.param(
            webhook_event(
                "scan_failed",
                raw_body=json.dumps(
                    {
                        "eventType": "scan.failed",
                        "tenantId": "t",
                        "occurredAt": "2026-02-13T12:00:00Z",
                        "payload": {"jobId": "j", "mediaCount": 1, "errorMessage": "\ud800"},
                    }
                ),
            ),
            422,
            "validation_failed",
            id="lone-surrogate",
        ),
        pytest.param(
            webhook_event(payload={"email": "not-an-email"}), 422, "validation_failed", id="bad-email"
        ),
        pytest.param(
            webhook_event(payload={"siteUrl": "javascript:alert(1)"}), 422, "validation_failed", id="bad-url"
        ),
        pytest.param(
            webhook_event(headers={"webhook-id": "m" * 256}), 422, "invalid_webhook_id", id="long-id"
        ),
    ],
)
def test_bad_input_gets_its_status_and_writes_nothing(
    event, status, error, lambda_env, db, context, row_counts
):
    # When a bad delivery arrives
    response = invoke(event, context)

    # Then it gets a clear 4xx with our error shape, and nothing is written
    assert response["statusCode"] == status
    body = response_json(response)
    assert body["ok"] is False and body["error"] == error
    assert response["headers"]["Content-Type"] == "application/json"
    assert sum(row_counts().values()) == 0


def test_an_unknown_event_type_lists_the_allowed_ones(lambda_env, db, context):
    response = invoke(webhook_event(body=_document(eventType="scan.exploded")), context)
    assert response_json(response)["details"] == {
        "field": "eventType",
        "received": "scan.exploded",
        "allowed": [
            "tenant.created",
            "apikey.created",
            "scan.completed",
            "scan.failed",
            "cluster.created",
            "suggestion.resolved",
        ],
    }


def test_validation_errors_name_the_field_but_never_echo_the_input(lambda_env, db, context):
    response = invoke(webhook_event(payload={"email": "secret.person@"}), context)
    details = response_json(response)["details"]
    assert details[0]["loc"] == "tenant.created.payload.email"
    assert "secret.person" not in response["body"]


def test_an_unreachable_database_is_503_with_retry_after(lambda_env, db, context):
    # Given a database that refuses connections
    lambda_env.setenv("DATABASE_URL", "postgresql://funnel@127.0.0.1:1/funnel?connect_timeout=1")
    from funnel.platform.runtime import reset_runtime

    reset_runtime()

    # When a valid delivery arrives
    response = invoke(webhook_event(), context)

    # Then the sender is told to retry later
    assert response["statusCode"] == 503
    assert response_json(response)["error"] == "database_unavailable"
    assert int(response["headers"]["Retry-After"]) > 0


def test_a_connection_killed_between_invocations_is_replaced(lambda_env, db, context):
    # Given a warm container whose connection the server has since closed
    assert invoke(webhook_event("scan_completed"), context)["statusCode"] == 200
    db.execute(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
        "WHERE datname = current_database() AND pid <> pg_backend_pid()"
    )

    # When the next delivery arrives
    response = invoke(webhook_event("scan_failed"), context)

    # Then it is stored on a fresh connection
    assert response["statusCode"] == 200
    assert len(stored_events(db)) == 2


def test_unknown_routes_are_404_in_our_error_shape(lambda_env, context):
    event = webhook_event()
    event["rawPath"] = event["requestContext"]["http"]["path"] = "/v1/webhooks/other"
    event["routeKey"] = "POST /v1/webhooks/other"
    response = invoke(event, context)
    assert response["statusCode"] == 404
    assert response_json(response)["error"] == "not_found"


@pytest.mark.parametrize(
    ("occurred_at", "status"),
    [
        pytest.param(SIGNED_AT + timedelta(hours=1), 200, id="an-hour-ahead"),
        pytest.param(SIGNED_AT + timedelta(hours=1, seconds=1), 422, id="an-hour-and-a-second-ahead"),
        pytest.param(datetime(2020, 1, 1, tzinfo=UTC), 200, id="2020-01-01"),
        pytest.param(datetime(2020, 1, 1, tzinfo=UTC) - timedelta(microseconds=1), 422, id="before-2020"),
    ],
)
def test_occurred_at_may_be_from_2020_to_an_hour_ahead_of_the_clock(
    occurred_at, status, set_clock, db, context, row_counts
):
    # Given the function's clock pinned
    set_clock(SIGNED_AT)

    # When an event stamped at the edge of what is believed arrives
    response = invoke(
        webhook_event("scan_completed", body=_document(occurredAt=occurred_at.isoformat())), context
    )

    # Then it is stored, or refused as out of range with nothing written
    assert response["statusCode"] == status
    if status == 422:
        assert response_json(response)["details"][0]["type"] == "out_of_range"
        assert sum(row_counts().values()) == 0


@pytest.mark.parametrize(("length", "status"), [(255, 200), (256, 422)])
def test_a_webhook_id_may_be_255_characters(length, status, lambda_env, db, context):
    response = invoke(webhook_event("scan_completed", headers={"webhook-id": "m" * length}), context)
    assert response["statusCode"] == status


def test_occurred_at_is_kept_in_utc(lambda_env, db, context):
    document = _document(occurredAt="2026-02-13T23:30:00-05:00")
    assert invoke(webhook_event("scan_completed", body=document), context)["statusCode"] == 200
    (occurred,) = db.execute("SELECT occurred_at FROM tenant_events").fetchone()
    assert occurred == datetime(2026, 2, 14, 4, 30, tzinfo=UTC)
    assert occurred - datetime(2026, 2, 14, tzinfo=UTC) == timedelta(hours=4, minutes=30)

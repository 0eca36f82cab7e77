"""The webhook digest (funnel.webhooks.ingest.delivery_digest), without PostgreSQL: what
tells a redelivery from a reused webhook-id. A body without an email is hashed as sent; a
body carrying one is hashed in a canonical form without it, so no hash of an address is
kept and what changes the digest is exactly what changes the stored event."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest
from pydantic import TypeAdapter

from funnel.webhooks.ingest import delivery_digest
from funnel.webhooks.schemas import WebhookDelivery
from tests.conftest import load_event


def sample(name: str) -> dict[str, Any]:
    return json.loads(load_event(f"webhook_ingest/{name}.json")["body"])


def digest(document: dict[str, Any], body: bytes | None = None) -> bytes:
    """The digest of ``document`` sent as ``body`` (by default, compact JSON)."""
    event = TypeAdapter(WebhookDelivery).validate_python(document).root
    return delivery_digest(event, json.dumps(document).encode() if body is None else body)


def with_payload(document: dict[str, Any], **changes: Any) -> dict[str, Any]:
    return {**document, "payload": {**document["payload"], **changes}}


CREATED = sample("tenant_created")


class TestABodyWithoutAnEmail:
    @pytest.mark.parametrize("name", ["scan_completed", "apikey_created", "suggestion_resolved"])
    def test_is_the_sha256_of_the_bytes_as_sent(self, name):
        body = load_event(f"webhook_ingest/{name}.json")["body"].encode()
        assert digest(sample(name), body) == hashlib.sha256(body).digest()

    def test_a_tenant_created_without_an_email_is_hashed_as_sent_too(self):
        document = {**CREATED, "payload": {k: v for k, v in CREATED["payload"].items() if k != "email"}}
        body = json.dumps(document).encode()
        assert digest(document, body) == hashlib.sha256(body).digest()

    def test_a_null_email_is_no_email(self):
        document = with_payload(CREATED, email=None)
        body = json.dumps(document).encode()
        assert digest(document, body) == hashlib.sha256(body).digest()

    def test_the_same_json_written_differently_is_another_body(self):
        # A redelivery is the same bytes; the sender signs bytes, not a document.
        document = sample("scan_completed")
        compact = json.dumps(document, separators=(",", ":")).encode()
        spaced = json.dumps(document, indent=2).encode()
        assert digest(document, compact) != digest(document, spaced)


class TestABodyCarryingAnEmail:
    def test_is_the_sha256_of_sorted_compact_json_without_the_address(self):
        body = load_event("webhook_ingest/tenant_created.json")["body"].encode()
        canonical = (
            b'{"eventType":"tenant.created","occurredAt":"2026-02-13T12:00:00Z",'
            b'"payload":{"createdAt":"2026-02-13T12:00:00Z","siteUrl":"https://example.org",'
            b'"tenantId":"tenant-7f3a"},"tenantId":"tenant-7f3a"}'
        )
        assert digest(CREATED, body) == hashlib.sha256(canonical).digest()
        assert digest(CREATED, body) != hashlib.sha256(body).digest()

    @pytest.mark.parametrize(
        "address", ["someone.else@example.net", "ADA.LOVELACE@EXAMPLE.ORG", "a@b.example"]
    )
    def test_bodies_that_differ_only_in_the_address_have_one_digest(self, address):
        assert digest(with_payload(CREATED, email=address)) == digest(CREATED)

    def test_key_order_spacing_and_escapes_do_not_change_it(self):
        document = with_payload(CREATED, siteUrl="https://exämple.org/")
        reordered = json.dumps(dict(reversed(list(document.items()))), indent=1, ensure_ascii=True)
        assert "\\u00e4" in reordered
        compact = json.dumps(document, separators=(",", ":"), ensure_ascii=False)
        assert digest(document, reordered.encode()) == digest(document, compact.encode())

    @pytest.mark.parametrize(
        "changed",
        [
            with_payload(CREATED, siteUrl="https://elsewhere.example/"),
            with_payload(CREATED, createdAt="2026-02-13T12:00:01Z"),
            {**CREATED, "occurredAt": "2026-02-13T12:00:01Z"},
            {**CREATED, "tenantId": "tenant-8", "payload": {**CREATED["payload"], "tenantId": "tenant-8"}},
            # A field the schema ignores (never stored) is still part of what was sent.
            with_payload(CREATED, plan="pro"),
        ],
        ids=["siteUrl", "createdAt", "occurredAt", "tenantId", "an ignored field"],
    )
    def test_anything_else_that_changes_changes_it(self, changed):
        assert digest(changed) != digest(CREATED)

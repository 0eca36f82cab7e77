"""Privacy by construction, checked after a realistic run: no column of any table and no
log line holds a raw IP address or user agent, and an email appears only in the leads
tables."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from datetime import UTC, datetime

import psycopg
import pytest

import collect_handler
import webhook_handler
from funnel.platform.runtime import reset_runtime
from tests.builders import api_event, sample_body, webhook_event

pytestmark = pytest.mark.integration

NOW = datetime(2026, 11, 21, 14, 5, tzinfo=UTC)
IP = "198.51.100.23"
OTHER_IP = "2001:db8::42"
USER_AGENT = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) PrivacyProbe/9.9 Chrome/131.0 Safari/537.36"
EMAIL = "ada.lovelace@example.org"
LEAD_TABLES = {"leads", "lead_identities", "consent_records", "form_submissions"}


class Recorder(logging.Handler):
    """Every log record of the service, with all its fields, as text."""

    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(f"{record.getMessage()} {json.dumps(vars(record), default=str)}")


@pytest.fixture
def log_lines() -> Iterator[list[str]]:
    recorder = Recorder()
    targets = [logging.getLogger(name) for name in ("funnel", "funnel_local", "funnel_emitter")]
    for target in targets:
        target.addHandler(recorder)
    yield recorder.lines
    for target in targets:
        target.removeHandler(recorder)


def with_client(event: dict, ip: str) -> dict:
    event["requestContext"]["http"]["sourceIp"] = ip
    event["requestContext"]["http"]["userAgent"] = USER_AGENT
    event["headers"]["user-agent"] = USER_AGENT
    event["headers"]["x-forwarded-for"] = ip
    return event


def test_a_realistic_run_leaves_no_ip_user_agent_or_stray_email(
    lambda_env, set_clock, db: psycopg.Connection, context, log_lines
):
    lambda_env.setenv("ALLOWED_ORIGINS", "https://www.example.com")
    reset_runtime()
    set_clock(NOW)

    # Given a visitor browsing with and without a site id, from two addresses
    collect_handler.lambda_handler(with_client(api_event("collect/beacon_batch"), IP), context)
    anonymous = sample_body("collect/beacon_page_view")
    del anonymous["visitorId"]
    anonymous["eventId"] = "evt_privacy_anon01"
    collect_handler.lambda_handler(
        with_client(api_event("collect/beacon_page_view", body=anonymous), OTHER_IP), context
    )
    # And leaving their email, with a rejected attempt first
    collect_handler.lambda_handler(
        with_client(api_event("collect/lead_capture_json", body={"email": "ada@"}), IP), context
    )
    collect_handler.lambda_handler(with_client(api_event("collect/lead_capture_json"), IP), context)
    # And becoming a tenant whose webhook carries the email
    webhook_handler.lambda_handler(webhook_event(payload={"email": "Ada.Lovelace@Example.org"}), context)

    # Then no table other than the leads tables holds the email, and none holds IP or UA
    tables = [row[0] for row in db.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")]
    assert db.execute("SELECT count(*) FROM tenant_events").fetchone()[0] == 1
    for table in tables:
        dump = json.dumps(
            db.execute(f'SELECT row_to_json(t) FROM "{table}" t').fetchall(), default=str
        ).lower()
        assert IP not in dump and OTHER_IP not in dump, table
        assert "privacyprobe" not in dump and "mozilla" not in dump, table
        if table not in LEAD_TABLES:
            assert EMAIL not in dump and "lovelace" not in dump, table
    # And no log line of the run holds them either
    assert log_lines, "the run logged nothing; the recorder is not attached"
    text = "\n".join(log_lines).lower()
    assert IP not in text and OTHER_IP not in text
    assert "privacyprobe" not in text
    assert "lovelace" not in text

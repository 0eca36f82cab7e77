"""Timestamps in requests are RFC 3339 date-time strings with a zone: pydantic's lax
datetime would also read numbers and numeric strings as Unix time (``resolvedAt: 0`` as
1970-01-01), a bare date as midnight, and times without seconds."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from pydantic import TypeAdapter, ValidationError

from funnel.platform.schemas import Timestamp

TIMESTAMP = TypeAdapter(Timestamp)


@pytest.mark.parametrize(
    ("text", "instant"),
    [
        ("2026-02-13T12:00:00Z", datetime(2026, 2, 13, 12, tzinfo=UTC)),
        ("2026-02-13t12:00:00z", datetime(2026, 2, 13, 12, tzinfo=UTC)),
        ("2026-02-13T07:00:00.250-05:00", datetime(2026, 2, 13, 12, 0, 0, 250_000, tzinfo=UTC)),
        ("2026-02-13T12:00:00.123456789+00:00", datetime(2026, 2, 13, 12, 0, 0, 123_456, tzinfo=UTC)),
    ],
)
def test_rfc_3339_date_times_with_a_zone_are_read_as_their_instant(text, instant):
    read = TIMESTAMP.validate_python(text)
    assert read == instant and read.utcoffset() is not None


@pytest.mark.parametrize(
    "value",
    [
        0,
        1_770_984_000,
        1_770_984_000.5,
        True,
        "0",
        "1770984000",
        "2026-02-13",
        "2026-02-13T12:00",
        "2026-02-13T12:00Z",
        "2026-02-13T12:00:00",
        "2026-02-13 12:00:00Z",
        "2026-02-13T12:00:00+0000",
        "2026-02-13T12:00:00+00",
        " 2026-02-13T12:00:00Z",
        "2026-02-13T12:00:00Z\n",
        None,
        [],
    ],
)
def test_numbers_dates_and_other_shapes_are_refused(value):
    with pytest.raises(ValidationError, match="date-time string with seconds and a time zone"):
        TIMESTAMP.validate_python(value)


def test_a_datetime_built_in_code_is_taken_as_it_is():
    moment = datetime(2026, 2, 13, 12, tzinfo=timezone(timedelta(hours=-5)))
    assert TIMESTAMP.validate_python(moment) is moment


def test_the_document_calls_it_a_date_time_string():
    assert TIMESTAMP.json_schema() == {"type": "string", "format": "date-time"}


def test_the_webhook_time_window_the_code_enforces_is_the_one_documented():
    from funnel.webhooks.ingest import EARLIEST_EVENT, MAX_CLOCK_SKEW
    from funnel.webhooks.schemas import ScanCompleted

    description = ScanCompleted.model_json_schema()["properties"]["occurredAt"]["description"]
    assert EARLIEST_EVENT.date().isoformat() in description
    assert timedelta(hours=1) == MAX_CLOCK_SKEW and "one hour ahead" in description

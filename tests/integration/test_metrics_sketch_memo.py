"""The warm container's memo of decoded daily sketches (``funnel.metrics.api.decoded_sketches``):
a request fetches and deserialises only the sketches of rollup rows it has not decoded
yet, and a re-rolled day (a new generated_at) is never answered from its old sketch."""

from __future__ import annotations

import base64
from datetime import date
from typing import Any

import psycopg
import pytest
from psycopg.types.json import Jsonb

import metrics_handler
from funnel.metrics import api
from funnel.metrics.api import ReportCache
from funnel.readmodel.sketch import SketchMemo, visitors_sketch
from tests.builders import api_event, response_json
from tests.conftest import ADMIN_KEY
from tests.read_model import at, metric_day

pytestmark = pytest.mark.integration

NOW = at(2, 9, 13)
WINDOW = "from=2026-02-01&to=2026-02-07"
DAY = date(2026, 2, 2)


@pytest.fixture
def decoded(lambda_env, set_clock, db):  # type: ignore[no-untyped-def]
    """An empty memo of decoded sketches, counting each sketch it decodes."""
    set_clock(NOW)
    lambda_env.setattr(api, "decoded_sketches", SketchMemo())
    decoded: list[bytes] = []
    decode = api.decode

    def counting(serialized: bytes) -> Any:
        decoded.append(serialized)
        return decode(serialized)

    lambda_env.setattr(api, "decode", counting)
    return decoded


def get(context: Any, path: str, query: str) -> dict[str, Any]:
    # A cold answer cache each time: every request computes its report.
    metrics_handler.cache = ReportCache()
    event = api_event(path, query=query, headers={"x-admin-key": ADMIN_KEY})
    response = metrics_handler.lambda_handler(event, context)
    assert response["statusCode"] == 200, response["body"]
    body: dict[str, Any] = response_json(response)
    return body


def visitors(context: Any) -> int:
    value: int = get(context, "metrics/summary", WINDOW)["metrics"]["uniqueVisitors"]["value"]
    return value


def channel_visitors(context: Any) -> dict[str, int | None]:
    groups = get(context, "metrics/service_usage", f"{WINDOW}&groupBy=channel")["funnelByGroup"]["groups"]
    return {name: group["marketingVisitors"] for name, group in groups.items()}


def reroll(db: psycopg.Connection, day: date, ids: list[str], by_source: dict[str, list[str]]) -> None:
    """Replace a day's sketches as the rollup does: the same row, a new generated_at."""
    db.execute(
        "UPDATE daily_metric_rollups SET unique_visitors = %s, visitors_sketch = %s, "
        "source_visitor_sketches = %s, generated_at = generated_at + interval '1 minute' "
        "WHERE day = %s",
        (
            len(ids),
            visitors_sketch(ids),
            Jsonb({source: base64.b64encode(visitors_sketch(v)).decode() for source, v in by_source.items()}),
            day,
        ),
    )


@pytest.fixture
def february(db: psycopg.Connection) -> None:
    metric_day(
        db, DAY, visitors=["v1", "v2", "v3"], source_visitors={"direct": ["v1", "v2"], "social": ["v3"]}
    )
    metric_day(db, date(2026, 2, 5), visitors=["v2", "v4"], source_visitors={"direct": ["v2", "v4"]})


@pytest.mark.usefixtures("february")
def test_a_warm_container_decodes_each_days_sketch_once(decoded, context):
    assert visitors(context) == 4
    assert len(decoded) == 2
    assert visitors(context) == 4
    assert len(decoded) == 2  # the second request decoded nothing
    assert channel_visitors(context)["direct"] == 3
    assert len(decoded) == 5  # three source sketches of two days
    assert channel_visitors(context)["direct"] == 3
    assert len(decoded) == 5


@pytest.mark.usefixtures("february")
def test_a_rerolled_day_is_not_served_from_its_stale_decoded_sketch(decoded, db, context):
    assert visitors(context) == 4
    assert channel_visitors(context) == {"direct": 3, "social": 1}
    reroll(db, DAY, ["v1", "v2", "v3", "v5", "v6"], {"direct": ["v1", "v2", "v5"], "email": ["v3", "v6"]})
    before = len(decoded)

    assert visitors(context) == 6
    assert channel_visitors(context) == {"direct": 4, "email": 2}
    # only the re-rolled day was fetched and decoded again
    assert len(decoded) == before + 3


@pytest.mark.usefixtures("february")
def test_a_day_deleted_and_rolled_up_again_is_a_new_row(decoded, db, context):
    assert visitors(context) == 4
    db.execute("DELETE FROM daily_metric_rollups WHERE day = %s", (DAY,))
    metric_day(db, DAY, visitors=["v7"])
    assert visitors(context) == 3

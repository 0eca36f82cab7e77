"""No client input can produce a 500, and a refused request writes nothing."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import webhook_handler
from tests.builders import as_base64, webhook_event
from tests.conftest import load_event

pytestmark = pytest.mark.integration

SAMPLE = json.loads(load_event("webhook_ingest/scan_completed.json")["body"])

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=40),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=12,
)


def mutated_documents() -> st.SearchStrategy[object]:
    """The sample with one field replaced by anything JSON can hold, or any JSON at all."""
    fields = ["eventType", "tenantId", "occurredAt", "payload"]
    payload_fields = list(SAMPLE["payload"])

    @st.composite
    def mutate(draw: st.DrawFn) -> object:
        document = json.loads(json.dumps(SAMPLE))
        if draw(st.booleans()):
            document[draw(st.sampled_from(fields))] = draw(json_values)
        else:
            document["payload"][draw(st.sampled_from(payload_fields))] = draw(json_values)
        return document

    return mutate() | json_values


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(document=mutated_documents(), webhook_id=st.text(max_size=300))
def test_any_json_body_gets_a_definite_answer_and_never_a_500(document, webhook_id, lambda_env, db, context):
    event = webhook_event("scan_completed", body=document, headers={"webhook-id": webhook_id})
    response = webhook_handler.lambda_handler(event, context)
    assert response["statusCode"] in {200, 400, 409, 422}
    if response["statusCode"] != 200:
        assert json.loads(response["body"])["ok"] is False


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    raw=st.binary(max_size=300),
    encoded=st.booleans(),
    content_type=st.sampled_from(
        [
            "application/json",
            "text/plain",
            "application/x-www-form-urlencoded",
            "multipart/form-data; boundary=x",
            "text/xml",
            "",
        ]
    )
    | st.text(max_size=30),
)
def test_any_bytes_get_a_4xx_and_write_nothing(
    raw, encoded, content_type, lambda_env, db, context, row_counts
):
    event = webhook_event("scan_completed", headers={"content-type": content_type})
    if encoded:
        event = as_base64(event, raw)
    else:
        event["body"] = raw.decode("latin-1")
    response = webhook_handler.lambda_handler(event, context)
    assert 400 <= response["statusCode"] < 500
    assert sum(row_counts().values()) == 0

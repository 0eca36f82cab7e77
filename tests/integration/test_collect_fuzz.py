"""No client input to the public collection endpoints produces a 500."""

from __future__ import annotations

import base64
import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import collect_handler
from funnel.platform.runtime import reset_runtime
from tests.builders import api_event, sample_body
from tests.conftest import UNBOUNDED_CLIENTS

pytestmark = pytest.mark.integration

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=40),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=12,
)
SAMPLES = ["collect/beacon_page_view", "collect/beacon_batch", "collect/lead_capture_json"]
CONTENT_TYPES = st.sampled_from(
    [
        "application/json",
        "text/plain;charset=UTF-8",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
        "text/xml",
        "",
    ]
) | st.text(max_size=30)


@st.composite
def mutated(draw: st.DrawFn) -> tuple[str, object]:
    sample = draw(st.sampled_from(SAMPLES))
    document = sample_body(sample)
    target = document["events"][0] if "events" in document else document
    if draw(st.booleans()):
        target[draw(st.sampled_from(sorted(target)))] = draw(json_values)
    else:
        target[draw(st.text(min_size=1, max_size=10))] = draw(json_values)
    return sample, document


@pytest.fixture
def collect(lambda_env, db):  # type: ignore[no-untyped-def]
    lambda_env.setenv("ALLOWED_ORIGINS", "https://www.example.com")
    for name, value in UNBOUNDED_CLIENTS.items():
        lambda_env.setenv(name, value)
    reset_runtime()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(case=mutated())
def test_any_mutation_of_a_valid_body_gets_a_definite_answer(case, collect, context):
    sample, document = case
    response = collect_handler.lambda_handler(api_event(sample, body=document), context)
    assert response["statusCode"] in {200, 201, 202, 303, 400, 413, 415, 422}
    if response["statusCode"] >= 400:
        assert json.loads(response["body"])["ok"] is False


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    sample=st.sampled_from(SAMPLES),
    raw=st.binary(max_size=400),
    content_type=CONTENT_TYPES,
    encoded=st.booleans(),
)
def test_any_bytes_with_any_content_type_get_a_4xx(sample, raw, content_type, encoded, collect, context):
    event = api_event(sample, headers={"content-type": content_type})
    if encoded:
        event["body"] = base64.b64encode(raw).decode()
        event["isBase64Encoded"] = True
    else:
        event["body"] = raw.decode("latin-1")
    response = collect_handler.lambda_handler(event, context)
    assert 200 <= response["statusCode"] < 500

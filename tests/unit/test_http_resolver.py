"""Per-request work the resolver spares Powertools: printing a request's values into its
debug messages, and walking the body's annotation on every request."""

from __future__ import annotations

import json
import logging
from typing import Annotated

import pytest
from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.middlewares import openapi_validation
from aws_lambda_powertools.event_handler.openapi.params import Body
from pydantic import RootModel

from funnel.platform.errors import MalformedRequest
from funnel.platform.http import FunnelResolver, multipart_pairs, strict_json, urlencoded_pairs
from funnel.platform.runtime import build_runtime
from funnel.platform.settings import get_settings
from funnel.webhooks.schemas import TenantCreated, WebhookDelivery
from tests.builders import webhook_event

WEBHOOK_PATH = "/v1/webhooks/description-service"


@pytest.fixture
def app() -> FunnelResolver:
    """A resolver without guards (no secret, no database is read) on the webhook's path."""
    settings = get_settings()
    return FunnelResolver(runtime=lambda: build_runtime(settings))


def test_powertools_debug_messages_never_carry_a_requests_values(app, caplog):
    # Given Powertools' own logger at DEBUG (what POWERTOOLS_DEBUG turns on), and a route
    seen: list[WebhookDelivery] = []

    @app.post(WEBHOOK_PATH)
    def receive(delivery: Annotated[WebhookDelivery, Body()]) -> Response[str]:
        seen.append(delivery)
        return Response(200, content_types.APPLICATION_JSON, "{}")

    caplog.set_level(logging.DEBUG, logger="aws_lambda_powertools")

    # When a tenant.created carrying an email is routed
    response = app.resolve(webhook_event("tenant_created"), None)

    # Then the route gets the validated event, and no message holds the email
    assert response["statusCode"] == 200
    assert isinstance(seen[0].root, TenantCreated) and seen[0].root.payload.email
    assert "lovelace" not in caplog.text.lower()
    assert "<validated arguments: delivery>" in caplog.text


@pytest.mark.parametrize(
    "annotation",
    [
        WebhookDelivery,
        list[int],
        int | list[str],
        RootModel[list[int]],
        dict[str, int],
        # An annotation that cannot be hashed is walked every time, as before.
        Annotated[list[int], {"unhashable": "metadata"}],
    ],
)
def test_the_body_shape_check_is_remembered_and_answers_as_powertools_does(app, annotation):
    # Given a resolver (which installs the memo once per container)
    check = openapi_validation._is_or_contains_sequence
    assert getattr(check, "memoized", False)

    # Then it answers as Powertools' own walk, the first time and from memory
    expected = check.__wrapped__(annotation)
    assert check(annotation) is expected
    assert check(annotation) is expected


def test_a_discriminated_union_body_is_not_a_sequence(app):
    # The webhook's body: a RootModel of six models, none of them a list
    assert openapi_validation._is_or_contains_sequence(WebhookDelivery) is False
    assert openapi_validation._is_or_contains_sequence(RootModel[list[int]]) is True


@pytest.mark.parametrize("body", ['{"v": NaN}', '{"v": Infinity}', "[-Infinity]", b'{"v": "\xff"}', "{nope"])
def test_bodies_that_are_not_json_are_refused_as_json_errors(body):
    with pytest.raises(json.JSONDecodeError):
        strict_json(body)


def test_json_bodies_parse_as_json_loads_does():
    text = '{"a": [1, 2.5, -3e2, true, null, "é"], "b": {}}'
    assert strict_json(text) == json.loads(text) == strict_json(text.encode())


@pytest.mark.parametrize(("size", "status"), [(256 * 1024, 200), (256 * 1024 + 1, 413)])
def test_a_body_of_256_kib_is_admitted_and_one_byte_more_is_413(app, size, status):
    # Given a route, and a JSON body of exactly `size` bytes
    @app.post(WEBHOOK_PATH)
    def receive() -> Response[str]:
        return Response(200, content_types.APPLICATION_JSON, "{}")

    body = json.dumps({"pad": "x" * (size - len('{"pad":""}'))}, separators=(",", ":"))
    assert len(body) == size

    # Then the default limit (MAX_BODY_BYTES) admits 256 KiB and refuses a byte more
    response = app.resolve(webhook_event(raw_body=body), None)
    assert response["statusCode"] == status
    if status == 413:
        assert json.loads(response["body"])["details"] == {"maxBytes": 256 * 1024}


def _multipart(count: int) -> tuple[bytes, str]:
    parts = "".join(f'--b\r\nContent-Disposition: form-data; name="f{n}"\r\n\r\nv\r\n' for n in range(count))
    return f"{parts}--b--\r\n".encode(), "multipart/form-data; boundary=b"


@pytest.mark.parametrize("kind", ["urlencoded", "multipart"])
def test_a_form_of_200_fields_is_read_and_201_is_refused(kind):
    def read(count: int) -> list[tuple[str, str]]:
        if kind == "urlencoded":
            return urlencoded_pairs("&".join(f"f{n}=v" for n in range(count)).encode())
        return multipart_pairs(*_multipart(count))

    assert len(read(200)) == 200
    with pytest.raises(MalformedRequest) as refused:
        read(201)
    assert refused.value.code == "invalid_form"

"""The webhook route never takes a delivery it cannot verify: a blank signing secret,
``whsec_`` with an empty key, a key outside Standard Webhooks' 24 to 64 bytes, or no
secret at all outside the local stage is answered 503 ``webhook_signing_not_configured``
(JSON, ``Retry-After``), before the body is read, and writes nothing."""

from __future__ import annotations

import base64

import pytest

import webhook_handler
from funnel.platform.runtime import reset_runtime
from tests.builders import response_json, webhook_event
from tests.conftest import SIGNING_SECRET

pytestmark = pytest.mark.integration


def whsec(size: int) -> str:
    return "whsec_" + base64.b64encode(bytes(i % 251 + 1 for i in range(size))).decode()


def configure(lambda_env: pytest.MonkeyPatch, **variables: str) -> None:
    for name, value in variables.items():
        lambda_env.setenv(name, value)
    reset_runtime()


NOT_CONFIGURED = {"ok": False, "error": "webhook_signing_not_configured", "details": None}


@pytest.mark.parametrize(
    "secrets",
    [" ", "\t\n", "whsec_", whsec(23), whsec(65), f"{SIGNING_SECRET} whsec_"],
    ids=["a space", "tabs and newlines", "whsec_ alone", "23 bytes", "65 bytes", "one bad among good"],
)
def test_an_invalid_signing_secret_refuses_every_delivery(lambda_env, db, context, row_counts, secrets):
    # Given a signing secret that is configured but blank or invalid
    configure(lambda_env, WEBHOOK_SIGNING_SECRETS=secrets)

    # When a delivery comes, signed with a good secret or not signed at all
    signed = webhook_handler.lambda_handler(webhook_event(sign_with=SIGNING_SECRET), context)
    unsigned = webhook_handler.lambda_handler(webhook_event(), context)

    # Then both are 503 webhook_signing_not_configured, JSON, with Retry-After, and nothing is written
    for response in (signed, unsigned):
        assert response["statusCode"] == 503
        assert response["headers"]["Content-Type"] == "application/json"
        assert response["headers"]["Retry-After"] == "60"
        assert response_json(response) == NOT_CONFIGURED
    assert sum(row_counts().values()) == 0


@pytest.mark.parametrize("stage", ["dev", "prod"])
def test_no_signing_secret_outside_the_local_stage_refuses_deliveries(
    lambda_env, db, context, row_counts, stage
):
    # Given a deployed stage with no signing secret configured
    configure(lambda_env, STAGE=stage)

    # When an unsigned delivery comes
    response = webhook_handler.lambda_handler(webhook_event(), context)

    # Then it is refused rather than taken unverified
    assert response["statusCode"] == 503
    assert response_json(response) == NOT_CONFIGURED
    assert sum(row_counts().values()) == 0


def test_on_the_local_stage_with_no_secret_at_all_deliveries_are_not_checked(lambda_env, db, context):
    # Given the local stage (STAGE unset: tests, in-process runs) and no signing secret
    configure(lambda_env)

    # When an unsigned delivery comes, Then it is stored (what the in-process tests rely on)
    assert webhook_handler.lambda_handler(webhook_event(), context)["statusCode"] == 200


@pytest.mark.parametrize("size", [24, 64])
def test_secrets_of_24_and_64_bytes_verify_deliveries(lambda_env, db, context, size):
    # Given a secret at either bound, on a deployed stage
    secret = whsec(size)
    configure(lambda_env, STAGE="prod", WEBHOOK_SIGNING_SECRETS=secret)

    # When deliveries come signed with it, and unsigned
    signed = webhook_handler.lambda_handler(webhook_event(sign_with=secret), context)
    unsigned = webhook_handler.lambda_handler(webhook_event(), context)

    # Then the signed one is stored and the unsigned one is 401
    assert signed["statusCode"] == 200
    assert unsigned["statusCode"] == 401


def test_a_key_is_checked_before_the_signing_configuration(lambda_env, db, context):
    # Given a broken signing configuration, When a caller without a key comes
    configure(lambda_env, WEBHOOK_SIGNING_SECRETS="whsec_")
    response = webhook_handler.lambda_handler(webhook_event(headers={"x-admin-key": None}), context)

    # Then it learns only that it is not authorised
    assert response["statusCode"] == 401

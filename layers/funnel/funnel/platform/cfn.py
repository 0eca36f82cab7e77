"""CloudFormation custom resources: the response protocol, so a deploy-time function
reports success or failure instead of leaving the stack waiting for an hour."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Callable, Mapping
from typing import Any

from aws_lambda_powertools import Logger

logger = Logger(child=True)

Sender = Callable[[str, bytes], int]


def put_response(url: str, body: bytes) -> int:
    """PUT the response document to CloudFormation's pre-signed S3 URL."""
    request = urllib.request.Request(  # noqa: S310 - the URL is CloudFormation's, https
        url, data=body, method="PUT", headers={"Content-Type": "", "Content-Length": str(len(body))}
    )
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
        return int(response.status)


def respond(
    event: Mapping[str, Any],
    *,
    status: str,
    physical_resource_id: str,
    reason: str = "",
    data: Mapping[str, str] | None = None,
    send: Sender = put_response,
) -> None:
    """Report ``SUCCESS`` or ``FAILED`` for one custom-resource request."""
    document = {
        "Status": status,
        "Reason": reason[:1000] or status,
        "PhysicalResourceId": physical_resource_id,
        "StackId": event["StackId"],
        "RequestId": event["RequestId"],
        "LogicalResourceId": event["LogicalResourceId"],
        "Data": dict(data or {}),
    }
    code = send(str(event["ResponseURL"]), json.dumps(document).encode())
    logger.info("custom resource answered", extra={"status": status, "http_status": code})

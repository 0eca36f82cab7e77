"""funnel_local.gateway: real HTTP on 127.0.0.1 through the local API Gateway emulation.

The functions here are small synthetic ones (their template and code are written to a
temporary folder), so these tests pin the gateway's and the workers' behaviour: the format
2.0 event, the response mapping, API Gateway's own error answers, throttling, timeouts,
environment and warm reuse.
"""

from __future__ import annotations

import base64
import http.client
import json
import textwrap
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from email.message import Message
from pathlib import Path
from typing import Any

import pytest

from funnel_local.gateway import RunningGateway, start_gateway

pytestmark = pytest.mark.e2e

HANDLERS = '''\
"""Synthetic handlers for the gateway tests."""

import json
import os
import sys
import time

import e2e_layer_greeting

INVOCATIONS = 0
ENV_NAMES = [
    "GREETING", "OVERRIDDEN", "FUNCTION_ONLY", "ONLY_WHEN_DEPLOYED", "LOCAL_ONLY",
    "AWS_LAMBDA_FUNCTION_NAME", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "AWS_REGION",
    "AWS_DEFAULT_REGION", "POWERTOOLS_TRACE_DISABLED",
]


def echo(event, context):
    return event


def mirror(event, context):
    return {
        "statusCode": 201,
        "headers": {"content-type": event["headers"].get("content-type", ""), "x-mirrored": True},
        "cookies": ["session=abc; Path=/; HttpOnly", "theme=dark"],
        "body": event.get("body", ""),
        "isBase64Encoded": event["isBase64Encoded"],
    }


def environment(event, context):
    global INVOCATIONS
    INVOCATIONS += 1
    time.sleep(float((event.get("queryStringParameters") or {}).get("sleep", "0")))
    report = {
        "env": {name: os.environ.get(name) for name in ENV_NAMES},
        "pid": os.getpid(),
        "invocations": INVOCATIONS,
        "greeting": e2e_layer_greeting.GREETING,
        "sysPath": sys.path[:2],
        "context": {
            "functionName": context.function_name,
            "memory": context.memory_limit_in_mb,
            "arn": context.invoked_function_arn,
            "requestId": context.aws_request_id,
            "remainingMs": context.get_remaining_time_in_millis(),
        },
    }
    return {"statusCode": 200, "headers": {"content-type": "application/json"}, "body": json.dumps(report)}


def flaky(event, context):
    if (event.get("queryStringParameters") or {}).get("fail") == "yes":
        raise RuntimeError("flaky handler failed on purpose")
    return {"pid": os.getpid()}


def sleepy(event, context):
    seconds = float(event["queryStringParameters"]["seconds"])
    time.sleep(seconds)
    return {"slept": seconds}
'''

TEMPLATE = """\
AWSTemplateFormatVersion: "2010-09-09"
Transform: AWS::Serverless-2016-10-31
Parameters:
  Greeting:
    Type: String
    Default: hello
Globals:
  Function:
    Runtime: python3.11
    CodeUri: handlers/
    Timeout: 10
    MemorySize: 256
    Layers: [!Ref GreetingLayer]
    Environment:
      Variables:
        GREETING: !Ref Greeting
        OVERRIDDEN: from-template
        ONLY_WHEN_DEPLOYED: !GetAtt Queue.Arn
Resources:
  Queue:
    Type: AWS::SQS::Queue
  GreetingLayer:
    Type: AWS::Serverless::LayerVersion
    Properties: { ContentUri: layer/ }
  Api:
    Type: AWS::Serverless::HttpApi
    Properties:
      RouteSettings:
        "GET /limited": { ThrottlingBurstLimit: 2, ThrottlingRateLimit: 0.01 }
  EchoFunction:
    Type: AWS::Serverless::Function
    Properties:
      Handler: e2e_handlers.echo
      Events:
        Item: { Type: HttpApi, Properties: { ApiId: !Ref Api, Path: "/items/{name}", Method: GET } }
        Files: { Type: HttpApi, Properties: { ApiId: !Ref Api, Path: "/files/{proxy+}", Method: ANY } }
        Post: { Type: HttpApi, Properties: { ApiId: !Ref Api, Path: /echo, Method: POST } }
        Limited: { Type: HttpApi, Properties: { ApiId: !Ref Api, Path: /limited, Method: GET } }
  MirrorFunction:
    Type: AWS::Serverless::Function
    Properties:
      Handler: e2e_handlers.mirror
      Events:
        Post: { Type: HttpApi, Properties: { ApiId: !Ref Api, Path: /mirror, Method: POST } }
  EnvFunction:
    Type: AWS::Serverless::Function
    Properties:
      Handler: e2e_handlers.environment
      Environment:
        Variables:
          FUNCTION_ONLY: from-function
      Events:
        Get: { Type: HttpApi, Properties: { ApiId: !Ref Api, Path: /env, Method: GET } }
  FlakyFunction:
    Type: AWS::Serverless::Function
    Properties:
      Handler: e2e_handlers.flaky
      Events:
        Get: { Type: HttpApi, Properties: { ApiId: !Ref Api, Path: /flaky, Method: GET } }
  SleepyFunction:
    Type: AWS::Serverless::Function
    Properties:
      Handler: e2e_handlers.sleepy
      Timeout: 1
      Events:
        Get: { Type: HttpApi, Properties: { ApiId: !Ref Api, Path: /sleepy, Method: GET } }
  SlowFunction:
    Type: AWS::Serverless::Function
    Properties:
      Handler: e2e_handlers.sleepy
      Timeout: 5
      Events:
        Get:
          Type: HttpApi
          Properties: { ApiId: !Ref Api, Path: /slow, Method: GET, TimeoutInMillis: 1000 }
"""

# Every request is bounded; nothing here should take more than a few seconds.
REQUEST_TIMEOUT_SECONDS = 20
ENV_OVERRIDES = {"OVERRIDDEN": "from-override", "LOCAL_ONLY": "local"}


@dataclass(frozen=True)
class Reply:
    status: int
    headers: Message
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


# No proxy: these requests must go to 127.0.0.1 and nowhere else.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def request(
    gateway: RunningGateway,
    path: str,
    *,
    method: str = "GET",
    body: bytes | None = None,
    headers: Mapping[str, str] | None = None,
) -> Reply:
    # The URL is always the gateway's http://127.0.0.1:<port>.
    url = f"{gateway.url}{path}"
    req = urllib.request.Request(url, data=body, method=method, headers=dict(headers or {}))
    try:
        with _OPENER.open(req, timeout=REQUEST_TIMEOUT_SECONDS) as response:
            return Reply(response.status, response.headers, response.read())
    except urllib.error.HTTPError as error:
        with error:
            return Reply(error.code, error.headers, error.read())


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("gateway-project")
    (root / "handlers").mkdir()
    (root / "handlers" / "e2e_handlers.py").write_text(HANDLERS, encoding="utf-8")
    (root / "layer").mkdir()
    (root / "layer" / "e2e_layer_greeting.py").write_text(
        'GREETING = "hello from the layer"\n', encoding="utf-8"
    )
    (root / "template.yaml").write_text(textwrap.dedent(TEMPLATE), encoding="utf-8")
    return root


@pytest.fixture(scope="module")
def gateway(project: Path) -> Iterator[RunningGateway]:
    with start_gateway(project / "template.yaml", port=0, env_overrides=ENV_OVERRIDES) as running:
        assert running.url.startswith("http://127.0.0.1:")
        yield running


def test_event_carries_the_request_in_payload_format_2(gateway: RunningGateway) -> None:
    # Given a GET with a path parameter, a query string with repeats, and a custom header
    query = "b=2&a=1&a=3&empty=&enc=hello%20world"

    # When it goes through the gateway to a function returning its event
    reply = request(gateway, f"/items/ada?{query}", headers={"X-Custom-Header": "Value", "User-Agent": "e2e"})

    # Then the result, having no statusCode, was sent as a JSON 200
    assert reply.status == 200
    assert reply.headers["Content-Type"] == "application/json"
    event = reply.json()
    # And the event describes the request the way API Gateway does
    assert event["version"] == "2.0"
    assert event["routeKey"] == "GET /items/{name}"
    assert event["rawPath"] == "/items/ada"
    assert event["rawQueryString"] == query
    assert event["queryStringParameters"] == {"b": "2", "a": "1,3", "empty": "", "enc": "hello world"}
    assert event["pathParameters"] == {"name": "ada"}
    assert event["headers"]["x-custom-header"] == "Value"
    assert all(name == name.lower() for name in event["headers"])
    assert "body" not in event
    assert event["isBase64Encoded"] is False
    context = event["requestContext"]
    assert context["http"] == {
        "method": "GET",
        "path": "/items/ada",
        "protocol": "HTTP/1.1",
        "sourceIp": "127.0.0.1",
        "userAgent": "e2e",
    }
    assert (context["stage"], context["routeKey"], context["accountId"]) == (
        "$default",
        "GET /items/{name}",
        "123456789012",
    )
    assert context["domainName"] == "127.0.0.1"
    # And the request id is the one API Gateway returns in apigw-requestid
    assert reply.headers["apigw-requestid"] == context["requestId"]


def test_repeated_headers_are_comma_joined(gateway: RunningGateway) -> None:
    # Given a request repeating a header
    connection = http.client.HTTPConnection("127.0.0.1", gateway.port, timeout=REQUEST_TIMEOUT_SECONDS)
    try:
        connection.putrequest("GET", "/items/repeat")
        connection.putheader("X-Repeated", "one")
        connection.putheader("X-Repeated", "two")
        connection.endheaders()
        # When the function receives it
        response = connection.getresponse()
        event = json.loads(response.read())
    finally:
        connection.close()

    # Then the values arrive joined with commas under the lower-cased name
    assert event["headers"]["x-repeated"] == "one,two"


def test_cookies_move_from_the_cookie_header_to_the_cookies_list(gateway: RunningGateway) -> None:
    # Given a request with two cookies
    # When the function receives it
    event = request(gateway, "/items/cookies", headers={"Cookie": "a=1; b=two"}).json()

    # Then they are listed in cookies and the cookie header is gone, as in API Gateway
    assert event["cookies"] == ["a=1", "b=two"]
    assert "cookie" not in event["headers"]


def test_greedy_path_parameters_take_the_rest_of_the_path_for_any_method(gateway: RunningGateway) -> None:
    # Given an ANY /files/{proxy+} route
    # When requests with several segments and different methods arrive
    get = request(gateway, "/files/reports/2024/q1.csv").json()
    delete = request(gateway, "/files/old.txt", method="DELETE").json()

    # Then both match it, with the rest of the path as the parameter
    assert get["pathParameters"] == {"proxy": "reports/2024/q1.csv"}
    assert get["routeKey"] == "ANY /files/{proxy+}"
    assert (delete["pathParameters"], delete["requestContext"]["http"]["method"]) == (
        {"proxy": "old.txt"},
        "DELETE",
    )


def test_json_bodies_are_passed_as_text(gateway: RunningGateway) -> None:
    # Given a JSON body
    body = json.dumps({"email": "Ada@Example.com", "note": "café"}).encode()

    # When it is posted
    event = request(
        gateway, "/echo", method="POST", body=body, headers={"Content-Type": "application/json"}
    ).json()

    # Then the function gets it as text, not base64
    assert event["isBase64Encoded"] is False
    assert event["body"] == body.decode()


def test_form_posts_are_base64_encoded_as_api_gateway_does(gateway: RunningGateway) -> None:
    # Given an HTML form post
    body = b"email=ada%40example.com&consent=on"

    # When it is posted
    event = request(
        gateway,
        "/echo",
        method="POST",
        body=body,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    ).json()

    # Then the body arrives base64-encoded, so handlers must decode it as in production
    assert event["isBase64Encoded"] is True
    assert base64.b64decode(event["body"]) == body


def test_binary_bodies_round_trip_through_base64(gateway: RunningGateway) -> None:
    # Given every byte value as an octet-stream body
    body = bytes(range(256))

    # When a function returns the body it got, with isBase64Encoded as it got it
    reply = request(
        gateway, "/mirror", method="POST", body=body, headers={"Content-Type": "application/octet-stream"}
    )

    # Then the gateway decoded it back to the same bytes, with the function's status and headers
    assert reply.status == 201
    assert reply.body == body
    assert reply.headers["Content-Type"] == "application/octet-stream"
    assert reply.headers["x-mirrored"] == "true"
    # And each entry of the result's cookies became a Set-Cookie header
    assert reply.headers.get_all("Set-Cookie") == ["session=abc; Path=/; HttpOnly", "theme=dark"]


@pytest.mark.parametrize(
    ("method", "path"), [("GET", "/no/such/route"), ("POST", "/items/ada"), ("GET", "/")]
)
def test_requests_without_a_route_get_api_gateways_404(
    gateway: RunningGateway, method: str, path: str
) -> None:
    # Given a path, or a method, no route declares
    # When it is requested
    reply = request(gateway, path, method=method, body=b"{}" if method == "POST" else None)

    # Then API Gateway's own 404 comes back
    assert reply.status == 404
    assert reply.json() == {"message": "Not Found"}


def test_a_raising_handler_gives_500_and_its_worker_lives_on(gateway: RunningGateway) -> None:
    # Given a warm worker of a function
    before = request(gateway, "/flaky").json()["pid"]

    # When the handler raises
    failed = request(gateway, "/flaky?fail=yes")

    # Then API Gateway's 500 comes back
    assert failed.status == 500
    assert failed.json() == {"message": "Internal Server Error"}
    # And the same worker serves the next invocation
    assert request(gateway, "/flaky").json()["pid"] == before


def test_a_function_past_its_timeout_gives_500_and_is_replaced(gateway: RunningGateway) -> None:
    # Given a function with Timeout: 1 that sleeps for 5 seconds
    started = time.monotonic()

    # When it is invoked
    reply = request(gateway, "/sleepy?seconds=5")

    # Then Lambda stops it at its timeout, which API Gateway reports as a 500
    assert reply.status == 500
    assert reply.json() == {"message": "Internal Server Error"}
    assert time.monotonic() - started < 4
    # And a fresh worker serves the next invocation
    again = request(gateway, "/sleepy?seconds=0")
    assert (again.status, again.json()) == (200, {"slept": 0.0})


def test_an_integration_timeout_gives_503(gateway: RunningGateway) -> None:
    # Given a route with TimeoutInMillis: 1000 to a function allowed 5 seconds
    started = time.monotonic()

    # When the function takes 3 seconds
    reply = request(gateway, "/slow?seconds=3")

    # Then API Gateway stops waiting after 1 second and answers 503
    assert reply.status == 503
    assert reply.json() == {"message": "Service Unavailable"}
    assert time.monotonic() - started < 2.5


def test_a_route_over_its_burst_is_throttled_with_429(gateway: RunningGateway) -> None:
    # Given a route with a burst of 2 and a negligible refill rate
    # When it is requested three times in a row
    statuses = [request(gateway, "/limited").status for _ in range(2)]
    third = request(gateway, "/limited")

    # Then the burst passes and the next request is refused as API Gateway refuses it
    assert statuses == [200, 200]
    assert third.status == 429
    assert third.json() == {"message": "Too Many Requests"}


def test_functions_see_template_environment_overrides_and_lambda_variables(
    gateway: RunningGateway, project: Path
) -> None:
    # Given Globals and function variables, local overrides, and a layer
    # When the function reports what it sees
    report = request(gateway, "/env").json()

    # Then the environment is the template's, overridden locally, plus Lambda's own
    assert report["env"] == {
        "GREETING": "hello",
        "OVERRIDDEN": "from-override",
        "FUNCTION_ONLY": "from-function",
        "ONLY_WHEN_DEPLOYED": None,
        "LOCAL_ONLY": "local",
        "AWS_LAMBDA_FUNCTION_NAME": "EnvFunction",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256",
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
        "POWERTOOLS_TRACE_DISABLED": "true",
    }
    # And the code folder, then the layer, lead sys.path, so the layer's module imports
    assert report["sysPath"] == [str(project / "handlers"), str(project / "layer")]
    assert report["greeting"] == "hello from the layer"
    # And the context is Lambda's
    context = report["context"]
    assert (context["functionName"], context["memory"]) == ("EnvFunction", "256")
    assert context["arn"] == "arn:aws:lambda:us-east-1:123456789012:function:EnvFunction"
    assert 0 < context["remainingMs"] <= 10_000


def test_workers_stay_warm_between_invocations(gateway: RunningGateway) -> None:
    # Given a function invoked once
    first = request(gateway, "/env").json()

    # When it is invoked again
    second = request(gateway, "/env").json()

    # Then the same worker ran it, with its module state kept, under a new request id
    assert second["pid"] == first["pid"]
    assert second["invocations"] == first["invocations"] + 1
    assert second["context"]["requestId"] != first["context"]["requestId"]


def test_concurrent_invocations_run_in_separate_workers(gateway: RunningGateway) -> None:
    # Given two requests arriving together at a function that takes a second
    # When both are served
    with ThreadPoolExecutor(max_workers=2) as executor:
        replies = list(executor.map(lambda _: request(gateway, "/env?sleep=1"), range(2)))

    # Then each ran in its own worker process, as two Lambda instances would
    assert [reply.status for reply in replies] == [200, 200]
    assert replies[0].json()["pid"] != replies[1].json()["pid"]

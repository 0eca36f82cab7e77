"""funnel_local.template: what local runs read from template.yaml, intrinsics resolved."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from funnel_local.template import UNRESOLVED, SamTemplate, TemplateError, ThrottleSettings, load_template

REPO_ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = REPO_ROOT / "template.yaml"
WEBHOOK_ROUTE = "POST /v1/webhooks/description-service"


def write_template(directory: Path, body: str) -> Path:
    path = directory / "template.yaml"
    path.write_text(textwrap.dedent(body), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def project_template() -> SamTemplate:
    return load_template(TEMPLATE)


class TestProjectTemplate:
    def test_routes_come_from_the_functions_http_api_events(self, project_template: SamTemplate) -> None:
        # Given the project's template
        # When its routes are read
        routes = {route.route_key: route.function_id for route in project_template.routes}

        # Then the webhook and health routes are there, each with its function
        assert routes[WEBHOOK_ROUTE] == "WebhookIngestFunction"
        assert routes["GET /v1/health"] == "HealthFunction"
        assert all(route.api_id == "FunnelHttpApi" for route in project_template.routes)

    def test_webhook_throttling_resolves_its_mapping_with_the_default_rate(
        self, project_template: SamTemplate
    ) -> None:
        # Given the default WebhookRateLimit (300 per minute)
        # When the webhook route's throttling is read
        settings = project_template.throttling[WEBHOOK_ROUTE]

        # Then the FindInMap gives 5 per second and the burst is the per-minute limit
        assert settings == ThrottleSettings(rate_limit=5.0, burst_limit=300)

    def test_webhook_throttling_follows_a_parameter_override(self) -> None:
        # Given WebhookRateLimit overridden to 600 per minute
        # When the template is loaded
        template = load_template(TEMPLATE, {"WebhookRateLimit": "600"})

        # Then the route allows 10 per second with a burst of 600
        assert template.throttling[WEBHOOK_ROUTE] == ThrottleSettings(rate_limit=10.0, burst_limit=600)

    @pytest.mark.parametrize(
        ("route", "expected"),
        [
            ("POST /v1/events", ThrottleSettings(rate_limit=500.0, burst_limit=1000)),
            ("OPTIONS /v1/events", ThrottleSettings(rate_limit=500.0, burst_limit=1000)),
            ("POST /v1/leads/capture", ThrottleSettings(rate_limit=20.0, burst_limit=50)),
            ("OPTIONS /v1/leads/capture", ThrottleSettings(rate_limit=20.0, burst_limit=50)),
        ],
    )
    def test_the_sites_routes_are_throttled_by_their_parameters_defaults(
        self, project_template: SamTemplate, route: str, expected: ThrottleSettings
    ) -> None:
        # Given the default Events* and LeadCapture* limits
        # When a route of the site's is read
        # Then it has its own throttle, sized for the site's peak
        assert project_template.throttling[route] == expected

    def test_the_sites_routes_follow_parameter_overrides(self) -> None:
        # Given the beacon and lead-capture limits overridden
        template = load_template(
            TEMPLATE,
            {
                "EventsRateLimit": "1200",
                "EventsBurstLimit": "2400",
                "LeadCaptureRateLimit": "5",
                "LeadCaptureBurstLimit": "10",
            },
        )

        # Then each route and its preflight follow them, and the other routes keep the defaults
        assert template.throttling["POST /v1/events"] == ThrottleSettings(rate_limit=1200.0, burst_limit=2400)
        assert template.throttling["OPTIONS /v1/events"] == ThrottleSettings(
            rate_limit=1200.0, burst_limit=2400
        )
        assert template.throttling["POST /v1/leads/capture"] == ThrottleSettings(
            rate_limit=5.0, burst_limit=10
        )
        assert template.throttling["OPTIONS /v1/leads/capture"] == ThrottleSettings(
            rate_limit=5.0, burst_limit=10
        )
        assert template.throttling["GET /v1/health"] == ThrottleSettings(rate_limit=100.0, burst_limit=200)

    def test_other_routes_get_the_default_route_settings(self, project_template: SamTemplate) -> None:
        # Given a route without RouteSettings of its own
        # When its throttling is read
        settings = project_template.throttling["GET /v1/health"]

        # Then the API's DefaultRouteSettings apply
        assert settings == ThrottleSettings(rate_limit=100.0, burst_limit=200)

    def test_webhook_environment_merges_globals_and_drops_deploy_only_values(
        self, project_template: SamTemplate
    ) -> None:
        # Given the webhook function, whose environment adds to Globals
        # When its environment is resolved locally
        environment = project_template.function("WebhookIngestFunction").environment

        # Then global and own variables are there, as strings
        assert environment["POWERTOOLS_SERVICE_NAME"] == "funnel"
        assert environment["STAGE"] == "dev"
        assert environment["WEBHOOK_TOLERANCE_SECONDS"] == "300"
        assert all(isinstance(value, str) for value in environment.values())
        # And what only a deployed stack knows (GetAtt, resource Refs, a parameter without
        # default) is left unset rather than set to a placeholder
        for deploy_only in (
            "DB_SECRET_ARN",
            "DB_HOST",
            "ADMIN_API_KEY_SECRET_ARN",
            "WEBHOOK_SIGNING_SECRETS_ARN",
        ):
            assert deploy_only not in environment

    def test_every_function_runs_with_the_shared_layer_but_the_static_one(
        self, project_template: SamTemplate
    ) -> None:
        # Given the Globals Layers entry (!Ref FunnelLayer), which AssetsFunction drops
        # (Layers: !Ref AWS::NoValue, Environment: !Ref AWS::NoValue)
        # When each function's layers are resolved
        layer_dirs = {
            frozenset(spec.layer_dirs)
            for name, spec in project_template.functions.items()
            if name != "AssetsFunction"
        }
        assets = project_template.function("AssetsFunction")

        # Then each has the layers' ContentUri folder (the three layers are built from it),
        # and the static files' function has no layer and none of the global environment
        assert layer_dirs == {frozenset({REPO_ROOT / "layers" / "funnel"})}
        assert (assets.layer_dirs, dict(assets.environment)) == ((), {})

    def test_functions_point_at_their_handler_modules(self, project_template: SamTemplate) -> None:
        # Given the template's functions
        # When their code folder and handler are read
        webhook = project_template.function("WebhookIngestFunction")

        # Then CodeUri is an absolute folder holding the handler's module, and Timeout
        # comes from Globals unless the function sets its own
        assert webhook.code_dir == REPO_ROOT / "functions" / "webhook_ingest"
        assert (webhook.code_dir / f"{webhook.handler_module}.py").is_file()
        assert (webhook.handler_attribute, webhook.timeout_seconds, webhook.memory_mb) == (
            "lambda_handler",
            10,
            512,
        )
        assert project_template.function("HealthFunction").timeout_seconds == 5

    def test_an_unknown_function_is_reported_with_the_known_ones(self, project_template: SamTemplate) -> None:
        # Given a logical id the template does not have
        # When it is asked for
        with pytest.raises(TemplateError, match="HealthFunction") as raised:
            project_template.function("NoSuchFunction")

        # Then the error names it and lists the functions there are
        assert "NoSuchFunction" in str(raised.value)

    @pytest.mark.parametrize(
        ("overrides", "message"),
        [({"NoSuchParameter": "x"}, "unknown parameters"), ({"WebhookRateLimit": "700"}, "not one of")],
    )
    def test_bad_parameter_overrides_are_refused(self, overrides: dict[str, str], message: str) -> None:
        # Given an override CloudFormation would refuse
        # When the template is loaded with it
        # Then loading fails, saying why
        with pytest.raises(TemplateError, match=message):
            load_template(TEMPLATE, overrides)


SYNTHETIC = """\
    AWSTemplateFormatVersion: "2010-09-09"
    Transform: AWS::Serverless-2016-10-31
    Parameters:
      Stage:
        Type: String
        Default: dev
      Subnets:
        Type: CommaDelimitedList
        Default: ""
      Tier:
        Type: String
        Default: small
    Mappings:
      Sizes:
        small: { Memory: 256 }
        large: { Memory: 1024 }
    Conditions:
      IsProd: !Equals [!Ref Stage, prod]
      NotProd: !Not [!Condition IsProd]
      HasSubnets: !Not [!Equals [!Join ["", !Ref Subnets], ""]]
      ProdOrSubnets: !Or [!Condition IsProd, !Condition HasSubnets]
      DevWithoutSubnets: {"Fn::And": [{"Condition": "NotProd"}, {"Fn::Not": [{"Condition": "HasSubnets"}]}]}
    Globals:
      Function:
        Runtime: python3.11
        Timeout: 7
        Layers: [!Ref BaseLayer]
        Environment:
          Variables:
            FROM_GLOBALS: global
            SHADOWED: global
    Resources:
      BaseLayer:
        Type: AWS::Serverless::LayerVersion
        Properties: { ContentUri: base_layer/ }
      ExtraLayer:
        Type: AWS::Serverless::LayerVersion
        Properties: { ContentUri: extra_layer/ }
      Queue:
        Type: AWS::SQS::Queue
      ProdOnlyFunction:
        Type: AWS::Serverless::Function
        Condition: IsProd
        Properties: { CodeUri: prod/, Handler: prod_handler.handler }
      WorkerFunction:
        Type: AWS::Serverless::Function
        Properties:
          CodeUri: src/worker/
          Handler: worker_handler.lambda_handler
          Timeout: 3
          MemorySize: !FindInMap [Sizes, !Ref Tier, Memory]
          Layers: [!Ref ExtraLayer]
          Environment:
            Variables:
              SHADOWED: own
              GREETING: !Sub "hello ${Stage} in ${AWS::Region}/${AWS::AccountId} (${!Literal})"
              SUB_WITH_VARIABLES:
                !Sub ["${Name}-${AWS::StackName}", { Name: !Select [1, !Split [",", "a,b,c"]] }]
              JOINED: !Join [":", [!Ref AWS::Partition, !Ref AWS::URLSuffix, 42, true]]
              MODE: !If [IsProd, production, development]
              LONG_FORM: {"Fn::If": ["DevWithoutSubnets", {"Ref": "Stage"}, "other"]}
              EITHER: !If [ProdOrSubnets, yes-either, no-either]
              ONLY_IN_PROD: !If [IsProd, "set", !Ref AWS::NoValue]
              QUEUE_URL: !Ref Queue
              QUEUE_ARN: !GetAtt Queue.Arn
              QUEUE_ARN_IN_SUB: !Sub "${Queue.Arn}/x"
              BY_CONDITION: !If [IsProd, !GetAtt Queue.Arn, plain]
          Events:
            Get:
              Type: HttpApi
              Properties: { Path: "/things/{id}", Method: get, TimeoutInMillis: 1500 }
            Schedule:
              Type: Schedule
              Properties: { Schedule: rate(1 day) }
"""


class TestIntrinsics:
    @pytest.fixture
    def template_path(self, tmp_path: Path) -> Path:
        return write_template(tmp_path, SYNTHETIC)

    def test_intrinsics_resolve_against_defaults_and_pseudo_parameters(self, template_path: Path) -> None:
        # Given a template using Sub, Join, Select, Split, FindInMap, If, Equals, Not, And, Or
        # When it is loaded with its defaults
        environment = load_template(template_path).function("WorkerFunction").environment

        # Then every intrinsic has its CloudFormation value
        assert environment["GREETING"] == "hello dev in us-east-1/123456789012 (${Literal})"
        assert environment["SUB_WITH_VARIABLES"] == "b-funnel-local"
        assert environment["JOINED"] == "aws:amazonaws.com:42:true"
        assert environment["MODE"] == "development"
        assert environment["LONG_FORM"] == "dev"
        assert environment["EITHER"] == "no-either"
        assert environment["BY_CONDITION"] == "plain"

    def test_no_value_and_deploy_only_values_leave_the_variable_unset(self, template_path: Path) -> None:
        # Given variables set to AWS::NoValue, a resource Ref, a GetAtt, a Sub over a GetAtt
        # When the template is loaded
        environment = load_template(template_path).function("WorkerFunction").environment

        # Then none of them is set, and nothing unresolved leaks as a value
        for name in ("ONLY_IN_PROD", "QUEUE_URL", "QUEUE_ARN", "QUEUE_ARN_IN_SUB"):
            assert name not in environment
        assert UNRESOLVED not in environment.values()

    def test_parameter_overrides_change_conditions_and_mappings(self, template_path: Path) -> None:
        # Given Stage=prod and Tier=large
        # When the template is loaded
        template = load_template(
            template_path, {"Stage": "prod", "Tier": "large", "Subnets": "subnet-1,subnet-2"}
        )
        worker = template.function("WorkerFunction")

        # Then the conditions flip, the conditional function exists, and the map gives the size
        assert worker.environment["MODE"] == "production"
        assert worker.environment["ONLY_IN_PROD"] == "set"
        assert worker.environment["LONG_FORM"] == "other"
        assert worker.environment["EITHER"] == "yes-either"
        assert "BY_CONDITION" not in worker.environment
        assert worker.memory_mb == 1024
        assert "ProdOnlyFunction" in template.functions

    def test_a_resource_whose_condition_is_false_does_not_exist(self, template_path: Path) -> None:
        # Given a function with Condition: IsProd, and the default Stage (dev)
        # When the template is loaded
        template = load_template(template_path)

        # Then that function is not there
        assert set(template.functions) == {"WorkerFunction"}

    def test_globals_merge_into_the_function_by_sams_rules(self, template_path: Path) -> None:
        # Given Globals with Timeout, Layers and Environment, and a function setting its own
        # When the function is read
        worker = load_template(template_path).function("WorkerFunction")

        # Then its scalar wins, layers are globals first, environment maps merge
        assert worker.timeout_seconds == 3
        assert worker.layer_dirs == (
            template_path.parent / "base_layer",
            template_path.parent / "extra_layer",
        )
        assert worker.environment["FROM_GLOBALS"] == "global"
        assert worker.environment["SHADOWED"] == "own"
        assert (worker.code_dir, worker.handler_module) == (
            template_path.parent / "src" / "worker",
            "worker_handler",
        )

    def test_http_api_events_become_routes_of_the_implicit_api(self, template_path: Path) -> None:
        # Given an HttpApi event without ApiId, with a lower-case method and TimeoutInMillis
        # When routes are read
        (route,) = load_template(template_path).routes

        # Then the route belongs to ServerlessHttpApi, is keyed in upper case, is unthrottled
        assert route.route_key == "GET /things/{id}"
        assert route.api_id == "ServerlessHttpApi"
        assert route.integration_timeout_seconds == 1.5
        assert route.throttle is None

    def test_a_findinmap_without_a_match_is_an_error(self, tmp_path: Path) -> None:
        # Given a FindInMap on a key the mapping lacks
        path = write_template(
            tmp_path,
            """\
            Mappings:
              Sizes:
                small: { Memory: 256 }
            Resources:
              Fn:
                Type: AWS::Serverless::Function
                Properties:
                  Runtime: python3.11
                  CodeUri: src/
                  Handler: app.handler
                  MemorySize: !FindInMap [Sizes, huge, Memory]
            """,
        )

        # When the template is loaded
        # Then it fails as CloudFormation would
        with pytest.raises(TemplateError, match="FindInMap"):
            load_template(path)

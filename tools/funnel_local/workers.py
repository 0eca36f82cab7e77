"""Run a function the way Lambda does: in warm worker processes of its own.

Each worker is a spawned interpreter (nothing inherited from the caller's imports) whose
environment is the function's resolved template environment plus local overrides and the
variables Lambda itself sets, and whose ``sys.path`` starts with the function's code
folder and then its layers, as ``/var/task`` and ``/opt/python`` do in Lambda. The handler
module is imported once per worker, and the worker then serves invocation after
invocation, so module-level state survives between them as in a warm Lambda.

A :class:`FunctionPool` keeps up to ``max_workers`` workers per function: an idle one is
reused, a new one is spawned when all are busy, and callers wait beyond that. Events and
results cross a pipe as JSON, which is also what Lambda requires of them.

Failures are reported as Lambda reports them: a handler exception comes back with its
traceback and the worker lives on; a function that runs past its ``Timeout`` has its
worker killed (a fresh one is spawned for the next invocation).
"""

from __future__ import annotations

import datetime as dt
import enum
import importlib
import io
import json
import logging
import multiprocessing
import os
import signal
import sys
import threading
import time
import traceback
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any, Final

from funnel_local.template import PSEUDO_PARAMETERS, FunctionSpec

logger = logging.getLogger(__name__)

DEFAULT_MAX_WORKERS: Final = 4
# Lambda gives an on-demand function's init phase (importing the handler) 10 seconds.
INIT_TIMEOUT_SECONDS: Final = 10.0
# How long a worker with nothing to do gets to exit on its own at shutdown.
_GRACEFUL_EXIT_SECONDS: Final = 2.0
# From the developer's shell, only what a function needs to reach the machine and AWS the
# way its Lambda role would; everything else comes from the template.
_INHERITED_VARIABLES: Final = (
    "PATH",
    "HOME",
    "LANG",
    "LC_ALL",
    "TMPDIR",
    "SSL_CERT_FILE",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_PROFILE",
    "AWS_CONFIG_FILE",
    "AWS_SHARED_CREDENTIALS_FILE",
    "AWS_CA_BUNDLE",
)
_INHERITED_PREFIXES: Final = ("AWS_ENDPOINT_URL",)


class Outcome(enum.Enum):
    """How an invocation ended."""

    SUCCEEDED = "succeeded"
    FAILED = "failed"
    """The handler raised, could not be imported, returned something that is not JSON, or
    its worker died."""
    TIMED_OUT = "timed_out"
    """The function ran past its ``Timeout``; its worker was killed."""
    NOT_AWAITED = "not_awaited"
    """The caller's ``wait_seconds`` ran out first; the function may still be running."""


@dataclass(frozen=True)
class Invocation:
    """The end of one invocation.

    ``result`` is the handler's return value (decoded from JSON) when it succeeded; ``error``
    is Lambda's error shape (``errorMessage``, ``errorType``, ``stackTrace``) otherwise.
    """

    request_id: str
    outcome: Outcome
    duration_ms: float
    result: Any = None
    error: Mapping[str, Any] | None = None


class LambdaContext:
    """The context object Lambda's Python runtime passes to a handler.

    ``memory_limit_in_mb`` is a string, as the runtime reads it from the environment.
    """

    def __init__(
        self,
        *,
        function_name: str,
        memory_limit_in_mb: str,
        aws_request_id: str,
        log_stream_name: str,
        deadline_epoch_ms: int,
    ) -> None:
        region = PSEUDO_PARAMETERS["AWS::Region"]
        account = PSEUDO_PARAMETERS["AWS::AccountId"]
        self.function_name = function_name
        self.function_version = "$LATEST"
        self.invoked_function_arn = f"arn:aws:lambda:{region}:{account}:function:{function_name}"
        self.memory_limit_in_mb = memory_limit_in_mb
        self.aws_request_id = aws_request_id
        self.log_group_name = f"/aws/lambda/{function_name}"
        self.log_stream_name = log_stream_name
        self.identity = None
        self.client_context = None
        self._deadline_epoch_ms = deadline_epoch_ms

    def get_remaining_time_in_millis(self) -> int:
        """Milliseconds left before Lambda would stop this invocation."""
        return max(self._deadline_epoch_ms - round(time.time() * 1000), 0)


def lambda_environment(spec: FunctionSpec, overrides: Mapping[str, str]) -> dict[str, str]:
    """The environment a worker of ``spec`` runs with.

    Parameters
    ----------
    spec
        The function; its resolved template environment is the base.
    overrides
        Local values laid over the template's (``DATABASE_URL``, local secrets...).

    Returns
    -------
    dict[str, str]
        A few variables of the current shell (``PATH``, ``HOME``, AWS credentials), then
        the template's, then ``overrides``, then what Lambda sets and reserves for itself
        (function name, memory size, region...) plus ``POWERTOOLS_TRACE_DISABLED=true``,
        as no X-Ray daemon runs locally.
    """
    region = PSEUDO_PARAMETERS["AWS::Region"]
    inherited = {
        name: value
        for name, value in os.environ.items()
        if name in _INHERITED_VARIABLES or name.startswith(_INHERITED_PREFIXES)
    }
    reserved = {
        "AWS_LAMBDA_FUNCTION_NAME": spec.logical_id,
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(spec.memory_mb),
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{spec.logical_id}",
        "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
        "AWS_EXECUTION_ENV": f"AWS_Lambda_{spec.runtime}",
        "AWS_REGION": region,
        "AWS_DEFAULT_REGION": region,
        "LAMBDA_TASK_ROOT": str(spec.code_dir),
        "_HANDLER": f"{spec.handler_module}.{spec.handler_attribute}",
        "TZ": ":UTC",
        "POWERTOOLS_TRACE_DISABLED": "true",
    }
    return {**inherited, **spec.environment, **overrides, **reserved}


def _error_payload(
    exc: BaseException, error_type: str | None = None, *, from_handler: bool = False
) -> dict[str, Any]:
    trace = exc.__traceback__
    if from_handler and trace is not None:
        # Start the trace in the handler, as Lambda's does, not in the worker's loop.
        trace = trace.tb_next
    return {
        "errorMessage": str(exc),
        "errorType": error_type or type(exc).__name__,
        "stackTrace": traceback.format_exception(type(exc), exc, trace),
    }


def _send(connection: Connection, message: Mapping[str, Any]) -> None:
    connection.send_bytes(json.dumps(message).encode())


def _worker_main(connection: Connection, spec: FunctionSpec, environment: Mapping[str, str]) -> None:
    """Body of a worker process: import the handler once, then serve invocations until EOF."""
    # Ctrl-C in a terminal reaches the whole process group; the parent decides when workers end.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # Lambda sends stdout and stderr to the same log; keeping stdout free lets the parent
    # print a result there on its own.
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    if isinstance(sys.stdout, io.TextIOWrapper):
        sys.stdout.reconfigure(line_buffering=True)
    log_stream_name = f"{dt.datetime.now(dt.UTC):%Y/%m/%d}/[$LATEST]{uuid.uuid4().hex}"
    os.environ.clear()
    os.environ.update(environment)
    os.environ["AWS_LAMBDA_LOG_STREAM_NAME"] = log_stream_name
    time.tzset()
    sys.path[:0] = [str(spec.code_dir), *(str(layer) for layer in spec.layer_dirs)]

    try:
        module = importlib.import_module(spec.handler_module)
        handler = getattr(module, spec.handler_attribute)
    except Exception as exc:
        kind = "Runtime.HandlerNotFound" if isinstance(exc, AttributeError) else "Runtime.ImportModuleError"
        _send(connection, {"error": _error_payload(exc, kind)})
        return
    _send(connection, {"ready": True})

    while True:
        try:
            request = json.loads(connection.recv_bytes())
        except EOFError:
            return
        context = LambdaContext(
            function_name=spec.logical_id,
            memory_limit_in_mb=str(spec.memory_mb),
            aws_request_id=request["requestId"],
            log_stream_name=log_stream_name,
            deadline_epoch_ms=request["deadlineMs"],
        )
        try:
            result = handler(request["event"], context)
        except Exception as exc:
            _send(connection, {"error": _error_payload(exc, from_handler=True)})
            continue
        try:
            _send(connection, {"result": result})
        except (TypeError, ValueError) as exc:
            _send(connection, {"error": _error_payload(exc, "Runtime.MarshalError")})


class _Worker:
    """The parent's handle on one worker process."""

    def __init__(self, spec: FunctionSpec, environment: Mapping[str, str]) -> None:
        context = multiprocessing.get_context("spawn")
        self.connection, child_end = context.Pipe()
        self.process = context.Process(
            target=_worker_main,
            args=(child_end, spec, dict(environment)),
            name=f"lambda-{spec.logical_id}",
            daemon=True,
        )
        self.process.start()
        child_end.close()
        self.initialized = False

    def send(self, message: Mapping[str, Any]) -> None:
        _send(self.connection, message)

    def receive(self, until: float) -> dict[str, Any] | None:
        """The worker's next message, or None if none came by ``until`` (monotonic time).

        Raises
        ------
        EOFError, OSError
            When the worker died or the pool was closed meanwhile.
        """
        if not self.connection.poll(max(until - time.monotonic(), 0.0)):
            return None
        message: dict[str, Any] = json.loads(self.connection.recv_bytes())
        return message

    def stop(self, *, graceful: bool) -> None:
        self.connection.close()
        if graceful:
            self.process.join(_GRACEFUL_EXIT_SECONDS)
        if self.process.is_alive():
            self.process.kill()
        self.process.join()


class FunctionPool:
    """Warm workers of one function, at most ``max_workers`` running at once.

    Parameters
    ----------
    spec
        The function to run.
    env_overrides
        Local environment values laid over the template's (see :func:`lambda_environment`).
    max_workers
        Concurrent invocations; more callers wait for a worker to become free.
    """

    def __init__(
        self, spec: FunctionSpec, env_overrides: Mapping[str, str], *, max_workers: int = DEFAULT_MAX_WORKERS
    ) -> None:
        self.spec = spec
        self._environment = lambda_environment(spec, env_overrides)
        self._max_workers = max_workers
        self._condition = threading.Condition()
        self._idle: list[_Worker] = []
        self._workers: set[_Worker] = set()
        self._reserved = 0
        self._closed = False

    def invoke(self, event: Any, *, wait_seconds: float | None = None) -> Invocation:
        """Run the function once on ``event`` and wait for its end.

        Parameters
        ----------
        event
            The event, JSON-serialisable.
        wait_seconds
            How long the caller waits, from now, including any wait for a free worker and
            the worker's cold start (as API Gateway's integration timeout does). When it
            runs out before the function's own ``Timeout``, the outcome is
            :attr:`Outcome.NOT_AWAITED` and the function finishes in the background.

        Returns
        -------
        Invocation
            The result, or the error in Lambda's shape.

        Raises
        ------
        RuntimeError
            When the pool is closed.
        """
        request_id = str(uuid.uuid4())
        started = time.monotonic()
        give_up_at = None if wait_seconds is None else started + wait_seconds

        def finished(outcome: Outcome, **details: Any) -> Invocation:
            duration_ms = (time.monotonic() - started) * 1000
            return Invocation(request_id=request_id, outcome=outcome, duration_ms=duration_ms, **details)

        worker = self._acquire(give_up_at)
        if worker is None:
            return finished(Outcome.NOT_AWAITED)
        try:
            if not worker.initialized:
                init_error = self._initialize(worker)
                if init_error is not None:
                    self._discard(worker)
                    return finished(Outcome.FAILED, error=init_error)
            if give_up_at is not None and time.monotonic() >= give_up_at:
                self._release(worker)
                return finished(Outcome.NOT_AWAITED)

            timeout = self.spec.timeout_seconds
            deadline = time.monotonic() + timeout
            worker.send(
                {
                    "requestId": request_id,
                    "event": event,
                    "deadlineMs": round(time.time() * 1000) + timeout * 1000,
                }
            )
            times_out_first = give_up_at is None or deadline <= give_up_at
            message = worker.receive(deadline if give_up_at is None else min(deadline, give_up_at))
        except (EOFError, OSError):
            self._discard(worker)
            exit_code = worker.process.exitcode
            error = {"errorMessage": f"worker exited with code {exit_code}", "errorType": "Runtime.ExitError"}
            return finished(Outcome.FAILED, error=error)

        if message is None and times_out_first:
            self._discard(worker)
            error = {
                "errorMessage": f"Task timed out after {timeout:.2f} seconds",
                "errorType": "Sandbox.Timedout",
            }
            return finished(Outcome.TIMED_OUT, error=error)
        if message is None:
            threading.Thread(
                target=self._finish_unawaited, args=(worker, deadline, request_id), daemon=True
            ).start()
            return finished(Outcome.NOT_AWAITED)
        self._release(worker)
        if "error" in message:
            return finished(Outcome.FAILED, error=message["error"])
        return finished(Outcome.SUCCEEDED, result=message["result"])

    def close(self) -> None:
        """Stop every worker: idle ones are asked to exit, busy ones are killed."""
        with self._condition:
            self._closed = True
            idle, self._idle = self._idle, []
            busy = self._workers - set(idle)
            self._workers.clear()
            self._condition.notify_all()
        for worker in busy:
            worker.stop(graceful=False)
        for worker in idle:
            worker.stop(graceful=True)

    def _initialize(self, worker: _Worker) -> Mapping[str, Any] | None:
        """Wait for the worker to import the handler; return the init error, if any."""
        message = worker.receive(time.monotonic() + INIT_TIMEOUT_SECONDS)
        if message is None:
            return {
                "errorMessage": f"init did not finish within {INIT_TIMEOUT_SECONDS:.0f} seconds",
                "errorType": "Runtime.InitTimeout",
            }
        if "error" in message:
            error: Mapping[str, Any] = message["error"]
            return error
        worker.initialized = True
        return None

    def _acquire(self, give_up_at: float | None) -> _Worker | None:
        """An idle worker, else a new one if under the limit, else wait (None on giving up)."""
        with self._condition:
            while True:
                if self._closed:
                    raise RuntimeError(f"the worker pool of {self.spec.logical_id} is closed")
                if self._idle:
                    return self._idle.pop()
                if len(self._workers) + self._reserved < self._max_workers:
                    self._reserved += 1
                    break
                remaining = None if give_up_at is None else give_up_at - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return None
                self._condition.wait(remaining)
        # Spawning takes a while; other callers may go on meanwhile.
        try:
            worker = _Worker(self.spec, self._environment)
        except BaseException:
            with self._condition:
                self._reserved -= 1
                self._condition.notify()
            raise
        with self._condition:
            self._reserved -= 1
            if self._closed:
                worker.stop(graceful=False)
                raise RuntimeError(f"the worker pool of {self.spec.logical_id} is closed")
            self._workers.add(worker)
        logger.info("worker started", extra={"function": self.spec.logical_id, "pid": worker.process.pid})
        return worker

    def _release(self, worker: _Worker) -> None:
        with self._condition:
            if worker in self._workers:
                self._idle.append(worker)
                self._condition.notify()
                return
        # The pool was closed while the worker was busy.
        worker.stop(graceful=False)

    def _discard(self, worker: _Worker) -> None:
        with self._condition:
            self._workers.discard(worker)
            self._condition.notify()
        worker.stop(graceful=False)

    def _finish_unawaited(self, worker: _Worker, deadline: float, request_id: str) -> None:
        """Let a function nobody waits for any more run to its end, as Lambda would."""
        try:
            message = worker.receive(deadline)
        except (EOFError, OSError):
            self._discard(worker)
            return
        if message is None:
            logger.warning(
                "function timed out after its caller stopped waiting",
                extra={"function": self.spec.logical_id, "requestId": request_id},
            )
            self._discard(worker)
            return
        self._release(worker)


def log_function_error(invocation: Invocation, *, extra: Mapping[str, Any]) -> None:
    """Log a failed or timed-out invocation with the function's traceback, when it has one.

    Parameters
    ----------
    invocation
        An invocation whose outcome is :attr:`Outcome.FAILED` or :attr:`Outcome.TIMED_OUT`.
    extra
        Fields identifying the call (function, route...), logged with it.
    """
    error = invocation.error or {}
    fields = {**extra, "lambdaRequestId": invocation.request_id, "durationMs": round(invocation.duration_ms)}
    trace = "".join(error.get("stackTrace") or [])
    if trace:
        logger.error("function error\n%s", trace.rstrip(), extra=fields)
    else:
        logger.error("function %s: %s", error.get("errorType"), error.get("errorMessage"), extra=fields)

"""Each function's Logger, Metrics and tracing, set up in one place, and X-Ray subsegments
for the use cases in the functions that load the X-Ray SDK.

A handler module creates its :class:`Observability` at import (as Powertools' objects are
created in Lambda, after the environment is set), adds its metrics to its ``metrics`` and
wraps its ``lambda_handler`` with :meth:`Observability.handler`: the Logger's Lambda context
(and, for an API function, API Gateway's request id as the correlation id), the lazy
tracer where tracing is on, and the metrics flushed after each invocation.

Every function has Lambda's Active tracing: Lambda records its segments (initialization,
invocation, overhead) without any SDK. Powertools' Tracer adds subsegments, but importing
the X-Ray SDK takes about as long as importing everything else a function needs (it
imports botocore), so the ingest functions, whose callers wait on a cold start, leave it
out (``traced=False``). The others' handlers are wrapped by :func:`traced_handler`, which
loads the SDK on the first invocation (not at import: it would cost every cold start's initialization
the same, and keep the analytics functions' import at twice the floor), and the use cases
marked :func:`traced` then show their database time in the trace.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.logging import correlation_paths

if TYPE_CHECKING:
    from aws_lambda_powertools import Tracer


_tracer: Tracer | None = None


class Observability:
    """A function's Logger and Metrics, and how its handler is wrapped.

    Parameters
    ----------
    api:
        An HTTP API function: each log line carries API Gateway's request id as its
        correlation id.
    traced:
        Record the handler and the :func:`traced` use cases as X-Ray subsegments, the SDK
        loaded on the first invocation (:func:`traced_handler`); the ingest functions leave
        it off, Lambda's Active tracing records them without it.
    cold_start_metric:
        Add the ``ColdStart`` metric on a container's first invocation.
    """

    def __init__(self, *, api: bool, traced: bool, cold_start_metric: bool = True) -> None:
        self.logger = Logger()
        self.metrics = Metrics()
        self.traced = traced
        self.correlation_id_path = correlation_paths.API_GATEWAY_HTTP if api else None
        self.cold_start_metric = cold_start_metric

    def handler[R](self, handler: Callable[[Any, Any], R]) -> Callable[[Any, Any], R]:
        """``handler`` with the Lambda context in its logs, traced if tracing is on, its
        metrics flushed after each invocation (in that order, outermost first)."""
        wrapped: Callable[[Any, Any], R] = self.metrics.log_metrics(
            handler, capture_cold_start_metric=self.cold_start_metric
        )
        if self.traced:
            wrapped = traced_handler(wrapped)
        logged: Callable[[Any, Any], R] = self.logger.inject_lambda_context(
            wrapped, correlation_id_path=self.correlation_id_path
        )
        return logged


def start_tracer() -> Tracer:
    """Powertools' Tracer for this function (loading the X-Ray SDK); from now on each call
    of a :func:`traced` use case is recorded as its own subsegment."""
    global _tracer
    from aws_lambda_powertools import Tracer

    _tracer = Tracer()
    return _tracer


def traced_handler[R](handler: Callable[[Any, Any], R]) -> Callable[[Any, Any], R]:
    """A Lambda handler recorded as Powertools' ``capture_lambda_handler`` records one (its
    subsegment, the cold start annotation, an error's details; not its response), the X-Ray
    SDK loaded on the first invocation."""
    captured: Callable[[Any, Any], R] | None = None

    @functools.wraps(handler)
    def wrapper(event: Any, context: Any) -> R:
        nonlocal captured
        if captured is None:
            captured = start_tracer().capture_lambda_handler(handler, capture_response=False)
        return captured(event, context)

    return wrapper


def traced[**P, R](function: Callable[P, R]) -> Callable[P, R]:
    """Record each call of ``function`` as a subsegment (``## module.name``, without its
    result) once :func:`start_tracer` was called; a plain call otherwise."""
    captured: Callable[..., Any] | None = None

    @functools.wraps(function)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        nonlocal captured
        if _tracer is None:
            return function(*args, **kwargs)
        if captured is None:
            captured = _tracer.capture_method(capture_response=False)(function)
        result: R = captured(*args, **kwargs)
        return result

    return wrapper

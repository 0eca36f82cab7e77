"""X-Ray subsegments for the use cases, in the functions that load the X-Ray SDK.

Every function has Lambda's Active tracing: Lambda records its segments (initialization,
invocation, overhead) without any SDK. Powertools' Tracer adds subsegments, but importing
the X-Ray SDK takes about as long as importing everything else a function needs (it
imports botocore), so the ingest functions, whose callers wait on a cold start, leave it
out. The others decorate their handler with :func:`traced_handler`, which loads the SDK on
the first invocation (not at import: it would cost every cold start's initialization
the same, and keep the analytics functions' import at twice the floor), and the use cases
marked :func:`traced` then show their database time in the trace.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from aws_lambda_powertools import Tracer


_tracer: Tracer | None = None


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

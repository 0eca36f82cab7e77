"""One cold start, in the fresh process ``bench_coldstart`` starts for it (standard library
only: nothing of the development environment may be imported here).

Run as ``python -I -S -B coldstart_probe.py``: no site-packages, no user site, no
``PYTHON*`` variables and no bytecode written, so the only code on the path is what the
spec lists (the function's folder, its layers' ``python/``, the stand-in for the runtime's
boto3), in Lambda's order, and every run compiles what Lambda would compile (its ``/opt``
and ``/var/task`` are read-only). The spec arrives as JSON on stdin::

    {"path": [...], "module": "webhook_handler", "attribute": "lambda_handler",
     "event": {...}, "function_name": "...", "memory_mb": 512}

and one JSON line goes to stdout: the handler module's import time (CPU time of the
process), the first invocation's (wall time: it waits on PostgreSQL), the modules loaded
by each, and the invocation's status code.
"""

import importlib
import io
import json
import sys
import time
import uuid


class LambdaContext:
    """What a handler reads of Lambda's context object."""

    def __init__(self, function_name: str, memory_mb: int) -> None:
        self.function_name = function_name
        self.function_version = "$LATEST"
        self.invoked_function_arn = f"arn:aws:lambda:us-east-1:123456789012:function:{function_name}"
        self.memory_limit_in_mb = str(memory_mb)
        self.aws_request_id = str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{function_name}"
        self.log_stream_name = "bench"
        self._deadline = time.monotonic() + 900

    def get_remaining_time_in_millis(self) -> int:
        return int((self._deadline - time.monotonic()) * 1000)


def main() -> None:
    spec = json.load(sys.stdin)
    # Lambda's order: the function's folder, then each layer's python/, then the runtime's.
    sys.path[:0] = spec["path"]
    before = set(sys.modules)
    # Handlers print their logs and metrics (EMF) to stdout: kept off the result line.
    result_stream, sys.stdout = sys.stdout, io.StringIO()
    # CPU time: on a shared machine, wall time would count other processes' too.
    started = time.process_time()
    module = importlib.import_module(spec["module"])
    imported = time.process_time()
    after_import = set(sys.modules)
    handler = getattr(module, spec["attribute"])
    context = LambdaContext(spec["function_name"], spec["memory_mb"])
    invoking = time.perf_counter()
    response = handler(spec["event"], context)
    invoked = time.perf_counter()
    sys.stdout = result_stream
    status = response.get("statusCode") if isinstance(response, dict) else None
    print(
        json.dumps(
            {
                "import_ms": (imported - started) * 1000,
                "invoke_ms": (invoked - invoking) * 1000,
                "imported": sorted(after_import - before),
                "invocation_imported": sorted(set(sys.modules) - after_import),
                "status": status,
            }
        )
    )


if __name__ == "__main__":
    main()

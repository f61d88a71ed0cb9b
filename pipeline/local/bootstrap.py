"""One Lambda execution environment: a process that imports a handler and serves invocations.

Started by pipeline.local.runtime as a script (never imported), so the handler's modules live
alone in this interpreter, as they do in AWS. Requests arrive as JSON lines on stdin; replies go
back on the file descriptor named by _LOCAL_RUNTIME_REPLY_FD, the first of them once the Init
phase has ended; the handler's own stdout and stderr are the function's log. Errors are reported
as the AWS Python runtime reports them.
"""

import importlib
import json
import os
import resource
import sys
import time
import traceback

REPLY = os.fdopen(int(os.environ.pop("_LOCAL_RUNTIME_REPLY_FD")), "w", encoding="utf-8")
TASK_ROOT = os.environ["LAMBDA_TASK_ROOT"]
OPT = os.environ.pop("_LOCAL_OPT", None)  # the function's layers, where Lambda mounts them at /opt
# As the Lambda Python runtime orders them: the function's code, then its layers'
# python/lib/pythonX.Y/site-packages and python/ (Lambda Developer Guide, "Layer paths").
sys.path[0:1] = [TASK_ROOT] + ([
    os.path.join(OPT, "python", "lib", os.environ["AWS_EXECUTION_ENV"].removeprefix("AWS_Lambda_"), "site-packages"),
    os.path.join(OPT, "python"),
] if OPT else [])


class LambdaContext:
    """The context object of the AWS Python runtime, with the same attribute names."""

    def __init__(self, request_id: str, deadline: float):
        self.aws_request_id = request_id
        self._deadline = deadline
        self.function_name = os.environ["AWS_LAMBDA_FUNCTION_NAME"]
        self.function_version = os.environ["AWS_LAMBDA_FUNCTION_VERSION"]
        self.memory_limit_in_mb = os.environ["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"]
        self.invoked_function_arn = os.environ["_LOCAL_FUNCTION_ARN"]
        self.log_group_name = os.environ["AWS_LAMBDA_LOG_GROUP_NAME"]
        self.log_stream_name = os.environ["AWS_LAMBDA_LOG_STREAM_NAME"]
        self.identity = None
        self.client_context = None

    def get_remaining_time_in_millis(self) -> int:
        return max(int((self._deadline - time.time()) * 1000), 0)


def error_payload(exc: BaseException, request_id: str, error_type: str | None = None) -> dict:
    return {
        "errorMessage": str(exc),
        "errorType": error_type or type(exc).__name__,
        "requestId": request_id,
        # Like the AWS runtime's, the trace starts at the handler: this bootstrap's frame is left out.
        "stackTrace": traceback.format_list(
            [frame for frame in traceback.extract_tb(exc.__traceback__) if frame.filename != __file__]
        ),
    }


def load_handler(spec: str):
    module_name, _, function_name = spec.rpartition(".")
    try:
        module = importlib.import_module(module_name.replace("/", "."))
    except Exception as exc:  # noqa: BLE001 - reported as the runtime reports it
        raise _InitError("Runtime.ImportModuleError", f"Unable to import module '{module_name}': {exc}") from exc
    handler = getattr(module, function_name, None)
    if handler is None:
        raise _InitError("Runtime.HandlerNotFound", f"Handler '{function_name}' missing on module '{module_name}'")
    return handler


class _InitError(Exception):
    def __init__(self, error_type: str, message: str):
        super().__init__(message)
        self.error_type = error_type


def peak_memory_mb() -> int:
    """Peak resident memory of this environment (VmHWM starts afresh at exec, unlike ru_maxrss)."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) // 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024


def reply(message: dict) -> None:
    sys.stdout.flush()
    sys.stderr.flush()
    REPLY.write(json.dumps(message) + "\n")
    REPLY.flush()


def initialize() -> tuple:
    """The Init phase: (handler or None, its _InitError or None, its duration in ms)."""
    started = time.perf_counter()
    try:
        return load_handler(os.environ["_HANDLER"]), None, (time.perf_counter() - started) * 1000
    except _InitError as exc:
        return None, exc, (time.perf_counter() - started) * 1000


def serve() -> None:
    # The Init phase runs before the first request is read, as in AWS, so an environment started
    # ahead of its first invocation (pipeline.local.runtime) is ready when the request comes.
    # If that Init failed, it is tried again at the first invocation, as Lambda retries an Init
    # that did not complete (Lambda Developer Guide, "Init phase"); an environment whose Init
    # failed answers the error and ends, and the next invocation gets a fresh one.
    ahead = os.environ.pop("_LOCAL_INIT_AHEAD", "") == "1"
    handler, init_error, init_ms = initialize()
    reply({"initialized": init_error is None})  # the Init phase has ended: the runtime sends requests now
    for line in sys.stdin:
        request = json.loads(line)
        request_id = request["request_id"]
        if init_error is not None and ahead:
            handler, init_error, init_ms = initialize()
        ahead = False
        started = time.perf_counter()
        if init_error is not None:
            outcome = {"ok": False, "error": error_payload(init_error, request_id, init_error.error_type)}
        else:
            context = LambdaContext(request_id, time.time() + request["timeout_s"])
            try:
                result = handler(request["event"], context)
            except Exception as exc:  # noqa: BLE001 - every handler error is returned, as in AWS
                traceback.print_exc()
                outcome = {"ok": False, "error": error_payload(exc, request_id)}
            else:
                try:
                    outcome = {"ok": True, "result": json.dumps(result)}
                except (TypeError, ValueError) as exc:
                    outcome = {"ok": False, "error": error_payload(exc, request_id, "Runtime.MarshalError")}
        outcome["duration_ms"] = (time.perf_counter() - started) * 1000
        outcome["init_ms"] = init_ms
        init_ms = None
        outcome["max_memory_mb"] = peak_memory_mb()
        if init_error is not None:
            outcome["reset"] = True  # this environment ends: the runtime starts another
        reply(outcome)
        if init_error is not None:
            return


if __name__ == "__main__":
    serve()

"""A Lambda runtime for the offline cloud: the real handler code, in real execution environments.

Each execution environment is a Python process (see bootstrap.py) that imports one function's
handler from its CodeUri, with that function's environment variables, as AWS does. Functions are
isolated from each other and from the offline cloud; their boto3 calls reach the offline cloud
through AWS_ENDPOINT_URL. Environments are reused between invocations (warm starts), the
template's Timeout is enforced by ending the environment, and every invocation leaves a report.
"""

from __future__ import annotations

import itertools
import json
import os
import select
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipeline.payloads import payload_digest

BOOTSTRAP = Path(__file__).with_name("bootstrap.py")


@dataclass(frozen=True)
class FunctionSpec:
    """A function as the template and the deployed stack define it."""

    logical_id: str
    name: str
    arn: str
    code_dir: Path
    handler: str
    runtime: str
    timeout_s: float
    memory_mb: int
    environment: dict[str, str] = field(default_factory=dict)
    access_key_id: str = "offline"  # the execution role's session, as Lambda hands it to the function
    opt_dir: Path | None = None  # the function's layers, merged: what Lambda mounts at /opt
    reserved_concurrency: int | None = None  # at most this many invocations at once; beyond, Lambda throttles


class Throttled(Exception):
    """The function's reserved concurrency is in use: Lambda answers TooManyRequestsException."""


class Stopped(Exception):
    """The runtime was closed: it takes no more invocations."""


class RequestTooLarge(Exception):
    """The event is over Lambda's limit for a synchronous invocation (Lambda answers 413)."""


class NotJson(Exception):
    """The event is not JSON (Lambda answers 400, InvalidRequestContentException)."""


# Lambda's payload limits for a synchronous invocation ("Lambda quotas": 6 MB each way), and what
# it answers past them, as moto's own tests and deployments record it.
INIT_LIMIT_S = 10.0  # the Init phase's limit (Lambda Developer Guide, "Init phase")
REQUEST_LIMIT = 6_291_456
RESPONSE_LIMIT = 6_291_556
RESPONSE_TOO_LARGE = {"errorMessage": f"Response payload size exceeded maximum allowed payload size ({RESPONSE_LIMIT} "
                                      "bytes).", "errorType": "Function.ResponseSizeTooLarge"}


@dataclass(frozen=True)
class InvocationReport:
    """What the REPORT line of a Lambda invocation says, plus the invocation's log lines."""

    function: str
    request_id: str
    started_at: float
    duration_ms: float
    init_ms: float | None
    memory_mb: int
    max_memory_mb: int
    error_type: str | None
    logs: tuple[str, ...]
    payload_digest: str = ""

    @property
    def cold_start(self) -> bool:
        return self.init_ms is not None

    def report_line(self) -> str:
        line = (
            f"REPORT RequestId: {self.request_id}\tDuration: {self.duration_ms:.2f} ms\t"
            f"Billed Duration: {int(self.duration_ms) + 1} ms\tMemory Size: {self.memory_mb} MB\t"
            f"Max Memory Used: {self.max_memory_mb} MB"
        )
        if self.init_ms is not None:
            line += f"\tInit Duration: {self.init_ms:.2f} ms"
        return line


@dataclass(frozen=True)
class Invocation:
    """The outcome of one invocation: a JSON payload, which is an AWS error payload if errored."""

    payload: str
    errored: bool
    report: InvocationReport


class _Environment:
    """One execution environment: a bootstrap process serving one function."""

    _ids = itertools.count(1)

    def __init__(self, spec: FunctionSpec, base_env: dict[str, str], log_dir: Path, ahead: bool = False):
        self.spec = spec
        number = next(self._ids)
        self.log_path = log_dir / f"{spec.logical_id}-{number}.log"
        self._log = self.log_path.open("ab")
        self._log_offset = 0
        reply_read, reply_write = os.pipe()
        stream = f"{time.strftime('%Y/%m/%d')}/[$LATEST]{uuid.uuid4().hex}"
        env = {
            **base_env,
            **spec.environment,
            "AWS_ACCESS_KEY_ID": spec.access_key_id,
            "_HANDLER": spec.handler,
            "_LOCAL_FUNCTION_ARN": spec.arn,
            "_LOCAL_RUNTIME_REPLY_FD": str(reply_write),
            "LAMBDA_TASK_ROOT": str(spec.code_dir),
            "AWS_EXECUTION_ENV": f"AWS_Lambda_{spec.runtime}",
            "AWS_LAMBDA_FUNCTION_NAME": spec.name,
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(spec.memory_mb),
            "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{spec.name}",
            "AWS_LAMBDA_LOG_STREAM_NAME": stream,
            **({"_LOCAL_OPT": str(spec.opt_dir)} if spec.opt_dir else {}),
            **({"_LOCAL_INIT_AHEAD": "1"} if ahead else {}),  # started before any invocation
        }
        self.process = subprocess.Popen(
            [sys.executable, "-X", "frozen_modules=on", str(BOOTSTRAP)],
            stdin=subprocess.PIPE,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            pass_fds=(reply_write,),
            env=env,
            cwd=spec.code_dir,
            # Not in the terminal's process group: Ctrl-C is the offline cloud's to handle, which
            # ends its environments itself (and an environment ends when the cloud's pipe closes).
            start_new_session=True,
        )
        os.close(reply_write)
        self._replies = os.fdopen(reply_read, "r", encoding="utf-8")
        self._initialized = False

    def _init_ended(self, timeout_s: float) -> bool | None:
        """Wait for the Init phase to end (the bootstrap says so in its first line): True once it
        has, False if the process ended first, None if timeout_s passed first."""
        if self._initialized:
            return True
        ready, _, _ = select.select([self._replies], [], [], timeout_s)
        if not ready:
            return None
        self._initialized = bool(self._replies.readline())
        return self._initialized

    def invoke(self, request_id: str, event: str, timeout_s: float) -> dict[str, Any] | None:
        """Run one invocation; None if timeout_s passed first. The Init phase has a limit of its
        own, not the function's timeout: "The Init phase is limited to 10 seconds. If all three
        tasks don't complete within 10 seconds, Lambda retries the Init phase at the time of the
        first function invocation with the configured function timeout" (Lambda Developer Guide,
        "Init phase"). Here a longer Init is waited for within the timeout once more."""
        ended = self._init_ended(INIT_LIMIT_S)
        if ended is None:
            ended = self._init_ended(timeout_s)
            if ended is None:
                return None
        if not ended:
            return {"ok": False, "error": _runtime_exit_error(request_id, self.process.wait()), "init_ms": None}
        # The event is JSON text (LambdaRuntime.invoke has read it): it goes into the request's line
        # as it is, unless it spans lines or is not ASCII (the environment's variables may set how
        # its standard input is decoded).
        if "\n" in event or "\r" in event or not event.isascii():
            event = json.dumps(json.loads(event))
        request = f'{{"request_id": {json.dumps(request_id)}, "event": {event}, "timeout_s": {json.dumps(self.spec.timeout_s)}}}'
        assert self.process.stdin is not None
        try:
            self.process.stdin.write((request + "\n").encode("utf-8"))
            self.process.stdin.flush()
        except BrokenPipeError:
            return {"ok": False, "error": _runtime_exit_error(request_id, self.process.poll()), "init_ms": None}
        ready, _, _ = select.select([self._replies], [], [], timeout_s)
        if not ready:
            return None
        line = self._replies.readline()
        if not line:
            return {"ok": False, "error": _runtime_exit_error(request_id, self.process.wait()), "init_ms": None}
        return json.loads(line)

    def new_log_lines(self) -> tuple[str, ...]:
        with self.log_path.open("rb") as log:
            log.seek(self._log_offset)
            data = log.read()
        self._log_offset += len(data)
        return tuple(data.decode("utf-8", "replace").splitlines())

    @property
    def alive(self) -> bool:
        return self.process.poll() is None

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()
        if self.process.stdin:
            self.process.stdin.close()
        self._replies.close()
        self._log.close()


def _runtime_exit_error(request_id: str, code: int | None) -> dict[str, Any]:
    return {
        "errorMessage": f"RequestId: {request_id} Error: Runtime exited with error: exit status {code}",
        "errorType": "Runtime.ExitError",
    }


class LambdaRuntime:
    """Serves invocations of registered functions from pools of execution environments.

    At most max_environments run per function; further invocations wait for one to be free
    (AWS would scale out, or throttle at the account limit).
    """

    def __init__(self, region: str, max_environments: int = 4):
        self._base_env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "LANG": "C.UTF-8",
            "TZ": ":UTC",
            "PYTHONDONTWRITEBYTECODE": "1",
            "AWS_REGION": region,
            "AWS_DEFAULT_REGION": region,
            "AWS_ACCESS_KEY_ID": "offline",
            "AWS_SECRET_ACCESS_KEY": "offline",
            "AWS_SESSION_TOKEN": "offline",
            "AWS_EC2_METADATA_DISABLED": "true",
        }
        self._max_environments = max_environments
        self._functions: dict[str, FunctionSpec] = {}
        self._idle: dict[str, deque[_Environment]] = {}
        self._running: dict[str, int] = {}
        self._all: list[_Environment] = []
        self._lock = threading.Condition()
        self._log_dir = Path(tempfile.mkdtemp(prefix="pipeline-lambda-logs-"))
        self._closed = False
        self.reports: list[InvocationReport] = []

    def use_endpoint(self, endpoint_url: str, *, service: str | None = None) -> None:
        """Send the handlers' calls to endpoint_url: every service's, or one service's
        (environments started from now on)."""
        self._base_env[f"AWS_ENDPOINT_URL_{service.upper()}" if service else "AWS_ENDPOINT_URL"] = endpoint_url

    def replace(self, specs: list[FunctionSpec]) -> None:
        """Deploy these functions in place of every one deployed so far (a stack created, updated
        or deleted): the idle environments close now, the busy ones when their invocation ends."""
        functions = {alias: spec for spec in specs for alias in (spec.name, spec.arn, spec.logical_id)}
        with self._lock:
            idle = [environment for environments in self._idle.values() for environment in environments]
            self._all = [environment for environment in self._all if environment not in idle and environment.alive]
            self._functions, self._idle = functions, {spec.logical_id: deque() for spec in specs}
            for spec in specs:
                self._running.setdefault(spec.logical_id, 0)
        for environment in idle:
            environment.close()
        for spec in specs:
            if spec.reserved_concurrency != 0:  # a function that can never run gets none
                self._initialize_ahead(spec)

    def _initialize_ahead(self, spec: FunctionSpec) -> None:
        """Start an environment before the function's first invocation: its Init phase runs while
        the deploy goes on, and the first invocation finds it idle. AWS does so too: "for functions
        using unreserved (on-demand) concurrency, Lambda occasionally pre-initializes execution
        environments to reduce the number of cold start invocations" (Lambda Developer Guide,
        "Understanding the Lambda execution environment lifecycle", Init phase). Its REPORT line
        still gives the Init Duration, as the first invocation of any environment does here."""
        environment = _Environment(spec, self._base_env, self._log_dir, ahead=True)
        with self._lock:
            current = not self._closed and self._functions.get(spec.logical_id) is spec
            if current:
                self._all.append(environment)
                self._idle[spec.logical_id].append(environment)
                self._lock.notify()
        if not current:
            environment.close()

    def function(self, name_or_arn: str) -> FunctionSpec:
        spec = self._functions.get(name_or_arn) or self._functions.get(name_or_arn.split(":function:")[-1].split(":")[0])
        if spec is None:
            raise KeyError(f"No function {name_or_arn!r} is deployed in the offline cloud")
        return spec

    @property
    def functions(self) -> list[FunctionSpec]:
        return list({spec.logical_id: spec for spec in self._functions.values()}.values())

    def invoke(self, name_or_arn: str, event: str, *, no_time: bool = False) -> Invocation:
        """Invoke a function; no_time gives the invocation no time at all (an injected timeout)."""
        spec = self.function(name_or_arn)
        if len(event.encode("utf-8")) > REQUEST_LIMIT:
            raise RequestTooLarge(f"{len(event.encode('utf-8'))} byte payload is too large for the RequestResponse "
                                  f"invocation type (limit {REQUEST_LIMIT} bytes)")
        try:
            payload = json.loads(event)  # before an environment is taken
        except (ValueError, RecursionError) as error:
            raise NotJson(f"Could not parse request body into json: {error}") from None
        request_id = str(uuid.uuid4())
        environment = self._acquire(spec)
        started_at = time.time()
        started = time.perf_counter()
        reply = environment.invoke(request_id, event, 0.0 if no_time else spec.timeout_s)
        elapsed_ms = (time.perf_counter() - started) * 1000
        if reply is None:
            reply = {
                "ok": False,
                "error": {
                    "errorMessage": f"RequestId: {request_id} Error: Task timed out after {spec.timeout_s:.2f} seconds",
                    "errorType": "Sandbox.Timedout",
                },
                "init_ms": None,
                "duration_ms": spec.timeout_s * 1000,
            }
            environment.close()  # AWS resets an environment whose invocation timed out
        if reply.get("reset"):  # its Init failed: it ends, and the next invocation starts another
            environment.close()
        logs = environment.new_log_lines()
        self._release(spec, environment)
        error = None if reply["ok"] else reply["error"]
        report = InvocationReport(
            function=spec.logical_id,
            request_id=request_id,
            started_at=started_at,
            duration_ms=reply.get("duration_ms", elapsed_ms),
            init_ms=reply.get("init_ms"),
            memory_mb=spec.memory_mb,
            max_memory_mb=reply.get("max_memory_mb", 0),
            error_type=error["errorType"] if error else None,
            logs=logs,
            payload_digest=payload_digest(payload),
        )
        with self._lock:
            self.reports.append(report)
        if error is not None:
            return Invocation(json.dumps(error), True, report)
        if len(reply["result"].encode("utf-8")) > RESPONSE_LIMIT:
            return Invocation(json.dumps(RESPONSE_TOO_LARGE), True, report)
        return Invocation(reply["result"], False, report)

    def _acquire(self, spec: FunctionSpec) -> _Environment:
        with self._lock:
            if self._closed:
                raise Stopped(spec.logical_id)
            if spec.reserved_concurrency is not None and self._running[spec.logical_id] >= spec.reserved_concurrency:
                raise Throttled(spec.logical_id)
            while True:
                idle = self._idle.setdefault(spec.logical_id, deque())  # its function may be replaced meanwhile
                while idle:
                    environment = idle.pop()
                    if environment.alive:
                        self._running[spec.logical_id] += 1
                        return environment
                    environment.close()
                if self._running[spec.logical_id] < self._max_environments:
                    self._running[spec.logical_id] += 1
                    break
                self._lock.wait()
                if self._closed:
                    raise Stopped(spec.logical_id)
        environment = _Environment(spec, self._base_env, self._log_dir)
        with self._lock:
            self._all.append(environment)
        return environment

    def _release(self, spec: FunctionSpec, environment: _Environment) -> None:
        with self._lock:
            self._running[spec.logical_id] -= 1
            current = self._functions.get(spec.logical_id) is spec
            if environment.alive and current:
                self._idle[spec.logical_id].append(environment)
            self._lock.notify()
        if not current:  # its function was replaced while it ran
            environment.close()

    def environment_pids(self) -> dict[str, list[int]]:
        """Process ids of the execution environments started for the deployed functions, by function
        (those that ended included; a deploy drops the previous deployment's that ended)."""
        with self._lock:
            environments = list(self._all)
        pids: dict[str, list[int]] = {}
        for environment in environments:
            pids.setdefault(environment.spec.logical_id, []).append(environment.process.pid)
        return pids

    def close(self) -> None:
        """End every environment (an invocation under way returns Runtime.ExitError); idempotent."""
        with self._lock:
            environments, self._all = self._all, []
            self._idle = {logical_id: deque() for logical_id in self._idle}
            self._closed = True
            self._lock.notify_all()  # invocations waiting for an environment: there will be none
        for environment in environments:
            environment.close()
        if self._log_dir.is_dir():
            for log in self._log_dir.glob("*.log"):
                log.unlink()
            self._log_dir.rmdir()

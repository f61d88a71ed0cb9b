"""The speed layer's patches into moto: each replaces a step moto repeats for every request,
state or execution with one done once, and answers exactly as moto would.

Each is named, so that `make bench ARGS="--ablate PART"` can leave one out and show what it pays; each is
shown to answer as moto does in tests/pipeline/test_speed_layer.py.
"""

from __future__ import annotations

import bisect
import copy
import json
import queue
import re
import sys
import threading
from collections.abc import Callable
from functools import lru_cache
from typing import Any

import moto.backend_index as moto_backend_index
import moto.backends as moto_backends
from moto.core import DEFAULT_ACCOUNT_ID
from moto.core.base_backend import BackendDict
from moto.stepfunctions.parser.asl.eval.event.event_manager import EventManager
from moto.core.botocore_stubber import BotocoreStubber
from moto.core.config import passthrough_service, passthrough_url, service_whitelisted
from moto.core.exceptions import HTTPException, ServiceNotWhitelisted
from moto.core.request import normalize_request
from moto.core.responses import ActionContext, ActionResult, BaseResponse
from moto.core.utils import get_equivalent_url_in_aws_domain
from moto.moto_api import recorder as moto_recorder
from moto.stepfunctions.exceptions import ExecutionAlreadyExists, ExecutionDoesNotExist
from moto.stepfunctions.models import StateMachine, StepFunctionBackend
from moto.stepfunctions.parser.asl.component.common.timeouts.timeout import TimeoutSeconds
from moto.stepfunctions.parser.asl.component.eval_component import EvalComponent
from moto.stepfunctions.parser.asl.component.program.program import Program
from moto.stepfunctions.parser.asl.component.state.exec.execute_state import ExecutionState
from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser
from moto.stepfunctions.parser.asl.utils import boto_client as moto_boto_client
from moto.stepfunctions.parser.backend.execution_worker import ExecutionWorker
from moto.stepfunctions.parser.utils import TMP_THREADS
from moto.stepfunctions.utils import PAGINATION_MODEL
from moto.utilities.aws_headers import gen_amzn_requestid_long
from moto.utilities.paginator import Paginator

from pipeline.local.speed.json_answers import json_value, timestamp_members

from pipeline.local.patching import Private

EVENTS_LOCK = Private(EventManager, "_mutex", instance=True)
HISTORY_EVENTS = Private(EventManager, "_history_event_list", instance=True)
_original_parse = AmazonStateLanguageParser.parse
_original_execute_result = ActionResult.execute_result
_original_process_request = BotocoreStubber.process_request
_original_enrich_response = BaseResponse.__dict__["_enrich_response"].__func__
_original_describe_execution = StepFunctionBackend.describe_execution
_original_list_executions = StepFunctionBackend.list_executions
_original_account_backends = BackendDict.__getitem__
_original_existing_execution = Private(StateMachine, "_handle_name_input_idempotency").of(StateMachine)
_original_evaluate_state = Private(ExecutionState, "_evaluate_with_timeout").of(ExecutionState)
VALIDATE_EXECUTION_ARN = Private(StepFunctionBackend, "_validate_execution_arn")
STATE_MACHINE_OF_EXECUTION = Private(StepFunctionBackend, "_get_state_machine_for_execution")
RECORD_REQUEST = Private(moto_recorder, "_record_request")
EXECUTION_LOGIC = Private(ExecutionWorker, "_execution_logic")
_original_evaluate_program = Program.eval


@lru_cache(maxsize=64)
def cached_parse(definition: str) -> Any:
    """Parsed programs are immutable between executions; moto re-parses for every execution."""
    return _original_parse(definition)


_task_clients: dict[tuple[str, str], Any] = {}
_task_clients_lock = threading.Lock()


def cached_task_client(region: str, service: str) -> Any:
    """boto3 clients are thread-safe and cost ~10 ms to build: one per region and service (built
    once, also when the first executions ask for it together)."""
    client = _task_clients.get((region, service))
    if client is None:
        with _task_clients_lock:
            client = _task_clients.get((region, service))
            if client is None:
                client = _task_clients[(region, service)] = moto_boto_client.boto_client_for(region=region,
                                                                                             service=service)
    return client


class _EndedEventManager:
    def __init__(self, history: list[dict[str, Any]]):
        self._history = history

    def get_event_history(self) -> list[dict[str, Any]]:
        return list(self._history)  # read-only from here on: no deep copy needed


class _EndedEnvironment:
    def __init__(self, history: list[dict[str, Any]], map_runs: Any):
        self.event_manager = _EndedEventManager(history)
        self.map_run_record_pool_manager = map_runs


class EndedWorker:
    """What an ended execution keeps of its worker: the history, for GetExecutionHistory, and its
    Map Runs, for ListMapRuns and DescribeMapRun (AWS answers both after the execution ended)."""

    def __init__(self, history: list[dict[str, Any]], map_runs: Any):
        self.env = _EndedEnvironment(history, map_runs)

    def stop(self, stop_date: Any = None, error: Any = None, cause: Any = None) -> None:
        """Stopping an ended execution changes nothing."""


def release_interpreter(execution: Any) -> None:
    """Keep an ended execution's history; let its interpreter, environment and threads go."""
    worker = execution.exec_worker
    if worker is None or getattr(worker, "env", None) is None:
        return
    events = worker.env.event_manager
    with EVENTS_LOCK.of(events):  # the interpreter has ended and is let go: its events need no deep copy
        execution.exec_worker = EndedWorker(list(HISTORY_EVENTS.of(events)), worker.env.map_run_record_pool_manager)
    for thread in [thread for thread in TMP_THREADS if not thread.is_alive()]:
        try:
            TMP_THREADS.remove(thread)
        except ValueError:  # removed by another ending execution meanwhile
            pass


_inline = threading.local()


class InlineThread:
    """What the ASL interpreter gets for a Thread while it evaluates a state with no timeout: the
    target runs at once, in the interpreter's own thread, and is over when start() returns."""

    def __init__(self, target: Callable[[], None], daemon: bool | None = None):
        self._target = target

    def start(self) -> None:
        self._target()

    def is_alive(self) -> bool:
        return False

    def join(self, timeout: float | None = None) -> None:
        pass


def state_thread(*args: Any, **kwargs: Any) -> Any:
    return InlineThread(*args, **kwargs) if getattr(_inline, "active", False) else threading.Thread(*args, **kwargs)


def evaluate_state(self: ExecutionState, env: Any) -> None:
    """moto's ExecutionState._evaluate_with_timeout, run inline for a state without a timeout:
    moto starts a thread for every task, only to wait for it with no time limit."""
    if not (isinstance(self.timeout, TimeoutSeconds) and self.timeout.is_default_value()):
        return _original_evaluate_state(self, env)
    outer, _inline.active = getattr(_inline, "active", False), True
    try:
        return _original_evaluate_state(self, env)
    finally:
        _inline.active = outer


def evaluate_program(self: Program, env: Any) -> None:
    """moto's Program.eval, run in the execution's own thread for a state machine without
    TimeoutSeconds: moto starts a thread for the program only to join it with no time limit."""
    if self.timeout_seconds is not None:
        return _original_evaluate_program(self, env)
    env.next_state_name = self.start_at.start_at_name
    try:
        EvalComponent.eval(self, env)  # what moto's thread runs
    except Exception:  # noqa: BLE001 - as the thread would: reported by threading's hook, then over
        threading.excepthook(threading.ExceptHookArgs((*sys.exc_info(), threading.current_thread())))
    return None


class ExecutionRun:
    """An execution's interpreter run on a kept thread: what moto's TMP_THREADS holds of it
    (pipeline.local.moto_core.stop_executions joins them when the cloud stops)."""

    def __init__(self, target: Callable[[], None]):
        self.target = target
        self._ended = threading.Event()

    def run(self) -> None:
        try:
            self.target()
        except Exception:  # noqa: BLE001 - as moto's thread would: reported by threading's hook, then over
            threading.excepthook(threading.ExceptHookArgs((*sys.exc_info(), threading.current_thread())))
        finally:
            # As Thread.run lets its target go: the interpreter is not kept by TMP_THREADS' entry.
            self.target = None  # type: ignore[assignment]
            self._ended.set()

    def is_alive(self) -> bool:
        return not self._ended.is_set()

    def join(self, timeout: float | None = None) -> None:
        self._ended.wait(timeout)


class ExecutionThreads:
    """Threads kept for the executions' interpreters: moto starts a thread for every execution,
    and starting one took 8% of the offline cloud's time. A run goes to an idle thread, or to a
    new one when none is idle (never a bounded pool: an execution may wait for a child execution,
    which must start all the same); a thread idle for idle_s ends."""

    def __init__(self, idle_s: float = 30.0, name: str = "offline-execution"):
        self._idle_s = idle_s
        self._name = name
        self._runs: queue.SimpleQueue[ExecutionRun] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._idle = 0  # idle threads no run has been handed to yet

    def start(self, target: Callable[[], None]) -> ExecutionRun:
        run = ExecutionRun(target)
        with self._lock:
            spare = self._idle > 0
            if spare:
                self._idle -= 1
        if spare:
            self._runs.put(run)
        else:  # a new thread's first run is its own: a thread that cannot start leaves nothing queued
            threading.Thread(target=self._serve, args=(run,), name=self._name, daemon=True).start()
        return run

    def _serve(self, first: ExecutionRun) -> None:
        first.run()
        del first
        with self._lock:
            self._idle += 1
        while True:
            try:
                run = self._runs.get(timeout=self._idle_s)
            except queue.Empty:
                with self._lock:
                    if self._idle > 0:  # still counted idle: no run was handed to this thread
                        self._idle -= 1
                        return
                continue  # a run was handed to it as it timed out: take it
            run.run()
            del run
            with self._lock:
                self._idle += 1


_execution_threads = ExecutionThreads()


def start_execution_worker(self: ExecutionWorker) -> None:
    """moto's ExecutionWorker.start, on a kept thread."""
    TMP_THREADS.append(_execution_threads.start(EXECUTION_LOGIC.of(self)))


class _Executions:
    """A state machine's executions by ARN and by name, as moto's list has them (first wins), and
    in start order: by start date, and in the list's order where two started at the same time."""

    def __init__(self) -> None:
        self.count = 0
        self.by_arn: dict[str, Any] = {}
        self.by_name: dict[str, Any] = {}
        self.by_start: list[tuple[Any, int, Any]] = []  # (start date, minus list position, execution)

    def add(self, execution: Any) -> None:
        self.by_arn.setdefault(execution.execution_arn, execution)
        self.by_name.setdefault(execution.name, execution)
        # Nearly always the newest: an append. One started in another thread can come a little late.
        bisect.insort(self.by_start, (execution.start_date, -self.count, execution), key=_start_order)
        self.count += 1


_execution_indexes: dict[int, tuple[Any, _Executions]] = {}
_execution_indexes_lock = threading.Lock()


def _indexed_executions(state_machine: Any) -> _Executions:
    """Caught up with the state machine's executions, a list that moto only appends to; moto
    scans the whole list for every StartExecution and every GetExecutionHistory. Executions start
    in other threads meanwhile: the index counts only what it read, and one thread at a time."""
    with _execution_indexes_lock:
        return _caught_up(state_machine)


def _caught_up(state_machine: Any) -> _Executions:
    """_indexed_executions, with _execution_indexes_lock held."""
    held = _execution_indexes.get(id(state_machine))
    if held is None or held[0] is not state_machine or held[1].count > len(state_machine.executions):
        held = _execution_indexes[id(state_machine)] = (state_machine, _Executions())
    index, executions = held[1], state_machine.executions
    for execution in executions[index.count:]:
        index.add(execution)
    return index


def _start_order(entry: tuple[Any, int, Any]) -> tuple[Any, int]:
    return entry[0], entry[1]


def newest_executions(state_machine: Any, count: int) -> list[Any]:
    """The state machine's newest executions, newest first, as moto's sort gives them (sorted by
    start date, newest first; stable, so of two started at the same time the earlier in its list)."""
    with _execution_indexes_lock:
        newest = _caught_up(state_machine).by_start[-count:] if count > 0 else []
    return [execution for _, _, execution in reversed(newest)]


def list_executions(self: StepFunctionBackend, *args: Any, **kwargs: Any) -> Any:
    """moto's StepFunctionBackend.list_executions (paginated) for a first page of every status:
    the newest executions from the index, not the whole list sorted; paged by moto's Paginator
    as moto's decorator pages it (same page, same token). Anything else as moto lists it."""
    config = PAGINATION_MODEL["list_executions"]
    limit = kwargs.get(config["limit_key"])
    if len(args) != 1 or set(kwargs) - {"status_filter", "max_results", "next_token"} or kwargs.get("status_filter") \
            or kwargs.get(config["input_token"]) is not None or not (limit is None or isinstance(limit, int) and limit > 0):
        return _original_list_executions(self, *args, **kwargs)
    # The decorator's checksum of the call's parameters: what a next page's call is checked against.
    checked = {name: value for name, value in kwargs.items() if name not in (config["input_token"], config["limit_key"])}
    paginator = Paginator(max_results=limit, max_results_default=config["limit_default"], starting_token=None,
                          unique_attribute=config["unique_attribute"], param_values_to_check=checked,
                          fail_on_invalid_token=config.get("fail_on_invalid_token", True))
    state_machine = self.describe_state_machine(args[0])
    # One more than the page: the token names the first execution of the next page.
    return paginator.paginate(newest_executions(state_machine, (limit or config["limit_default"]) + 1))


def describe_execution(self: StepFunctionBackend, execution_arn: str) -> Any:
    """moto's StepFunctionBackend.describe_execution, with the execution looked up by ARN."""
    VALIDATE_EXECUTION_ARN(self, execution_arn)
    state_machine = STATE_MACHINE_OF_EXECUTION(self, execution_arn)
    execution = _indexed_executions(state_machine).by_arn.get(execution_arn)
    if execution is None:
        raise ExecutionDoesNotExist("Execution Does Not Exist: '" + execution_arn + "'")
    return execution


def existing_execution(self: StateMachine, name: str, execution_input: str) -> Any:
    """moto's StateMachine._handle_name_input_idempotency, with the execution looked up by name."""
    execution = _indexed_executions(self).by_name.get(name)
    if execution is None:
        return None
    if execution_input == execution.execution_input and execution.status == "RUNNING":
        return execution  # the same name and input while it runs: StartExecution is idempotent
    raise ExecutionAlreadyExists("Execution Already Exists: '" + execution.execution_arn + "'")


def account_backends(self: BackendDict, account_id: str) -> Any:
    """moto's BackendDict.__getitem__, without its lock and its scan of every service's backends
    for an account it already holds: moto registers the two together and resets them together."""
    if dict.__contains__(self, account_id):
        return dict.__getitem__(self, account_id)
    return _original_account_backends(self, account_id)


def enrich_response(headers: dict[str, str], body: Any) -> tuple[dict[str, str], Any]:
    """moto's BaseResponse._enrich_response, without running its <RequestId> regex over bodies
    that have none (a JSON execution history is searched from end to end for one)."""
    if isinstance(body, str) and "<RequestId>" not in body:
        if "status" in headers:
            headers["status"] = str(headers["status"])
        gen_amzn_requestid_long(headers)
        return headers, body
    return _original_enrich_response(headers, body)


@lru_cache(maxsize=256)
def cached_json_path(path: str) -> Any:
    from jsonpath_ng.ext import parse

    return parse(path)


@lru_cache(maxsize=256)
def cached_result_path(path: str) -> Any:
    from jsonpath_ng import parse

    return parse(path)


@lru_cache(maxsize=64)
def _service_routes(service: str) -> tuple[tuple[re.Pattern[str], Any], ...]:
    """A service's URL rules, compiled: moto rebuilds them (S3 reloads its urls module) per request."""
    backend_dict = moto_backends.get_backend(service)  # type: ignore[call-overload]
    if isinstance(backend_dict, BackendDict):
        regions = backend_dict[DEFAULT_ACCOUNT_ID]
        backend = regions["us-east-1"] if "us-east-1" in regions else regions["aws"]
    else:
        backend = backend_dict["global"]
    return tuple((re.compile(url), handler) for url, handler in backend.urls.items())


def routed_request(self: BotocoreStubber, request: Any) -> Any:
    """moto's BotocoreStubber.process_request, step for step, with each service's routes cached."""
    parsed_url, _ = get_equivalent_url_in_aws_domain(request.url)
    clean_url = f"{parsed_url.scheme}://{parsed_url.netloc}{parsed_url.path}"
    if passthrough_url(clean_url):
        return None
    for service, pattern in moto_backend_index.backend_url_patterns:
        if not pattern.match(clean_url):
            continue
        if passthrough_service(service):
            return None
        if not service_whitelisted(service):
            raise ServiceNotWhitelisted(service)
        for url, handler in _service_routes(service):
            if url.match(clean_url):
                normalized = normalize_request(request)
                try:
                    RECORD_REQUEST.of(moto_recorder)(normalized)
                    return handler(normalized, normalized.raw_url, normalized.headers)
                except HTTPException as error:
                    return error.code, error.get_headers(), error.get_body()
    if re.match(r"https?://.+\.amazonaws.com/.*", clean_url):
        return 404, {}, "Not yet implemented"
    return None


FAST_JSON_SERVICES = frozenset({"stepfunctions"})


def fast_execute_result(self: ActionResult, context: ActionContext) -> Any:
    """Plain dict results of JSON-protocol services in FAST_JSON_SERVICES, written directly;
    anything else (objects, paginated or error results) goes through moto's serializer."""
    service = context.service_model
    if type(self) is ActionResult and isinstance(self.result, dict) and service.service_name in FAST_JSON_SERVICES \
            and service.protocol == "json":
        operation = context.operation_model
        timestamps = timestamp_members(service.service_name, operation.name, operation.output_shape)
        if timestamps is not None:
            try:
                body = json.dumps(json_value(self.result, timestamps))
            except (TypeError, ValueError):
                return _original_execute_result(self, context)
            version = service.metadata.get("jsonVersion", "1.0")
            status = operation.http.get("responseCode", 200)
            return status, {"Content-Type": f"application/x-amz-json-{version}"}, body
    return _original_execute_result(self, context)


_deepcopy = copy.deepcopy


def json_copy(value: Any, memo: Any = None) -> Any:
    """copy.deepcopy for the values moto's interpreter copies: a state's input, result and
    parameters are JSON (dicts, lists, strings, numbers, booleans, None), copied here by type,
    which is a third of deepcopy's time; anything else (and a call with a memo) as deepcopy copies
    it. A JSON document shares nothing: where moto's value held one dict twice, this copy holds
    two, as the document it stands for does."""
    kind = type(value)
    if kind is dict and memo is None:
        return {key: json_copy(item) for key, item in value.items()}
    if kind is list and memo is None:
        return [json_copy(item) for item in value]
    if kind is str or kind is int or kind is float or kind is bool or value is None:
        return value
    return _deepcopy(value, memo)


class _JsonCopies:
    """The copy module as moto's interpreter modules see it with json-copies: deepcopy is
    json_copy, everything else copy's own."""

    deepcopy = staticmethod(json_copy)

    def __getattr__(self, name: str) -> Any:
        return getattr(copy, name)


JSON_COPIES = _JsonCopies()
# moto's interpreter modules that copy state values with copy.deepcopy.
INTERPRETER_COPIES = (
    "moto.stepfunctions.parser.asl.component.common.string.string_expression",
    "moto.stepfunctions.parser.asl.component.common.path.result_path",
    "moto.stepfunctions.parser.asl.component.intrinsic.function.statesfunction.json_manipulation.json_merge",
    "moto.stepfunctions.parser.asl.component.state.exec.state_map.state_map",
    "moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service",
    "moto.stepfunctions.parser.asl.component.state.exec.state_parallel.state_parallel",
    "moto.stepfunctions.parser.asl.component.state.exec.execute_state",
    "moto.stepfunctions.parser.asl.eval.states",
    "moto.stepfunctions.parser.asl.eval.event.event_manager",
    "moto.stepfunctions.parser.asl.eval.environment",
)


def clear_caches() -> None:
    """Forget what was cached for one deployed cloud."""
    with _task_clients_lock:
        _task_clients.clear()
    _service_routes.cache_clear()
    _execution_indexes.clear()

"""Everything that reaches into moto's internals, in one place (moto is pinned exactly).

One exception, on purpose: what the DynamoDB process needs of moto's internals is in
service_process (MotoApplication, moto's server application, and quick_dispatch, two per-request
caches), so that the process starts without importing this module, which takes a second.
tests/pipeline/test_moto_hooks.py pins them with the rest.

moto emulates S3, EventBridge, Step Functions, SNS, SQS and CloudFormation, but not all of what
this pipeline needs offline. Each hook below fills one gap; tests/pipeline/test_moto_hooks.py
fails loudly if the pinned moto changes under any of them.

- Lambda Invoke runs the handler in our runtime (moto's own needs Docker).
- S3 object writes are announced by our EventBridge delivery (moto's raw-keys the event, ignores
  rule state and drops Step Functions targets).
- JSONata expressions are evaluated with jsonata-python (moto's hook is a stub).
- Retry waits of the ASL interpreter follow a scalable clock.
- Parsed state machine definitions are cached (moto re-parses for every execution), and so are the
  boto3 clients its Lambda and SNS tasks call through (moto builds a new one for every task).
- TestEventPattern is answered with moto's own pattern matcher (moto leaves it unimplemented).
- A finished execution is reported, so the offline cloud can publish the AWS/States metrics
  (ExecutionsSucceeded, ExecutionsFailed, ...) that the template's alarm watches.
- State machines created by CloudFormation land in the backend that executes them (moto puts
  them in its non-executing backend, where the execution API cannot see them).
- The engine's Lambda tasks call the runtime directly (moto would go through botocore, its stub
  and its Lambda responses for every task), EventBridge starts executions in the Step Functions
  backend directly, and the driver's ListExecutions and GetExecutionHistory are read from it:
  the same results and the same AWS errors, without the round trips.
- JSONPath expressions are parsed once (moto's interpreter re-parses them at every state).
- An ended execution keeps its history and lets its interpreter go (moto keeps every
  execution's environment, worker and threads for as long as the cloud runs).
- Step Functions responses are written straight to JSON (moto walks the service model member by
  member, which made GetExecutionHistory the most expensive call of a run).
- In-process requests find their handler through URL rules compiled once per service (moto
  rebuilds them for every request, and reloads S3's urls module to do it).
- A service's backends for an account are found without moto's lock and scan (every response
  object looks its backend up that way).
- A task state without TimeoutSeconds is evaluated in the interpreter's thread (moto starts a
  thread per task only to wait for it without a time limit); one with a timeout keeps its thread.
  The same for the program of a state machine without TimeoutSeconds.
- Executions are looked up by ARN and by name in an index (moto scans every execution of the
  state machine, for each StartExecution and each GetExecutionHistory), and JSON responses are
  not searched for an XML <RequestId> to replace.
"""

from __future__ import annotations

import calendar
import enum
import io
import json
import logging
import re
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from datetime import datetime
from functools import lru_cache
from typing import Any

import moto
import moto.backend_index as moto_backend_index
import moto.backends as moto_backends
from botocore.exceptions import ClientError
from botocore.response import StreamingBody
from moto.awslambda.models import LambdaFunction, lambda_backends
from moto.cloudwatch.models import cloudwatch_backends
from moto.core import DEFAULT_ACCOUNT_ID
from moto.core.base_backend import BackendDict
from moto.core.botocore_stubber import BotocoreStubber
from moto.core.config import passthrough_service, passthrough_url, service_whitelisted
from moto.core.exceptions import HTTPException, JsonRESTError, ServiceNotWhitelisted
from moto.core.exceptions import ServiceException as MotoServiceException
from moto.core.request import normalize_request
from moto.core.responses import ActionContext, ActionResult, BaseResponse
from moto.core.utils import get_equivalent_url_in_aws_domain
from moto.events.models import (
    EventPattern,
    EventPatternParser,
    EventsBackend,
    events_backends,
)
from moto.events.responses import EventsHandler
from moto.events.utils import EventTemplateParser
from moto.moto_api import recorder as moto_recorder
from moto.s3 import notifications as s3_notifications
from moto.sns.exceptions import InternalError as SNSInternalError
from moto.sns.models import SNSBackend
from moto.stepfunctions import models as stepfunctions_models
from moto.stepfunctions.exceptions import ExecutionAlreadyExists, ExecutionDoesNotExist
from moto.stepfunctions.models import StateMachine, StepFunctionBackend
from moto.stepfunctions.parser.api import ExecutionStatus
from moto.stepfunctions.parser.asl.component.common.path import (
    result_path as moto_result_path,
)
from moto.stepfunctions.parser.asl.component.common.retry import retrier_decl
from moto.stepfunctions.parser.asl.component.common.timeouts.timeout import (
    TimeoutSeconds,
)
from moto.stepfunctions.parser.asl.component.eval_component import EvalComponent
from moto.stepfunctions.parser.asl.component.program.program import Program
from moto.stepfunctions.parser.asl.component.state.exec import execute_state
from moto.stepfunctions.parser.asl.component.state.exec.execute_state import (
    ExecutionState,
)
from moto.stepfunctions.parser.asl.component.state.exec.state_task import (
    lambda_eval_utils,
)
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import (
    state_task_service_sns,
)
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_lambda import (
    StateTaskServiceLambda,
)
from moto.stepfunctions.parser.asl.jsonata import jsonata as moto_jsonata
from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser
from moto.stepfunctions.parser.asl.utils import boto_client as moto_boto_client
from moto.stepfunctions.parser.asl.utils import json_path as moto_json_path
from moto.stepfunctions.parser.backend.execution import BaseExecutionWorkerCommunication
from moto.stepfunctions.parser.models import stepfunctions_parser_backends
from moto.stepfunctions.parser.utils import TMP_THREADS
from moto.utilities.aws_headers import gen_amzn_requestid_long

from pipeline.local.service_process import quick_dispatch

PINNED_MOTO = "5.2.5"

ObjectWriteListener = Callable[[str, str, Any, Any], bool]
"""(account_id, s3 event name, bucket, key) -> True if handled, False to let moto handle it."""

LambdaInvoker = Callable[[str, str], tuple[str, bool]]
"""(function ARN, event JSON) -> (payload JSON, errored); may raise a Lambda API error below."""

ExecutionListener = Callable[[str, str, float], None]
"""(state machine ARN, final status, duration in ms), once per finished execution."""

PublishGuard = Callable[[str], None]
"""Called with the topic ARN before each SNS Publish; raises SNSInternalError to make it fail."""


TaskGuard = Callable[[str, str, str, dict[str, Any]], None]
"""(role ARN, service, operation, parameters): raises the service's ClientError when the role may
not make the call; Step Functions makes every task call with the state machine's role."""


class RoleBoundClient:
    """A task's client, acting as the role Step Functions assumed for the execution: every
    operation is authorized by the guard before the client makes it."""

    def __init__(self, client: Any, service: str, role_arn: str, guard: TaskGuard):
        self._client = client
        self._service = service
        self._role_arn = role_arn
        self._guard = guard

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._client, name)
        if name.startswith("_") or name in CLIENT_HELPERS or not callable(attribute):
            return attribute

        def call(**parameters: Any) -> Any:
            self._guard(self._role_arn, self._service, name, parameters)
            return attribute(**parameters)

        return call


CLIENT_HELPERS = frozenset({"can_paginate", "get_paginator", "get_waiter", "close", "meta", "exceptions"})

_original_lambda_error_cause = StateTaskServiceLambda._error_cause_from_client_error


def lambda_error_cause(client_error: ClientError) -> tuple[str, str]:
    """Step Functions names a Lambda API error after the AWS SDK for Java's exception: a modelled
    error by its own name (Lambda.TooManyRequestsException), any other, such as
    AccessDeniedException, as Lambda.AWSLambdaException (the "Error handling" page of the Step
    Functions Developer Guide lists Lambda.AWSLambdaException for Lambda's unmodelled errors)."""
    error, cause = _original_lambda_error_cause(client_error)
    if client_error.response["Error"]["Code"] not in _lambda_error_codes():
        error = "Lambda.AWSLambdaException"
    return error, cause


@lru_cache(maxsize=1)
def _lambda_error_codes() -> frozenset[str]:
    import botocore.session

    model = botocore.session.get_session().get_service_model("lambda")
    return frozenset(shape.error_code for shape in model.error_shapes)


class TooManyRequestsException(JsonRESTError):
    """Lambda's throttling error, as the Lambda API returns it (HTTP 429)."""

    code = 429

    def __init__(self, message: str):
        super().__init__("TooManyRequestsException", message)


class ServiceException(JsonRESTError):
    """Lambda's internal service error (HTTP 500)."""

    code = 500

    def __init__(self, message: str):
        super().__init__("ServiceException", message)


class ScaledClock:
    """Sleeps for a fraction of the asked time: 1 is real time, 0 does not wait at all."""

    def __init__(self, scale: float):
        self.scale = scale
        self.waits: list[float] = []
        self._lock = threading.Lock()

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.waits.append(seconds)
        if self.scale > 0:
            time.sleep(seconds * self.scale)

    def __getattr__(self, name: str) -> Any:
        return getattr(time, name)


def sns_internal_error() -> Exception:
    """SNS's own 500 error, which Step Functions reports as SNS.InternalErrorException."""
    return SNSInternalError("Injected fault: SNS could not publish the message")


def check_pinned_version() -> None:
    if moto.__version__ != PINNED_MOTO:
        raise RuntimeError(
            f"pipeline.local is written against moto {PINNED_MOTO}, found {moto.__version__}: "
            "re-run tests/pipeline/test_moto_hooks.py and update the hooks before unpinning"
        )


def _evaluate_jsonata(expression: str) -> Any:
    import jsonata

    return jsonata.Jsonata(expression).evaluate(None)


_original_parse = AmazonStateLanguageParser.parse


@lru_cache(maxsize=64)
def _cached_parse(definition: str) -> Any:
    """Parsed programs are immutable between executions; moto re-parses for every execution."""
    return _original_parse(definition)


TASK_CLIENT_MODULES = (lambda_eval_utils, state_task_service_sns)


@lru_cache(maxsize=32)
def _cached_task_client(region: str, service: str) -> Any:
    """boto3 clients are thread-safe and cost ~10 ms to build: one per region and service."""
    return moto_boto_client.boto_client_for(region=region, service=service)


def as_client_error(error: Exception, operation: str) -> ClientError:
    """A moto service error as botocore raises it from the HTTP response moto would send."""
    if isinstance(error, JsonRESTError):
        code, message, status = error.error_type or "", error.message, int(error.code)
    elif isinstance(error, MotoServiceException):
        code, message, status = error.code, error.message, 400
    else:
        raise TypeError(f"not a moto service error: {error!r}")
    metadata = {"RequestId": str(uuid.uuid4()), "HTTPStatusCode": status, "HTTPHeaders": {}, "RetryAttempts": 0}
    return ClientError({"Error": {"Code": code, "Message": message}, "ResponseMetadata": metadata}, operation)


class DirectLambdaClient:
    """The Lambda client of the engine's tasks: a synchronous Invoke goes straight to the
    runtime, answered as botocore answers it from moto (StatusCode, FunctionError, Payload);
    any other call or invocation type goes through the real client."""

    def __init__(self, client: Any, region: str, invoke: LambdaInvoker):
        self._client = client
        self._region = region
        self._invoke = invoke

    def invoke(self, **parameters: Any) -> dict[str, Any]:
        if parameters.get("InvocationType", "RequestResponse") != "RequestResponse":
            return self._client.invoke(**parameters)
        name = str(parameters["FunctionName"])
        account = name.split(":")[4] if name.startswith("arn:") else DEFAULT_ACCOUNT_ID
        payload = parameters.get("Payload") or b"{}"
        body = payload.decode("utf-8") if isinstance(payload, bytes) else str(payload)
        try:
            function = lambda_backends[account][self._region].get_function(name, parameters.get("Qualifier"))
            result, errored = self._invoke(function.function_arn, body)
        except (JsonRESTError, MotoServiceException) as error:
            raise as_client_error(error, "Invoke") from None
        data = result.encode("utf-8")
        response: dict[str, Any] = {
            "ResponseMetadata": {"RequestId": str(uuid.uuid4()), "HTTPStatusCode": 200, "HTTPHeaders": {},
                                 "RetryAttempts": 0},
            "StatusCode": 200,
            "Payload": StreamingBody(io.BytesIO(data), len(data)),
        }
        if errored:
            response["FunctionError"] = "Unhandled"
        return response

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)


class DirectReadsClient:
    """A Step Functions client whose reads of executions (the driver's ListExecutions, and one
    GetExecutionHistory per file) are answered from the backend: moto's answer, written as
    moto writes it and parsed by the client's own parser, without the round trip through
    botocore's request side, moto's stub and its response class. Anything else, or a call with
    parameters these do not take, goes through the real client."""

    PARAMETERS = {"GetExecutionHistory": {"executionArn"},
                  "ListExecutions": {"stateMachineArn", "maxResults", "nextToken"}}

    def __init__(self, client: Any, account_id: str, region: str):
        self._client = client
        self._account_id = account_id
        self._region = region
        self._shapes = {name: client.meta.service_model.operation_model(name).output_shape for name in self.PARAMETERS}
        self._timestamps = {name: _find_timestamp_members(shape) for name, shape in self._shapes.items()}
        # The parser the client's endpoint makes for each response (with the session's defaults).
        self._parser = client._endpoint._response_parser_factory.create_parser(client.meta.service_model.protocol)

    def _answer(self, operation: str, read: Callable[[Any], Any]) -> dict[str, Any]:
        backend = stepfunctions_parser_backends[self._account_id][self._region]
        try:
            result = read(backend)
        except (JsonRESTError, MotoServiceException) as error:
            raise as_client_error(error, operation) from None
        headers = {"x-amzn-requestid": str(uuid.uuid4()), "content-type": "application/x-amz-json-1.0"}
        body = json.dumps(_json_value(result, self._timestamps[operation])).encode("utf-8")
        parsed = self._parser.parse({"status_code": 200, "headers": headers, "body": body}, self._shapes[operation])
        parsed["ResponseMetadata"]["RetryAttempts"] = 0
        return parsed

    def _direct(self, operation: str, parameters: dict[str, Any]) -> bool:
        return set(parameters) <= self.PARAMETERS[operation] and self._timestamps[operation] is not None

    def get_execution_history(self, **parameters: Any) -> dict[str, Any]:
        if not self._direct("GetExecutionHistory", parameters) or "executionArn" not in parameters:
            return self._client.get_execution_history(**parameters)
        return self._answer("GetExecutionHistory",
                            lambda backend: backend.get_execution_history(parameters["executionArn"]))

    def list_executions(self, **parameters: Any) -> dict[str, Any]:
        if not self._direct("ListExecutions", parameters) or "stateMachineArn" not in parameters:
            return self._client.list_executions(**parameters)
        return self._answer("ListExecutions", lambda backend: listed_executions(backend, **parameters))

    def get_paginator(self, operation_name: str) -> Any:
        if operation_name == "get_execution_history":
            # moto answers in one page, whatever maxResults says
            return _Pages(self.get_execution_history, None, lambda: self._client.get_paginator(operation_name))
        if operation_name == "list_executions":
            return _Pages(self.list_executions, "maxResults", lambda: self._client.get_paginator(operation_name))
        return self._client.get_paginator(operation_name)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)


def listed_executions(backend: Any, stateMachineArn: str, maxResults: int | None = None,  # noqa: N803 - API names
                      nextToken: str | None = None) -> dict[str, Any]:
    """What moto's StepFunctionResponse.list_executions answers (no statusFilter)."""
    state_machine = backend.describe_state_machine(stateMachineArn)
    results, next_token = backend.list_executions(stateMachineArn, status_filter=None, max_results=maxResults,
                                                  next_token=nextToken)
    executions = []
    for execution in results:
        listed = {"executionArn": execution.execution_arn, "name": execution.name, "startDate": execution.start_date,
                  "stateMachineArn": state_machine.arn, "status": execution.status}
        if execution.status in (ExecutionStatus.SUCCEEDED, ExecutionStatus.FAILED, ExecutionStatus.ABORTED):
            listed["stopDate"] = execution.stop_date
        executions.append(listed)
    return {"executions": executions, "nextToken": next_token}


class _Pages:
    """A paginator over one of DirectReadsClient's calls, for PageSize only (anything else in
    PaginationConfig goes to the real paginator)."""

    def __init__(self, call: Callable[..., dict[str, Any]], limit_key: str | None, real: Callable[[], Any]):
        self._call = call
        self._limit_key = limit_key
        self._real = real  # makes the real paginator, when needed

    def paginate(self, **parameters: Any) -> Iterator[dict[str, Any]]:
        config = parameters.pop("PaginationConfig", None) or {}
        if set(config) - {"PageSize"} or (config and self._limit_key is None):
            yield from self._real().paginate(**parameters, PaginationConfig=config)
            return
        if config:
            parameters[self._limit_key] = config["PageSize"]
        while True:
            page = self._call(**parameters)
            yield page
            if not page.get("nextToken"):
                return
            parameters["nextToken"] = page["nextToken"]


def start_execution(account_id: str, region: str, state_machine_arn: str, name: str, execution_input: str) -> str:
    """StartExecution in the executing Step Functions backend; moto's errors as ClientError."""
    try:
        backend = stepfunctions_parser_backends[account_id][region]
        return backend.start_execution(state_machine_arn, name, execution_input).execution_arn
    except (JsonRESTError, MotoServiceException) as error:
        raise as_client_error(error, "StartExecution") from None


class _EndedEventManager:
    def __init__(self, history: list[dict[str, Any]]):
        self._history = history

    def get_event_history(self) -> list[dict[str, Any]]:
        return list(self._history)  # read-only from here on: no deep copy needed


class _EndedEnvironment:
    def __init__(self, history: list[dict[str, Any]]):
        self.event_manager = _EndedEventManager(history)


class EndedWorker:
    """What an ended execution keeps of its worker: the history, for GetExecutionHistory."""

    def __init__(self, history: list[dict[str, Any]]):
        self.env = _EndedEnvironment(history)

    def stop(self, stop_date: Any = None, error: Any = None, cause: Any = None) -> None:
        """Stopping an ended execution changes nothing."""


def release_interpreter(execution: Any) -> None:
    """Keep an ended execution's history; let its interpreter, environment and threads go."""
    worker = execution.exec_worker
    if worker is None or getattr(worker, "env", None) is None:
        return
    events = worker.env.event_manager
    with events._mutex:  # the interpreter has ended and is let go: its events need no deep copy
        execution.exec_worker = EndedWorker(list(events._history_event_list))
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


def _state_thread(*args: Any, **kwargs: Any) -> Any:
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


class _Executions:
    """A state machine's executions by ARN and by name, as moto's list has them (first wins)."""

    def __init__(self) -> None:
        self.count = 0
        self.by_arn: dict[str, Any] = {}
        self.by_name: dict[str, Any] = {}


_execution_indexes: dict[int, tuple[Any, _Executions]] = {}


def _indexed_executions(state_machine: Any) -> _Executions:
    """Caught up with the state machine's executions, a list that moto only appends to; moto
    scans the whole list for every StartExecution and every GetExecutionHistory."""
    held = _execution_indexes.get(id(state_machine))
    if held is None or held[0] is not state_machine or held[1].count > len(state_machine.executions):
        held = _execution_indexes[id(state_machine)] = (state_machine, _Executions())
    index, executions = held[1], state_machine.executions
    for execution in executions[index.count:]:
        index.by_arn.setdefault(execution.execution_arn, execution)
        index.by_name.setdefault(execution.name, execution)
    index.count = len(executions)
    return index


def describe_execution(self: StepFunctionBackend, execution_arn: str) -> Any:
    """moto's StepFunctionBackend.describe_execution, with the execution looked up by ARN."""
    self._validate_execution_arn(execution_arn)
    state_machine = self._get_state_machine_for_execution(execution_arn)
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


def put_metric_data(account_id: str, region: str, namespace: str, metric_data: list[dict[str, Any]]) -> None:
    """PutMetricData in the CloudWatch backend, as a service publishes its own metrics."""
    cloudwatch_backends[account_id][region].put_metric_data(namespace, metric_data)


@lru_cache(maxsize=256)
def _cached_json_path(path: str) -> Any:
    from jsonpath_ng.ext import parse

    return parse(path)


@lru_cache(maxsize=256)
def _cached_result_path(path: str) -> Any:
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
                    moto_recorder._record_request(normalized)
                    return handler(normalized, normalized.raw_url, normalized.headers)
                except HTTPException as error:
                    return error.code, error.get_headers(), error.get_body()
    if re.match(r"https?://.+\.amazonaws.com/.*", clean_url):
        return 404, {}, "Not yet implemented"
    return None


FAST_JSON_SERVICES = frozenset({"stepfunctions"})


def _epoch(value: datetime) -> int | float:
    """A timestamp as moto's JSON serializer writes it: epoch seconds, truncated to the ms."""
    seconds = calendar.timegm(value.timetuple())
    return seconds + (value.microsecond // 1000) / 1000.0 if value.microsecond else seconds


def _json_value(value: Any, timestamps: frozenset[str], key: str = "") -> Any:
    """What moto's JSON serializer writes for a value: timestamps (datetimes, and ISO strings
    in timestamp members) as epoch seconds, enums by value, nothing for None."""
    if isinstance(value, dict):
        return {name: _json_value(item, timestamps, name) for name, item in value.items() if item is not None}
    if isinstance(value, (list, tuple)):
        return [_json_value(item, timestamps) for item in value]
    if isinstance(value, datetime):
        return _epoch(value)
    if isinstance(value, str) and key in timestamps:
        return _epoch(datetime.fromisoformat(value))
    if isinstance(value, enum.Enum):
        return value.value
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    raise TypeError(type(value).__name__)


_TIMESTAMP_MEMBERS: dict[tuple[str, str], frozenset[str] | None] = {}


def _timestamp_members(service: str, operation: str, output_shape: Any) -> frozenset[str] | None:
    """Names of the output's timestamp members; None if a name is a timestamp in one place and
    something else in another (then only moto's serializer, which follows the shapes, is right)."""
    if (service, operation) not in _TIMESTAMP_MEMBERS:
        _TIMESTAMP_MEMBERS[service, operation] = _find_timestamp_members(output_shape)
    return _TIMESTAMP_MEMBERS[service, operation]


def _find_timestamp_members(output_shape: Any) -> frozenset[str] | None:
    kinds: dict[str, set[bool]] = {}
    seen: set[str] = set()

    def walk(shape: Any) -> None:
        if shape is None or shape.name in seen:
            return
        seen.add(shape.name)
        if shape.type_name == "structure":
            for name, member in shape.members.items():
                kinds.setdefault(name, set()).add(member.type_name == "timestamp")
                walk(member)
        elif shape.type_name == "list":
            walk(shape.member)
        elif shape.type_name == "map":
            walk(shape.value)

    walk(output_shape)
    if any(len(kind) > 1 for kind in kinds.values()):
        return None
    return frozenset(name for name, kind in kinds.items() if True in kind)


_original_execute_result = ActionResult.execute_result
_original_process_request = BotocoreStubber.process_request
_original_enrich_response = BaseResponse.__dict__["_enrich_response"].__func__
_original_describe_execution = StepFunctionBackend.describe_execution
_original_account_backends = BackendDict.__getitem__
_original_existing_execution = StateMachine._handle_name_input_idempotency
_original_evaluate_state = ExecutionState._evaluate_with_timeout
_original_evaluate_program = Program.eval


def fast_execute_result(self: ActionResult, context: ActionContext) -> Any:
    """Plain dict results of JSON-protocol services in FAST_JSON_SERVICES, written directly;
    anything else (objects, paginated or error results) goes through moto's serializer."""
    service = context.service_model
    if type(self) is ActionResult and isinstance(self.result, dict) and service.service_name in FAST_JSON_SERVICES \
            and service.protocol == "json":
        operation = context.operation_model
        timestamps = _timestamp_members(service.service_name, operation.name, operation.output_shape)
        if timestamps is not None:
            try:
                body = json.dumps(_json_value(self.result, timestamps))
            except (TypeError, ValueError):
                return _original_execute_result(self, context)
            version = service.metadata.get("jsonVersion", "1.0")
            status = operation.http.get("responseCode", 200)
            return status, {"Content-Type": f"application/x-amz-json-{version}"}, body
    return _original_execute_result(self, context)


def event_pattern_matches(pattern: str, event: dict[str, Any]) -> bool:
    """EventBridge pattern matching, with moto's matcher (agrees with AWS on this pipeline's rules)."""
    return EventPattern(pattern, EventPatternParser(pattern).parse()).matches_event(event)


def rule_fires(rule: Any, event: dict[str, Any]) -> bool:
    """An ENABLED rule with a pattern that matches the event (moto fires DISABLED rules too)."""
    return rule.state == "ENABLED" and bool(rule.event_pattern.dump()) and rule.event_pattern.matches_event(event)


def transform_input(target: dict[str, Any], event: dict[str, Any]) -> str:
    """What an EventBridge target receives: Input, InputPath, InputTransformer, or the event."""
    if "Input" in target:
        return target["Input"]
    if "InputPath" in target:
        value: Any = event
        for part in target["InputPath"].lstrip("$").strip(".").split("."):
            if part:
                value = value.get(part) if isinstance(value, dict) else None
        return json.dumps(value)
    if "InputTransformer" in target:
        transformer = target["InputTransformer"]
        result = EventTemplateParser.parse(
            input_template=transformer.get("InputTemplate"),
            input_paths_map=transformer.get("InputPathsMap", {}),
            event=event,
        )
        return result if isinstance(result, str) else json.dumps(result)
    return json.dumps(event)


def rules_of_default_bus(account_id: str, region: str) -> list[Any]:
    backend: EventsBackend = events_backends[account_id][region]
    return list(backend.event_buses["default"].rules.values())


def _test_event_pattern(self: EventsHandler) -> str:
    pattern = self._get_param("EventPattern")
    event = json.loads(self._get_param("Event"))
    return json.dumps({"Result": event_pattern_matches(pattern, event)})


@contextmanager
def installed(
    *, invoke: LambdaInvoker, on_object_write: ObjectWriteListener, clock: ScaledClock,
    before_publish: PublishGuard, on_execution_end: ExecutionListener, authorize_task: TaskGuard,
    optimized: bool = True,
) -> Iterator[None]:
    """Install every hook for the length of the block, then restore moto as it was.

    optimized=False leaves out the caches, for a baseline of plain moto with the same handlers.
    """
    check_pinned_version()
    original_send_event = s3_notifications.send_event

    def send_event(account_id: str, event_name: Any, bucket: Any, key: Any) -> None:
        if not on_object_write(account_id, getattr(event_name, "value", str(event_name)), bucket, key):
            original_send_event(account_id, event_name, bucket, key)

    def lambda_invoke(self: LambdaFunction, body: str, request_headers: Any, response_headers: Any) -> bytes:
        payload, errored = invoke(self.function_arn, body or "{}")
        if errored:
            response_headers["x-amz-function-error"] = "Unhandled"
        return payload.encode("utf-8")

    original_publish = SNSBackend.publish

    def publish(self: SNSBackend, message: str, arn: str | None = None, **kwargs: Any) -> str:
        before_publish(arn or kwargs.get("phone_number") or "")
        return original_publish(self, message, arn=arn, **kwargs)

    original_terminated = BaseExecutionWorkerCommunication.terminated

    def terminated(self: BaseExecutionWorkerCommunication) -> None:
        original_terminated(self)
        execution = self.execution
        duration_ms = (execution.stop_date - execution.start_date).total_seconds() * 1000
        status = getattr(execution.exec_status, "value", str(execution.exec_status))
        try:
            on_execution_end(execution.state_machine.arn, status, duration_ms)
        finally:
            if optimized:
                release_interpreter(execution)

    direct_lambda: dict[str, DirectLambdaClient] = {}

    def task_client(region: str, service: str, state_credentials: Any = None) -> Any:
        if optimized:
            client = _cached_task_client(region, service)
            if service == "lambda":
                if region not in direct_lambda:
                    direct_lambda[region] = DirectLambdaClient(client, region, invoke)
                client = direct_lambda[region]
        else:
            client = moto_boto_client.boto_client_for(region=region, service=service)
        if state_credentials is None:  # only outside an execution: every task has its role
            return client
        return RoleBoundClient(client, service, state_credentials.role_arn, authorize_task)

    saved = [(module, "boto_client_for", module.boto_client_for) for module in TASK_CLIENT_MODULES]
    saved += [(moto_json_path, "parse", moto_json_path.parse), (moto_result_path, "parse", moto_result_path.parse)]
    saved += [
        (BaseExecutionWorkerCommunication, "terminated", original_terminated),
        (SNSBackend, "publish", original_publish),
        (LambdaFunction, "invoke", LambdaFunction.invoke),
        (s3_notifications, "send_event", original_send_event),
        (moto_jsonata, "_eval_jsonata", moto_jsonata._eval_jsonata),
        (retrier_decl, "time", retrier_decl.time),
        (AmazonStateLanguageParser, "parse", AmazonStateLanguageParser.__dict__["parse"]),
        (EventsHandler, "test_event_pattern", EventsHandler.test_event_pattern),
        (stepfunctions_models, "stepfunctions_backends", stepfunctions_models.stepfunctions_backends),
        (ActionResult, "execute_result", _original_execute_result),
        (BotocoreStubber, "process_request", _original_process_request),
        (BaseResponse, "_enrich_response", BaseResponse.__dict__["_enrich_response"]),
        (StepFunctionBackend, "describe_execution", _original_describe_execution),
        (BackendDict, "__getitem__", _original_account_backends),
        (StateMachine, "_handle_name_input_idempotency", _original_existing_execution),
        (ExecutionState, "_evaluate_with_timeout", _original_evaluate_state),
        (execute_state, "Thread", execute_state.Thread),
        (Program, "eval", _original_evaluate_program),
        (StateTaskServiceLambda, "_error_cause_from_client_error",
         StateTaskServiceLambda.__dict__["_error_cause_from_client_error"]),
    ]
    LambdaFunction.invoke = lambda_invoke  # type: ignore[method-assign]
    SNSBackend.publish = publish  # type: ignore[method-assign]
    BaseExecutionWorkerCommunication.terminated = terminated  # type: ignore[method-assign]
    for module in TASK_CLIENT_MODULES:
        module.boto_client_for = task_client  # type: ignore[attr-defined]
    StateTaskServiceLambda._error_cause_from_client_error = staticmethod(lambda_error_cause)  # type: ignore[method-assign,assignment]
    if optimized:
        moto_json_path.parse = _cached_json_path  # type: ignore[assignment]
        moto_result_path.parse = _cached_result_path  # type: ignore[assignment]
        AmazonStateLanguageParser.parse = staticmethod(_cached_parse)  # type: ignore[method-assign,assignment]
        ActionResult.execute_result = fast_execute_result  # type: ignore[method-assign]
        BotocoreStubber.process_request = routed_request  # type: ignore[method-assign]
        BaseResponse._enrich_response = staticmethod(enrich_response)  # type: ignore[method-assign,assignment]
        StepFunctionBackend.describe_execution = describe_execution  # type: ignore[method-assign]
        BackendDict.__getitem__ = account_backends  # type: ignore[method-assign,assignment]
        StateMachine._handle_name_input_idempotency = existing_execution  # type: ignore[method-assign]
        ExecutionState._evaluate_with_timeout = evaluate_state  # type: ignore[method-assign]
        execute_state.Thread = _state_thread  # type: ignore[misc,assignment]
        Program.eval = evaluate_program  # type: ignore[method-assign]
    s3_notifications.send_event = send_event
    moto_jsonata._eval_jsonata = _evaluate_jsonata
    retrier_decl.time = clock  # type: ignore[assignment]
    EventsHandler.test_event_pattern = _test_event_pattern  # type: ignore[method-assign,assignment]
    stepfunctions_models.stepfunctions_backends = stepfunctions_parser_backends  # type: ignore[assignment]
    # moto logs every Fail state and caught task error at ERROR level (they are outcomes here),
    # and every resource type its CloudFormation skips (the cloud reports those once itself).
    quiet = logging.getLogger("moto")
    previous_level = quiet.level
    quiet.setLevel(logging.CRITICAL)
    try:
        with quick_dispatch() if optimized else nullcontext():
            yield
    finally:
        quiet.setLevel(previous_level)
        _cached_task_client.cache_clear()
        _service_routes.cache_clear()
        _execution_indexes.clear()
        for owner, name, value in saved:
            setattr(owner, name, value)


@lru_cache(maxsize=64)
def aws_managed_policy(policy_arn: str) -> dict[str, Any]:
    """The document of an AWS managed policy, from the copy moto ships (one JSON object of about
    1,600 policies: only the one asked for is decoded, which takes microseconds, not half a second)."""
    from moto.iam.aws_managed_policies import aws_managed_policies_data

    name = policy_arn.rsplit("/", 1)[-1]
    found = re.search(rf'\n "{re.escape(name)}":\s*{{', aws_managed_policies_data)
    if not policy_arn.startswith("arn:aws:iam::aws:policy/") or found is None:
        raise KeyError(f"no AWS managed policy {policy_arn} in moto {PINNED_MOTO}'s copy")
    policy, _ = json.JSONDecoder().raw_decode(aws_managed_policies_data, found.end() - 1)
    return policy["Document"]


def set_table_encryption(account_id: str, region: str, table_name: str, specification: dict[str, Any]) -> None:
    """Give a table CloudFormation created the encryption its template declares: moto's
    CloudFormation keeps the template's SSESpecification (SSEEnabled) where its API reads the API's
    (Enabled), and its UpdateTable does not take one."""
    from moto.dynamodb.models import dynamodb_backends

    table = dynamodb_backends[account_id][region].get_table(table_name)
    table.sse_specification = dict(specification)
    if "KMSMasterKeyId" not in table.sse_specification:
        table.sse_specification["KMSMasterKeyId"] = table._get_default_encryption_key(account_id, region)

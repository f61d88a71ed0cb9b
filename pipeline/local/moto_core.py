"""The offline cloud's core hooks into moto: only what the pipeline cannot run without.

moto emulates S3, EventBridge, Step Functions, SNS, SQS and CloudFormation, but not all of what
this pipeline needs offline. Each patch below fills one gap (tests/pipeline/test_moto_core.py
shows each one's behaviour against the pinned moto):

- Lambda Invoke runs the handler in our runtime (moto's own needs Docker).
- S3 object writes are announced by our EventBridge delivery (moto's raw-keys the event, ignores
  rule state and drops Step Functions targets), once each: moto announces a completed multipart
  upload twice (a Put, then CompleteMultipartUpload), S3 once.
- Step Functions' Lambda and SNS tasks call as the state machine's role, authorized by
  task_calls, and a Lambda API error is named as Step Functions names it.
- SNS Publish can be made to fail (an injected fault).
- A finished execution is reported, so the offline cloud can publish the AWS/States metrics
  (ExecutionsSucceeded, ExecutionsFailed, ...) that the template's alarm watches.
- JSONata expressions are evaluated with jsonata-python (moto's hook is a stub).
- Retry waits of the ASL interpreter follow a scalable clock (--time-scale).
- TestEventPattern is answered with moto's own pattern matcher (moto leaves it unimplemented).
- State machines created by CloudFormation land in the backend that executes them (moto puts
  them in its non-executing backend, where the execution API cannot see them).
- CloudFormation's change sets, GetTemplate and DeleteStack do what `sam deploy` and `sam delete`
  need (pipeline.local.moto_change_sets).
- An execution's history ends with its end event (moto records a still-running Map iteration's
  or Parallel branch's events after it).
- StartExecution without a name gets a UUID, as in AWS (moto named every such execution None).
- A Distributed Map lists every page of its bucket, keeps to MaxConcurrency and its failure
  threshold, starts its child workflows only if the role may, and writes its results
  (pipeline.local.moto_distributed_map).
- Definitions parsed at the same time do not share one parser's state (moto's ASL preprocessor
  keeps its QueryLanguage scopes in a class attribute: two executions that start together could
  pop each other's scope, and the execution thread died with an IndexError, its file never ending).

Import this module only through pipeline.local.moto_version.load_core, which checks the pinned
version first and turns a moto that changed into one clear line. What only makes the cloud
faster is in pipeline.local.speed.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from typing import TYPE_CHECKING, Any

from moto.awslambda.models import LambdaFunction
from moto.cloudformation import parsing as cloudformation_parsing
from moto.cloudformation.models import ChangeSet, Stack
from moto.cloudwatch.responses import CloudWatchResponse
from moto.core.exceptions import JsonRESTError
from moto.core.responses import ActionResult, BaseResponse
from moto.dynamodb.models import Table as DynamoDBTable
from moto.events.responses import EventsHandler
from moto.s3 import notifications as s3_notifications
from moto.s3.models import S3Backend
from moto.sns.exceptions import InternalError as SNSInternalError
from moto.sns.models import SNSBackend
from moto.stepfunctions import models as stepfunctions_models
from moto.stepfunctions.parser.asl.component.common.retry import retrier_decl
from moto.stepfunctions.parser.asl.component.state.exec.state_map.item_reader.eval import (
    resource_eval_s3 as item_reader_s3,
)
from moto.stepfunctions.parser.asl.component.state.exec.state_map.result_writer.resource_eval import (
    resource_eval_s3 as result_writer_s3,
)
from moto.stepfunctions.parser.asl.component.state.exec.state_task import lambda_eval_utils
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import (
    state_task_service_aws_sdk,
    state_task_service_batch,
    state_task_service_dynamodb,
    state_task_service_ecs,
    state_task_service_events,
    state_task_service_glue,
    state_task_service_sfn,
    state_task_service_sns,
    state_task_service_sqs,
    state_task_service_unsupported,
)
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service import (
    StateTaskService,
)
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_lambda import (
    StateTaskServiceLambda,
)
from moto.stepfunctions.parser.asl.eval.event.event_manager import EventManager
from moto.stepfunctions.parser.asl.jsonata import jsonata as moto_jsonata
from moto.stepfunctions.parser.asl.parse.preprocessor import Preprocessor
from moto.stepfunctions.parser.asl.utils import boto_client as moto_boto_client
from moto.stepfunctions.parser.backend.execution import BaseExecutionWorkerCommunication
from moto.stepfunctions.parser.models import StepFunctionsParserBackend, stepfunctions_parser_backends

from pipeline.local import moto_distributed_map, moto_dynamodb, moto_tasks
from pipeline.local.moto_change_sets import installed as change_sets_installed
from pipeline.local.moto_eventbridge import test_event_pattern
from pipeline.local.moto_stacks import stable_suffix
from pipeline.local.patching import Patch, Private, applied
from pipeline.local.service_actions import iam_prefix

if TYPE_CHECKING:
    from pipeline.local.moto_change_sets import Host

PARAM = Private(BaseResponse, "_get_param")
HISTORY_EVENTS = Private(EventManager, "_history_event_list", instance=True)
QUERY_LANGUAGE_SCOPES = Private(Preprocessor, "_query_language_per_scope")
EXECUTIONS_IN = Private(StepFunctionsParserBackend, "_get_executions")
DEFAULT_ENCRYPTION_KEY = Private(DynamoDBTable, "_get_default_encryption_key")

ObjectWriteListener = Callable[[str, str, Any, Any], bool]
"""(account_id, s3 event name, bucket, key) -> True if handled, False to let moto handle it."""

LambdaInvoker = Callable[[str, str], tuple[str, bool]]
"""(function ARN, event JSON) -> (payload JSON, errored); may raise a Lambda API error below."""

ExecutionListener = Callable[[str, str, float], None]
"""(state machine ARN, final status, duration in ms), once per finished execution."""

PublishGuard = Callable[[str], None]
"""Called with the topic ARN before each SNS Publish; raises SNSInternalError to make it fail."""


TaskGuard = Callable[[str, str, str, dict[str, Any]], None]
"""(role ARN, IAM prefix, API operation, parameters): raises the service's ClientError when the
role may not make the call; Step Functions makes every task call with the state machine's role."""

TaskClientFactory = Callable[[str, str], Any]
"""(region, service) -> the boto3 client a task calls through, before its role is bound."""

ExecutionEnded = Callable[[Any], None]
"""Called with moto's execution once it has ended and been reported."""


class RoleBoundClient:
    """A task's client, acting as the role Step Functions assumed for the execution: every
    operation is authorized by the guard before the client makes it."""

    def __init__(self, client: Any, role_arn: str, guard: TaskGuard):
        self._client = client
        self._prefix = iam_prefix(client.meta.service_model.signing_name)
        self._operations = client.meta.method_to_api_mapping
        self._role_arn = role_arn
        self._guard = guard

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._client, name)
        if name.startswith("_") or name in CLIENT_HELPERS or not callable(attribute):
            return attribute

        def call(**parameters: Any) -> Any:
            self._guard(self._role_arn, self._prefix, self._operations.get(name, name), parameters)
            return attribute(**parameters)

        return call


CLIENT_HELPERS = frozenset({"can_paginate", "get_paginator", "get_waiter", "close", "meta", "exceptions"})


class TooManyRequestsException(JsonRESTError):
    """Lambda's throttling error, as the Lambda API returns it (HTTP 429)."""

    code = 429

    def __init__(self, message: str):
        super().__init__("TooManyRequestsException", message)


class RequestTooLargeException(JsonRESTError):
    """Lambda's answer to an event over its payload limit (HTTP 413)."""

    code = 413

    def __init__(self, message: str):
        super().__init__("RequestTooLargeException", message)


class InvalidRequestContentException(JsonRESTError):
    """Lambda's answer to a payload that is not JSON: "The request body could not be parsed as
    JSON" (Lambda API Reference, Invoke, Errors; HTTP 400)."""

    code = 400

    def __init__(self, message: str):
        super().__init__("InvalidRequestContentException", message)


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


def _evaluate_jsonata(expression: str) -> Any:
    import jsonata

    return jsonata.Jsonata(expression).evaluate(None)


EXECUTION_END_EVENTS = frozenset({"ExecutionSucceeded", "ExecutionFailed", "ExecutionAborted", "ExecutionTimedOut"})

TASK_CLIENT_MODULES = (
    lambda_eval_utils, state_task_service_sns, state_task_service_aws_sdk, state_task_service_batch,
    state_task_service_dynamodb, state_task_service_ecs, state_task_service_events, state_task_service_glue,
    state_task_service_sfn, state_task_service_sqs, state_task_service_unsupported, item_reader_s3, result_writer_s3,
)
"""Every module of moto's interpreter that makes a client for a task, a Map's item reader or its
result writer (each imported boto_client_for for itself; test_moto_core checks none is missed)."""


def json_template_bodies() -> list[Patch]:
    """CloudFormation reads a JSON template body as JSON. moto reads every body with PyYAML's
    full loader, in Python (YAML 1.1, where a JSON number such as 1e-05 is a string): 0.15 s of
    each deploy of template.yaml, whose transformed body is JSON. A body that is not JSON is
    read as moto reads it."""
    original = Patch(Stack, "parse_template", None).original()

    def parse_template(template: str) -> dict[str, Any]:
        try:
            document = json.loads(template)
        except ValueError:
            return original(template)
        return document if isinstance(document, dict) else original(template)

    def change_set_template(self: ChangeSet) -> None:
        self.template_dict = parse_template(self.template)

    return [Patch(Stack, "parse_template", staticmethod(parse_template)),
            Patch(ChangeSet, "_parse_template", change_set_template)]


@contextmanager
def installed(
    *, invoke: LambdaInvoker, on_object_write: ObjectWriteListener, clock: ScaledClock,
    before_publish: PublishGuard, on_execution_end: ExecutionListener, authorize_task: TaskGuard,
    task_client: TaskClientFactory | None = None, after_execution_end: ExecutionEnded | None = None,
    stack_host: Host | None = None, endpoints: dict[str, str] | None = None,
    alarm_history: Callable[[], list[Any]] | None = None,
) -> Iterator[None]:
    """Install the core hooks for the length of the block, then restore moto as it was.

    task_client makes the client a task calls through (moto's own by default); the speed layer
    gives cached and direct ones. endpoints (service -> URL, read at each call) names the services
    served by another process, which tasks reach there, as functions and AWS clients do.
    after_execution_end runs once an ended execution is reported. alarm_history gives the
    alarms' history items (pipeline.local.alarms.HistoryItem), which DescribeAlarmHistory answers
    with (moto does not implement it).
    stack_host (pipeline.local.stack_host) runs the stacks CloudFormation deploys from change
    sets (pipeline.local.moto_change_sets: `sam deploy` into the cloud).
    """
    original_send_event = Patch(s3_notifications, "send_event", None).original()
    make_client = task_client or (lambda region, service: moto_boto_client.boto_client_for(
        region=region, service=service))

    completing = threading.local()
    original_complete = Patch(S3Backend, "complete_multipart_upload", None).original()

    def complete_multipart_upload(self: S3Backend, *args: Any, **kwargs: Any) -> Any:
        completing.upload = True
        try:
            return original_complete(self, *args, **kwargs)
        finally:
            completing.upload = False

    def send_event(account_id: str, event_name: Any, bucket: Any, key: Any) -> None:
        name = getattr(event_name, "value", str(event_name))
        if name == "s3:ObjectCreated:Put" and getattr(completing, "upload", False):
            return  # moto stores the completed upload with put_object, which announces a Put as well
        if not on_object_write(account_id, name, bucket, key):
            original_send_event(account_id, event_name, bucket, key)

    def lambda_invoke(self: LambdaFunction, body: str, request_headers: Any, response_headers: Any) -> bytes:
        payload, errored = invoke(self.function_arn, body or "{}")
        if errored:
            response_headers["x-amz-function-error"] = "Unhandled"
        return payload.encode("utf-8")

    original_publish = Patch(SNSBackend, "publish", None).original()

    def publish(self: SNSBackend, message: str, arn: str | None = None, **kwargs: Any) -> str:
        before_publish(arn or kwargs.get("phone_number") or "")
        return original_publish(self, message, arn=arn, **kwargs)

    original_terminated = Patch(BaseExecutionWorkerCommunication, "terminated", None).original()

    def terminated(self: BaseExecutionWorkerCommunication) -> None:
        original_terminated(self)
        execution = self.execution
        duration_ms = (execution.stop_date - execution.start_date).total_seconds() * 1000
        status = getattr(execution.exec_status, "value", str(execution.exec_status))
        try:
            on_execution_end(execution.state_machine.arn, status, duration_ms)
        finally:
            if after_execution_end is not None:
                after_execution_end(execution)

    def role_bound_client(region: str, service: str, state_credentials: Any = None) -> Any:
        elsewhere = (endpoints or {}).get(service)
        client = _endpoint_client(region, service, elsewhere) if elsewhere else make_client(region, service)
        if state_credentials is None:  # only outside an execution: every task has its role
            return client
        return RoleBoundClient(client, state_credentials.role_arn, authorize_task)

    original_publish_event = Patch(EventManager, "_publish_history_event", None).original()

    def publish_history_event(self: EventManager, *args: Any, **kwargs: Any) -> None:
        # An ended execution's history ends with its end: a Map iteration or Parallel branch still
        # running when another failed the execution records nothing after it (moto appended its
        # events, and a reader waiting for the end event never saw one last).
        history = HISTORY_EVENTS.of(self)
        if history and history[-1]["type"] in EXECUTION_END_EVENTS:
            return
        original_publish_event(self, *args, **kwargs)

    def describe_alarm_history(self: CloudWatchResponse) -> ActionResult:
        name, kind = PARAM(self, "AlarmName"), PARAM(self, "HistoryItemType")
        items = [item.to_api() for item in (alarm_history() if alarm_history else [])
                 if (not name or item.alarm == name) and (not kind or item.kind == kind)]
        if PARAM(self, "ScanBy") != "TimestampAscending":
            items.reverse()  # newest first, as CloudWatch answers by default
        return ActionResult({"AlarmHistoryItems": items[: int(PARAM(self, "MaxRecords") or 100)]})

    original_preprocessor_init = Patch(Preprocessor, "__init__", None).original()

    def preprocessor_init(self: Preprocessor, *args: Any, **kwargs: Any) -> None:
        original_preprocessor_init(self, *args, **kwargs)
        QUERY_LANGUAGE_SCOPES.set(self, [])  # its own, not the class's list shared by every parse

    patches = [Patch(module, "boto_client_for", role_bound_client) for module in TASK_CLIENT_MODULES]
    patches += [
        Patch(LambdaFunction, "invoke", lambda_invoke),
        Patch(SNSBackend, "publish", publish),
        Patch(BaseExecutionWorkerCommunication, "terminated", terminated),
        Patch(StateTaskServiceLambda, "_error_cause_from_client_error", staticmethod(moto_tasks.lambda_error_cause)),
        Patch(s3_notifications, "send_event", send_event),
        Patch(S3Backend, "complete_multipart_upload", complete_multipart_upload),
        Patch(moto_jsonata, "_eval_jsonata", _evaluate_jsonata),
        Patch(retrier_decl, "time", clock),
        Patch(EventsHandler, "test_event_pattern", test_event_pattern),
        Patch(stepfunctions_models, "stepfunctions_backends", stepfunctions_parser_backends),
        Patch(Preprocessor, "__init__", preprocessor_init),
        Patch(state_task_service_aws_sdk.StateTaskServiceAwsSdk, "_normalise_service_error_name",
              staticmethod(moto_tasks.aws_sdk_error_prefix)),
        Patch(StateTaskService, "_normalise_parameters", moto_tasks.normalise_parameters),
        Patch(StateTaskService, "_normalise_response", moto_tasks.normalise_response),
        Patch(StateTaskService, "_from_boto_response_value", staticmethod(moto_tasks.response_value)),
        Patch(CloudWatchResponse, "describe_alarm_history", describe_alarm_history, adds=True),
        Patch(cloudformation_parsing, "generate_resource_name", stable_resource_name),
        Patch(EventManager, "_publish_history_event", publish_history_event),
        *json_template_bodies(),
        *moto_distributed_map.installed(authorize_task),
        *moto_dynamodb.patches(),
        named_start_execution(),
    ]
    patches += [Patch(service, "_from_error", moto_tasks.service_error(Patch(service, "_from_error", None).original()))
                for service in moto_tasks.SDK_ERRORS]
    # moto logs every Fail state and caught task error at ERROR level (they are outcomes here),
    # and every resource type its CloudFormation skips (the cloud reports those once itself).
    quiet = logging.getLogger("moto")
    previous_level = quiet.level
    quiet.setLevel(logging.CRITICAL)
    try:
        with applied(patches), (change_sets_installed(stack_host) if stack_host else nullcontext()):
            yield
    finally:
        quiet.setLevel(previous_level)


_moto_resource_name = cloudformation_parsing.generate_resource_name


def named_start_execution() -> Patch:
    """StartExecution without a name names the execution with a UUID (Step Functions API
    Reference, StartExecution: "If you don't provide a name for the execution, Step Functions
    automatically generates a universally unique identifier (UUID) as the execution name").
    moto names it None: a second unnamed start of the same state machine was refused as
    ExecutionAlreadyExists, or answered with the first execution."""
    original = Patch(StepFunctionsParserBackend, "start_execution", None).original()

    def start_execution(self: StepFunctionsParserBackend, state_machine_arn: str, name: str | None = None,
                        *args: Any, **kwargs: Any) -> Any:
        return original(self, state_machine_arn, name or str(uuid.uuid4()), *args, **kwargs)

    return Patch(StepFunctionsParserBackend, "start_execution", start_execution)


def stable_resource_name(resource_type: str, stack_name: str, logical_id: str) -> str:
    """moto's names for what CloudFormation names (the stack name, the logical ID and a suffix,
    shortened as each type needs), with stable_suffix's suffix instead of a random one."""
    suffix = stable_suffix(stack_name, logical_id)
    if resource_type == "AWS::S3::Bucket":
        right = f"-{logical_id}-{suffix}"
        return f"{stack_name[:63 - len(right)]}{right}".lower()
    if resource_type == "AWS::IAM::Policy":
        return f"{stack_name[:5]}-{logical_id[:4]}-{suffix}"
    if resource_type.startswith("AWS::ElasticLoadBalancingV2::"):
        return _moto_resource_name(resource_type, stack_name, logical_id)
    return f"{stack_name}-{logical_id}-{suffix}"


def stop_executions(account_id: str, region: str, timeout_s: float) -> list[str]:
    """Stop every running execution, as StopExecution does, and wait (at most timeout_s) for
    their threads to end, so that none is left running once the core's hooks are gone (moto's own
    Lambda would then be reached, and it pulls Docker images). Returns the executions stopped."""
    import datetime

    from moto.stepfunctions.parser.api import ExecutionStatus
    from moto.stepfunctions.parser.utils import TMP_THREADS

    backend = stepfunctions_parser_backends[account_id][region]
    running = EXECUTIONS_IN(backend, ExecutionStatus.RUNNING)
    for execution in running:
        execution.stop(stop_date=datetime.datetime.now(tz=datetime.timezone.utc), error="States.Aborted",
                       cause="The offline cloud was stopped")
    deadline = time.monotonic() + timeout_s
    for thread in list(TMP_THREADS):
        while True:
            try:
                thread.join(max(0.0, deadline - time.monotonic()))
                break
            except RuntimeError:  # registered by moto a moment before it starts the thread
                if time.monotonic() >= deadline:
                    break
                time.sleep(0.001)
    return [execution.exec_arn for execution in running]


_endpoint_clients: dict[tuple[str, str, str], Any] = {}
_endpoint_clients_lock = threading.Lock()


def _endpoint_client(region: str, service: str, endpoint: str) -> Any:
    """A client as moto's interpreter makes them (no retries, no parameter validation), for a
    service at another endpoint; the offline cloud's own credentials: the task guard decides.
    One per service, built once (boto3's default session does not build clients in parallel)."""
    import boto3
    from botocore.config import Config

    with _endpoint_clients_lock:
        if (region, service, endpoint) not in _endpoint_clients:
            _endpoint_clients[(region, service, endpoint)] = boto3.client(
                service, region_name=region, endpoint_url=endpoint, aws_access_key_id="offline",
                aws_secret_access_key="offline", config=Config(
                    parameter_validation=False, retries={"max_attempts": 0, "total_max_attempts": 1}))
        return _endpoint_clients[(region, service, endpoint)]


def set_table_encryption(account_id: str, region: str, table_name: str, specification: dict[str, Any]) -> None:
    """Give a table CloudFormation created the encryption its template declares: moto's
    CloudFormation keeps the template's SSESpecification (SSEEnabled) where its API reads the API's
    (Enabled), and its UpdateTable does not take one."""
    from moto.dynamodb.models import dynamodb_backends

    table = dynamodb_backends[account_id][region].get_table(table_name)
    table.sse_specification = dict(specification)
    if "KMSMasterKeyId" not in table.sse_specification:
        table.sse_specification["KMSMasterKeyId"] = DEFAULT_ENCRYPTION_KEY(table, account_id, region)

"""Everything that reaches into moto's internals, in one place (moto is pinned exactly).

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
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import lru_cache
from typing import Any

import moto
from moto.awslambda.models import LambdaFunction
from moto.core.exceptions import JsonRESTError
from moto.events.models import EventPattern, EventPatternParser, EventsBackend, events_backends
from moto.events.responses import EventsHandler
from moto.events.utils import EventTemplateParser
from moto.s3 import notifications as s3_notifications
from moto.sns.exceptions import InternalError as SNSInternalError
from moto.sns.models import SNSBackend
from moto.stepfunctions.parser.asl.component.common.retry import retrier_decl
from moto.stepfunctions.parser.asl.component.state.exec.state_task import lambda_eval_utils
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import state_task_service_sns
from moto.stepfunctions.parser.asl.utils import boto_client as moto_boto_client
from moto.stepfunctions.parser.asl.jsonata import jsonata as moto_jsonata
from moto.stepfunctions import models as stepfunctions_models
from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser
from moto.stepfunctions.parser.backend.execution import BaseExecutionWorkerCommunication
from moto.stepfunctions.parser.models import stepfunctions_parser_backends

PINNED_MOTO = "5.2.5"

ObjectWriteListener = Callable[[str, str, Any, Any], bool]
"""(account_id, s3 event name, bucket, key) -> True if handled, False to let moto handle it."""

LambdaInvoker = Callable[[str, str], tuple[str, bool]]
"""(function ARN, event JSON) -> (payload JSON, errored); may raise a Lambda API error below."""

ExecutionListener = Callable[[str, str, float], None]
"""(state machine ARN, final status, duration in ms), once per finished execution."""

PublishGuard = Callable[[str], None]
"""Called with the topic ARN before each SNS Publish; raises SNSInternalError to make it fail."""


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
    return moto_boto_client.boto_client_for(region=region, service=service)


def _task_client(region: str, service: str, state_credentials: Any = None) -> Any:
    """boto3 clients are thread-safe and cost ~10 ms to build: one per region and service."""
    return _cached_task_client(region, service)


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
    before_publish: PublishGuard, on_execution_end: ExecutionListener, optimized: bool = True,
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
        on_execution_end(execution.state_machine.arn, status, duration_ms)

    saved = [(module, "boto_client_for", module.boto_client_for) for module in TASK_CLIENT_MODULES]
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
    ]
    LambdaFunction.invoke = lambda_invoke  # type: ignore[method-assign]
    SNSBackend.publish = publish  # type: ignore[method-assign]
    BaseExecutionWorkerCommunication.terminated = terminated  # type: ignore[method-assign]
    if optimized:
        for module in TASK_CLIENT_MODULES:
            module.boto_client_for = _task_client  # type: ignore[attr-defined]
        AmazonStateLanguageParser.parse = staticmethod(_cached_parse)  # type: ignore[method-assign,assignment]
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
        yield
    finally:
        quiet.setLevel(previous_level)
        _cached_task_client.cache_clear()
        for owner, name, value in saved:
            setattr(owner, name, value)

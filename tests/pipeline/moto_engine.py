"""A Step Functions engine in moto with the offline cloud's core hooks installed (and, if given,
the speed layer), for tests of what each hook does against the pinned moto, without deploying
template.yaml: a Lambda function whose answers the test decides, and state machines to run."""

from __future__ import annotations

import io
import json
import threading
import time
import uuid
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from typing import Any

import boto3
from botocore.exceptions import ClientError

REGION = "us-east-1"
ACCOUNT_ID = "123456789012"


@dataclass
class Engine:
    """What the hooks saw, and a way to run a definition to its end."""

    core: Any
    clock: Any
    role_arn: str = ""
    function_arn: str = ""
    respond: Callable[[str], tuple[str, bool]] = lambda event: (event, False)
    invocations: list[str] = field(default_factory=list)  # the name of the thread each ran in
    authorized: list[tuple[str, str, str]] = field(default_factory=list)
    ended: list[tuple[str, str]] = field(default_factory=list)
    writes: list[tuple[str, str, str]] = field(default_factory=list)
    published: list[str] = field(default_factory=list)
    fail_publish: bool = False
    refuse_tasks: bool = False  # every task call refused as IAM refuses it

    def client(self, service: str) -> Any:
        return boto3.client(service, region_name=REGION)

    def run(self, definition: dict[str, Any], execution_input: str = "{}", timeout_s: float = 30) -> dict[str, Any]:
        """Create a state machine, start it, and return DescribeExecution once it has ended."""
        sfn = self.client("stepfunctions")
        arn = sfn.create_state_machine(name=f"engine-{uuid.uuid4().hex[:8]}", definition=json.dumps(definition),
                                       roleArn=self.role_arn)["stateMachineArn"]
        return self.follow(sfn.start_execution(stateMachineArn=arn, input=execution_input)["executionArn"], timeout_s)

    def follow(self, execution_arn: str, timeout_s: float = 30) -> dict[str, Any]:
        sfn = self.client("stepfunctions")
        deadline = time.monotonic() + timeout_s
        while (described := sfn.describe_execution(executionArn=execution_arn))["status"] == "RUNNING":
            if time.monotonic() > deadline:
                raise AssertionError(f"{execution_arn} still running after {timeout_s} s")
            time.sleep(0.01)
        return described

    def history(self, execution_arn: str) -> list[dict[str, Any]]:
        return self.client("stepfunctions").get_execution_history(executionArn=execution_arn)["events"]


def lambda_task(function_arn: str, **extra: Any) -> dict[str, Any]:
    return {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke",
            "Parameters": {"FunctionName": function_arn, "Payload.$": "$"}, "OutputPath": "$.Payload",
            "End": True, **extra}


@contextmanager
def engine(layer: Any = None) -> Iterator[Engine]:
    """moto with the core hooks, and layer's patches if given, for the length of the block."""
    from moto import mock_aws

    from pipeline.local.moto_version import load_core

    core = load_core()
    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):
        state = Engine(core=core, clock=core.ScaledClock(0))
        state.role_arn = boto3.client("iam", region_name=REGION).create_role(
            RoleName="engine", AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [
                {"Effect": "Allow", "Principal": {"Service": "states.amazonaws.com"}, "Action": "sts:AssumeRole"}]}),
        )["Role"]["Arn"]
        code = io.BytesIO()
        with zipfile.ZipFile(code, "w") as archive:
            archive.writestr("app.py", "def handler(event, context):\n    return event\n")
        state.function_arn = state.client("lambda").create_function(
            FunctionName="work", Runtime="python3.13", Role=state.role_arn, Handler="app.handler",
            Code={"ZipFile": code.getvalue()})["FunctionArn"]

        def invoke(function_arn: str, event: str) -> tuple[str, bool]:
            state.invocations.append(threading.current_thread().name)
            return state.respond(event)

        def on_object_write(account_id: str, event_name: str, bucket: Any, key: Any) -> bool:
            state.writes.append((account_id, event_name, f"{bucket.name}/{key.name}"))
            return True

        def before_publish(topic_arn: str) -> None:
            state.published.append(topic_arn)
            if state.fail_publish:
                raise core.sns_internal_error()

        def authorize(role: str, service: str, operation: str) -> None:
            state.authorized.append((role, service, operation))
            if state.refuse_tasks:
                raise ClientError({"Error": {"Code": "AccessDeniedException", "Message": f"{role} may not {operation}"},
                                   "ResponseMetadata": {"HTTPStatusCode": 403, "RequestId": str(uuid.uuid4())}},
                                  operation)

        with core.installed(
            invoke=invoke, on_object_write=on_object_write, clock=state.clock, before_publish=before_publish,
            on_execution_end=lambda arn, status, ms: state.ended.append((arn, status)),
            authorize_task=lambda role, service, operation, _: authorize(role, service, operation),
            task_client=layer.task_client(invoke) if layer else None,
            after_execution_end=layer.after_execution_end if layer else None,
        ), layer.installed() if layer else nullcontext():
            yield state

"""EventBridge for the offline cloud: S3 writes become events, rules route them to targets.

An object write is announced as AWS announces it: an S3 "Object Created" event when the bucket
has EventBridge notifications on, and a CloudTrail "AWS API Call via CloudTrail" event when a
trail in the template logs the bucket's data events. Each event goes to every ENABLED rule of
the default bus whose pattern matches, and from there to each target, through the target's
Input, InputPath or InputTransformer. A Step Functions target starts an execution as the target's role;
when the start fails, EventBridge (the service principal events.amazonaws.com) sends the event
to the target's dead-letter queue, with the attributes AWS adds, if the queue's policy and its
KMS key's policy let it. If they do not, the event is lost and the rule's
InvocationsFailedToBeSentToDlq metric counts it, as in AWS (EventBridge User Guide, "Using
dead-letter queues to process undelivered events", and "Monitoring Amazon EventBridge").
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from pipeline.events import (
    CLOUDTRAIL_EVENT_NAMES,
    ObjectWrite,
    cloudtrail_object_write,
    s3_object_created,
)
from pipeline.local.access import AccessControl
from pipeline.local.faults import FaultPlan
from pipeline.local.policy import Principal

if TYPE_CHECKING:
    from pipeline.local.resolver import TemplateResolver

API_BY_S3_EVENT = {
    "s3:ObjectCreated:Put": "PutObject",
    "s3:ObjectCreated:Post": "PostObject",
    "s3:ObjectCreated:Copy": "CopyObject",
    "s3:ObjectCreated:CompleteMultipartUpload": "CompleteMultipartUpload",
}


@dataclass(frozen=True)
class Trail:
    """A trail that logs S3 data (write) events for objects under an ARN prefix."""

    name: str
    object_arn_prefixes: tuple[str, ...]

    def logs(self, bucket: str, key: str) -> bool:
        arn = f"arn:aws:s3:::{bucket}/{key}"
        return any(arn.startswith(prefix) for prefix in self.object_arn_prefixes)


def trails_of(resources: dict[str, dict[str, Any]], resolver: TemplateResolver) -> list[Trail]:
    """The trails among a template's resources whose condition holds, with the object ARN
    prefixes their selectors log."""
    trails = []
    for logical_id, resource in resources.items():
        if resource.get("Type") != "AWS::CloudTrail::Trail" or not resolver.condition(resource.get("Condition")):
            continue
        prefixes = []
        for selector in resolver.resolve(resource.get("Properties", {}).get("AdvancedEventSelectors", [])):
            for field in selector.get("FieldSelectors", []):
                if field.get("Field") == "resources.ARN":
                    prefixes.extend(field.get("StartsWith", []))
        trails.append(Trail(logical_id, tuple(prefixes)))
    return trails


@dataclass(frozen=True)
class Delivery:
    """One event meeting one rule's target: what was started, or why nothing was."""

    event_id: str
    detail_type: str
    rule: str
    target_arn: str
    execution_arn: str | None = None
    dead_letter_error: str | None = None
    lost: str | None = None  # why the event could not be sent to the dead-letter queue either


ExecutionStarter = Callable[[str, str, str], str]
"""(state machine ARN, execution name, input) -> execution ARN; raises ClientError."""

EVENTBRIDGE = Principal.of_service("events.amazonaws.com")


class DeadLetterRefused(Exception):
    """EventBridge could not send an event to the dead-letter queue: the event is lost."""


class EventBus:
    """The default event bus of the offline cloud.

    Executions are started through the Step Functions API, or through `starter` when given
    (the offline cloud starts them in its backend directly, which is quicker).
    """

    def __init__(self, account_id: str, region: str, clients: Any, trails: list[Trail], faults: FaultPlan,
                 starter: ExecutionStarter | None = None, access: AccessControl | None = None):
        self._account_id = account_id
        self._region = region
        self._clients = clients
        self.trails = trails
        self._lock = threading.Lock()
        self.deliveries: list[Delivery] = []
        self._faults = faults
        self._start = starter or self._start_through_api
        self.access = access
        self.key_form = "form"  # how S3 EventBridge events carry the key (see pipeline.events)
        self.on_lost: Callable[[str], None] = lambda rule_name: None  # counts InvocationsFailedToBeSentToDlq
        self._silent = False

    @contextmanager
    def silenced(self) -> Iterator[None]:
        """No S3 write announces itself while the block runs (objects put back by `pipeline serve
        --state` were announced when they were first written)."""
        self._silent = True
        try:
            yield
        finally:
            self._silent = False

    # -- announcing S3 writes -------------------------------------------------------------

    def on_object_write(self, account_id: str, event_name: str, bucket: Any, key: Any) -> bool:
        """Called by moto for every S3 notification event; True when handled here."""
        if self._silent:
            return True
        config = bucket.notification_configuration
        eventbridge_on = config is not None and config.event_bridge is not None
        trails = [trail for trail in self.trails if trail.logs(bucket.name, key.name)]
        if not eventbridge_on and not trails:
            return False
        api = API_BY_S3_EVENT.get(event_name)
        if api is None:
            return eventbridge_on  # only "Object Created" is modelled; this pipeline needs no other
        write = ObjectWrite(
            bucket=bucket.name,
            key=key.name,
            size=key.size,
            etag=key.etag.strip('"'),
            version_id=key.version_id if key.version_id not in (None, "null") else None,
            api=api,
            region=bucket.region_name,
            account=account_id,
        )
        if eventbridge_on:
            self.put(s3_object_created(write, self.key_form))
        if trails and api in CLOUDTRAIL_EVENT_NAMES:
            self.put(cloudtrail_object_write(write))
        return True

    # -- routing ------------------------------------------------------------------------------

    def put(self, event: dict[str, Any]) -> list[Delivery]:
        """Route one event to the targets of every enabled rule whose pattern matches."""
        from pipeline.local import moto_eventbridge  # imported once the cloud has checked moto (moto_version)

        delivered = []
        for rule in moto_eventbridge.rules_of_default_bus(self._account_id, self._region):
            if not moto_eventbridge.rule_fires(rule, event):
                continue
            for target in rule.targets:
                delivered.append(self._deliver(rule, target, event))
        with self._lock:
            self.deliveries.extend(delivered)
        return delivered

    def _deliver(self, rule: Any, target: dict[str, Any], event: dict[str, Any]) -> Delivery:
        arn = target["Arn"]
        from pipeline.local import moto_eventbridge

        payload = moto_eventbridge.transform_input(target, event)
        record = {"event_id": event.get("id", ""), "detail_type": event.get("detail-type", ""),
                  "rule": rule.name, "target_arn": arn}
        service = arn.split(":")[2]
        try:
            if service == "states" and self._faults.take("start-failure"):
                raise ClientError({"Error": {"Code": "ServiceUnavailable",
                                             "Message": "Injected fault: StartExecution failed"}}, "StartExecution")
            if service == "states":
                self._authorize_start(target)
                return Delivery(**record, execution_arn=self._start(arn, str(uuid.uuid4()), payload))
            if service == "sqs":
                queue_url = self._clients.sqs.get_queue_url(QueueName=arn.rsplit(":", 1)[-1])["QueueUrl"]
                self._clients.sqs.send_message(QueueUrl=queue_url, MessageBody=payload)
                return Delivery(**record)
            raise ClientError({"Error": {"Code": "UnsupportedTarget",
                                         "Message": f"the offline cloud does not deliver to {service} targets"}},
                              "PutTargets")
        except ClientError as error:
            try:
                self._dead_letter(rule, target, event, error)
            except DeadLetterRefused as refused:
                self.on_lost(rule.name)
                return Delivery(**record, dead_letter_error=error.response["Error"]["Code"], lost=str(refused))
            return Delivery(**record, dead_letter_error=error.response["Error"]["Code"])

    def _authorize_start(self, target: dict[str, Any]) -> None:
        """EventBridge starts the execution with the target's role (EventBridge User Guide,
        "Using IAM roles for targets")."""
        if self.access is None:
            return
        role_arn = target.get("RoleArn")
        if not role_arn:
            raise ClientError({"Error": {"Code": "NO_PERMISSIONS", "Message":
                               "A Step Functions target needs a RoleArn for EventBridge to start executions"}},
                              "StartExecution")
        principal = Principal.role_session(role_arn, EVENTBRIDGE_SESSION)
        decision, request = self.access.decide(principal, "states:StartExecution", target["Arn"])
        if not decision.allowed:
            raise ClientError({"Error": {"Code": "NO_PERMISSIONS", "Message": decision.message(request)}},
                              "StartExecution")

    def _start_through_api(self, state_machine_arn: str, name: str, execution_input: str) -> str:
        started = self._clients.stepfunctions.start_execution(
            stateMachineArn=state_machine_arn, name=name, input=execution_input
        )
        return started["executionArn"]

    def _dead_letter(self, rule: Any, target: dict[str, Any], event: dict[str, Any], error: ClientError) -> None:
        queue_arn = target.get("DeadLetterConfig", {}).get("Arn")
        if not queue_arn:
            raise DeadLetterRefused(f"rule {rule.name} has no dead-letter queue for target {target.get('Id')}")
        self._authorize_dead_letter(rule, queue_arn)
        queue_url = self._clients.sqs.get_queue_url(QueueName=queue_arn.rsplit(":", 1)[-1])["QueueUrl"]

        def attribute(value: str) -> dict[str, str]:
            return {"DataType": "String", "StringValue": value}

        self._clients.sqs.send_message(
            QueueUrl=queue_url,
            MessageBody=json.dumps(event),
            MessageAttributes={
                "RULE_ARN": attribute(rule.arn),
                "TARGET_ARN": attribute(target["Arn"]),
                "ERROR_CODE": attribute(error.response["Error"]["Code"]),
                "ERROR_MESSAGE": attribute(error.response["Error"].get("Message", "")),
                "RETRY_ATTEMPTS": attribute("0"),
            },
        )

    def _authorize_dead_letter(self, rule: Any, queue_arn: str) -> None:
        """EventBridge sends to the queue as events.amazonaws.com, so the queue policy must allow
        it, and SQS then uses the queue's KMS key on EventBridge's behalf, so the key policy must
        allow events.amazonaws.com too (an AWS managed key's policy cannot)."""
        if self.access is None:
            return
        context = {"aws:SourceArn": rule.arn, "aws:SourceAccount": self._account_id}
        decision, request = self.access.decide(EVENTBRIDGE, "sqs:SendMessage", queue_arn, context)
        if not decision.allowed:
            raise DeadLetterRefused(decision.message(request))
        # Which source keys reach KMS through SQS is not documented: none are assumed.
        refused = self.access.kms_on_behalf(EVENTBRIDGE, "sqs", queue_arn, {"aws:sqs:arn": queue_arn})
        if refused is not None:
            kms_decision, kms_request = refused
            raise DeadLetterRefused(kms_decision.message(kms_request))


EVENTBRIDGE_SESSION = "EventBridge"

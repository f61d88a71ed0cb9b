"""`pipeline replay`: run failed files again once their cause is fixed.

A failed execution is started again with the event it started with; an event waiting in the
trigger's dead-letter queue is started with that event, and deleted from the queue only once its
execution has started. A file whose latest execution succeeded, or is still running, is not
replayed; a version the processing function has already processed returns its recorded result
(its idempotency), so replaying twice processes nothing twice. Only public APIs, with the
caller's credentials: the pipeline's functions get no new permission.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pipeline.results import FileResult
from pipeline.ledger import FileRecord, dead_letters, executions
from pipeline.stack import PipelineStack

REPLAYABLE = frozenset({"FAILED", "TIMED_OUT", "ABORTED"})
RECEIVE_FOR_S = 300  # a dead-lettered event is hidden from other readers while it is replayed


class ReplayError(Exception):
    """Replaying cannot be done as asked."""


@dataclass
class ReplayPlan:
    failed: list[FileRecord] = field(default_factory=list)
    dead_lettered: list[FileRecord] = field(default_factory=list)

    @property
    def files(self) -> list[FileRecord]:
        return self.failed + self.dead_lettered


def _wanted(seen: FileRecord, key: str | None, key_prefix: str) -> bool:
    if key is not None:
        return seen.result.key == key
    return seen.result.key.startswith(key_prefix)


def plan(clients: Any, stack: PipelineStack, since: datetime, *, key: str | None = None, key_prefix: str = "",
         include_dead_letters: bool = False, dry_run: bool = False) -> ReplayPlan:
    """What a replay would start: each object's latest execution if it failed, and with
    include_dead_letters every waiting event (received, unless dry_run, so that no other replay
    takes it meanwhile)."""
    latest: dict[tuple[str, str, str | None], FileRecord] = {}
    for seen in executions(clients, stack, since):  # newest first: the first of each object is its latest
        latest.setdefault((seen.result.bucket, seen.result.key, seen.result.version_id), seen)
    chosen = ReplayPlan(failed=[seen for seen in reversed(latest.values())
                                if seen.result.status in REPLAYABLE and _wanted(seen, key, key_prefix)])
    if include_dead_letters:
        letters = dead_letters(clients, stack, visibility_s=0 if dry_run else RECEIVE_FOR_S)
        for letter in letters:
            if _wanted(letter, key, key_prefix) and (letter.started is None or letter.started >= since):
                chosen.dead_lettered.append(letter)
            elif not dry_run:  # not ours to replay: visible to others again at once
                clients.sqs.change_message_visibility(QueueUrl=stack.dead_letter_queue_url,
                                                      ReceiptHandle=letter.receipt_handle, VisibilityTimeout=0)
        if chosen.dead_lettered:
            _check_targets_take_the_event(clients, stack)
    return chosen


def _check_targets_take_the_event(clients: Any, stack: PipelineStack) -> None:
    """A dead-lettered event is the event as EventBridge received it; a target that transforms
    its input would have started the execution with something else."""
    for rule in stack.rules:
        for target in clients.events.list_targets_by_rule(Rule=rule.name).get("Targets", []):
            if target["Arn"] == stack.state_machine_arn and {"Input", "InputPath", "InputTransformer"} & set(target):
                raise ReplayError(f"rule {rule.name} transforms the event for the state machine; replaying "
                                  "dead-lettered events supports targets that receive the event as it is")


def start(clients: Any, stack: PipelineStack, chosen: ReplayPlan, started: list[FileResult]) -> None:
    """Start an execution for each file of the plan; a dead-lettered event leaves the queue once
    its execution has started. Each started execution's result goes into started as it starts
    (to follow, or, if the start is interrupted, to say what is in flight)."""
    for seen in chosen.files:
        target = seen.target_arn or stack.state_machine_arn
        if target != stack.state_machine_arn:
            raise ReplayError(f"a dead-lettered event was meant for {target}, not this stack's state machine")
        execution_arn = clients.stepfunctions.start_execution(
            stateMachineArn=stack.state_machine_arn, name=f"replay-{uuid.uuid4()}", input=seen.event)["executionArn"]
        started.append(FileResult(file=seen.result.key, bucket=seen.result.bucket, key=seen.result.key,
                                  execution_arn=execution_arn, version_id=seen.result.version_id, status="RUNNING"))
        if seen.receipt_handle is not None:
            clients.sqs.delete_message(QueueUrl=stack.dead_letter_queue_url, ReceiptHandle=seen.receipt_handle)

"""Every file a pipeline stack saw in a window: its executions, and the events waiting in the
trigger's dead-letter queue. Read through public APIs only, so it works offline (`pipeline serve`)
and on a deployed stack alike; `pipeline status` prints it and `pipeline replay` acts on it.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from pipeline.history import ENDED, EXECUTION_END_EVENTS, announced_objects, execution_input, read_ending
from pipeline.results import FileResult
from pipeline.stack import PipelineStack

DURATION = re.compile(r"(\d+(?:\.\d+)?)([smhd])")
UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
PEEKS = 50  # ReceiveMessage calls at most, when listing the dead-letter queue


def parse_duration(text: str) -> timedelta:
    """'90s', '15m', '24h', '7d' or a combination ('1h30m')."""
    parts = DURATION.findall(text)
    if not parts or "".join(number + unit for number, unit in parts) != text:
        raise ValueError(f"{text!r} is not a duration such as 30m, 24h or 7d")
    return timedelta(seconds=sum(float(number) * UNITS[unit] for number, unit in parts))


@dataclass
class FileRecord:
    """One file as the pipeline saw it, and what replaying it would take."""

    result: FileResult
    event: str  # the event the state machine started with, or the dead-lettered one
    started: datetime | None = None
    receipt_handle: str | None = None  # a dead-lettered event's, while it is received
    target_arn: str | None = None  # the state machine a dead-lettered event was meant for
    message_id: str | None = None  # a dead-lettered event's

    @property
    def dead_lettered(self) -> bool:
        return self.result.status == "DEAD_LETTERED"


def _file_of(event: str, bucket: str) -> FileResult:
    announced = announced_objects(event)
    key = announced[0][1] if announced else "-"
    result = FileResult(file=key, bucket=announced[0][0] if announced else bucket, key=key)
    result.version_id = announced[0][2] if announced else None
    return result


def executions(clients: Any, stack: PipelineStack, since: datetime,
               skip: Collection[str] = frozenset()) -> Iterator[FileRecord]:
    """The state machine's executions started since, newest first, each read from its history;
    those in skip (ARNs) are passed over unread."""
    paginator = clients.stepfunctions.get_paginator("list_executions")
    for page in paginator.paginate(stateMachineArn=stack.state_machine_arn, PaginationConfig={"PageSize": 100}):
        for listed in page["executions"]:
            if listed["startDate"] < since:
                return
            if listed["executionArn"] in skip:
                continue
            history = _history(clients, listed["executionArn"])
            seen = FileRecord(_file_of(execution_input(history), stack.bucket), execution_input(history),
                        started=listed["startDate"])
            seen.result.execution_arn = listed["executionArn"]
            if listed["status"] in ENDED and history and history[-1]["type"] in EXECUTION_END_EVENTS:
                read_ending(seen.result, listed, history)
            else:
                seen.result.status = "RUNNING"
            yield seen


def dead_letters(clients: Any, stack: PipelineStack, visibility_s: int = 0) -> list[FileRecord]:
    """The events waiting in the trigger's dead-letter queue. visibility_s=0 only looks (another
    reader sees them at once); replay receives them for longer, and deletes each once its
    execution has started. SQS returns a sample of the messages per call, so this asks until a
    call brings nothing new."""
    found: dict[str, FileRecord] = {}
    for _ in range(PEEKS):
        messages = clients.sqs.receive_message(
            QueueUrl=stack.dead_letter_queue_url, MaxNumberOfMessages=10, VisibilityTimeout=visibility_s,
            MessageAttributeNames=["All"], AttributeNames=["SentTimestamp"],
        ).get("Messages", [])
        new = [message for message in messages if message["MessageId"] not in found]
        if not new:
            break
        for message in new:
            attributes = {k: v.get("StringValue", "") for k, v in message.get("MessageAttributes", {}).items()}
            seen = FileRecord(_file_of(message["Body"], stack.bucket), message["Body"],
                        receipt_handle=message["ReceiptHandle"], target_arn=attributes.get("TARGET_ARN"),
                        message_id=message["MessageId"])
            sent = message.get("Attributes", {}).get("SentTimestamp")
            seen.started = datetime.fromtimestamp(int(sent) / 1000, timezone.utc) if sent else None
            seen.result.status = "DEAD_LETTERED"
            seen.result.error = attributes.get("ERROR_CODE")
            seen.result.cause = attributes.get("ERROR_MESSAGE")
            seen.result.reason = (f"the rule could not start an execution ({seen.result.error}); "
                                  f"the event waits in the dead-letter queue {stack.dead_letter_queue_url}")
            found[message["MessageId"]] = seen
    return list(found.values())


def files_seen(clients: Any, stack: PipelineStack, since: datetime) -> list[FileRecord]:
    """Every execution started since, and every event waiting in the dead-letter queue that was
    sent there since, oldest first."""
    seen = list(executions(clients, stack, since))
    seen += [letter for letter in dead_letters(clients, stack) if letter.started is None or letter.started >= since]
    return sorted(seen, key=lambda item: item.started or since)


def _history(clients: Any, execution_arn: str) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    for page in clients.stepfunctions.get_paginator("get_execution_history").paginate(executionArn=execution_arn):
        events.extend(page["events"])
    return events

"""Upload files to a pipeline stack and follow each to its end: offline or in AWS alike.

Everything goes through boto3 clients and public APIs: PutObject, TestEventPattern (is the
upload expected to start an execution at all?), ListExecutions (which executions have ended?)
and GetExecutionHistory (which object did an execution announce, how did it end, which states
ran, and what notification was published). The same code follows the offline cloud and a
deployed stack. What happened to each file is a pipeline.results.FileResult; how an ended
execution went is read from its history by pipeline.history.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from pipeline.events import ObjectWrite, cloudtrail_object_write, s3_object_created
from pipeline.history import ENDED, EXECUTION_END_EVENTS, announced_objects, execution_input, read_ending
from pipeline.results import TERMINAL, FileResult, Progress
from pipeline.stack import PipelineStack

CLOCK_SKEW = timedelta(minutes=5)  # between this machine and the Step Functions service
ASK_ANYWAY = 5  # times ask_after_s: when an upload is asked about whatever runs


def object_key(path: Path, prefix: str) -> str:
    """The key a file lands under: the prefix plus the file's base name, byte for byte."""
    return prefix + path.name


@dataclass
class _InFlight:
    result: FileResult
    started: float
    size: int
    asked: bool = False  # has EventBridge been asked whether a rule matches this upload?


def run_files(
    clients: Any,
    stack: PipelineStack,
    files: Sequence[Path],
    *,
    prefix: str = "",
    window: int = 16,
    timeout_s: float = 300.0,
    poll_s: float = 0.05,
    ask_after_s: float = 0.5,
    on_result: Progress | None = None,
    keep_history: bool = False,
    eager: bool = False,
) -> list[FileResult]:
    """Upload each file and follow the execution it triggers, at most `window` in flight.

    An upload with no ended execution after ask_after_s is checked with TestEventPattern: when
    no rule matches, it is IGNORED with the reason. (Most uploads end first and are never asked;
    while as many executions are seen running as uploads wait, each of which may have started
    one of them, an upload is asked only after ASK_ANYWAY times ask_after_s.)
    keep_history keeps each execution's history on its result, for a report. A finished file's
    slot is refilled at once; with eager, the next look also comes at once after a look that saw
    files finish (offline, where looking costs no API quota), instead of after poll_s.
    """
    results = [FileResult(file=str(path), bucket=stack.bucket, key=object_key(path, prefix)) for path in files]
    follower = ExecutionFollower(clients, stack.state_machine_arn, keep_history=keep_history)
    dead_letters = DeadLetterWatcher(clients, stack.dead_letter_queue_url, [rule.name for rule in stack.rules])
    pending: list[_InFlight] = []
    next_upload = 0
    finished = 0

    def upload_next() -> None:
        nonlocal next_upload
        result = results[next_upload]
        size = _upload(clients, stack, Path(result.file), result)
        pending.append(_InFlight(result, time.monotonic(), size))
        next_upload += 1

    with interruptible(results):
        while next_upload < len(results) or pending:
            while next_upload < len(results) and len(pending) < window:
                upload_next()
            follower.refresh()
            dead_letters.refresh([flight.result for flight in pending if flight.result.execution_arn is None])
            dead_letters.mark_lost([flight.result for flight in pending if flight.asked and flight.result.execution_arn is None
                                    and flight.result.status == "UPLOADED"])
            flights, pending = pending, []
            settled = 0
            # Under load most waits are the queue's, not a missing rule (an API call per ask). The
            # running executions may be someone else's, or a timed-out file's: the wait is bounded.
            unexplained = sum(1 for flight in flights if flight.result.execution_arn is None
                              and not follower.has_ended(flight.result)) > follower.running_count
            ask_after = ask_after_s if unexplained else ask_after_s * ASK_ANYWAY
            for flight in flights:
                result, waited = flight.result, time.monotonic() - flight.started
                if result.execution_arn is None and not flight.asked and waited >= ask_after:
                    flight.asked = True
                    reason = _why_no_rule_fires(clients, stack, result.key, flight.size)
                    if reason:
                        result.status = "IGNORED"
                        result.reason = reason
                if result.status in ("DEAD_LETTERED", "LOST", "IGNORED") or follower.settle(result) or waited > timeout_s:
                    if result.status not in TERMINAL and result.status != "IGNORED":
                        result.status = "TIMED_OUT"
                        result.reason = f"no terminal state within {timeout_s:.0f} s"
                    finished += 1
                    settled += 1
                    if on_result:
                        on_result(result, finished, len(results))
                    if next_upload < len(results):
                        upload_next()  # refill the window at once: the cloud is not left waiting for the loop
                else:
                    pending.append(flight)
            if pending and not (eager and settled):
                time.sleep(poll_s)
    return results


class RunInterrupted(Exception):
    """Ctrl-C (or SIGTERM) while files were followed: each result as far as it got (a status in
    TERMINAL when it finished; UPLOADED or RUNNING when it was in flight; PENDING, not uploaded)."""

    def __init__(self, results: list[FileResult]):
        super().__init__("interrupted")
        self.results = results


@contextmanager
def interruptible(results: list[FileResult]) -> Iterator[None]:
    try:
        yield
    except KeyboardInterrupt:
        raise RunInterrupted(results) from None


def _upload(clients: Any, stack: PipelineStack, path: Path, result: FileResult) -> int:
    """Upload the file; returns its size."""
    body = path.read_bytes()
    result.uploaded_at = time.time()
    response = clients.s3.put_object(Bucket=stack.bucket, Key=result.key, Body=body)
    result.version_id = response.get("VersionId")
    result.status = "UPLOADED"
    return len(body)


def _why_no_rule_fires(clients: Any, stack: PipelineStack, key: str, size: int) -> str | None:
    """Ask EventBridge whether any enabled rule matches the events this upload produces."""
    write = ObjectWrite(bucket=stack.bucket, key=key, size=size, region=clients.region)
    announcements = [s3_object_created(write), cloudtrail_object_write(write)]
    disabled = []
    for rule in stack.rules:
        if rule.state != "ENABLED":
            disabled.append(rule.name)
            continue
        for event in announcements:
            matched = clients.events.test_event_pattern(EventPattern=rule.pattern, Event=json.dumps(event))
            if matched["Result"]:
                return None
    names = ", ".join(rule.name for rule in stack.rules) or "none"
    note = f" ({', '.join(disabled)} disabled)" if disabled else ""
    return f"no rule matches key {key!r}; rules: {names}{note}"


class DeadLetterWatcher:
    """Peeks at the rule's dead-letter queue (without consuming it) for events of waiting files,
    and counts the events EventBridge could send neither to the state machine nor to the queue
    (the rules' InvocationsFailedToBeSentToDlq metric): those are lost."""

    def __init__(self, clients: Any, queue_url: str, rule_names: Sequence[str] = (), every_s: float = 1.0):
        self._sqs = clients.sqs
        self._cloudwatch = clients.cloudwatch
        self._queue_url = queue_url
        self._rule_names = list(rule_names)
        self._every_s = every_s
        self._last = time.monotonic()
        self._since = datetime.now(timezone.utc)  # events lost before this run are not its files'
        self._lost_last = 0.0
        self._lost = 0
        self._lost_marked = 0

    def mark_lost(self, waiting: list[FileResult]) -> None:
        """Mark as LOST as many waiting files (a rule matched them, no execution started, nothing
        in the queue) as the metric counts lost events not yet told."""
        if not waiting:
            return
        if time.monotonic() - self._lost_last >= self._every_s or not self._lost_last:
            self._lost_last = time.monotonic()
            self._lost = self._lost_events()
        lost = self._lost
        for result in waiting[: max(lost - self._lost_marked, 0)]:
            self._lost_marked += 1
            result.status = "LOST"
            result.reason = (f"EventBridge could neither start an execution nor send the event to the dead-letter "
                             f"queue {self._queue_url} ({lost} event(s) counted by InvocationsFailedToBeSentToDlq "
                             f"on rule {', '.join(self._rule_names)}): the event is lost")

    def _lost_events(self) -> int:
        total = 0
        for rule_name in self._rule_names:
            datapoints = self._cloudwatch.get_metric_statistics(
                Namespace="AWS/Events", MetricName="InvocationsFailedToBeSentToDlq",
                Dimensions=[{"Name": "RuleName", "Value": rule_name}], StartTime=self._since,
                EndTime=datetime.now(timezone.utc) + timedelta(minutes=1), Period=60, Statistics=["Sum"],
            )["Datapoints"]
            total += int(sum(point["Sum"] for point in datapoints))
        return total

    def refresh(self, waiting: list[FileResult]) -> None:
        if not waiting or time.monotonic() - self._last < self._every_s:
            return
        self._last = time.monotonic()
        by_object = {(r.bucket, r.key, r.version_id): r for r in waiting}
        by_object.update({(r.bucket, r.key, None): r for r in waiting})
        messages = self._sqs.receive_message(
            QueueUrl=self._queue_url, MaxNumberOfMessages=10, VisibilityTimeout=0, MessageAttributeNames=["All"]
        ).get("Messages", [])
        for message in messages:
            candidates = announced_objects(message["Body"])
            found = [by_object.get(c) or by_object.get((c[0], c[1], None)) for c in candidates]
            result = next((r for r in found if r is not None), None)
            if result is None:
                continue
            attributes = {k: v.get("StringValue", "") for k, v in message.get("MessageAttributes", {}).items()}
            result.status = "DEAD_LETTERED"
            result.error = attributes.get("ERROR_CODE")
            result.cause = attributes.get("ERROR_MESSAGE")
            result.reason = (f"the rule could not start an execution ({result.error}); "
                             f"the event is kept in the dead-letter queue {self._queue_url}")


class ExecutionFollower:
    """Finds the execution each upload started, and reads it once it has ended.

    One GetExecutionHistory per execution tells everything: its input (which object it
    announces), its end (status, error, cause), the states it went through and the notification
    it published. ListExecutions says which executions have ended, so no running execution is
    read, and none is described.
    """

    def __init__(self, clients: Any, state_machine_arn: str, keep_history: bool = False, page_size: int = 50):
        self._sfn = clients.stepfunctions
        self._keep_history = keep_history
        self._state_machine_arn = state_machine_arn
        self._page_size = page_size
        self.accept: Callable[[str], bool] | None = None  # which executions to read, by their input
        # Executions started before the follower are someone else's (with a margin for clocks).
        self._since = datetime.now(timezone.utc) - CLOCK_SKEW
        self._running: set[str] = set()
        self._read: set[str] = set()
        self._ended: dict[str, tuple[dict[str, Any], list[dict[str, Any]]]] = {}
        self._by_object: dict[tuple[str, str, str | None], list[str]] = {}

    def refresh(self, every_page: bool = False) -> None:
        """List the newest executions (newest first) until every execution seen running is
        covered and one seen before is reached (what follows it started before it, and was seen
        then: more than a page may start between two looks); the first look reads one page, or
        with every_page all since the follower began. Read the history of each one that has
        ended since."""
        waiting = set(self._running)
        known, first = False, not (self._read or self._running)
        paginator = self._sfn.get_paginator("list_executions")
        pages = paginator.paginate(stateMachineArn=self._state_machine_arn,
                                   PaginationConfig={"PageSize": self._page_size})
        for page in pages:
            older = False
            for listed in page["executions"]:
                arn = listed["executionArn"]
                waiting.discard(arn)
                if listed["startDate"] < self._since:
                    older = True
                    continue
                if arn in self._read:
                    known = True
                    continue
                known = known or arn in self._running
                history = self._history(arn) if listed["status"] in ENDED else []
                if not history or history[-1]["type"] not in EXECUTION_END_EVENTS:
                    self._running.add(arn)  # running, or listed as ended before its history says so
                    continue
                self._running.discard(arn)
                self._remember(arn, listed, history)
            if older or (not waiting and (known or (first and not every_page))):
                return

    @property
    def running(self) -> bool:
        """Whether an execution seen running has not been seen ended yet."""
        return bool(self._running)

    @property
    def running_count(self) -> int:
        """How many executions were seen running and have not been seen ended yet."""
        return len(self._running)

    def has_ended(self, result: FileResult) -> bool:
        """Whether settle would find the result's execution ended (it would read it now)."""
        if result.execution_arn is not None:
            return result.execution_arn in self._ended
        return bool(self._by_object.get((result.bucket, result.key, result.version_id)))

    def _remember(self, arn: str, listed: dict[str, Any], history: list[dict[str, Any]]) -> None:
        self._read.add(arn)
        if self.accept is not None and not self.accept(execution_input(history)):
            return
        self._ended[arn] = (listed, history)
        for announced in announced_objects(execution_input(history)):
            self._by_object.setdefault(announced, []).append(arn)
            self._by_object.setdefault((announced[0], announced[1], None), []).append(arn)

    def settle(self, result: FileResult) -> bool:
        """Fill in the result if its execution has ended; False while it runs or is not seen yet."""
        if result.execution_arn is None:
            candidates = self._by_object.get((result.bucket, result.key, result.version_id), [])
            if not candidates:
                return False
            result.execution_arn = candidates.pop(0)
            for key in ((result.bucket, result.key, result.version_id), (result.bucket, result.key, None)):
                if result.execution_arn in self._by_object.get(key, []):
                    self._by_object[key].remove(result.execution_arn)
        ended = self._ended.pop(result.execution_arn, None)
        if ended is None:  # an execution the listing has not shown ended: read it directly
            history = self._history(result.execution_arn)
            if not history or history[-1]["type"] not in EXECUTION_END_EVENTS:
                return False
            ended = ({}, history)
        listed, history = ended
        read_ending(result, listed, history, self._keep_history)
        return True

    def _history(self, execution_arn: str) -> list[dict[str, Any]]:
        events = []
        paginator = self._sfn.get_paginator("get_execution_history")
        for page in paginator.paginate(executionArn=execution_arn):
            events.extend(page["events"])
        return events


def follow_started(clients: Any, stack: PipelineStack, results: Sequence[FileResult], *, timeout_s: float = 300.0,
                   poll_s: float = 0.05, on_result: Progress | None = None, keep_history: bool = False,
                   ) -> list[FileResult]:
    """Follow executions already started (each result has its execution_arn) to their end."""
    follower = ExecutionFollower(clients, stack.state_machine_arn, keep_history=keep_history)
    started = time.monotonic()
    pending = list(results)
    finished = 0
    with interruptible(list(results)):
        while pending:
            follower.refresh()
            still = []
            for result in pending:
                if follower.settle(result) or time.monotonic() - started > timeout_s:
                    if result.status not in TERMINAL:
                        result.status = "TIMED_OUT"
                        result.reason = f"no terminal state within {timeout_s:.0f} s"
                    finished += 1
                    if on_result:
                        on_result(result, finished, len(results))
                else:
                    still.append(result)
            pending = still
            if pending:
                time.sleep(poll_s)
    return list(results)



"""Backfill: the files already in the landing bucket, run by the stack's backfill state machine.

The backfill state machine (statemachine/backfill.asl.json) lists the bucket under a prefix with a
Distributed Map and runs each object through the file-processing state machine. Here it is started
and followed, offline or in AWS alike: the command's own listing is what `--dry-run` prints and the
count it announces; once the backfill has ended, the objects reported are those its map run listed
(its result files name each child's execution), each read to the end of its file-processing
execution as `pipeline run` reads an upload's. A folder marker is ignored, as the state machine
skips it; an object the backfill ended before starting (its failure threshold exceeded) is
reported ABORTED with the backfill's error.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from pipeline.driver import ExecutionFollower, follow_started, interruptible
from pipeline.results import FileResult, Progress
from pipeline.stack import PipelineStack

FOLDER_MARKER = "a key ending in / is a console folder, not a file (the backfill skips it)"
SEEN = "the pipeline already checked this object (its event reached it): a sweep skips it"
SKIPPED = {"folder marker": FOLDER_MARKER, "seen": SEEN}  # a skipping child's output -> the reason


class BackfillError(Exception):
    """The backfill cannot be done as asked."""


@dataclass(frozen=True)
class Listed:
    """An object in the bucket, as ListObjectsV2 lists it."""

    key: str
    size: int
    etag: str

    @property
    def folder_marker(self) -> bool:
        return self.key.endswith("/")


@dataclass(frozen=True)
class BackfillRun:
    """A started backfill: its execution, and what it lists."""

    execution_arn: str
    prefix: str
    listed: tuple[Listed, ...]


def listed_objects(clients: Any, bucket: str, prefix: str) -> Iterator[Listed]:
    """Every object under prefix, in key order, as the backfill's item reader lists them."""
    paginator = clients.s3.get_paginator("list_objects_v2")
    for page in paginator.paginate(Bucket=bucket, Prefix=prefix):
        for item in page.get("Contents", []):
            yield Listed(item["Key"], item.get("Size", 0), item.get("ETag", "").strip('"'))


def check_prefix(stack: PipelineStack, prefix: str, key_prefix: str) -> None:
    if stack.backfill_state_machine_arn is None:
        raise BackfillError(f"stack {stack.name!r} has no backfill state machine (no output BackfillStateMachineArn)")
    if not prefix.startswith(key_prefix):
        raise BackfillError(f"--prefix {prefix!r} is outside the stack's KeyPrefix {key_prefix!r}: only keys under "
                            "it start the pipeline")


def start(clients: Any, stack: PipelineStack, prefix: str, *, max_concurrency: int | None = None,
          tolerated_failure_percentage: float | None = None, sweep: bool = False) -> BackfillRun:
    """List the objects, then start the backfill over the same prefix (a sweep: only the objects
    the pipeline never saw)."""
    listed = tuple(listed_objects(clients, stack.bucket, prefix))
    options: dict[str, Any] = {"prefix": prefix}
    if sweep:
        options["sweep"] = True
    if max_concurrency is not None:
        options["max_concurrency"] = max_concurrency
    if tolerated_failure_percentage is not None:
        options["tolerated_failure_percentage"] = tolerated_failure_percentage
    started = clients.stepfunctions.start_execution(
        stateMachineArn=stack.backfill_state_machine_arn, name=f"backfill-{uuid.uuid4()}", input=json.dumps(options))
    return BackfillRun(started["executionArn"], prefix, listed)


def results_of(run: BackfillRun, bucket: str) -> list[FileResult]:
    """One result per object the command listed: a folder marker IGNORED, every other PENDING."""
    return [FileResult(file=item.key, bucket=bucket, key=item.key, status="IGNORED", reason=FOLDER_MARKER)
            if item.folder_marker else FileResult(file=item.key, bucket=bucket, key=item.key)
            for item in run.listed]


def follow(clients: Any, stack: PipelineStack, run: BackfillRun, *, follower: ExecutionFollower,
           timeout_s: float = 3600.0, poll_s: float = 0.5, on_result: Progress | None = None,
           on_progress: Callable[[dict[str, int]], None] | None = None, progress_every_s: float = 5.0,
           ) -> tuple[list[FileResult], dict[str, Any]]:
    """Wait for the backfill to end (DescribeExecution; the map run's counts to on_progress),
    then read each object's file-processing execution, as `pipeline run` reads an upload's.

    The objects are those the map run itself listed, from its result files: each child workflow's
    record names the execution it started (its output, or its failure's cause), or says it never
    started. Without result files (a map run that failed offline writes none), the executions
    this backfill started (their input names it) are listed instead. Returns the results, and the
    backfill as DescribeExecution last described it (RUNNING if timeout_s passed first)."""
    results = results_of(run, stack.bucket)
    deadline = time.monotonic() + timeout_s
    last_progress = time.monotonic()
    with interruptible(results):
        while (backfill := clients.stepfunctions.describe_execution(executionArn=run.execution_arn))["status"] \
                == "RUNNING" and time.monotonic() < deadline:
            if on_progress and time.monotonic() - last_progress >= progress_every_s:
                last_progress = time.monotonic()
                on_progress(map_run_counts(clients, run.execution_arn))
            time.sleep(poll_s)
        if backfill["status"] == "RUNNING":
            for result in results:
                if result.status == "PENDING":
                    result.status, result.reason = "RUNNING", "the backfill was still running when the command stopped"
            return results, backfill
        records = child_records(clients, backfill)
        if records is not None:
            results[:] = [_from_record(key, record, stack.bucket, backfill) for key, record in sorted(records.items())]
        else:
            _by_listing(follower, run.execution_arn, results, backfill)
        started = [result for result in results if result.status == "PENDING"]  # each with its execution
        if started:
            follow_started(clients, stack, started, timeout_s=max(0.0, deadline - time.monotonic()), poll_s=poll_s,
                           on_result=on_result)
    return results, backfill


def _by_listing(follower: ExecutionFollower, execution_arn: str, results: list[FileResult],
                backfill: dict[str, Any]) -> None:
    """The executions this backfill started, found by listing them once it has ended (every one
    has: a child waits for its execution, and a failed map run waits for its children offline)."""
    follower.accept = lambda started_with: started_by(started_with) == execution_arn
    follower.refresh(every_page=True)
    for result in results:
        if result.status == "PENDING" and not follower.settle(result) and result.execution_arn is None:
            _not_started(result, backfill, None)


def started_by(execution_input: str) -> str | None:
    """The backfill execution a file-processing execution's input names (statemachine/backfill.asl.json)."""
    try:
        event = json.loads(execution_input)
    except (TypeError, ValueError):
        return None
    detail = event.get("detail") if isinstance(event, dict) else None
    backfill = detail.get("backfill") if isinstance(detail, dict) else None
    return backfill.get("execution") if isinstance(backfill, dict) else None


def _from_record(key: str, record: dict[str, Any] | None, bucket: str, backfill: dict[str, Any]) -> FileResult:
    """An object as its child workflow's record tells it; PENDING while its execution is to be read."""
    result = FileResult(file=key, bucket=bucket, key=key)
    if record is None:  # listed in PENDING_n: never started
        _not_started(result, backfill, None)
        return result
    output = _json(record.get("Output")) if record.get("Status") == "SUCCEEDED" else None
    if isinstance(output, dict) and output.get("skipped"):
        result.status, result.reason = "IGNORED", SKIPPED.get(output["skipped"], str(output["skipped"]))
        return result
    cause = _json(record.get("Cause"))
    started = (output or {}).get("execution") or (cause or {}).get("ExecutionArn") or (cause or {}).get("executionArn")
    if isinstance(started, str):
        result.execution_arn = started
    else:
        _not_started(result, backfill, record)
    return result


def _json(text: Any) -> dict[str, Any] | None:
    try:
        value = json.loads(text) if isinstance(text, str) else None
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _not_started(result: FileResult, backfill: dict[str, Any], child: dict[str, Any] | None) -> None:
    """An object whose file-processing execution never started: its child workflow failed before
    (its record says why), or the backfill ended first."""
    if child is not None:
        result.status, result.error, result.cause = "FAILED", child.get("Error"), child.get("Cause")
        result.reason = "its backfill child workflow failed before the file-processing execution started"
        return
    result.status = "ABORTED"
    result.error, result.cause = backfill.get("error"), backfill.get("cause")
    result.reason = "the backfill ended before processing this object"


def child_records(clients: Any, backfill: dict[str, Any]) -> dict[str, dict[str, Any] | None] | None:
    """key -> its child workflow's record in the map run's result files (None for one in PENDING_n:
    never started); None when the backfill wrote no result files."""
    details = (_json(backfill.get("output")) or {}).get("ResultWriterDetails") or {}
    if not details:
        return None
    read = lambda key: json.loads(clients.s3.get_object(Bucket=details["Bucket"], Key=key)["Body"].read())  # noqa: E731
    records: dict[str, dict[str, Any] | None] = {}
    for status, files in read(details["Key"]).get("ResultFiles", {}).items():
        for written in files:
            for child in read(written["Key"]):
                key = (_json(child.get("Input")) or {}).get("key")
                if isinstance(key, str):
                    records[key] = None if status == "PENDING" else child
    return records


def failed_items(clients: Any, backfill: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """key -> the failed child workflow's record, from the map run's result files."""
    return {key: record for key, record in (child_records(clients, backfill) or {}).items()
            if record is not None and record.get("Status") != "SUCCEEDED"}


def map_run_counts(clients: Any, execution_arn: str) -> dict[str, int]:
    """The item counts of the backfill's map run (empty before it has started)."""
    runs = clients.stepfunctions.list_map_runs(executionArn=execution_arn).get("mapRuns", [])
    if not runs:
        return {}
    described = clients.stepfunctions.describe_map_run(mapRunArn=runs[0]["mapRunArn"])
    return dict(described.get("itemCounts", {}))

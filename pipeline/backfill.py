"""Backfill: the files already in the landing bucket, run by the stack's backfill state machine.

The backfill state machine (statemachine/backfill.asl.json) lists the bucket under a prefix with a
Distributed Map and runs each object through the file-processing state machine. Here it is started
and followed, offline or in AWS alike: the objects are listed first (what `--dry-run` prints), then
each one is followed to the end of its file-processing execution, as `pipeline run` follows an
upload. A folder marker is ignored, as the state machine skips it; an object the backfill ended
before starting (its failure threshold exceeded) is reported ABORTED with the backfill's error.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from pipeline.driver import ExecutionFollower, interruptible
from pipeline.results import TERMINAL, FileResult, Progress
from pipeline.stack import PipelineStack

FOLDER_MARKER = "a key ending in / is a console folder, not a file (the backfill skips it)"


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
          tolerated_failure_percentage: float | None = None) -> BackfillRun:
    """List the objects, then start the backfill over the same prefix."""
    listed = tuple(listed_objects(clients, stack.bucket, prefix))
    options: dict[str, Any] = {"prefix": prefix}
    if max_concurrency is not None:
        options["max_concurrency"] = max_concurrency
    if tolerated_failure_percentage is not None:
        options["tolerated_failure_percentage"] = tolerated_failure_percentage
    started = clients.stepfunctions.start_execution(
        stateMachineArn=stack.backfill_state_machine_arn, name=f"backfill-{uuid.uuid4()}", input=json.dumps(options))
    return BackfillRun(started["executionArn"], prefix, listed)


def results_of(run: BackfillRun, bucket: str) -> list[FileResult]:
    """One result per listed object: a folder marker IGNORED, every other PENDING."""
    return [FileResult(file=item.key, bucket=bucket, key=item.key, status="IGNORED", reason=FOLDER_MARKER)
            if item.folder_marker else FileResult(file=item.key, bucket=bucket, key=item.key)
            for item in run.listed]


def follow(clients: Any, stack: PipelineStack, run: BackfillRun, *, follower: ExecutionFollower,
           timeout_s: float = 3600.0, poll_s: float = 0.5, on_result: Progress | None = None,
           on_progress: Callable[[dict[str, int]], None] | None = None, progress_every_s: float = 5.0,
           ) -> tuple[list[FileResult], dict[str, Any]]:
    """Wait for the backfill to end (DescribeExecution; the map run's counts to on_progress),
    then read each listed object's file-processing execution, as `pipeline run` reads an upload's.
    Listing the executions once the backfill has ended, not while it runs: a backfill starts
    thousands, and each look would list them all again. Returns the results, and the backfill as
    DescribeExecution ends it."""
    results = results_of(run, stack.bucket)
    pending = [result for result in results if result.status not in TERMINAL and result.status != "IGNORED"]
    done = len(results) - len(pending)
    deadline = time.monotonic() + timeout_s
    last_progress = time.monotonic()
    with interruptible(results):
        while (backfill := clients.stepfunctions.describe_execution(executionArn=run.execution_arn))["status"] \
                == "RUNNING" and time.monotonic() < deadline:
            if on_progress and time.monotonic() - last_progress >= progress_every_s:
                last_progress = time.monotonic()
                on_progress(map_run_counts(clients, run.execution_arn))
            time.sleep(poll_s)
        while pending and time.monotonic() < deadline:
            follower.refresh()
            still = []
            for result in pending:
                if follower.settle(result):
                    done += 1
                    if on_result:
                        on_result(result, done, len(results))
                else:
                    still.append(result)
            pending = still
            if pending and backfill["status"] != "RUNNING" and not follower.running:
                # Every execution seen running has ended: an object with none was never started.
                failed_children = failed_items(clients, backfill)
                for result in [result for result in pending if result.execution_arn is None]:
                    _not_started(result, backfill, failed_children.get(result.key))
                    done += 1
                    if on_result:
                        on_result(result, done, len(results))
                pending = [result for result in pending if result.execution_arn is not None]
            if pending:
                time.sleep(poll_s)
        for result in pending:
            result.status, result.reason = "TIMED_OUT", f"no terminal state within {timeout_s:.0f} s"
    return results, backfill


def _not_started(result: FileResult, backfill: dict[str, Any], child: dict[str, Any] | None) -> None:
    """An object whose file-processing execution never started: its child workflow failed before
    (the result writer's record says why), or the backfill ended first."""
    if child is not None:
        result.status, result.error, result.cause = "FAILED", child.get("Error"), child.get("Cause")
        result.reason = "its backfill child workflow failed before the file-processing execution started"
        return
    result.status = "ABORTED"
    result.error, result.cause = backfill.get("error"), backfill.get("cause")
    result.reason = "the backfill ended before processing this object"


def failed_items(clients: Any, backfill: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """key -> the failed child workflow's record, from the map run's result files (none when the
    backfill failed before writing them)."""
    try:
        details = json.loads(backfill.get("output") or "{}").get("ResultWriterDetails") or {}
    except ValueError:
        return {}
    if not details:
        return {}
    manifest = json.loads(clients.s3.get_object(Bucket=details["Bucket"], Key=details["Key"])["Body"].read())
    failed: dict[str, dict[str, Any]] = {}
    for written in manifest.get("ResultFiles", {}).get("FAILED", []):
        body = clients.s3.get_object(Bucket=details["Bucket"], Key=written["Key"])["Body"].read()
        for child in json.loads(body):
            try:
                key = json.loads(child.get("Input") or "{}").get("key")
            except ValueError:
                continue
            if isinstance(key, str):
                failed[key] = child
    return failed


def map_run_counts(clients: Any, execution_arn: str) -> dict[str, int]:
    """The item counts of the backfill's map run (empty before it has started)."""
    runs = clients.stepfunctions.list_map_runs(executionArn=execution_arn).get("mapRuns", [])
    if not runs:
        return {}
    described = clients.stepfunctions.describe_map_run(mapRunArn=runs[0]["mapRunArn"])
    return dict(described.get("itemCounts", {}))

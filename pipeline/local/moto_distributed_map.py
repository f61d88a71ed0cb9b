"""A Distributed Map run as Step Functions runs it, where moto's own falls short.

moto's interpreter parses a Distributed Map and runs its items, but its item reader reads one
page of an S3 listing (1,000 keys) and hands on botocore's item shape, it starts one thread per
item when MaxConcurrency is 0 and recurses once per item in each thread, it ignores the tolerated
failure threshold, it does not check that the role may start the child workflows, and its result
writer writes an empty manifest. Here, each of those as the Step Functions Developer Guide
describes it ("Distributed Map state", "ItemReader", "ResultWriter", "IAM policies for using
Distributed Map states"):

- The item reader lists every page (ListObjectsV2 with its continuation token) as the role, and
  each item has the fields Step Functions gives: Etag, Key, LastModified, Size, StorageClass.
- Each item runs as a child workflow of the map run, with at most MaxConcurrency running at once
  (offline, at most OFFLINE_WORKERS threads when MaxConcurrency is 0: AWS allows 10,000).
- The map run fails with States.ExceedToleratedFailureThreshold once more items failed than
  ToleratedFailureCount or ToleratedFailurePercentage allow (0 by default: any failure); items
  not yet started are not started. Offline, children already running finish (AWS stops them).
- Before the first child starts, the role must be allowed states:StartExecution on its state
  machine, and states:DescribeExecution and states:StopExecution on the map run's executions,
  which the map run needs for child workflows (the guide's example policy).
- The result writer writes each child's record to SUCCEEDED_0.json, FAILED_0.json and
  PENDING_0.json beside manifest.json, as the role ("ResultWriter": failed, timed out and aborted
  children in FAILED, those not started because the map run failed in PENDING).
- A refused listing or read fails the map run with States.ItemReaderFailed, a refused write with
  States.ResultWriterFailed (the error names the States Language gives those failures; AWS's
  cause text for a refusal is not recorded anywhere we found).

Installed by pipeline.local.moto_core with its other hooks; each patch goes through
pipeline.local.patching.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from botocore.exceptions import ClientError
from moto.stepfunctions.parser.api import ExecutionFailedEventDetails, HistoryEventType
from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name import StatesErrorName
from moto.stepfunctions.parser.asl.component.common.error_name.failure_event import (
    FailureEvent,
    FailureEventException,
)
from moto.stepfunctions.parser.asl.component.state.exec.state_map.item_reader.eval import (
    resource_eval_s3 as item_reader_s3,
)
from moto.stepfunctions.parser.asl.component.state.exec.state_map.iteration.distributed_iteration_component import (
    DistributedIterationComponent,
)
from moto.stepfunctions.parser.asl.component.state.exec.state_map.result_writer.resource_eval import (
    resource_eval_s3 as result_writer_s3,
)
from moto.stepfunctions.parser.asl.eval.event.event_detail import EventDetails
from moto.stepfunctions.parser.asl.eval.event.event_manager import EventManager
from moto.stepfunctions.parser.asl.eval.program_state import ProgramError, ProgramStopped
from moto.stepfunctions.parser.asl.eval.states import ItemData, MapData

from pipeline.local.patching import Patch, Private

OFFLINE_WORKERS = 40
"""Children running at once offline when the map sets no MaxConcurrency (each holds a thread)."""

EXCEEDED = "States.ExceedToleratedFailureThreshold"
EXCEEDED_CAUSE = "The specified tolerated failure threshold was exceeded"

TaskGuard = Callable[[str, str, str, dict[str, Any]], None]

READER_CLIENT = Private(item_reader_s3.ResourceEvalS3, "_get_s3_client")
WRITER_CLIENT = Private(result_writer_s3.ResourceEvalS3, "_get_s3_client")
ITERATION_PROGRAM = Private(DistributedIterationComponent, "_get_iteration_program")


@dataclass
class ChildRun:
    """One child workflow execution of a map run, as the result writer records it."""

    arn: str
    name: str
    state_machine_arn: str
    input: Any
    status: str = "PENDING"  # RUNNING, SUCCEEDED, FAILED, ABORTED
    start: datetime | None = None
    stop: datetime | None = None
    output: Any = None
    error: str | None = None
    cause: str | None = None

    def record(self) -> dict[str, Any]:
        """The child as a result file lists it (ResultWriter's SUCCEEDED_n / FAILED_n files)."""
        written: dict[str, Any] = {
            "ExecutionArn": self.arn, "Name": self.name, "StateMachineArn": self.state_machine_arn,
            "Input": json.dumps(self.input, separators=(",", ":")), "InputDetails": {"Included": True},
            "Status": self.status, "RedriveCount": 0,
            "StartDate": _timestamp(self.start), "StopDate": _timestamp(self.stop),
        }
        if self.status == "SUCCEEDED":
            written["Output"] = json.dumps(self.output, separators=(",", ":"))
            written["OutputDetails"] = {"Included": True}
        elif self.status == "FAILED":
            written["Error"], written["Cause"] = self.error, self.cause
        return written


@dataclass
class MapRun:
    """What the offline cloud keeps of a map run beside moto's record (its children)."""

    children: list[ChildRun] = field(default_factory=list)


_runs: dict[str, MapRun] = {}
_runs_lock = threading.Lock()


def _timestamp(moment: datetime | None) -> str | None:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z") if moment else None


def listed_item(listed: dict[str, Any]) -> dict[str, Any]:
    """An object of ListObjectsV2 as the item reader hands it on (the Developer Guide's
    "ItemReader" example: Etag with its quotes, LastModified in epoch seconds)."""
    modified = listed.get("LastModified")
    return {
        "Etag": listed.get("ETag"),
        "Key": listed["Key"],
        "LastModified": int(modified.timestamp()) if isinstance(modified, datetime) else modified,
        "Size": listed.get("Size"),
        "StorageClass": listed.get("StorageClass", "STANDARD"),
    }


def _list_every_page(env: Any, resource_runtime_part: Any, state_credentials: Any) -> None:
    client = READER_CLIENT(item_reader_s3.ResourceEvalS3, resource_runtime_part=resource_runtime_part,
                           state_credentials=state_credentials)
    parameters = dict(env.stack.pop())
    items: list[dict[str, Any]] = []
    while True:
        try:
            page = client.list_objects_v2(**parameters)
        except ClientError as refused:
            raise _failure(env, "States.ItemReaderFailed", _service_error("S3", refused)) from None
        items += [listed_item(listed) for listed in page.get("Contents", [])]
        token = page.get("NextContinuationToken")
        if not page.get("IsTruncated") or not token:
            break
        parameters["ContinuationToken"] = token
    env.stack.append(items)


def _reading_objects() -> Patch:
    """The item reader's GetObject (a JSON, CSV or manifest file), as moto reads it; a refusal
    fails the map run as a refused listing does."""
    original = Patch(item_reader_s3.ResourceEvalS3, "_handle_get_object", None).original()
    read = original.__func__ if isinstance(original, staticmethod) else original

    def read_object(env: Any, resource_runtime_part: Any, state_credentials: Any) -> None:
        try:
            read(env, resource_runtime_part, state_credentials)
        except ClientError as refused:
            raise _failure(env, "States.ItemReaderFailed", _service_error("S3", refused)) from None

    return Patch(item_reader_s3.ResourceEvalS3, "_handle_get_object", staticmethod(read_object))


def _service_error(service: str, refused: ClientError) -> str:
    error = refused.response.get("Error", {})
    status = refused.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    return f"{error.get('Message')} (Service: {service}, Status Code: {status}, Error Code: {error.get('Code')})"


def _failure(env: Any, error: str, cause: str) -> FailureEventException:
    return FailureEventException(FailureEvent(
        env=env, error_name=StatesErrorName.from_name(error), event_type=HistoryEventType.ExecutionFailed,
        event_details=EventDetails(executionFailedEventDetails=ExecutionFailedEventDetails(error=error, cause=cause))))


def _exceeded(failed: int, total: int, count: int, percentage: float) -> bool:
    """Whether failed items exceed the threshold: either of the two set, or, with neither set
    (moto holds 0 for both then), any failure."""
    if not count and not percentage:
        return failed > 0
    return (count > 0 and failed > count) or (percentage > 0 and failed * 100 > percentage * total)


def installed(authorize_task: TaskGuard) -> list[Patch]:
    """The patches, with task calls decided by authorize_task(role, service, operation, params)."""

    def authorize_children(env: Any, state_machine_arn: str, children_arn: str) -> None:
        role = env.aws_execution_details.role_arn
        for operation, parameters in (("StartExecution", {"stateMachineArn": state_machine_arn}),
                                      ("DescribeExecution", {"executionArn": children_arn}),
                                      ("StopExecution", {"executionArn": children_arn})):
            try:
                authorize_task(role, "states", operation, parameters)
            except ClientError as refused:
                error = refused.response["Error"]
                raise _failure(env, "States.Runtime", f"{error['Code']}: {error['Message']}") from None

    def map_run(self: DistributedIterationComponent, env: Any, eval_input: Any) -> None:
        items: list[Any] = env.stack.pop()
        record = eval_input.map_run_record
        state_input = env.states.get_input()
        children_prefix = record.map_state_machine_arn.replace(":stateMachine:", ":execution:")
        parent_machine = env.states.context_object.context_object_data["StateMachine"]["Id"]
        authorize_children(env, parent_machine, f"{children_prefix}:{uuid.uuid4()}")
        run = MapRun()
        with _runs_lock:
            _runs[record.map_run_arn] = run
        program = ITERATION_PROGRAM(self)
        children: list[ChildRun] = []
        for index, item in enumerate(items):
            selected = _selected(env, eval_input.item_selector, state_input, index, item)
            name = str(uuid.uuid4())
            children.append(ChildRun(arn=f"{children_prefix}:{name}", name=name,
                                     state_machine_arn=record.map_state_machine_arn, input=selected))
        run.children = children
        total = len(children)
        for counter in (record.item_counter, record.execution_counter):
            counter.total.count(total)
            counter.pending.count(total)
        queue = list(range(total))
        queue.reverse()
        lock = threading.Lock()
        stopped = threading.Event()
        failed = [0]

        def take() -> ChildRun | None:
            with lock:
                if stopped.is_set() or not queue or not env.is_running():  # past the threshold, or stopped
                    return None
                child = children[queue.pop()]
                child.status, child.start = "RUNNING", datetime.now(timezone.utc)
            for counter in (record.item_counter, record.execution_counter):
                counter.pending.offset(-1)
                counter.running.count()
            return child

        def finish(child: ChildRun) -> None:
            child.stop = datetime.now(timezone.utc)
            for counter in (record.item_counter, record.execution_counter):
                counter.running.offset(-1)
                {"SUCCEEDED": counter.succeeded, "FAILED": counter.failed, "ABORTED": counter.aborted}[
                    child.status].count()
            if child.status == "FAILED":
                with lock:
                    failed[0] += 1
                    if _exceeded(failed[0], total, int(record.tolerated_failure_count or 0),
                                 float(record.tolerated_failure_percentage or 0)):
                        stopped.set()

        def work() -> None:
            worker = env.open_frame()
            try:
                while (child := take()) is not None:
                    _run_child(worker, program, child)
                    finish(child)
            finally:
                env.delete_frame(worker)

        workers = min(total, record.max_concurrency or OFFLINE_WORKERS)
        threads = [threading.Thread(target=work, name=f"map-run-{record.map_run_arn[-8:]}-{n}", daemon=True)
                   for n in range(workers)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        if stopped.is_set():  # children never started stay PENDING (the result writer's PENDING_n file)
            with _runs_lock:
                _runs.pop(record.map_run_arn, None)  # a failed map run writes no results offline
            raise _failure(env, EXCEEDED, EXCEEDED_CAUSE)
        for counter in (record.item_counter, record.execution_counter):
            counter.results_written.count(total)
        env.stack.append([child.output for child in children])

    def write_results(env: Any, resource_runtime_part: Any, state_credentials: Any) -> None:
        parameters = env.stack.pop()
        env.stack.pop()  # the map's outputs: the result files hold them
        client = WRITER_CLIENT(result_writer_s3.ResourceEvalS3, resource_runtime_part=resource_runtime_part,
                               state_credentials=state_credentials)
        record = env.map_run_record_pool_manager.get_all()[-1]

        def put(**request: Any) -> None:
            try:
                client.put_object(**request)
            except ClientError as refused:
                raise _failure(env, "States.ResultWriterFailed", _service_error("S3", refused)) from None

        with _runs_lock:
            run = _runs.pop(record.map_run_arn, MapRun())
        prefix = parameters.get("Prefix", "")
        if prefix and not prefix.endswith("/"):
            prefix += "/"
        folder = f"{prefix}{record.map_run_arn.split(':')[-1]}/"
        files: dict[str, list[dict[str, Any]]] = {"FAILED": [], "PENDING": [], "SUCCEEDED": []}
        for status in files:
            # FAILED_n holds the failed, timed out and aborted children; PENDING_n those never started
            records = [child.record() for child in run.children
                       if child.status == status or (status == "FAILED" and child.status == "ABORTED")]
            if not records:
                continue
            body = json.dumps(records).encode()
            key = f"{folder}{status}_0.json"
            put(Bucket=parameters["Bucket"], Key=key, Body=body)
            files[status].append({"Key": key, "Size": len(body)})
        manifest_key = f"{folder}manifest.json"
        manifest = {"DestinationBucket": parameters["Bucket"], "MapRunArn": record.map_run_arn, "ResultFiles": files}
        put(Bucket=parameters["Bucket"], Key=manifest_key, Body=json.dumps(manifest).encode())
        env.stack.append({"MapRunArn": record.map_run_arn,
                          "ResultWriterDetails": {"Bucket": parameters["Bucket"], "Key": manifest_key}})

    return [
        Patch(item_reader_s3.ResourceEvalS3, "_handle_list_objects_v2", staticmethod(_list_every_page)),
        _reading_objects(),
        Patch(DistributedIterationComponent, "_map_run", map_run),
        Patch(result_writer_s3.ResourceEvalS3, "_handle_put_object", staticmethod(write_results)),
    ]


def _selected(env: Any, item_selector: Any, state_input: Any, index: int, item: Any) -> Any:
    """The child's input: the item, or what ItemSelector makes of it ($ is the Map state's input,
    $$.Map.Item the item)."""
    if item_selector is None:
        return item
    frame = env.open_inner_frame()
    try:
        frame.states.context_object.context_object_data["Map"] = MapData(Item=ItemData(Index=index, Value=item))
        frame.states.reset(input_value=state_input)
        frame.stack.append(state_input)
        item_selector.eval(frame)
        return frame.stack.pop()
    finally:
        env.delete_frame(frame)


def _run_child(worker: Any, program: Any, child: ChildRun) -> None:
    """Run one child workflow to its end, in a frame of its own with a history of its own (a
    child's events are not the parent's)."""
    frame = worker.open_inner_frame()
    frame.event_manager = EventManager()
    try:
        frame.states.reset(input_value=child.input)
        program.eval(frame)
        ended = frame.program_state()
        if isinstance(ended, ProgramError):
            details = ended.error or {}
            child.status, child.error, child.cause = "FAILED", details.get("error"), details.get("cause")
        elif isinstance(ended, ProgramStopped):
            child.status, child.error, child.cause = "ABORTED", ended.error, ended.cause
        else:
            child.status, child.output = "SUCCEEDED", frame.states.get_input()
    except FailureEventException as failure:
        error, cause = failure.extract_error_cause_pair() or (None, None)
        child.status, child.error, child.cause = "FAILED", error, cause
    except Exception as error:  # noqa: BLE001 - the interpreter's own failure ends this child, not the map run
        child.status, child.error, child.cause = "FAILED", "States.Runtime", f"{type(error).__name__}: {error}"
    finally:
        worker.delete_frame(frame)

"""Backfill: files already in the bucket, run by the stack's Distributed Map through the same
processing and notifications as an upload, offline (`pipeline backfill`)."""

from __future__ import annotations

import json
import time

import pytest

from pipeline import backfill
from pipeline.driver import ExecutionFollower
from pipeline.offline import OfflineCloud
from tests.offline import execution_output


def place(cloud: OfflineCloud, objects: dict[str, bytes]) -> None:
    """Objects in the landing bucket that no event announced (they landed before the stack)."""
    with cloud.bus.silenced():
        for key, body in objects.items():
            cloud.clients.s3.put_object(Bucket=cloud.stack.bucket, Key=key, Body=body)


def run_backfill(cloud: OfflineCloud, prefix: str = "", **options) -> tuple[list, dict]:
    follower = ExecutionFollower(cloud.clients, cloud.stack.state_machine_arn)
    started = backfill.start(cloud.clients, cloud.stack, prefix, **options)
    return backfill.follow(cloud.clients, cloud.stack, started, follower=follower, poll_s=0.05, timeout_s=600)


def test_a_backfill_started_twice_processes_no_object_version_twice(deploy):
    cloud = deploy(FailureRate=0.5, FailureSeed="twice")
    objects = {f"old/{n:02d}.csv": f"id,v\n{n},x\n".encode() for n in range(12)}
    place(cloud, {**objects, "old/": b"", "old/notes.txt": b"not a csv"})
    first, ended = run_backfill(cloud, "old/", max_concurrency=4)
    second, ended_again = run_backfill(cloud, "old/", max_concurrency=4)
    assert ended["status"] == ended_again["status"] == "SUCCEEDED"
    keys = sorted([*objects, "old/", "old/notes.txt"])
    for results in (first, second):
        assert [result.key for result in results] == keys  # each object once, in key order
        assert all(result.accounted_for for result in results), [(r.key, r.status, r.reason) for r in results]
    (marker,) = [result for result in first if result.key == "old/"]
    assert marker.status == "IGNORED" and "folder" in marker.reason
    for results, backfilled in ((first, ended), (second, ended_again)):  # each its own backfill's execution
        for result in results:
            if result.execution_arn:
                started = cloud.clients.stepfunctions.describe_execution(executionArn=result.execution_arn)["input"]
                assert backfill.started_by(started) == backfilled["executionArn"]
    outcomes = {result.key: result.status for result in first}
    assert {result.key: result.status for result in second} == outcomes
    assert "FAILED" in outcomes.values() and "SUCCEEDED" in outcomes.values()
    for before, after in zip(first, second):
        if before.status == "SUCCEEDED" and before.key.endswith(".csv"):
            # The processing function answered the second time from its record of this version.
            processed = execution_output(cloud, before)["result"]["summary"]
            assert execution_output(cloud, after)["result"]["summary"] == processed
            assert processed["version_id"]


def test_the_map_run_is_described_and_its_results_written_as_step_functions_does(deploy):
    cloud = deploy(FailureRate=0)
    place(cloud, {"in/a.csv": b"id\n1\n", "in/b.txt": b"x"})
    results, ended = run_backfill(cloud, "in/")
    sfn = cloud.clients.stepfunctions
    (listed,) = sfn.list_map_runs(executionArn=ended["executionArn"])["mapRuns"]
    described = sfn.describe_map_run(mapRunArn=listed["mapRunArn"])
    assert listed["mapRunArn"].split(":")[6].endswith("/objects")  # the map's Label
    assert described["status"] == "SUCCEEDED" and described["maxConcurrency"] == 100
    assert described["itemCounts"]["total"] == 2 and described["itemCounts"]["succeeded"] == 1
    assert described["itemCounts"]["failed"] == 1  # b.txt: its execution failed, after its notification
    details = json.loads(ended["output"])["ResultWriterDetails"]
    read = lambda key: json.loads(cloud.clients.s3.get_object(Bucket=details["Bucket"], Key=key)["Body"].read())
    manifest = read(details["Key"])
    assert manifest["MapRunArn"] == listed["mapRunArn"]
    (succeeded,) = read(manifest["ResultFiles"]["SUCCEEDED"][0]["Key"])
    (failed,) = read(manifest["ResultFiles"]["FAILED"][0]["Key"])
    item = json.loads(succeeded["Input"])
    etag = cloud.clients.s3.head_object(Bucket=cloud.stack.bucket, Key="in/a.csv")["ETag"]
    assert (item["key"], item["etag"], item["size"]) == ("in/a.csv", etag, 5)  # Etag as listed: with its quotes
    assert json.loads(failed["Input"])["key"] == "in/b.txt" and failed["Error"] == "States.TaskFailed"
    assert succeeded["ExecutionArn"].startswith(listed["stateMachineArn"].replace(":stateMachine:", ":execution:"))


def test_past_its_failure_threshold_a_backfill_stops_and_says_what_it_never_started(deploy):
    cloud = deploy(FailureRate=1)
    place(cloud, {f"bad/{n}.csv": b"id\n1\n" for n in range(5)})
    results, ended = run_backfill(cloud, "bad/", max_concurrency=1, tolerated_failure_percentage=0)
    assert ended["status"] == "FAILED"
    assert (ended["error"], ended["cause"]) == ("States.ExceedToleratedFailureThreshold",
                                                "The specified tolerated failure threshold was exceeded")
    (failed,) = [result for result in results if result.status == "FAILED"]
    assert failed.error == "SimulatedProcessingError" and failed.notification is not None
    aborted = [result for result in results if result.status == "ABORTED"]
    assert len(aborted) == 4 and all(result.error == "States.ExceedToleratedFailureThreshold" for result in aborted)
    (run,) = cloud.clients.stepfunctions.list_map_runs(executionArn=ended["executionArn"])["mapRuns"]
    counts = cloud.clients.stepfunctions.describe_map_run(mapRunArn=run["mapRunArn"])["itemCounts"]
    assert (counts["failed"], counts["pending"], counts["total"]) == (1, 4, 5)


def test_a_prefix_outside_the_trigger_s_key_prefix_is_refused(deploy, capsys):
    cloud = deploy(KeyPrefix="incoming/", FailureRate=0)
    started = cloud.clients.stepfunctions.start_execution(stateMachineArn=cloud.stack.backfill_state_machine_arn,
                                                          input=json.dumps({"prefix": "elsewhere/"}))
    deadline = time.monotonic() + 30
    while (described := cloud.clients.stepfunctions.describe_execution(executionArn=started["executionArn"]))[
            "status"] == "RUNNING" and time.monotonic() < deadline:
        time.sleep(0.05)
    assert (described["status"], described.get("error")) == ("FAILED", "PrefixOutsideTrigger")
    with pytest.raises(backfill.BackfillError, match="outside the stack's KeyPrefix"):
        backfill.check_prefix(cloud.stack, "elsewhere/", "incoming/")


@pytest.mark.slow
def test_two_thousand_objects_are_each_accounted_for_once(deploy):
    """The item reader lists every page (1,000 keys a page), and each object ends once."""
    cloud = deploy(FailureSeed="bulk")
    keys = [f"bulk/{n:05d}.csv" for n in range(2000)]
    place(cloud, {key: b"id,v\n1,x\n" for key in keys})
    results, ended = run_backfill(cloud, "bulk/")
    assert ended["status"] == "SUCCEEDED"
    assert [result.key for result in results] == keys
    unaccounted = [(r.key, r.status, r.error, r.cause, r.reason) for r in results if not r.accounted_for]
    assert not unaccounted, unaccounted[:5]
    assert len({result.execution_arn for result in results}) == 2000
    (run,) = cloud.clients.stepfunctions.list_map_runs(executionArn=ended["executionArn"])["mapRuns"]
    counts = cloud.clients.stepfunctions.describe_map_run(mapRunArn=run["mapRunArn"])["itemCounts"]
    failed = sum(result.status == "FAILED" for result in results)
    assert (counts["total"], counts["succeeded"], counts["failed"]) == (2000, 2000 - failed, failed)


def test_a_stopped_backfill_starts_no_more_objects(deploy):
    cloud = deploy(FailureRate=0)
    place(cloud, {f"stop/{n}.csv": b"id\n1\n" for n in range(6)})
    sfn = cloud.clients.stepfunctions
    started = backfill.start(cloud.clients, cloud.stack, "stop/", max_concurrency=1)
    while not sfn.list_executions(stateMachineArn=cloud.stack.state_machine_arn)["executions"]:
        time.sleep(0.02)  # the first object is on its way
    sfn.stop_execution(executionArn=started.execution_arn, error="Operator", cause="stopped by hand")
    time.sleep(1.5)  # what the map run would have started meanwhile, one at a time
    assert sfn.describe_execution(executionArn=started.execution_arn)["status"] == "ABORTED"
    processed = sfn.list_executions(stateMachineArn=cloud.stack.state_machine_arn)["executions"]
    assert 1 <= len(processed) < 6

"""The reconciliation sweep (template parameter SweepEveryHours): EventBridge Scheduler runs the
backfill with {"sweep": true}, which processes each object whose event never reached the
pipeline, once, and skips every object Check File Extension saw (its seen record)."""

from __future__ import annotations

import time

from pipeline import backfill
from pipeline.driver import ExecutionFollower
from pipeline.local.schedules import Firing
from pipeline.offline import OfflineCloud
from tests.offline import execution_output, run_one

SEEN = backfill.SEEN


def processing_executions(cloud: OfflineCloud) -> list[dict]:
    sfn = cloud.clients.stepfunctions
    return [execution for page in sfn.get_paginator("list_executions").paginate(
        stateMachineArn=cloud.stack.state_machine_arn) for execution in page["executions"]]


def followed(cloud: OfflineCloud, firing: Firing, prefix: str = "") -> tuple[dict, dict]:
    """key -> its result, and the sweep's execution as it ended."""
    assert firing.error is None, firing.error
    run = backfill.BackfillRun(firing.execution_arn, prefix,
                               tuple(backfill.listed_objects(cloud.clients, cloud.stack.bucket, prefix)))
    follower = ExecutionFollower(cloud.clients, cloud.stack.state_machine_arn)
    results, ended = backfill.follow(cloud.clients, cloud.stack, run, follower=follower, poll_s=0.05, timeout_s=120)
    return {result.key: result for result in results}, ended


def next_firing(cloud: OfflineCloud, count: int, timeout_s: float = 120) -> Firing:
    deadline = time.monotonic() + timeout_s
    while len(cloud.scheduler.firings) < count and time.monotonic() < deadline:
        time.sleep(0.1)
    return cloud.scheduler.firings[count - 1]


def test_a_file_whose_event_was_lost_is_processed_by_the_scheduled_sweep_once(deploy, tmp_path):
    # rate(1 hour) at 0.003: a sweep at deploy (AWS starts a rate schedule at once), then every
    # 10.8 s on the scheduler's own clock
    cloud = deploy(FailureRate=0, SweepEveryHours=1, time_scale=0.003)
    at_deploy, ended = followed(cloud, next_firing(cloud, 1))
    assert (at_deploy, ended["status"]) == ({}, "SUCCEEDED")  # an empty bucket
    uploaded = run_one(cloud, tmp_path, "uploaded.csv")
    invalid = run_one(cloud, tmp_path, "notes.txt", b"not a csv")
    assert uploaded.status == "SUCCEEDED" and invalid.status == "FAILED" and invalid.notification
    (rule,) = cloud.stack.rules
    cloud.clients.events.disable_rule(Name=rule.name)  # disabled for a while: this upload's event is lost
    cloud.clients.s3.put_object(Bucket=cloud.stack.bucket, Key="lost.csv", Body=b"id,value\n1,a\n")
    cloud.clients.events.enable_rule(Name=rule.name)
    before = len(processing_executions(cloud))

    first, ended = followed(cloud, next_firing(cloud, 2))
    assert ended["status"] == "SUCCEEDED", ended
    assert first["lost.csv"].status == "SUCCEEDED", (first["lost.csv"].status, first["lost.csv"].cause)
    started = cloud.clients.stepfunctions.describe_execution(executionArn=first["lost.csv"].execution_arn)
    assert backfill.started_by(started["input"]) == ended["executionArn"]
    for key in ("uploaded.csv", "notes.txt"):  # their events reached the pipeline: not run (or emailed) again
        assert (first[key].status, first[key].reason) == ("IGNORED", SEEN)
    assert len(processing_executions(cloud)) == before + 1

    second, ended = followed(cloud, next_firing(cloud, 3))
    assert ended["status"] == "SUCCEEDED", ended
    assert {key: (result.status, result.reason) for key, result in second.items()} == {
        key: ("IGNORED", SEEN) for key in ("lost.csv", "notes.txt", "uploaded.csv")}
    assert len(processing_executions(cloud)) == before + 1


def test_an_overwrite_whose_event_was_lost_is_swept_and_the_version_seen_is_not(deploy, tmp_path):
    cloud = deploy(FailureRate=0, SweepEveryHours=24)
    run_one(cloud, tmp_path, "daily.csv", b"id,value\n1,a\n")
    with cloud.bus.silenced():
        cloud.clients.s3.put_object(Bucket=cloud.stack.bucket, Key="daily.csv", Body=b"id,value\n1,a\n2,b\n")
    swept, ended = followed(cloud, cloud.scheduler.fire("SweepSchedule"))
    assert ended["status"] == "SUCCEEDED" and swept["daily.csv"].status == "SUCCEEDED"
    head = cloud.clients.s3.head_object(Bucket=cloud.stack.bucket, Key="daily.csv")
    processed = execution_output(cloud, swept["daily.csv"])["result"]["summary"]
    assert processed["version_id"] == head["VersionId"] and processed["rows"] == 2  # the overwrite
    again, _ = followed(cloud, cloud.scheduler.fire("SweepSchedule"))
    assert (again["daily.csv"].status, again["daily.csv"].reason) == ("IGNORED", SEEN)


def test_in_cloudtrail_mode_an_uploaded_file_is_seen_though_its_event_has_no_etag(deploy, tmp_path):
    cloud = deploy(FailureRate=0, SweepEveryHours=24, TriggerSource="CloudTrail")
    assert run_one(cloud, tmp_path, "trail.csv").status == "SUCCEEDED"
    swept, ended = followed(cloud, cloud.scheduler.fire("SweepSchedule"))
    assert ended["status"] == "SUCCEEDED"
    assert (swept["trail.csv"].status, swept["trail.csv"].reason) == ("IGNORED", SEEN)


def test_without_a_sweep_the_stack_has_no_schedule_and_a_sweep_started_by_hand_fails_first(deploy, tmp_path):
    cloud = deploy(FailureRate=0)
    assert cloud.scheduler.schedules == []
    run_one(cloud, tmp_path, "plain.csv")
    before = len(processing_executions(cloud))
    started = backfill.start(cloud.clients, cloud.stack, "", sweep=True)
    results, ended = backfill.follow(cloud.clients, cloud.stack, started,
                                     follower=ExecutionFollower(cloud.clients, cloud.stack.state_machine_arn),
                                     poll_s=0.05, timeout_s=60)
    assert (ended["status"], ended["error"]) == ("FAILED", "SweepNotEnabled")
    assert "SweepEveryHours" in ended["cause"]
    assert [result.status for result in results] == ["ABORTED"]
    assert len(processing_executions(cloud)) == before  # it started nothing


def test_a_sweep_option_that_is_not_a_boolean_fails_before_listing(deploy):
    cloud = deploy(FailureRate=0, SweepEveryHours=24)
    sfn = cloud.clients.stepfunctions
    arn = sfn.start_execution(stateMachineArn=cloud.stack.backfill_state_machine_arn, input='{"sweep": "yes"}')[
        "executionArn"]
    deadline = time.monotonic() + 30
    while (described := sfn.describe_execution(executionArn=arn))["status"] == "RUNNING" and time.monotonic() < deadline:
        time.sleep(0.05)
    assert (described["status"], described["error"]) == ("FAILED", "InvalidBackfillInput")
    assert sfn.list_map_runs(executionArn=arn)["mapRuns"] == []

"""A fork that adds an EventBridge Scheduler schedule: offline it fires on the scaled clock, as its
role, with its context attributes, and what the offline cloud cannot run is refused at deploy."""

from __future__ import annotations

import json
import time

import pytest

from pipeline.local.cloud import DeployRefused
from pipeline.offline import OfflineCloud
from tests.forks import Fork

ROLE = {
    "Type": "AWS::IAM::Role",
    "Properties": {
        "AssumeRolePolicyDocument": {"Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Principal": {"Service": "scheduler.amazonaws.com"}, "Action": "sts:AssumeRole",
            "Condition": {"StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}}}]},
        "Policies": [{"PolicyName": "start-backfill", "PolicyDocument": {"Version": "2012-10-17", "Statement": [{
            "Sid": "StartBackfill", "Effect": "Allow", "Action": "states:StartExecution",
            "Resource": {"Ref": "BackfillStateMachine"}}]}}],
    },
}


def schedule(expression: str = "rate(1 hour)", target: dict | None = None, extra: dict | None = None) -> dict:
    return {"Type": "AWS::Scheduler::Schedule", "Properties": {
        "ScheduleExpression": expression, "FlexibleTimeWindow": {"Mode": "OFF"},
        "Target": target or {"Arn": {"Ref": "BackfillStateMachine"}, "RoleArn": {"Fn::GetAtt": ["SweepRole", "Arn"]},
                             "Input": '{"prefix": "old/", "at": "<aws.scheduler.scheduled-time>"}'}, **(extra or {})}}


def forked(role: dict = ROLE, **options) -> Fork:
    return Fork().add_resource("SweepRole", role).add_resource("Sweep", schedule(**options))


def test_a_schedule_fires_at_deploy_then_on_the_scaled_clock_as_its_role_with_its_context(tmp_path):
    # rate(1 hour) at a time scale of 0.0005: at deploy (no StartDate: AWS starts at once), then every 1.8 s
    with OfflineCloud.deploy(forked().write(tmp_path), ["FailureRate=0"], time_scale=0.0005) as cloud:
        deployed = time.monotonic()
        while not cloud.scheduler.firings and time.monotonic() < deployed + 1.5:
            time.sleep(0.01)
        assert cloud.scheduler.firings, "no firing as the deploy ended"  # before a period (1.8 s) went by
        with cloud.bus.silenced():  # an object whose event was lost
            cloud.clients.s3.put_object(Bucket=cloud.stack.bucket, Key="old/late.csv", Body=b"id\n1\n")
        sfn = cloud.clients.stepfunctions
        deadline = time.monotonic() + 30
        while len(cloud.scheduler.firings) < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
        (first, firing, *_) = cloud.scheduler.firings
        assert firing.error is None and firing.schedule == "Sweep"
        (listed,) = cloud.clients.scheduler.list_schedules()["Schedules"]  # as CloudFormation created it
        described = cloud.clients.scheduler.get_schedule(Name=listed["Name"])
        assert (described["ScheduleExpression"], described["Target"]["Arn"]) == (
            "rate(1 hour)", cloud.stack.backfill_state_machine_arn)
        started = json.loads(sfn.describe_execution(executionArn=firing.execution_arn)["input"])
        assert started == {"prefix": "old/", "at": firing.scheduled_time}  # the context attribute filled in
        while (sfn.describe_execution(executionArn=firing.execution_arn)["status"] == "RUNNING"
               and time.monotonic() < deadline):
            time.sleep(0.1)
        assert sfn.describe_execution(executionArn=firing.execution_arn)["status"] == "SUCCEEDED"
        processed = sfn.list_executions(stateMachineArn=cloud.stack.state_machine_arn)["executions"]
        assert processed and all(execution["status"] == "SUCCEEDED" for execution in processed)


def test_a_schedule_whose_role_may_not_start_the_execution_starts_nothing(tmp_path):
    role = json.loads(json.dumps(ROLE))
    role["Properties"]["Policies"][0]["PolicyDocument"]["Statement"][0]["Resource"] = {
        "Ref": "ProcessFileStateMachine"}
    with OfflineCloud.deploy(forked(role).write(tmp_path), ["FailureRate=0"], time_scale=0.0005) as cloud:
        deadline = time.monotonic() + 30
        while not cloud.scheduler.firings and time.monotonic() < deadline:
            time.sleep(0.1)
        (firing, *_) = cloud.scheduler.firings
        assert firing.execution_arn is None and "states:StartExecution" in firing.error
        backfills = cloud.clients.stepfunctions.list_executions(
            stateMachineArn=cloud.stack.backfill_state_machine_arn)["executions"]
        assert backfills == []


def test_with_no_waiting_schedules_do_not_fire_on_their_own(tmp_path):
    with OfflineCloud.deploy(forked().write(tmp_path), ["FailureRate=0"], time_scale=0) as cloud:
        time.sleep(0.5)
        assert cloud.scheduler.firings == []


@pytest.mark.parametrize(("options", "text"), [
    ({"expression": "cron(0 3 * * ? *)"}, "schedule expression 'cron(0 3 * * ? *)': the offline cloud runs rate(...) "
                                          "schedules only"),
    ({"target": {"Arn": {"Fn::GetAtt": ["CheckExtFunction", "Arn"]}, "RoleArn": {"Fn::GetAtt": ["SweepRole", "Arn"]}}},
     "the offline cloud's schedules start Step Functions state machines only"),
    ({"extra": {"StartDate": "2027-01-01T00:00:00Z"}}, "StartDate: the offline cloud's schedules fire from the deploy on"),
])
def test_what_the_offline_cloud_cannot_run_is_refused_in_one_line(tmp_path, options, text):
    with pytest.raises(DeployRefused) as refused:
        with OfflineCloud.deploy(forked(**options).write(tmp_path), time_scale=0):
            pass
    line = str(refused.value)
    assert "\n" not in line and "Sweep (AWS::Scheduler::Schedule): NotSupportedOffline" in line and text in line

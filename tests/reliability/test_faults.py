"""Injected faults in the offline cloud, each with an asserted, visible outcome."""

import json

import pytest

from pipeline.local.faults import Fault
from tests.offline import run_one


@pytest.fixture(scope="module")
def cloud(deploy):
    return deploy(FailureRate=1)


def test_a_handler_timeout_is_caught_and_notified(cloud, files):
    cloud.faults.add(Fault("timeout", "RandomFailureFunction", 1))
    result = run_one(cloud, files, "slow.csv")
    assert result.error == "Sandbox.Timedout"
    assert "Task timed out after" in result.cause
    assert result.notification is not None and result.accounted_for


def test_lambda_service_errors_exhaust_retries_then_are_notified(cloud, files):
    cloud.faults.add(Fault("service-error", "RandomFailureFunction", 4))  # MaxAttempts 3: four attempts in all
    result = run_one(cloud, files, "unlucky.csv")
    process = next(visit for visit in result.visits if visit.name == "Process CSV")
    assert process.errors == ("Lambda.ServiceException",) * 4
    assert result.error == "Lambda.ServiceException"
    assert result.notification is not None


def test_a_failing_sns_publish_fails_the_execution_visibly(cloud, files):
    cloud.faults.add(Fault("sns-failure", None, 4))
    result = run_one(cloud, files, "unheard.csv")
    assert result.status == "FAILED"
    assert result.error == "SNS.InternalErrorException"
    assert result.notification is None
    assert not result.accounted_for


def failed_executions_metric(cloud) -> float:
    from datetime import datetime, timedelta, timezone

    now = datetime.now(timezone.utc)
    stats = cloud.clients.cloudwatch.get_metric_statistics(
        Namespace="AWS/States", MetricName="ExecutionsFailed",
        Dimensions=[{"Name": "StateMachineArn", "Value": cloud.stack.state_machine_arn}],
        StartTime=now - timedelta(hours=1), EndTime=now + timedelta(minutes=5), Period=3600, Statistics=["Sum"],
    )
    return sum(point["Sum"] for point in stats["Datapoints"])


def test_a_failed_notification_still_shows_in_the_alarms_metric(cloud, files):
    before = failed_executions_metric(cloud)
    cloud.faults.add(Fault("sns-failure", None, 4))
    result = run_one(cloud, files, "unheard-twice.csv")
    assert result.error == "SNS.InternalErrorException"
    assert cloud.wait_for_report(result.execution_arn)
    assert failed_executions_metric(cloud) == before + 1


def test_a_failed_start_puts_the_event_in_the_dead_letter_queue_intact(cloud, files):
    cloud.faults.add(Fault("start-failure", None, 1))
    result = run_one(cloud, files, "never-started.csv")
    assert result.status == "DEAD_LETTERED"
    assert result.error == "ServiceUnavailable"
    assert not result.accounted_for
    messages = cloud.clients.sqs.receive_message(
        QueueUrl=cloud.stack.dead_letter_queue_url, MaxNumberOfMessages=10, MessageAttributeNames=["All"]
    )["Messages"]
    (message,) = [m for m in messages if "never-started.csv" in m["Body"]]
    event = json.loads(message["Body"])
    (delivery,) = [d for d in cloud.bus.deliveries if d.dead_letter_error]
    assert event["id"] == delivery.event_id
    assert event["detail"]["object"]["key"] == "never-started.csv"
    assert event["detail"]["object"]["version-id"] == result.version_id
    attributes = {k: v["StringValue"] for k, v in message["MessageAttributes"].items()}
    assert attributes["ERROR_CODE"] == "ServiceUnavailable"
    (rule,) = cloud.stack.rules
    assert attributes["RULE_ARN"].endswith(f":rule/{rule.name}")
    assert attributes["TARGET_ARN"] == cloud.stack.state_machine_arn

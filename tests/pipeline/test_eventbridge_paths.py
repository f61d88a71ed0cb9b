"""Every path of the pipeline, end to end on the real template, S3 EventBridge trigger."""

import json

import pytest

from pipeline.local.faults import Fault
from tests.offline import execution_output, follow_execution, run_one

SUCCESS_PATH = ["Check File Extension", "Route By Extension", "Process CSV", "Processed"]


@pytest.fixture(scope="module")
def cloud(deploy):
    return deploy(FailureRate=0)


def test_a_csv_file_is_processed(cloud, files):
    result = run_one(cloud, files, "sales.csv", b"id,amount\n1,2\n2,3\n")
    assert result.status == "SUCCEEDED"
    assert result.states == SUCCESS_PATH
    assert result.notification is None
    assert execution_output(cloud, result)["result"]["summary"]["rows"] == 2


def test_an_invalid_extension_is_notified_and_fails(cloud, files):
    result = run_one(cloud, files, "notes.txt", b"just text")
    assert result.status == "FAILED"
    assert result.states[-3:] == ["Invalid Extension", "Notify Failure", "Pipeline Failed"]
    assert result.error == "InvalidFileExtension"
    assert result.notification.subject == "[file pipeline] Failed: notes.txt"
    assert "Key:        notes.txt" in result.notification.message
    assert "[.txt]" in result.cause


@pytest.mark.parametrize("name", ["a+b.csv", "my file.csv", "100%.csv", "données été.csv", "RÉSUMÉ.CSV", "#=&'.csv"])
def test_keys_that_need_care_arrive_byte_for_byte(cloud, files, name):
    result = run_one(cloud, files, name)
    assert result.status == "SUCCEEDED", result
    summary_input = execution_output(cloud, result)
    assert summary_input["file"]["key"] == name
    assert summary_input["result"]["summary"]["key"] == name


def test_a_throttled_lambda_is_retried_then_succeeds(cloud, files):
    cloud.faults.add(Fault("throttle", "RandomFailureFunction", 2))
    result = run_one(cloud, files, "throttled.csv")
    assert result.status == "SUCCEEDED"
    process = next(visit for visit in result.visits if visit.name == "Process CSV")
    assert process.attempts == 3
    assert process.errors == ("Lambda.TooManyRequestsException", "Lambda.TooManyRequestsException")


def test_a_folder_marker_starts_nothing(cloud, files):
    before = len(cloud.bus.deliveries)
    cloud.clients.s3.put_object(Bucket=cloud.stack.bucket, Key="reports/", Body=b"")
    assert len(cloud.bus.deliveries) == before  # no rule matched the marker's event
    executions = cloud.clients.stepfunctions.list_executions(stateMachineArn=cloud.stack.state_machine_arn)
    inputs = [cloud.clients.stepfunctions.describe_execution(executionArn=e["executionArn"])["input"]
              for e in executions["executions"]]
    assert not any('"reports/"' in text for text in inputs)


def test_a_malformed_event_sent_to_the_state_machine_is_notified(cloud):
    sfn = cloud.clients.stepfunctions
    arn = sfn.start_execution(stateMachineArn=cloud.stack.state_machine_arn, name="malformed",
                              input=json.dumps({"detail-type": "Object Created", "detail": {"object": {"key": "lost.csv"}}}))["executionArn"]
    result = follow_execution(cloud, arn)
    assert result.status == "FAILED"
    assert result.error == "MalformedEventError"
    assert result.notification.subject == "[file pipeline] Failed: unreadable event"
    assert "lost.csv" in result.notification.message

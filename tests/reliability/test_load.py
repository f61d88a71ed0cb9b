"""1,000 files at failure rate 0.33 through the offline cloud: every one accounted for, once."""

import collections
import json

import pytest

from pipeline.output import EXIT_OK, exit_status

FILES = 1000


@pytest.mark.slow
def test_a_thousand_files_are_each_processed_or_notified_exactly_once(deploy, tmp_path):
    cloud = deploy(FailureRate=0.33)
    queue_url = cloud.clients.sqs.create_queue(QueueName="emails")["QueueUrl"]
    queue_arn = cloud.clients.sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    cloud.clients.sns.subscribe(TopicArn=cloud.stack.topic_arn, Protocol="sqs", Endpoint=queue_arn)
    paths = []
    for number in range(FILES):
        path = tmp_path / f"batch-{number:04d}.csv"
        path.write_text(f"id,value\n{number},{number * 2}\n")
        paths.append(path)

    results = cloud.run(paths, timeout_s=600)

    statuses = collections.Counter(result.status for result in results)
    assert statuses["SUCCEEDED"] + statuses["FAILED"] == FILES, statuses
    assert all(result.notification for result in results if result.status == "FAILED")
    assert 200 < statuses["FAILED"] < 460, statuses  # 0.33 of 1,000, with plenty of room for chance
    assert exit_status(results) == EXIT_OK

    executions = []
    for page in cloud.clients.stepfunctions.get_paginator("list_executions").paginate(
        stateMachineArn=cloud.stack.state_machine_arn
    ):
        executions.extend(page["executions"])
    assert len(executions) == FILES
    assert len({result.execution_arn for result in results}) == FILES

    emails = []
    while batch := cloud.clients.sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages"):
        emails.extend(json.loads(message["Body"])["Subject"] for message in batch)
        cloud.clients.sqs.delete_message_batch(QueueUrl=queue_url, Entries=[
            {"Id": str(n), "ReceiptHandle": m["ReceiptHandle"]} for n, m in enumerate(batch)])
    alarms = [subject for subject in emails if subject.startswith("ALARM: ")]
    files = [subject for subject in emails if not subject.startswith("ALARM: ")]
    assert len(files) == statuses["FAILED"]
    assert len(set(files)) == len(files)  # no file notified twice
    # The ExecutionsFailed alarm acts on its state change only: one email for the whole burst.
    (alarm,) = alarms
    assert alarm.startswith('ALARM: "file-pipeline-FailedExecutionsAlarm-') and alarm.endswith('" in us-east-1')

"""One S3 write is one event, whatever the client: PutObject, a multipart upload (boto3's transfer
manager and the AWS CLI above their 8 MB threshold), CopyObject, a browser form's POST. Each event's `reason` is the API
S3 names (S3 User Guide, "Using EventBridge": the Object Created event's detail.reason)."""

from __future__ import annotations

import json
import subprocess

import pytest
from boto3.s3.transfer import TransferConfig

from tests.conftest import TEMPLATE
from tests.serve_process import Server, aws_cli

MB = 1024 * 1024


@pytest.fixture(scope="module")
def cloud(deploy):
    return deploy(TEMPLATE, FailureRate="0")


def started_reasons(cloud, key: str) -> list[str]:
    """The reason of every event delivered for the key (deliveries happen as S3 answers the write)."""
    reasons = []
    for delivery in cloud.bus.deliveries:
        if delivery.execution_arn is None:
            continue
        started = cloud.clients.stepfunctions.describe_execution(executionArn=delivery.execution_arn)
        detail = json.loads(started["input"]).get("detail", {})
        if detail.get("object", {}).get("key") == key:
            reasons.append(detail["reason"])
    return reasons


def test_a_multipart_upload_is_one_event_with_its_reason(cloud, tmp_path):
    big = tmp_path / "big.csv"
    big.write_bytes(b"id,value\n" + b"1,abcdefgh\n" * (9 * MB // 11))
    cloud.clients.s3.upload_file(str(big), cloud.stack.bucket, "big.csv",
                                 Config=TransferConfig(multipart_threshold=8 * MB, multipart_chunksize=8 * MB))
    assert started_reasons(cloud, "big.csv") == ["CompleteMultipartUpload"]


def test_a_put_and_a_copy_are_one_event_each(cloud):
    s3 = cloud.clients.s3
    s3.put_object(Bucket=cloud.stack.bucket, Key="put.csv", Body=b"id\n1\n")
    s3.copy_object(Bucket=cloud.stack.bucket, Key="copied.csv", CopySource={"Bucket": cloud.stack.bucket, "Key": "put.csv"})
    assert (started_reasons(cloud, "put.csv"), started_reasons(cloud, "copied.csv")) == (["PutObject"], ["CopyObject"])


def test_a_browser_form_upload_is_one_event(cloud):
    """POST Object, as a web page's form sends it with a presigned POST: the API S3's docs name
    "POST Object"; the reason's spelling, PostObject, is as S3 names its other APIs."""
    import boto3
    import requests

    s3 = boto3.client("s3", endpoint_url=cloud.endpoint, region_name=cloud.clients.region,
                      aws_access_key_id="offline", aws_secret_access_key="offline")
    form = s3.generate_presigned_post(cloud.stack.bucket, "posted.csv")
    answer = requests.post(form["url"], data=form["fields"], files={"file": ("posted.csv", b"id\n1\n")}, timeout=30)
    assert answer.status_code == 204, answer.text
    assert started_reasons(cloud, "posted.csv") == ["PostObject"]


@pytest.mark.slow
def test_the_aws_cli_uploads_a_large_file_as_one_file(tmp_path):
    big = tmp_path / "large.csv"
    big.write_bytes(b"id,value\n" + b"1,abcdefgh\n" * (13 * MB // 11))
    server = Server("--parameter-overrides", "FailureRate=0")
    try:
        subprocess.run([aws_cli(), "s3", "cp", str(big), f"s3://{server.bucket}/large.csv"],
                       env=server.environment(), check=True, capture_output=True, timeout=120)
        server.wait_for(r"large\.csv: SUCCEEDED")
        listed = server.pipeline("status", "--stack", "file-pipeline", "--json")
        assert [json.loads(line)["key"] for line in listed.stdout.splitlines()] == ["large.csv"]
    finally:
        server.stop()


def aws_client(cloud, service):
    """A client as the AWS CLI is one at `pipeline serve`'s endpoint: signed, over HTTP."""
    import boto3

    return boto3.client(service, endpoint_url=cloud.endpoint, region_name=cloud.clients.region,
                        aws_access_key_id="offline", aws_secret_access_key="offline")


def test_the_alarm_its_history_and_the_pipelines_metrics_are_read_through_cloudwatch(cloud, tmp_path):
    from tests.offline import run_one

    failed = run_one(cloud, tmp_path, "notes.txt")
    processed = run_one(cloud, tmp_path, "sales.csv")
    assert (failed.status, processed.status) == ("FAILED", "SUCCEEDED")
    cloudwatch = aws_client(cloud, "cloudwatch")
    (alarm,) = cloudwatch.describe_alarms()["MetricAlarms"]
    assert (alarm["MetricName"], alarm["StateValue"], alarm["Threshold"]) == ("ExecutionsFailed", "ALARM", 1.0)
    assert alarm["StateReason"].startswith("Threshold Crossed: 1 datapoint [1.0 (")
    history = cloudwatch.describe_alarm_history(AlarmName=alarm["AlarmName"], ScanBy="TimestampAscending")
    assert [(item["HistoryItemType"], item["HistorySummary"].split(" arn:")[0])
            for item in history["AlarmHistoryItems"]] == [
        ("StateUpdate", "Alarm updated from OK to ALARM"), ("Action", "Successfully executed action")]
    states = {metric["MetricName"] for metric in cloudwatch.list_metrics(Namespace="AWS/States")["Metrics"]}
    emitted = {metric["MetricName"] for metric in cloudwatch.list_metrics(Namespace="FilePipeline")["Metrics"]}
    assert {"ExecutionsFailed", "ExecutionsSucceeded", "ExecutionTime"} <= states
    assert {"FilesChecked", "FilesProcessed", "RowsProcessed"} <= emitted  # the functions' Powertools metrics


def test_every_resource_of_the_stack_is_described_as_cloudformation_describes_it(cloud):
    from pipeline.template import load_template

    cloudformation = aws_client(cloud, "cloudformation")
    described = cloudformation.describe_stack_resources(StackName=cloud.stack.name)["StackResources"]
    listed = cloudformation.list_stack_resources(StackName=cloud.stack.name)["StackResourceSummaries"]
    assert [r["LogicalResourceId"] for r in described] == [r["LogicalResourceId"] for r in listed]
    declared = {logical_id for logical_id, resource in load_template(TEMPLATE)["Resources"].items()
                if resource.get("Condition") not in ("UseCloudTrail", "HasNotificationEmail", "HasSweep")}
    assert declared <= {r["LogicalResourceId"] for r in described}  # SAM adds roles and the rule
    for resource in described:
        assert resource["ResourceType"].startswith("AWS::") and resource["PhysicalResourceId"]
        assert resource["ResourceStatus"] == "CREATE_COMPLETE" and resource["Timestamp"].year >= 2026

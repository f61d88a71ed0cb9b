"""The CloudTrail trigger, and KeyPrefix: only keys under the prefix start the pipeline."""

import json

from tests.offline import follow_execution, run_one


def test_cloudtrail_mode_delivers_the_raw_key(deploy, files):
    cloud = deploy(TriggerSource="CloudTrail", FailureRate=0)
    notifications = cloud.clients.s3.get_bucket_notification_configuration(Bucket=cloud.stack.bucket)
    assert "EventBridgeConfiguration" not in notifications
    result = run_one(cloud, files, "q1+q2 sales.csv")
    assert result.status == "SUCCEEDED"
    started = json.loads(cloud.clients.stepfunctions.describe_execution(executionArn=result.execution_arn)["input"])
    assert started["detail-type"] == "AWS API Call via CloudTrail"
    assert started["detail"]["requestParameters"]["key"] == "q1+q2 sales.csv"
    assert run_one(cloud, files, "notes.txt", b"x").error == "InvalidFileExtension"


def test_keys_outside_the_prefix_are_ignored_with_a_reason(deploy, files):
    cloud = deploy(KeyPrefix="incoming/", FailureRate=0)
    outside = run_one(cloud, files, "sales.csv", prefix="elsewhere/")
    assert outside.status == "IGNORED"
    assert "no rule matches key 'elsewhere/sales.csv'" in outside.reason
    assert outside.accounted_for
    inside = run_one(cloud, files, "sales.csv", prefix="incoming/")
    assert inside.status == "SUCCEEDED"


def test_folder_markers_under_the_prefix_stop_at_the_choice(deploy):
    cloud = deploy(KeyPrefix="incoming/", FailureRate=0)
    cloud.clients.s3.put_object(Bucket=cloud.stack.bucket, Key="incoming/batch-7/", Body=b"")
    (delivery,) = cloud.bus.deliveries
    result = follow_execution(cloud, delivery.execution_arn, key="incoming/batch-7/")
    assert result.status == "SUCCEEDED"
    assert result.states == ["Check File Extension", "Route By Extension", "Skip Folder Marker"]

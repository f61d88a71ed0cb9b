"""At-least-once delivery: the same object version is processed once, a new version again."""

import json
import threading
import time

from pipeline.results import FileResult
from tests.offline import execution_output, follow_execution as follow, run_one


def summary(cloud, result: FileResult) -> dict:
    return execution_output(cloud, result)["result"]["summary"]


def reads_of(cloud, key: str) -> int:
    """How many times the processing function actually read the object (its own log says so)."""
    return sum(
        1 for report in cloud.runtime.reports if report.function == "RandomFailureFunction"
        for line in report.logs if '"message":"Read object"' in line and f'"key":{json.dumps(key)}' in line
    )


def redeliver(cloud, result: FileResult) -> list:
    event = json.loads(cloud.clients.stepfunctions.describe_execution(executionArn=result.execution_arn)["input"])
    return cloud.bus.put(event)


def test_the_same_version_delivered_twice_is_processed_once(deploy, files):
    cloud = deploy(FailureRate=0)
    first = run_one(cloud, files, "twice.csv")
    (again,) = redeliver(cloud, first)
    second = follow(cloud, again.execution_arn)
    assert (first.status, second.status) == ("SUCCEEDED", "SUCCEEDED")
    assert summary(cloud, second) == summary(cloud, first)
    assert reads_of(cloud, "twice.csv") == 1


def test_a_new_version_of_the_same_key_is_processed_again(deploy, files):
    cloud = deploy(FailureRate=0)
    first = run_one(cloud, files, "versioned.csv", b"id\n1\n")
    second = run_one(cloud, files, "versioned.csv", b"id\n1\n2\n")
    assert first.version_id != second.version_id
    assert summary(cloud, first)["rows"] == 1 and summary(cloud, second)["rows"] == 2
    assert summary(cloud, first)["processed_by"] != summary(cloud, second)["processed_by"]
    assert reads_of(cloud, "versioned.csv") == 2


def test_concurrent_duplicates_wait_for_one_result(deploy, files):
    cloud = deploy(time_scale=0.05, FailureRate=0)  # IdempotencyAlreadyInProgressError retries wait a little
    first = run_one(cloud, files, "racing.csv")
    event = json.loads(cloud.clients.stepfunctions.describe_execution(executionArn=first.execution_arn)["input"])
    event["detail"]["object"]["version-id"] = cloud.clients.s3.put_object(
        Bucket=cloud.stack.bucket, Key="racing.csv", Body=b"id\n9\n")["VersionId"]
    deliveries = []
    threads = [threading.Thread(target=lambda: deliveries.extend(cloud.bus.put(dict(event)))) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    results = [follow(cloud, delivery.execution_arn) for delivery in deliveries if delivery.execution_arn]
    assert [r.status for r in results].count("SUCCEEDED") >= 3
    summaries = {json.dumps(summary(cloud, r), sort_keys=True) for r in results}
    assert len(summaries) == 1
    wait_until_no_execution_runs(cloud)  # the upload's own execution of the second version too
    assert reads_of(cloud, "racing.csv") == 2  # the first version once, the second version once


def wait_until_no_execution_runs(cloud, timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    sfn = cloud.clients.stepfunctions
    while sfn.list_executions(stateMachineArn=cloud.stack.state_machine_arn, statusFilter="RUNNING")["executions"]:
        assert time.monotonic() < deadline, f"executions still running after {timeout_s} s"
        time.sleep(0.02)


def test_idempotency_records_live_in_the_table_the_template_declares(deploy, files):
    """Wherever the table runs (its own DynamoDB process with the speed layer on, the offline
    cloud's own otherwise), it is the template's table."""
    cloud = deploy(FailureRate=0)
    result = run_one(cloud, files, "recorded.csv")
    table = cloud.stack.resources["IdempotencyTable"]
    dynamodb = cloud.clients.dynamodb
    assert dynamodb.meta.endpoint_url == cloud.clients.endpoints.get("dynamodb", dynamodb.meta.endpoint_url)
    described = dynamodb.describe_table(TableName=table)["Table"]
    assert described["KeySchema"] == [{"AttributeName": "id", "KeyType": "HASH"}]
    assert described["SSEDescription"]["Status"] == "ENABLED"
    assert dynamodb.describe_time_to_live(TableName=table)["TimeToLiveDescription"] == {
        "TimeToLiveStatus": "ENABLED", "AttributeName": "expiration"}
    backups = dynamodb.describe_continuous_backups(TableName=table)["ContinuousBackupsDescription"]
    assert backups["PointInTimeRecoveryDescription"]["PointInTimeRecoveryStatus"] == "ENABLED"
    items = dynamodb.scan(TableName=table)["Items"]
    completed = [item for item in items if item["status"]["S"] == "COMPLETED"]
    assert result.status == "SUCCEEDED" and len(completed) >= 1
    assert any(json.loads(item["data"]["S"]).get("key") == "recorded.csv" for item in completed)

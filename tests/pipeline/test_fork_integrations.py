"""Forks that add a Step Functions integration: with its grant it runs, and its effect is seen by
a function and by an AWS client (one service, whoever calls); without, it fails as in AWS, with
the error Step Functions records; an integration the offline cloud cannot check is refused at deploy.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pipeline.local.cloud import DeployRefused
from pipeline.offline import OfflineCloud
from tests.conftest import TEMPLATE as ROOT_TEMPLATE
from tests.forks import STATE_MACHINE, Fork, source_folder
from tests.offline import run_one

AUDIT_TABLE = {
    "Type": "AWS::DynamoDB::Table",
    "Properties": {
        "BillingMode": "PAY_PER_REQUEST",
        "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
        "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
    },
}

RECORD_PROCESSED = {
    "Type": "Task",
    "Resource": "arn:aws:states:::dynamodb:putItem",
    "Parameters": {"TableName": "${AuditTableName}",
                   "Item": {"pk": {"S.$": "$.file.key"}, "execution": {"S.$": "$$.Execution.Id"}}},
    "ResultPath": None,
}

READ_AUDIT = '''
import os
import boto3

def lambda_handler(event, context):
    item = boto3.client("dynamodb").get_item(TableName=os.environ["AUDIT_TABLE"], Key={"pk": {"S": event["key"]}})
    return item.get("Item", {}).get("execution", {}).get("S")
'''


def audit_fork(folder: Path, *, grant: bool) -> Path:
    """A fork that records each processed file in a table of its own, then has a third function
    read the record back (as the SAM and Step Functions guides write these)."""
    fork = Fork().add_resource("AuditTable", AUDIT_TABLE).substitute("AuditTableName", {"Ref": "AuditTable"})
    fork.insert_state_after("Process CSV", "Record Processed", RECORD_PROCESSED)
    fork.insert_state_after("Record Processed", "Read Record", {
        "Type": "Task", "Resource": "arn:aws:states:::lambda:invoke",
        "Parameters": {"FunctionName": "${AuditReaderArn}", "Payload": {"key.$": "$.file.key"}},
        "ResultSelector": {"execution.$": "$.Payload"}, "ResultPath": "$.audit"})
    fork.add_resource("AuditReaderFunction", {"Type": "AWS::Serverless::Function", "Properties": {
        "CodeUri": str(source_folder(folder / "audit_reader", {"app.py": READ_AUDIT})), "Handler": "app.lambda_handler",
        "Environment": {"Variables": {"AUDIT_TABLE": {"Ref": "AuditTable"}}},
        "Policies": [{"DynamoDBReadPolicy": {"TableName": {"Ref": "AuditTable"}}}]}})
    fork.substitute("AuditReaderArn", {"Fn::GetAtt": ["AuditReaderFunction", "Arn"]})
    fork.properties(STATE_MACHINE)["Policies"].append({"LambdaInvokePolicy": {"FunctionName": {"Ref": "AuditReaderFunction"}}})
    if grant:
        fork.properties(STATE_MACHINE)["Policies"].append({"DynamoDBWritePolicy": {"TableName": {"Ref": "AuditTable"}}})
    return fork.write(folder)


def failed_task(cloud: OfflineCloud, execution_arn: str) -> dict:
    history = cloud.clients.stepfunctions.get_execution_history(executionArn=execution_arn)["events"]
    return next(event["taskFailedEventDetails"] for event in history if event["type"] == "TaskFailed")


def test_a_dynamodb_task_with_its_grant_writes_the_table_functions_and_clients_read(tmp_path):
    with OfflineCloud.deploy(audit_fork(tmp_path, grant=True), ["FailureRate=0"], time_scale=0) as cloud:
        result = run_one(cloud, tmp_path, "sales.csv")
        assert result.status == "SUCCEEDED", (result.error, result.cause)
        assert "Record Processed" in result.states and "Read Record" in result.states
        history = cloud.clients.stepfunctions.get_execution_history(executionArn=result.execution_arn)["events"]
        read_back = [json.loads(e["taskSucceededEventDetails"]["output"])["Payload"] for e in history
                     if e["type"] == "TaskSucceeded" and e["taskSucceededEventDetails"]["resourceType"] == "lambda"]
        assert read_back[-1] == result.execution_arn  # the function saw the task's row
        table = cloud.stack.resources["AuditTable"]
        item = cloud.clients.dynamodb.get_item(TableName=table, Key={"pk": {"S": "sales.csv"}})["Item"]
        assert item["execution"]["S"] == result.execution_arn  # and so does an AWS client


def test_a_dynamodb_task_without_its_grant_fails_as_in_aws(tmp_path):
    with OfflineCloud.deploy(audit_fork(tmp_path, grant=False), ["FailureRate=0"], time_scale=0) as cloud:
        result = run_one(cloud, tmp_path, "sales.csv")
        assert result.status == "FAILED"
        failure = failed_task(cloud, result.execution_arn)
        assert failure["error"] == "DynamoDB.AmazonDynamoDBException"
        assert "is not authorized to perform: dynamodb:PutItem on resource: arn:aws:dynamodb:" in failure["cause"]
        assert failure["cause"].endswith("Error Code: AccessDeniedException; Request ID: "
                                         f"{failure['cause'].split('Request ID: ')[1].split(';')[0]}; Proxy: null)")


def queue_fork(folder: Path, *, grant: bool) -> Path:
    fork = Fork().add_resource("ProcessedQueue", {"Type": "AWS::SQS::Queue", "Properties": {
        "SqsManagedSseEnabled": True}})
    fork.substitute("ProcessedQueueUrl", {"Ref": "ProcessedQueue"})
    fork.insert_state_after("Process CSV", "Announce Processed", {
        "Type": "Task", "Resource": "arn:aws:states:::sqs:sendMessage",
        "Parameters": {"QueueUrl": "${ProcessedQueueUrl}", "MessageBody": {"key.$": "$.file.key"}},
        "ResultPath": None})
    if grant:
        fork.properties(STATE_MACHINE)["Policies"].append(
            {"SQSSendMessagePolicy": {"QueueName": {"Fn::GetAtt": ["ProcessedQueue", "QueueName"]}}})
    return fork.write(folder)


@pytest.mark.parametrize("grant", [True, False])
def test_an_sqs_task_sends_with_its_grant_and_fails_without(tmp_path, grant):
    with OfflineCloud.deploy(queue_fork(tmp_path, grant=grant), ["FailureRate=0"], time_scale=0) as cloud:
        result = run_one(cloud, tmp_path, "sales.csv")
        queue = cloud.stack.resources["ProcessedQueue"]
        messages = cloud.clients.sqs.receive_message(QueueUrl=queue, WaitTimeSeconds=0).get("Messages", [])
        if grant:
            assert result.status == "SUCCEEDED", (result.error, result.cause)
            assert [json.loads(m["Body"]) for m in messages] == [{"key": "sales.csv"}]
        else:
            assert result.status == "FAILED" and messages == []
            failure = failed_task(cloud, result.execution_arn)
            assert failure["error"] == "SQS.AmazonSQSException"
            assert "is not authorized to perform: sqs:sendmessage on resource: arn:aws:sqs:" in failure["cause"]


ARCHIVE_COPY = {
    "Type": "Task",
    "Resource": "arn:aws:states:::aws-sdk:s3:copyObject",
    "Parameters": {"Bucket.$": "$.file.bucket", "CopySource.$": "States.Format('{}/{}', $.file.bucket, $.file.key)",
                   "Key.$": "States.Format('archive/{}', $.file.key)"},
    "ResultPath": None,
}


@pytest.mark.parametrize(("grants", "outcome"), [
    (["s3:GetObject", "s3:PutObject"], "SUCCEEDED"),
    (["s3:PutObject"], "s3:GetObject"),  # S3 reads the source as the caller too
    (["s3:GetObject"], "s3:PutObject"),
])
def test_an_aws_sdk_copy_needs_read_on_the_source_and_write_on_the_destination(tmp_path, grants, outcome):
    fork = Fork().insert_state_after("Process CSV", "Archive", ARCHIVE_COPY)
    fork.add_policy(STATE_MACHINE, {"Effect": "Allow", "Action": grants,
                                    "Resource": {"Fn::Sub": "${LandingBucket.Arn}/*"}})
    # Only incoming/ starts the pipeline: a copy into the bucket's own trigger scope would start it again.
    with OfflineCloud.deploy(fork.write(tmp_path), ["FailureRate=0", "KeyPrefix=incoming/"], time_scale=0) as cloud:
        result = run_one(cloud, tmp_path, "sales.csv", prefix="incoming/")
        archived = cloud.clients.s3.list_objects_v2(Bucket=cloud.stack.bucket, Prefix="archive/").get("Contents", [])
        if outcome == "SUCCEEDED":
            assert result.status == "SUCCEEDED", (result.error, result.cause)
            assert [obj["Key"] for obj in archived] == ["archive/incoming/sales.csv"]
        else:
            assert result.status == "FAILED" and archived == []
            failure = failed_task(cloud, result.execution_arn)
            assert failure["error"] == "S3.S3Exception"
            assert f"is not authorized to perform: {outcome} on resource: \"arn:aws:s3:::" in failure["cause"]


@pytest.mark.parametrize(("resource", "says"), [
    ("arn:aws:states:::glue:startJobRun.sync", "glue:startJobRun.sync"),
    ("arn:aws:states:::aws-sdk:ec2:runInstances", "aws-sdk:ec2:runInstances"),
    ("arn:aws:states:::dynamodb:query", "is not recognized"),  # AWS refuses it too: InvalidDefinition
    ("arn:aws:states:us-east-1:123456789012:activity:review", "activity"),
])
def test_a_task_the_offline_cloud_cannot_run_or_check_is_refused_at_deploy(tmp_path, resource, says):
    fork = Fork().insert_state_after("Process CSV", "Elsewhere", {"Type": "Task", "Resource": resource,
                                                                   "ResultPath": None})
    with pytest.raises(DeployRefused) as refused:
        with OfflineCloud.deploy(fork.write(tmp_path), time_scale=0):
            pass
    line = str(refused.value)
    assert "\n" not in line and "Elsewhere" in line and says in line


CHILD = {"Type": "AWS::Serverless::StateMachine", "Properties": {
    "Definition": {"StartAt": "Tally", "States": {"Tally": {"Type": "Pass", "Result": {"tallied": True}, "End": True}}},
    "Policies": []}}


def child_fork(folder: Path, *, events: bool) -> Path:
    """A fork that runs a child workflow per file and waits for it (.sync:2), granted as the Step
    Functions guide's synchronous policy; with or without the managed rule's events permissions."""
    fork = Fork().add_resource("TallyStateMachine", CHILD).substitute("TallyArn", {"Ref": "TallyStateMachine"})
    fork.insert_state_after("Process CSV", "Tally", {
        "Type": "Task", "Resource": "arn:aws:states:::states:startExecution.sync:2",
        "Parameters": {"StateMachineArn": "${TallyArn}", "Input": {"key.$": "$.file.key"}},
        "ResultSelector": {"output.$": "$.Output"}, "ResultPath": "$.tally"})
    fork.add_policy(STATE_MACHINE, {"Effect": "Allow", "Action": "states:StartExecution",
                                    "Resource": {"Ref": "TallyStateMachine"}},
                    {"Effect": "Allow", "Action": ["states:DescribeExecution", "states:StopExecution"],
                     "Resource": {"Fn::Sub": "arn:aws:states:${AWS::Region}:${AWS::AccountId}:execution:"
                                             "${TallyStateMachine.Name}:*"}})
    if events:
        fork.add_policy(STATE_MACHINE, {"Effect": "Allow", "Action": ["events:PutTargets", "events:PutRule",
                                                                       "events:DescribeRule"],
                                        "Resource": {"Fn::Sub": "arn:aws:events:${AWS::Region}:${AWS::AccountId}:rule/"
                                                                "StepFunctionsGetEventsForStepFunctionsExecutionRule"}})
    return fork.write(folder)


def test_a_synchronous_child_execution_runs_and_its_output_comes_back(tmp_path):
    with OfflineCloud.deploy(child_fork(tmp_path, events=True), ["FailureRate=0"], time_scale=0) as cloud:
        result = run_one(cloud, tmp_path, "sales.csv")
        assert result.status == "SUCCEEDED", (result.error, result.cause)
        child = cloud.stack.resources["TallyStateMachine"]
        (execution,) = cloud.clients.stepfunctions.list_executions(stateMachineArn=child)["executions"]
        assert execution["status"] == "SUCCEEDED"


def test_a_synchronous_child_without_the_managed_rule_is_refused_as_create_state_machine_refuses_it(tmp_path):
    with pytest.raises(DeployRefused, match=r"ProcessFileStateMachine \(AWS::StepFunctions::StateMachine\): "
                                            r"AccessDeniedException: 'arn:aws:iam::123456789012:role/.*' is not "
                                            r"authorized to create managed-rule\."):
        with OfflineCloud.deploy(child_fork(tmp_path, events=False), time_scale=0):
            pass


@pytest.mark.parametrize("grant", [True, False])
def test_an_eventbridge_task_puts_events_with_its_grant_and_fails_without(tmp_path, grant):
    fork = Fork().insert_state_after("Process CSV", "Announce", {
        "Type": "Task", "Resource": "arn:aws:states:::events:putEvents",
        "Parameters": {"Entries": [{"Source": "file.pipeline", "DetailType": "File Processed",
                                    "Detail": {"key.$": "$.file.key"}}]}, "ResultPath": None})
    if grant:
        fork.add_policy(STATE_MACHINE, {"Effect": "Allow", "Action": "events:PutEvents", "Resource": {
            "Fn::Sub": "arn:aws:events:${AWS::Region}:${AWS::AccountId}:event-bus/default"}})
    with OfflineCloud.deploy(fork.write(tmp_path), ["FailureRate=0"], time_scale=0) as cloud:
        result = run_one(cloud, tmp_path, "sales.csv")
        if grant:
            assert result.status == "SUCCEEDED", (result.error, result.cause)
        else:
            failure = failed_task(cloud, result.execution_arn)
            assert failure["error"] == "EventBridge.AccessDeniedException"  # modelled in EventBridge's API
            assert "is not authorized to perform: events:PutEvents on resource: arn:aws:events:" in failure["cause"]


def test_an_aws_client_at_the_endpoint_sees_the_records_the_functions_wrote(tmp_path):
    """One DynamoDB: what the processing function recorded is what `aws dynamodb scan` at the
    offline cloud's endpoint returns (with the speed layer, DynamoDB runs in a process of its own)."""
    import boto3

    with OfflineCloud.deploy(ROOT_TEMPLATE, ["FailureRate=0"], time_scale=0) as cloud:
        result = run_one(cloud, tmp_path, "sales.csv")
        client = boto3.client("dynamodb", endpoint_url=cloud.endpoint, region_name=cloud.clients.region,
                              aws_access_key_id="offline", aws_secret_access_key="offline")
        items = client.scan(TableName=cloud.stack.resources["IdempotencyTable"])["Items"]
        assert result.status == "SUCCEEDED"
        assert [item["status"]["S"] for item in items] == ["COMPLETED"]  # Powertools' record of the one file


@pytest.mark.parametrize("fast", [True, False], ids=["speed layer", "plain"])
def test_an_update_that_creates_the_item_returns_no_key_as_updated_new(tmp_path, fast):
    """UpdateItem with ReturnValues UPDATED_NEW "Returns only the updated attributes, as they
    appear after the UpdateItem operation" (DynamoDB API Reference), an upsert too: a test of
    ScyllaDB's run against DynamoDB (test/alternator/test_returnvalues.py,
    test_update_item_returnvalues_updated_new) records the new item's key left out. moto returned
    the key. ALL_NEW returns the whole item. An update with neither an expression nor attribute
    updates creates the item with its key alone (ScyllaDB's test_update_item_no_update_method, run
    against DynamoDB); moto failed with a 500."""
    import boto3

    with OfflineCloud.deploy(ROOT_TEMPLATE, ["FailureRate=0"], time_scale=0, fast=fast) as cloud:
        client = boto3.client("dynamodb", endpoint_url=cloud.endpoint, region_name=cloud.clients.region,
                              aws_access_key_id="offline", aws_secret_access_key="offline")
        table = cloud.stack.resources["IdempotencyTable"]

        def count(key: str, returned: str) -> dict:
            return client.update_item(TableName=table, Key={"id": {"S": key}}, ReturnValues=returned,
                                      UpdateExpression="SET #n = if_not_exists(#n, :zero) + :one",
                                      ExpressionAttributeNames={"#n": "n"},
                                      ExpressionAttributeValues={":zero": {"N": "0"}, ":one": {"N": "1"}})

        first = count("a", "UPDATED_NEW")
        assert first["Attributes"] == {"n": {"N": "1"}}
        assert "ConsumedCapacity" not in first  # only when ReturnConsumedCapacity asks (API Reference)
        assert client.update_item(TableName=table, Key={"id": {"S": "z"}}, ReturnConsumedCapacity="TOTAL",
                                  UpdateExpression="SET v = :v", ExpressionAttributeValues={":v": {"N": "1"}}
                                  )["ConsumedCapacity"]["TableName"] == table
        assert count("a", "UPDATED_NEW")["Attributes"] == {"n": {"N": "2"}}
        assert count("b", "ALL_NEW")["Attributes"] == {"id": {"S": "b"}, "n": {"N": "1"}}
        assert "Attributes" not in count("c", "UPDATED_OLD")
        removed = client.update_item(TableName=table, Key={"id": {"S": "a"}}, ReturnValues="UPDATED_NEW",
                                     UpdateExpression="REMOVE #n", ExpressionAttributeNames={"#n": "n"})
        assert "Attributes" not in removed  # nothing left of what it updated: no Attributes, not an empty map
        created = client.update_item(TableName=table, Key={"id": {"S": "d"}}, ReturnValues="ALL_NEW")
        assert created["Attributes"] == {"id": {"S": "d"}}  # neither expression nor updates: the key alone
        assert "Attributes" not in client.update_item(TableName=table, Key={"id": {"S": "e"}}, ReturnValues="UPDATED_NEW")
        assert client.get_item(TableName=table, Key={"id": {"S": "e"}})["Item"] == {"id": {"S": "e"}}

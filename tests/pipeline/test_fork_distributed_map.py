"""A fork's own Distributed Map, reading a JSON file of items (ItemReader s3:getObject): the read is
made as the state machine's role, and a refused read fails the map run as a refused listing does."""

from __future__ import annotations

import json
import time

import pytest

from pipeline.offline import OfflineCloud
from tests.forks import Fork

DEFINITION = {"StartAt": "Items", "States": {"Items": {
    "Type": "Map", "End": True,
    "ItemReader": {"Resource": "arn:aws:states:::s3:getObject", "ReaderConfig": {"InputType": "JSON"},
                   "Parameters": {"Bucket.$": "$.bucket", "Key": "items.json"}},
    "ItemProcessor": {"ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"}, "StartAt": "Each",
                      "States": {"Each": {"Type": "Pass", "End": True}}}}}}
READ = {"Sid": "ReadItems", "Effect": "Allow", "Action": "s3:GetObject", "Resource": {"Fn::Sub": "${LandingBucket.Arn}/*"}}
CHILDREN = {"Sid": "Children", "Effect": "Allow", "Action": ["states:StartExecution", "states:DescribeExecution",
                                                              "states:StopExecution"], "Resource": "*"}


@pytest.mark.parametrize("granted", [True, False])
def test_a_json_item_reader_reads_as_the_role(tmp_path, granted):
    statements = [READ, CHILDREN] if granted else [CHILDREN]
    fork = Fork().add_resource("ItemsMap", {"Type": "AWS::Serverless::StateMachine", "Properties": {
        "Definition": DEFINITION, "Policies": [{"Statement": statements}]}})
    with OfflineCloud.deploy(fork.write(tmp_path), time_scale=0) as cloud:
        sfn = cloud.clients.stepfunctions
        (machine,) = [m["stateMachineArn"] for m in sfn.list_state_machines()["stateMachines"] if "ItemsMap" in m["name"]]
        with cloud.bus.silenced():
            cloud.clients.s3.put_object(Bucket=cloud.stack.bucket, Key="items.json", Body=b'[{"a": 1}, {"a": 2}]')
        started = sfn.start_execution(stateMachineArn=machine, input=json.dumps({"bucket": cloud.stack.bucket}))
        deadline = time.monotonic() + 30
        while (ended := sfn.describe_execution(executionArn=started["executionArn"]))["status"] == "RUNNING" \
                and time.monotonic() < deadline:
            time.sleep(0.05)
    if granted:
        assert (ended["status"], json.loads(ended["output"])) == ("SUCCEEDED", [{"a": 1}, {"a": 2}])
    else:
        assert (ended["status"], ended["error"]) == ("FAILED", "States.ItemReaderFailed")
        assert "not authorized to perform: s3:GetObject" in ended["cause"]

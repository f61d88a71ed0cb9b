"""Forks that share code through layers: a function sees its layers under /opt as in Lambda (the
layers' python/ on sys.path after the function's own code, a later layer's file over an earlier
one's), packaged from a local ContentUri as `sam deploy` packages it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pipeline.local.cloud import DeployRefused
from pipeline.offline import OfflineCloud
from tests.forks import STATE_MACHINE, Fork, source_folder
from tests.offline import run_one

SUMMARIZE = '''
import rules

def lambda_handler(event, context):
    return {"rules": rules.VERSION, "file": rules.__file__}
'''


def layer(folder: Path, version: str) -> dict:
    content = source_folder(folder, {"python/rules.py": f"VERSION = {version!r}\n"})
    return {"Type": "AWS::Serverless::LayerVersion", "Properties": {"ContentUri": str(content),
                                                                     "CompatibleRuntimes": ["python3.13"]}}


def layered_fork(folder: Path, layers: list[str]) -> Path:
    fork = Fork()
    for name in layers:
        fork.add_resource(name, layer(folder / name, name))
    fork.add_resource("SummarizeFunction", {"Type": "AWS::Serverless::Function", "Properties": {
        "CodeUri": str(source_folder(folder / "summarize", {"app.py": SUMMARIZE})), "Handler": "app.lambda_handler",
        "Layers": [{"Ref": name} for name in layers]}})
    fork.substitute("SummarizeArn", {"Fn::GetAtt": ["SummarizeFunction", "Arn"]})
    fork.properties(STATE_MACHINE)["Policies"].append({"LambdaInvokePolicy": {"FunctionName": {"Ref": "SummarizeFunction"}}})
    fork.insert_state_after("Process CSV", "Summarize", {
        "Type": "Task", "Resource": "arn:aws:states:::lambda:invoke",
        "Parameters": {"FunctionName": "${SummarizeArn}", "Payload.$": "$"}, "ResultSelector": {"summary.$": "$.Payload"},
        "ResultPath": "$.summary"})
    return fork.write(folder)


def test_a_layer_from_outside_the_stack_is_refused_but_powertools_is_stood_in_for(tmp_path):
    fork = Fork()
    fork.properties("CheckExtFunction")["Layers"] = [
        {"Fn::Sub": "arn:aws:lambda:${AWS::Region}:017000801446:layer:AWSLambdaPowertoolsPythonV3-python313-arm64:18"}]
    with OfflineCloud.deploy(fork.write(tmp_path), time_scale=0) as cloud:
        assert run_one(cloud, tmp_path, "notes.txt").status == "FAILED"  # ran: an invalid extension, notified
    fork.properties("RandomFailureFunction")["Layers"] = ["arn:aws:lambda:us-east-1:999999999999:layer:pandas:3"]
    with pytest.raises(DeployRefused, match="NotSupportedOffline: layer arn:aws:lambda:us-east-1:999999999999:layer:"
                                            "pandas:3 is not one of the stack's own"):
        with OfflineCloud.deploy(fork.write(tmp_path), time_scale=0):
            pass


def summary(cloud: OfflineCloud, execution_arn: str) -> dict:
    history = cloud.clients.stepfunctions.get_execution_history(executionArn=execution_arn)["events"]
    outputs = [json.loads(e["taskSucceededEventDetails"]["output"]) for e in history if e["type"] == "TaskSucceeded"]
    return outputs[-1]["Payload"]


def test_a_function_imports_from_its_layer(tmp_path):
    with OfflineCloud.deploy(layered_fork(tmp_path, ["SharedRules"]), ["FailureRate=0"], time_scale=0) as cloud:
        result = run_one(cloud, tmp_path, "sales.csv")
        assert result.status == "SUCCEEDED", (result.error, result.cause)
        found = summary(cloud, result.execution_arn)
        assert found["rules"] == "SharedRules" and found["file"].endswith("/python/rules.py")
        assert not found["file"].startswith(str(tmp_path))  # the layer as deployed, not its source folder


def test_a_later_layer_wins_where_two_hold_the_same_file(tmp_path):
    with OfflineCloud.deploy(layered_fork(tmp_path, ["BaseRules", "OverridingRules"]), ["FailureRate=0"],
                           time_scale=0) as cloud:
        result = run_one(cloud, tmp_path, "sales.csv")
        assert summary(cloud, result.execution_arn)["rules"] == "OverridingRules"


def test_more_than_five_layers_are_refused_by_the_functions_schema(tmp_path):
    with pytest.raises(DeployRefused, match=r"SummarizeFunction \(AWS::Lambda::Function\): Properties validation "
                                            r"failed: expected maximum item count: 5, found: 6 at Properties/Layers"):
        with OfflineCloud.deploy(layered_fork(tmp_path, [f"Layer{n}" for n in range(6)]), time_scale=0):
            pass

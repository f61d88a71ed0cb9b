"""CloudFormation change sets in the offline cloud, driven with boto3 as the SAM CLI drives them
(the calls of docs/design/sam-deploy-into-serve.md): the template packaged and uploaded as `sam
package` does, CreateChangeSet with a TemplateURL, ExecuteChangeSet, the stack's events and
outputs, an update, a refused update rolled back, and DeleteStack; between them, files run
through whatever is deployed. tests/sam_deploy does the same with the SAM CLI itself."""

from __future__ import annotations

import io
import itertools
import json
import zipfile
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from pipeline.offline import OfflineCloud
from pipeline.template import load_template
from tests.conftest import ROOT, SAMPLES, TEMPLATE
from tests.forks import Fork


def MULTI_REGION_TRAIL() -> Fork:  # noqa: N802 - a fork, named as the change it makes
    """A trail CloudTrail refuses: multi-Region without global service events."""
    return Fork().set_property("LandingWritesTrail", "IsMultiRegionTrail", True)

ARTIFACTS = "artifacts-bucket"
NUMBERS = itertools.count()
STACK = "file-pipeline"


def _zip(folder: Path) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for path in sorted(folder.rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts:
                archive.write(path, path.relative_to(folder).as_posix())
    return buffer.getvalue()


def packaged_template_url(cloud: OfflineCloud, fork: Fork | None = None) -> str:
    """What `sam package` uploads: each CodeUri zipped, the definition, and the template naming
    them by S3 location; returns the path-style URL SAM gives CloudFormation."""
    s3 = cloud.clients.s3
    if ARTIFACTS not in [b["Name"] for b in s3.list_buckets()["Buckets"]]:
        s3.create_bucket(Bucket=ARTIFACTS)
    template = (fork or Fork()).template
    for resource in template["Resources"].values():
        properties = resource.get("Properties", {})
        if resource["Type"] == "AWS::Serverless::Function":
            key = f"code/{properties['CodeUri'].strip('/').replace('/', '-')}.zip"
            s3.put_object(Bucket=ARTIFACTS, Key=key, Body=_zip(ROOT / properties["CodeUri"]))
            properties["CodeUri"] = f"s3://{ARTIFACTS}/{key}"
        if resource["Type"] == "AWS::Serverless::StateMachine":
            key = f"definitions/{Path(properties['DefinitionUri']).name}"
            s3.put_object(Bucket=ARTIFACTS, Key=key, Body=(ROOT / properties["DefinitionUri"]).read_bytes())
            properties["DefinitionUri"] = {"Bucket": ARTIFACTS, "Key": key}
    body = json.dumps(template, indent=1)
    s3.put_object(Bucket=ARTIFACTS, Key="packaged.template", Body=body.encode())
    return f"{cloud.endpoint}/{ARTIFACTS}/packaged.template"


def change_set(cloud: OfflineCloud, url: str, kind: str, parameters: dict[str, str], previous: tuple[str, ...] = (),
               capabilities: tuple[str, ...] = ("CAPABILITY_IAM",)) -> dict:
    cloudformation = cloud.clients.cloudformation
    created = cloudformation.create_change_set(
        StackName=STACK, ChangeSetName=f"samcli-deploy{next(NUMBERS)}",
        TemplateURL=url, ChangeSetType=kind, Capabilities=list(capabilities),
        Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in parameters.items()]
        + [{"ParameterKey": k, "UsePreviousValue": True} for k in previous])
    return cloudformation.describe_change_set(ChangeSetName=created["Id"])


def execute(cloud: OfflineCloud, described: dict) -> list[dict]:
    """ExecuteChangeSet, then the stack's events since, oldest first (as SAM's table shows them)."""
    cloudformation = cloud.clients.cloudformation
    before = {e["EventId"] for e in cloudformation.describe_stack_events(StackName=STACK)["StackEvents"]}
    cloudformation.execute_change_set(ChangeSetName=described["ChangeSetId"], StackName=STACK)
    events = cloudformation.describe_stack_events(StackName=described["StackId"])["StackEvents"]
    return [e for e in reversed(events) if e["EventId"] not in before]


def rows(events: list[dict]) -> list[tuple[str, str]]:
    return [(e["ResourceStatus"], e["LogicalResourceId"]) for e in events]


@pytest.fixture
def cloud():
    with OfflineCloud.start() as started:
        yield started


def test_a_packaged_template_deploys_updates_rolls_back_and_deletes_through_change_sets(cloud):
    url = packaged_template_url(cloud)
    submitted = cloud.clients.s3.get_object(Bucket=ARTIFACTS, Key="packaged.template")["Body"].read()
    created = change_set(cloud, url, "CREATE", {"FailureSeed": "t"})
    assert created["Status"] == "CREATE_COMPLETE" and created["ExecutionStatus"] == "AVAILABLE"
    added = {c["ResourceChange"]["LogicalResourceId"] for c in created["Changes"]}
    assert {"CheckExtFunction", "RandomFailureFunction", "ProcessFileStateMachine", "LandingBucket"} <= added
    assert cloud.stack is None  # nothing runs before the change set is executed

    events = execute(cloud, created)
    assert events[0]["ResourceStatus"] == "CREATE_IN_PROGRESS" and events[0]["ResourceStatusReason"] == "User Initiated"
    assert ("CREATE_COMPLETE", "CheckExtFunction") in rows(events)
    assert rows(events)[-1] == ("CREATE_COMPLETE", STACK)  # the root event the SAM CLI waits for
    stack = cloud.clients.cloudformation.describe_stacks(StackName=STACK)["Stacks"][0]
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stack["Outputs"]}
    assert outputs["LandingBucketName"] == cloud.stack.bucket
    assert {p["ParameterKey"]: p["ParameterValue"] for p in stack["Parameters"]}["FailureRate"] == "0.33"
    (notes,) = cloud.run([SAMPLES / "notes.txt"])
    assert notes.status == "FAILED" and notes.notification is not None
    second = cloud.clients.cloudformation.create_change_set(
        StackName="second-pipeline", ChangeSetName="second", TemplateURL=url, Capabilities=["CAPABILITY_IAM"])
    second = cloud.clients.cloudformation.describe_change_set(ChangeSetName=second["Id"])
    assert second["Status"] == "FAILED" and second["StatusReason"].startswith(
        f"The offline cloud runs one pipeline stack at a time, and {STACK} is deployed")

    # SAM's update: FailureRate given, every other parameter UsePreviousValue.
    others = tuple(p for p in load_template(TEMPLATE)["Parameters"] if p != "FailureRate")
    update = change_set(cloud, url, "UPDATE", {"FailureRate": "0"}, previous=others)
    modified = {(c["ResourceChange"]["Action"], c["ResourceChange"]["LogicalResourceId"]) for c in update["Changes"]}
    assert modified == {("Modify", "RandomFailureFunction")}
    events = execute(cloud, update)
    assert rows(events)[-2:] == [("UPDATE_COMPLETE_CLEANUP_IN_PROGRESS", STACK), ("UPDATE_COMPLETE", STACK)]
    function = cloud.clients.lambda_.get_function_configuration(FunctionName=cloud.stack.resources["RandomFailureFunction"])
    assert str(function["Environment"]["Variables"]["FAILURE_RATE"]) == "0"  # moto keeps a Number a number
    assert cloud.runtime.function("RandomFailureFunction").environment["FAILURE_RATE"] == "0"
    assert [r.status for r in cloud.run([SAMPLES / "sales.csv", SAMPLES / "returns.csv"])] == ["SUCCEEDED"] * 2

    same = change_set(cloud, url, "UPDATE", {}, previous=tuple(load_template(TEMPLATE)["Parameters"]))
    assert (same["Status"], same["ExecutionStatus"]) == ("FAILED", "UNAVAILABLE")
    assert same["StatusReason"] == ("The submitted information didn't contain changes. "
                                    "Submit different information to create a change set.")
    with pytest.raises(ClientError, match=r"InvalidChangeSetStatus.*current status of \[FAILED\]"):
        cloud.clients.cloudformation.execute_change_set(ChangeSetName=same["ChangeSetId"])

    # CloudTrail refuses a multi-Region trail without global service events: the update rolls back.
    refused_url = packaged_template_url(cloud, MULTI_REGION_TRAIL())
    refused = change_set(cloud, refused_url, "UPDATE", {"TriggerSource": "CloudTrail"},
                         previous=tuple(p for p in others if p != "TriggerSource") + ("FailureRate",))
    events = execute(cloud, refused)
    failed = [e for e in events if e["ResourceStatus"] == "CREATE_FAILED"]
    assert [e["LogicalResourceId"] for e in failed] == ["LandingWritesTrail"]
    assert "Multi-Region trail must include global service events. (Service: CloudTrail" in failed[0]["ResourceStatusReason"]
    assert ("UPDATE_ROLLBACK_IN_PROGRESS", STACK) in rows(events)
    assert [e["ResourceStatusReason"] for e in events if e["ResourceStatus"] == "UPDATE_ROLLBACK_IN_PROGRESS"] == [
        "The following resource(s) failed to create: [LandingWritesTrail]."]
    assert rows(events)[-1] == ("UPDATE_ROLLBACK_COMPLETE", STACK)
    listed = cloud.clients.cloudformation.describe_stack_resources(StackName=STACK)["StackResources"]
    resources = {r["LogicalResourceId"] for r in listed}
    assert "LandingWritesTrail" not in resources and "CheckExtFunction" in resources
    assert [r.status for r in cloud.run([SAMPLES / "inventory.csv"])] == ["SUCCEEDED"]  # FailureRate 0 still

    # GetTemplate's Original stage: the template as submitted (sam delete finds its upload by its MD5).
    assert cloud.clients.cloudformation.get_template(StackName=STACK)["TemplateBody"] == json.loads(submitted)

    bucket = cloud.stack.bucket
    cloud.clients.cloudformation.delete_stack(StackName=STACK)
    with pytest.raises(ClientError, match=f"Stack with id {STACK} does not exist"):
        cloud.clients.cloudformation.describe_stacks(StackName=STACK)
    assert cloud.stack is None and cloud.runtime.functions == []
    cloud.clients.s3.put_object(Bucket=bucket, Key="after/sales.csv", Body=b"a,b\n")  # retained, runs nothing
    assert cloud.clients.stepfunctions.list_state_machines()["stateMachines"] == []


def test_a_template_that_needs_a_capability_not_given_fails_its_change_set(cloud):
    described = change_set(cloud, packaged_template_url(cloud), "CREATE", {}, capabilities=())
    assert (described["Status"], described["StatusReason"]) == ("FAILED", "Requires capabilities : [CAPABILITY_IAM]")


def test_a_template_the_sam_transform_refuses_fails_its_change_set_with_the_transform_error(cloud):
    url = packaged_template_url(cloud, Fork().add_property("CheckExtFunction", "Nope", 1))
    described = change_set(cloud, url, "CREATE", {})
    assert described["Status"] == "FAILED"
    assert described["StatusReason"].startswith("Transform AWS::Serverless-2016-10-31 failed with: Invalid Serverless "
                                                "Application Specification document. Number of errors found: ")


def test_a_parameter_value_the_template_does_not_allow_is_refused_at_once(cloud):
    with pytest.raises(ClientError, match="Parameter 'WorkflowType' must be one of AllowedValues"):
        change_set(cloud, packaged_template_url(cloud), "CREATE", {"WorkflowType": "FAST"})


def test_a_refused_creation_rolls_back_leaves_nothing_running_and_cannot_be_updated(cloud):
    url = packaged_template_url(cloud, MULTI_REGION_TRAIL())
    events = execute(cloud, change_set(cloud, url, "CREATE", {"TriggerSource": "CloudTrail"}))
    assert ("CREATE_FAILED", "LandingWritesTrail") in rows(events)
    assert [e["ResourceStatusReason"] for e in events if e["ResourceStatus"] == "ROLLBACK_IN_PROGRESS"] == [
        "The following resource(s) failed to create: [LandingWritesTrail]. Rollback requested by user."]
    assert ("DELETE_SKIPPED", "LandingBucket") in rows(events)  # DeletionPolicy: Retain
    assert rows(events)[-1] == ("ROLLBACK_COMPLETE", STACK)
    assert cloud.stack is None and cloud.runtime.functions == []
    assert cloud.clients.stepfunctions.list_state_machines()["stateMachines"] == []
    with pytest.raises(ClientError, match="is in ROLLBACK_COMPLETE state and can not be updated"):
        change_set(cloud, packaged_template_url(cloud), "UPDATE", {})

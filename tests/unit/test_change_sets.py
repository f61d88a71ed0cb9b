"""What CloudFormation does with a submitted change set before any resource is touched: where its
TemplateURL points, the parameters it resolves and refuses, the capabilities it requires, and the
changes it lists (pipeline.local.change_sets, no moto)."""

from __future__ import annotations

import pytest

from pipeline.local.change_sets import (
    ProcessedTemplate, ResourceChange, S3Location, ValidationError, changes, missing_capability, resolve_parameters,
    template_location,
)
from pipeline.template import load_template
from tests.conftest import TEMPLATE


@pytest.mark.parametrize("url, expected", [
    # SAM CLI uploads path-style to the endpoint it was given: pipeline serve's own address.
    ("http://127.0.0.1:4599/aws-sam-cli-managed-default-samclisourcebucket-1/file-pipeline/abc.template",
     S3Location("aws-sam-cli-managed-default-samclisourcebucket-1", "file-pipeline/abc.template")),
    ("http://localhost:4599/bucket/a/b.template", S3Location("bucket", "a/b.template")),
    ("https://s3.amazonaws.com/bucket/key.template", S3Location("bucket", "key.template")),
    ("https://s3.eu-west-1.amazonaws.com/bucket/key.template", S3Location("bucket", "key.template")),
    ("https://s3-eu-west-1.amazonaws.com/bucket/key.template", S3Location("bucket", "key.template")),
    ("https://my.bucket.s3.us-east-1.amazonaws.com/dir/key.template", S3Location("my.bucket", "dir/key.template")),
    ("https://bucket.s3.amazonaws.com/key.template?versionId=abc", S3Location("bucket", "key.template", "abc")),
    ("https://s3.amazonaws.com/bucket/with%20space.template", S3Location("bucket", "with space.template")),
])
def test_a_template_url_names_its_bucket_and_key_in_either_address_form(url, expected):
    assert template_location(url) == expected


@pytest.mark.parametrize("url", ["ftp://s3.amazonaws.com/bucket/key", "https://s3.amazonaws.com/bucket",
                                 "http://127.0.0.1:4599/"])
def test_a_url_that_names_no_object_is_refused(url):
    with pytest.raises(ValidationError, match="TemplateURL must be a supported URL"):
        template_location(url)


DECLARED = load_template(TEMPLATE)["Parameters"]


def given(**values: str) -> list[dict[str, str]]:
    return [{"ParameterKey": k, "ParameterValue": v} for k, v in values.items()]


def test_parameters_not_given_take_their_defaults_as_text():
    resolved = resolve_parameters(DECLARED, given(FailureRate="0"), None)
    assert resolved["FailureRate"] == "0"
    assert resolved["WorkflowType"] == "STANDARD" and resolved["LogRetentionDays"] == "30"
    assert set(resolved) == set(DECLARED)


def test_use_previous_value_keeps_the_text_given_before():
    # moto 5.2.5 re-reads a previous Number with int(): 0.33 would become 0.
    previous = resolve_parameters(DECLARED, given(FailureRate="0.33"), None)
    again = resolve_parameters(DECLARED, [{"ParameterKey": "FailureRate", "UsePreviousValue": True},
                                          *given(LogLevel="DEBUG")], previous)
    assert again["FailureRate"] == "0.33" and again["LogLevel"] == "DEBUG"


@pytest.mark.parametrize("values, message", [
    ({"WorkflowType": "FAST"}, "Parameter 'WorkflowType' must be one of AllowedValues"),
    ({"FailureRate": "2"}, "Parameter 'FailureRate' must be a number not greater than 1"),
    ({"FailureRate": "-1"}, "Parameter 'FailureRate' must be a number not less than 0"),
    ({"FailureRate": "often"}, r"Parameter 'FailureRate' must be a number\.$"),
    ({"LogRetentionDays": "2"}, "Parameter 'LogRetentionDays' must be one of AllowedValues"),
    ({"KeyPrefix": "in coming/"}, "Parameter KeyPrefix failed to satisfy constraint: may hold only letters"),
    ({"Nope": "1"}, r"Parameters: \[Nope\] do not exist in the template"),
])
def test_a_value_the_parameter_does_not_allow_is_refused(values, message):
    with pytest.raises(ValidationError, match=message):
        resolve_parameters(DECLARED, given(**values), None)


def test_a_create_cannot_use_previous_values():
    with pytest.raises(ValidationError, match="Cannot specify UsePreviousValue on Parameters when ChangeSetType is CREATE"):
        resolve_parameters(DECLARED, [{"ParameterKey": "FailureRate", "UsePreviousValue": True}], None)


def test_a_parameter_without_default_must_be_given():
    with pytest.raises(ValidationError, match=r"Parameters: \[Name\] must have values"):
        resolve_parameters({"Name": {"Type": "String"}}, [], None)


def test_iam_resources_need_the_iam_capability_and_named_ones_the_named_iam_capability():
    role = {"Resources": {"Role": {"Type": "AWS::IAM::Role", "Properties": {}}}}
    named = {"Resources": {"Role": {"Type": "AWS::IAM::Role", "Properties": {"RoleName": "r"}}}}
    assert missing_capability(role, []) == "CAPABILITY_IAM"
    assert missing_capability(role, ["CAPABILITY_IAM"]) is None
    assert missing_capability(named, ["CAPABILITY_IAM"]) == "CAPABILITY_NAMED_IAM"
    assert missing_capability(named, ["CAPABILITY_NAMED_IAM"]) is None
    assert missing_capability({"Resources": {"Q": {"Type": "AWS::SQS::Queue"}}}, []) is None


CONTEXT = ("us-east-1", "123456789012", "file-pipeline")


def processed(resources: dict, conditions: dict | None = None, **parameters: str) -> ProcessedTemplate:
    return ProcessedTemplate("", parameters, {"Resources": resources, "Conditions": conditions or {}})


def test_a_parameter_change_modifies_each_resource_that_refers_to_it():
    function = {"Type": "AWS::Lambda::Function", "Properties": {"Environment": {"Variables": {
        "FAILURE_RATE": {"Ref": "FailureRate"}}}}}
    machine = {"Type": "AWS::StepFunctions::StateMachine", "Properties": {"DefinitionString": {
        "Fn::Sub": "arn:${LogLevel}"}}}
    queue = {"Type": "AWS::SQS::Queue", "Properties": {}}
    before = processed({"Fn": function, "Machine": machine, "Queue": queue}, FailureRate="0.33", LogLevel="INFO")
    after = processed({"Fn": function, "Machine": machine, "Queue": queue}, FailureRate="0", LogLevel="INFO")
    assert changes(before, after, CONTEXT) == [ResourceChange("Modify", "Fn", "AWS::Lambda::Function", "Conditional")]


def test_a_create_adds_everything_and_an_update_adds_and_removes_by_logical_id():
    queue, topic = {"Type": "AWS::SQS::Queue"}, {"Type": "AWS::SNS::Topic"}
    assert changes(None, processed({"Q": queue}), CONTEXT) == [ResourceChange("Add", "Q", "AWS::SQS::Queue")]
    assert changes(processed({"Q": queue}), processed({"T": topic}), CONTEXT) == [
        ResourceChange("Add", "T", "AWS::SNS::Topic"), ResourceChange("Remove", "Q", "AWS::SQS::Queue")]
    assert changes(processed({"Q": queue}), processed({"Q": queue}), CONTEXT) == []


def test_a_condition_that_comes_to_hold_adds_its_resources_and_modifies_those_that_use_it():
    conditions = {"UseTrail": {"Fn::Equals": [{"Ref": "TriggerSource"}, "CloudTrail"]}}
    trail = {"Type": "AWS::CloudTrail::Trail", "Condition": "UseTrail", "Properties": {}}
    rule = {"Type": "AWS::Events::Rule", "Properties": {"EventPattern": {
        "Fn::If": ["UseTrail", {"source": ["aws.s3"]}, {"source": ["aws.s3"], "detail-type": ["Object Created"]}]}}}
    before = processed({"Trail": trail, "Rule": rule}, conditions, TriggerSource="EventBridge")
    after = processed({"Trail": trail, "Rule": rule}, conditions, TriggerSource="CloudTrail")
    assert changes(before, after, CONTEXT) == [ResourceChange("Add", "Trail", "AWS::CloudTrail::Trail"),
                                               ResourceChange("Modify", "Rule", "AWS::Events::Rule", "Conditional")]
    assert changes(after, before, CONTEXT) == [ResourceChange("Remove", "Trail", "AWS::CloudTrail::Trail"),
                                               ResourceChange("Modify", "Rule", "AWS::Events::Rule", "Conditional")]

"""The template, transformed by the real SAM translator: least privilege, TLS, encryption, pins."""

import json
import re

import pytest

from pipeline.local.packaging import package
from pipeline.template import TemplateError, parse_parameter_overrides
from tests.conftest import ROOT, TEMPLATE

# Every place the transformed template may grant "*", and why AWS requires it.
WILDCARD_ALLOWED = {
    ("PipelineKey", "kms"): "a key policy's Resource is always '*': it means this key",
    ("ProcessFileStateMachineRole", "logs"): "CloudWatch Logs log delivery has no resource-level permissions",
    ("BackfillStateMachineRole", "logs"): "CloudWatch Logs log delivery has no resource-level permissions",
}


@pytest.fixture(scope="module", params=["EventBridge", "CloudTrail"])
def cloudformation(request):
    return package(TEMPLATE, {"TriggerSource": request.param}, "bucket", "us-east-1").cloudformation


def policy_statements(cloudformation):
    for logical_id, resource in cloudformation["Resources"].items():
        properties = resource.get("Properties", {})
        documents = [properties.get("KeyPolicy"), properties.get("PolicyDocument")]
        documents += [policy["PolicyDocument"] for policy in properties.get("Policies", [])]
        for document in filter(None, documents):
            for statement in document["Statement"]:
                yield logical_id, statement


def as_list(value):
    return value if isinstance(value, list) else [value]


def test_no_statement_grants_wildcards_beyond_the_allow_list(cloudformation):
    for logical_id, statement in policy_statements(cloudformation):
        if statement["Effect"] != "Allow":
            continue
        actions = as_list(statement.get("Action", []))
        resources = as_list(statement.get("Resource", []))
        wildcard = "*" in actions or any(a.endswith(":*") for a in actions if isinstance(a, str)) or "*" in resources
        if wildcard:
            service = actions[0].split(":")[0]
            assert (logical_id, service) in WILDCARD_ALLOWED, (logical_id, statement)
    managed = {
        arn for resource in cloudformation["Resources"].values()
        for arn in resource.get("Properties", {}).get("ManagedPolicyArns", [])
    }
    assert managed <= {
        "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole",
        "arn:aws:iam::aws:policy/AWSXrayWriteOnlyAccess",  # X-Ray accepts no resource-level permissions
    }


def test_every_bucket_refuses_plain_http_and_public_access(cloudformation):
    buckets = {k for k, v in cloudformation["Resources"].items() if v["Type"] == "AWS::S3::Bucket"}
    assert "LandingBucket" in buckets
    policies = {v["Properties"]["Bucket"]["Ref"]: v for v in cloudformation["Resources"].values()
                if v["Type"] == "AWS::S3::BucketPolicy"}
    for bucket in buckets:
        properties = cloudformation["Resources"][bucket]["Properties"]
        assert all(properties["PublicAccessBlockConfiguration"].values())
        assert properties["BucketEncryption"]["ServerSideEncryptionConfiguration"]
        deny = [s for s in policies[bucket]["Properties"]["PolicyDocument"]["Statement"] if s["Effect"] == "Deny"]
        assert any(s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}} and s["Action"] == "s3:*" for s in deny)


def test_the_processing_function_reads_only_the_landing_bucket_and_its_own_records(cloudformation):
    role = cloudformation["Resources"]["RandomFailureFunctionRole"]["Properties"]
    statements = [s for p in role["Policies"] for s in p["PolicyDocument"]["Statement"]]
    services = {action.split(":")[0] for statement in statements for action in as_list(statement["Action"])}
    assert services == {"s3", "kms", "dynamodb"}  # each kind checked below is there to check
    for statement in statements:
        actions = as_list(statement["Action"])
        resource = json.dumps(statement["Resource"])
        if all(action.startswith("s3:") for action in actions):
            assert all(action.startswith(("s3:Get", "s3:List")) for action in actions)
            assert "LandingBucket" in resource
        elif all(action.startswith("kms:") for action in actions):  # the table's key, through DynamoDB only
            assert set(actions) == {"kms:Decrypt", "kms:GenerateDataKey"}
            assert "PipelineKey" in resource
            assert "dynamodb." in json.dumps(statement["Condition"]["StringEquals"]["kms:ViaService"])
        else:
            assert set(actions) == {"dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"}
            assert "IdempotencyTable" in resource


def test_topic_queue_and_logs_are_encrypted(cloudformation):
    resources = cloudformation["Resources"]
    assert resources["NotificationTopic"]["Properties"]["KmsMasterKeyId"]
    assert resources["TriggerDeadLetterQueue"]["Properties"]["KmsMasterKeyId"]
    for logical_id, resource in resources.items():
        if resource["Type"] == "AWS::Logs::LogGroup":
            assert resource["Properties"]["KmsKeyId"] and resource["Properties"]["RetentionInDays"], logical_id


def test_the_state_machine_has_logs_tracing_and_the_asl_substitutions(cloudformation):
    machine = cloudformation["Resources"]["ProcessFileStateMachine"]["Properties"]
    assert machine["TracingConfiguration"] == {"Enabled": True}
    assert machine["LoggingConfiguration"]["Level"] == "ALL"
    placeholders = set(re.findall(r"\$\{(\w+)\}", (ROOT / "statemachine" / "process_file.asl.json").read_text()))
    assert placeholders == set(machine["DefinitionSubstitutions"])


def test_powertools_is_pinned_alike_in_every_function_and_the_offline_cloud():
    pins = {path.parent.name: path.read_text().strip() for path in (ROOT / "src").glob("*/requirements.txt")}
    assert set(pins) == {"check_ext", "random_failure"}
    assert len(set(pins.values())) == 1
    assert f'"{next(iter(pins.values()))}"' in (ROOT / "pyproject.toml").read_text()


@pytest.mark.parametrize(
    ("given", "expected"),
    [(["A=1", "B=x=y", "C='q v'"], {"A": "1", "B": "x=y", "C": "q v"}), ([], {})],
)
def test_parameter_overrides_use_sam_syntax(given, expected):
    assert parse_parameter_overrides(given) == expected


@pytest.mark.parametrize("bad", [["NoEquals"], ["=value"]])
def test_bad_parameter_overrides_are_rejected(bad):
    with pytest.raises(TemplateError, match="Key=Value"):
        parse_parameter_overrides(bad)


def test_unknown_parameters_are_rejected():
    with pytest.raises(TemplateError, match="unknown parameter"):
        package(TEMPLATE, {"FailureRat": "0"}, "bucket", "us-east-1")

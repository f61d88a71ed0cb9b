"""Mistakes a fork makes that AWS rejects, each refused offline with one line in AWS's words, and
a mistake AWS only shows at run time (an SSE-KMS bucket whose readers may not use the key)
failing as it does in AWS."""

from __future__ import annotations

import subprocess
import sys

import pytest

from pipeline.local.cloud import DeployRefused
from pipeline.offline import OfflineCloud
from tests.forks import ROOT, STATE_MACHINE, Fork
from tests.offline import run_one


def refusal(fork: Fork, folder) -> str:
    with pytest.raises(DeployRefused) as refused:
        with OfflineCloud.deploy(fork.write(folder), time_scale=0):
            pass
    line = str(refused.value)
    assert "\n" not in line
    return line


def test_an_identity_statement_without_a_resource_is_refused(tmp_path):
    fork = Fork().add_policy("RandomFailureFunction", {"Sid": "Everything", "Effect": "Allow", "Action": "s3:GetObject"})
    line = refusal(fork, tmp_path)
    assert "RandomFailureFunctionRole (AWS::IAM::Role): MalformedPolicyDocument: Policy statement must contain resources." in line
    assert "E3510" in line


def test_a_value_outside_the_resource_schema_is_refused(tmp_path):
    fork = Fork()
    events = fork.properties(STATE_MACHINE)["Events"]["FileLanded"]["Properties"]
    events["RetryPolicy"]["MaximumRetryAttempts"] = 186
    line = refusal(fork, tmp_path)
    assert "(AWS::Events::Rule)" in line and "E3034" in line and "185" in line


def test_a_bucket_policy_naming_a_principal_that_does_not_exist_is_refused(tmp_path):
    """The offline account holds the stack's roles only: a role of the account the stack does not
    create cannot be used offline, and where it does not exist in AWS either, S3 refuses the policy."""
    fork = Fork()
    fork.properties("LandingBucketPolicy")["PolicyDocument"]["Statement"].append({
        "Sid": "Partner", "Effect": "Allow", "Action": "s3:GetObject",
        "Principal": {"AWS": {"Fn::Sub": "arn:aws:iam::${AWS::AccountId}:role/partner-reader"}},
        "Resource": {"Fn::Sub": "${LandingBucket.Arn}/*"}})
    line = refusal(fork, tmp_path)
    assert line.startswith("the offline cloud cannot run template.json: LandingBucketPolicy (AWS::S3::BucketPolicy): "
                           "NotSupportedOffline: the policy names the role partner-reader, which this stack does not "
                           "create")
    assert line.endswith("(where it does not exist, AWS answers MalformedPolicy: Invalid principal in policy)")


def test_a_circular_dependency_is_refused_as_cloudformation_words_it(tmp_path):
    """The key policy names the function's role, whose policy names the key."""
    fork = Fork()
    fork.properties("PipelineKey")["KeyPolicy"]["Statement"].append({
        "Sid": "ProcessorUsesKey", "Effect": "Allow", "Action": "kms:Decrypt", "Resource": "*",
        "Principal": {"AWS": {"Fn::GetAtt": ["RandomFailureFunctionRole", "Arn"]}}})
    line = refusal(fork, tmp_path)
    assert line.startswith("AWS would refuse to deploy template.json: ValidationError: Circular dependency between "
                           "resources: [")
    assert "PipelineKey" in line and "RandomFailureFunctionRole" in line


def test_the_pipeline_command_says_it_in_one_line_and_exits_2(tmp_path):
    fork = Fork()
    fork.properties("PipelineKey")["KeyPolicy"]["Statement"].append({
        "Sid": "ProcessorUsesKey", "Effect": "Allow", "Action": "kms:Decrypt", "Resource": "*",
        "Principal": {"AWS": {"Fn::GetAtt": ["RandomFailureFunctionRole", "Arn"]}}})
    finished = subprocess.run([sys.executable, "-m", "pipeline.cli", "run", str(ROOT / "samples" / "sales.csv"),
                               "--template", str(fork.write(tmp_path))], capture_output=True, text=True, timeout=120,
                              cwd=ROOT)
    assert finished.returncode == 2
    assert finished.stderr.count("\n") == 1 and "Circular dependency between resources" in finished.stderr
    assert "Traceback" not in finished.stderr + finished.stdout


def kms_landing_bucket(fork: Fork) -> Fork:
    fork.properties("LandingBucket")["BucketEncryption"] = {"ServerSideEncryptionConfiguration": [{
        "ServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms",
                                          "KMSMasterKeyID": {"Fn::GetAtt": ["PipelineKey", "Arn"]}},
        "BucketKeyEnabled": True}]}
    return fork


def test_an_sse_kms_bucket_needs_its_readers_to_use_the_key_through_s3(tmp_path):
    """S3 decrypts the object with the caller's permissions (S3 User Guide, "Using server-side
    encryption with AWS KMS keys"): the processing function, allowed the key only through
    DynamoDB, is refused, and the file fails with a notification, as it would in AWS."""
    with OfflineCloud.deploy(kms_landing_bucket(Fork()).write(tmp_path), ["FailureRate=0"], time_scale=0) as cloud:
        result = run_one(cloud, tmp_path, "sales.csv")
    assert result.status == "FAILED" and result.notification is not None
    assert "kms:Decrypt" in result.cause and "AccessDenied" in result.error + result.cause


def test_an_sse_kms_bucket_with_the_grant_through_s3_is_read(tmp_path):
    fork = kms_landing_bucket(Fork()).add_policy("RandomFailureFunction", {
        "Sid": "ReadEncryptedObjects", "Effect": "Allow", "Action": "kms:Decrypt",
        "Resource": {"Fn::GetAtt": ["PipelineKey", "Arn"]},
        "Condition": {"StringEquals": {"kms:ViaService": {"Fn::Sub": "s3.${AWS::Region}.amazonaws.com"}}}})
    with OfflineCloud.deploy(fork.write(tmp_path), ["FailureRate=0"], time_scale=0) as cloud:
        result = run_one(cloud, tmp_path, "sales.csv")
    assert result.status == "SUCCEEDED", (result.error, result.cause)

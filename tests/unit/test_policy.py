"""The policy evaluator decides as the IAM User Guide's "Policy evaluation logic" says."""

import re

import pytest

from pipeline.local.access import AccessControl, aws_managed_key_policy
from pipeline.local.policy import Principal, Request, UnsupportedPolicyError, evaluate, validate

ACCOUNT = "123456789012"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/worker"
WORKER = Principal.role_session(ROLE, "fn")
EVENTS = Principal.of_service("events.amazonaws.com")
KEY = f"arn:aws:kms:us-east-1:{ACCOUNT}:key/k"
ROOT = f"arn:aws:iam::{ACCOUNT}:root"


def allow(action, resource="*", **extra):
    return {"Statement": [{"Effect": "Allow", "Action": action, "Resource": resource, **extra}]}


def test_an_identity_policy_allows_matching_actions_and_resources_only():
    policy = allow(["s3:GetObject*"], "arn:aws:s3:::bucket/*")
    assert evaluate(Request(WORKER, "s3:GetObjectVersion", "arn:aws:s3:::bucket/a+b.csv"), [policy]).allowed
    assert evaluate(Request(WORKER, "S3:getobject", "arn:aws:s3:::bucket/k"), [policy]).allowed  # actions ignore case
    denied = evaluate(Request(WORKER, "s3:GetObject", "arn:aws:s3:::other/k"), [policy])
    assert not denied.allowed
    assert denied.message(Request(WORKER, "s3:GetObject", "arn:aws:s3:::other/k")) == (
        f"User: arn:aws:sts::{ACCOUNT}:assumed-role/worker/fn is not authorized to perform: s3:GetObject on "
        "resource: arn:aws:s3:::other/k because no identity-based policy allows the s3:GetObject action")


def test_an_explicit_deny_wins_over_any_allow():
    deny = {"Statement": [{"Effect": "Deny", "Action": "s3:*", "Resource": "*"}]}
    decision = evaluate(Request(WORKER, "s3:GetObject", "arn:aws:s3:::b/k"), [allow("s3:*"), deny])
    assert not decision.allowed and "explicit deny in an identity-based policy" in decision.reason


def test_a_resource_policy_alone_admits_a_service_principal_under_its_conditions():
    queue = "arn:aws:sqs:us-east-1:123456789012:dlq"
    policy = {"Statement": [{"Effect": "Allow", "Principal": {"Service": "events.amazonaws.com"},
                             "Action": "sqs:SendMessage", "Resource": queue,
                             "Condition": {"ArnEquals": {"aws:SourceArn": "arn:aws:events:us-east-1:123456789012:rule/r"}}}]}
    ours = Request(EVENTS, "sqs:SendMessage", queue, {"aws:SourceArn": "arn:aws:events:us-east-1:123456789012:rule/r"})
    theirs = Request(EVENTS, "sqs:SendMessage", queue, {"aws:SourceArn": "arn:aws:events:us-east-1:123456789012:rule/x"})
    assert evaluate(ours, [], policy).allowed
    assert not evaluate(theirs, [], policy).allowed


def test_a_key_policy_that_names_the_account_needs_an_identity_policy_too():
    key_policy = {"Statement": [{"Effect": "Allow", "Principal": {"AWS": ROOT}, "Action": "kms:*", "Resource": "*"}]}
    request = Request(WORKER, "kms:Decrypt", KEY)
    assert not evaluate(request, [], key_policy, key_policy=True).allowed
    assert evaluate(request, [allow("kms:Decrypt", KEY)], key_policy, key_policy=True).allowed
    # ... and an identity policy alone is not enough: the key policy decides.
    assert not evaluate(request, [allow("kms:Decrypt", KEY)], {"Statement": []}, key_policy=True).allowed


def test_an_aws_managed_key_admits_the_account_through_its_service_and_never_a_service_principal():
    policy = aws_managed_key_policy("sqs", ACCOUNT, "us-east-1")
    through_sqs = {"kms:ViaService": "sqs.us-east-1.amazonaws.com"}
    assert evaluate(Request(WORKER, "kms:GenerateDataKey", KEY, {**through_sqs, "kms:CallerAccount": ACCOUNT}),
                    [], policy, key_policy=True).allowed
    refused = evaluate(Request(EVENTS, "kms:GenerateDataKey", KEY, through_sqs), [], policy, key_policy=True)
    assert not refused.allowed
    assert refused.reason == "because no resource-based policy allows the kms:GenerateDataKey action"


def test_condition_operators_as_documented():
    statement = {"Effect": "Allow", "Action": "kms:Decrypt", "Resource": "*"}

    def holds(condition, context):
        policy = {"Statement": [{**statement, "Condition": condition}]}
        return evaluate(Request(WORKER, "kms:Decrypt", KEY, context), [policy]).allowed

    assert holds({"StringEquals": {"kms:ViaService": "dynamodb.us-east-1.amazonaws.com"}},
                 {"kms:viaservice": "dynamodb.us-east-1.amazonaws.com"})  # keys ignore case
    assert not holds({"StringEquals": {"kms:ViaService": "dynamodb.us-east-1.amazonaws.com"}}, {})
    assert holds({"StringNotEquals": {"kms:ViaService": "sqs.us-east-1.amazonaws.com"}}, {})  # absent key
    assert holds({"StringEqualsIfExists": {"kms:ViaService": "x"}}, {})
    assert holds({"ArnLike": {"aws:SourceArn": "arn:aws:logs:*:123456789012:log-group:*"}},
                 {"aws:SourceArn": "arn:aws:logs:us-east-1:123456789012:log-group:/aws/x"})
    assert holds({"Bool": {"aws:SecureTransport": "true"}}, {"aws:SecureTransport": "true"})
    assert holds({"Null": {"aws:SourceArn": "true"}}, {})
    with pytest.raises(UnsupportedPolicyError):
        holds({"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}}, {"aws:SourceIp": "10.0.0.1"})


def test_the_access_control_survives_the_trip_to_the_dynamodb_process():
    access = AccessControl(ACCOUNT, "us-east-1", role_policies={ROLE: [allow("dynamodb:PutItem")]})
    key = access.issue_credentials(ROLE, "fn")
    again = AccessControl.from_json(access.to_json())
    assert again.principal_for(key) == WORKER
    assert again.principal_for("AKIAOFFLINEUSER") is None  # the offline cloud's own user
    assert again.decide(WORKER, "dynamodb:PutItem", "arn:aws:dynamodb:us-east-1:123456789012:table/t")[0].allowed


@pytest.mark.parametrize(("operator", "values", "holds"), [
    # IAM User Guide, "Multivalued context keys": ForAllValues:StringNotLike {"aws:TagKeys": "key1*"}
    ("ForAllValues:StringNotLike", ("key1:legal",), False),
    ("ForAllValues:StringNotLike", ("key2:audit",), True),
    ("ForAllValues:StringNotLike", None, True),  # no value: every one of none holds
    ("ForAnyValue:StringNotLike", ("key1:legal", "key2:audit"), True),
    ("ForAnyValue:StringLike", None, False),
    ("ForAllValues:StringLike", ("key1:a", "key2:b"), False),
    ("StringNotLike", ("key2:audit",), True),
])
def test_set_operators_as_the_iam_guide_tabulates_them(operator, values, holds):
    policy = {"Statement": [{"Effect": "Allow", "Action": "kms:Decrypt", "Resource": "*",
                             "Condition": {operator: {"aws:TagKeys": "key1*"}}}]}
    context = {} if values is None else {"aws:TagKeys": values}
    assert evaluate(Request(WORKER, "kms:Decrypt", KEY, context), [policy]).allowed == holds


@pytest.mark.parametrize(("statement", "message"), [
    ({"Effect": "deny", "Action": "s3:*", "Resource": "*"}, "Effect must be Allow or Deny"),
    ({"Action": "s3:*", "Resource": "*"}, "Effect must be Allow or Deny"),
    ({"Effect": "Deny", "Action": "s3:*", "Resource": "*", "Condition": {"NotIpAddress": {"aws:SourceIp": "10.0.0.0/8"}}},
     "operator NotIpAddress"),
    ({"Effect": "Deny", "Action": "s3:*", "Resource": "*",
      "Condition": {"StringNotEquals": {"s3:x-amz-server-side-encryption": "aws:kms"}}}, "s3:x-amz-server-side-encryption"),
    ({"Effect": "Allow", "Action": "s3:*", "Resource": "arn:aws:s3:::b/${aws:username}/*"}, "policy variables"),
])
def test_a_policy_the_offline_cloud_could_only_guess_at_is_refused(statement, message):
    with pytest.raises(UnsupportedPolicyError, match=re.escape(message)):
        validate({"Statement": [statement]})


def test_the_template_s_conditions_are_all_evaluated():
    validate({"Statement": [{"Effect": "Allow", "Action": "kms:*", "Resource": "*", "Condition": {
        "StringEquals": {"kms:ViaService": "x", "aws:SourceAccount": "1"},
        "ArnLike": {"kms:EncryptionContext:aws:logs:arn": "arn:*", "aws:SourceArn": "arn:*"},
        "Bool": {"aws:SecureTransport": "false"}}}]})

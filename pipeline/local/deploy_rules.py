"""The rules AWS enforces when a stack is deployed, for the resource types a pipeline uses.

moto's CloudFormation creates nearly anything; AWS refuses some templates, and the stack rolls
back. These checks refuse the same templates offline, with the error code and message the service
answers with, so `pipeline run` exits 2 with one line naming the resource and the rule instead of
running a stack that could never exist. Sources are named at each rule.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from pipeline.local import definitions
from pipeline.local.access import AccessControl
from pipeline.local.policy import Principal, Request, evaluate

NOT_SUPPORTED_OFFLINE = definitions.NOT_SUPPORTED  # a refusal that is the offline cloud's, not AWS's
ADMIN_POLICY = {"Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}


@dataclass(frozen=True)
class Refusal:
    """A resource AWS would refuse to create, and what it would answer."""

    logical_id: str
    resource_type: str
    code: str
    message: str

    def line(self) -> str:
        if not self.logical_id:  # the template's own: CloudFormation refuses it before any resource
            return f"{self.code}: {self.message}"
        return f"{self.logical_id} ({self.resource_type}): {self.code}: {self.message}"


@dataclass(frozen=True)
class DeployContext:
    cloudformation: dict[str, Any]
    resolver: Any
    access: AccessControl
    stack_name: str

    @property
    def region(self) -> str:
        return self.access.region

    @property
    def account(self) -> str:
        return self.access.account

    def resources(self, resource_type: str) -> Iterator[tuple[str, dict[str, Any]]]:
        for logical_id, resource in self.cloudformation["Resources"].items():
            if resource["Type"] == resource_type and self.resolver.condition(resource.get("Condition")):
                yield logical_id, self.resolver.resolve(resource.get("Properties", {}))


Rule = Callable[[DeployContext], Iterator[Refusal]]


def check(context: DeployContext) -> list[Refusal]:
    """Every refusal AWS would make, rule by rule."""
    return [refusal for rule in RULES for refusal in rule(context)]


# -- names ---------------------------------------------------------------------------------------

# (type, property, longest, pattern, error code): the API references' limits on names a template
# may set, and the code each service answers with (as recorded in deployments that hit them).
NAME_LIMITS = (
    # EventBridge API Reference, PutRule: Name, 1-64, [\.\-_A-Za-z0-9]+
    ("AWS::Events::Rule", "Name", 64, r"[\.\-_A-Za-z0-9]+", "ValidationException"),
    # Step Functions API Reference, CreateStateMachine: name, 1-80
    ("AWS::StepFunctions::StateMachine", "StateMachineName", 80, r"[^\s<>{}\[\]?*\"#%\\^|~`$&,;:/]+",
     "ValidationException"),
    # CloudTrail API Reference, CreateTrail: Name, 3-128, letters, digits, . _ - (InvalidTrailNameException;
    # AWS's own message text for it was not found, so this one states the rule)
    ("AWS::CloudTrail::Trail", "TrailName", 128, r"[A-Za-z0-9][A-Za-z0-9._-]{1,126}[A-Za-z0-9]",
     "InvalidTrailNameException"),
    # Lambda API Reference, CreateFunction: FunctionName, 1-64
    ("AWS::Lambda::Function", "FunctionName", 64, r"[a-zA-Z0-9-_]+", "InvalidParameterValueException"),
    # SQS: a queue name has up to 80 characters (.fifo included)
    ("AWS::SQS::Queue", "QueueName", 80, r"[a-zA-Z0-9_-]+(\.fifo)?", "InvalidParameterValue"),
    # CloudWatch Logs API Reference, CreateLogGroup: logGroupName, 1-512, [\.\-_/#A-Za-z0-9]+
    ("AWS::Logs::LogGroup", "LogGroupName", 512, r"[\.\-_/#A-Za-z0-9]+", "InvalidParameterException"),
)


def name_limits(context: DeployContext) -> Iterator[Refusal]:
    for resource_type, prop, longest, pattern, code in NAME_LIMITS:
        for logical_id, properties in context.resources(resource_type):
            name = properties.get(prop)
            if not isinstance(name, str):
                continue  # CloudFormation generates a name within the limits
            field = "name" if resource_type != "AWS::Lambda::Function" else "functionName"
            if len(name) > longest:
                yield Refusal(logical_id, resource_type, code,
                              f"1 validation error detected: Value '{name}' at '{field}' failed "
                              f"to satisfy constraint: Member must have length less than or equal to {longest}")
            elif not re.fullmatch(pattern, name):
                yield Refusal(logical_id, resource_type, code,
                              f"1 validation error detected: Value '{name}' at '{field}' failed "
                              f"to satisfy constraint: Member must satisfy regular expression pattern: {pattern}")


# -- CloudTrail ----------------------------------------------------------------------------------

CLOUDTRAIL = Principal.of_service("cloudtrail.amazonaws.com")


def trails(context: DeployContext) -> Iterator[Refusal]:
    """CloudTrail API Reference, CreateTrail: a multi-Region trail must include global service
    events; the bucket policy must let CloudTrail check the bucket ACL and write its logs; a KMS
    key must let CloudTrail generate data keys for this trail (CloudTrail User Guide, "Amazon S3
    bucket policy for CloudTrail" and "Configure AWS KMS key policies for CloudTrail")."""
    for logical_id, properties in context.resources("AWS::CloudTrail::Trail"):
        kind = "AWS::CloudTrail::Trail"
        # Left out of a template, IncludeGlobalServiceEvents counts as false for a multi-Region trail
        # (deployments that hit it: awsdocs/aws-cloudformation-user-guide pull 908).
        if _true(properties.get("IsMultiRegionTrail")) and not _true(properties.get("IncludeGlobalServiceEvents")):
            yield Refusal(logical_id, kind, "InvalidParameterCombinationException",
                          "Multi-Region trail must include global service events.")
            continue
        name = properties.get("TrailName") or logical_id
        trail_arn = f"arn:aws:cloudtrail:{context.region}:{context.account}:trail/{name}"
        bucket = properties.get("S3BucketName", "")
        service_context = {"aws:SourceArn": trail_arn, "aws:SourceAccount": context.account}
        prefix = f"{properties['S3KeyPrefix']}/" if properties.get("S3KeyPrefix") else ""
        checks = [
            ("s3:GetBucketAcl", f"arn:aws:s3:::{bucket}", {}),
            ("s3:PutObject", f"arn:aws:s3:::{bucket}/{prefix}AWSLogs/{context.account}/CloudTrail/x.json.gz",
             {"s3:x-amz-acl": "bucket-owner-full-control"}),
        ]
        if any(not context.access.decide(CLOUDTRAIL, action, resource, {**service_context, **extra})[0].allowed
               for action, resource, extra in checks):
            yield Refusal(logical_id, kind, "InsufficientS3BucketPolicyException",
                          f"Incorrect S3 bucket policy is detected for bucket: {bucket}")
            continue
        if properties.get("KMSKeyId"):
            key_arn = context.access.key_arn(properties["KMSKeyId"])
            kms_context = {**service_context,
                           "kms:EncryptionContext:aws:cloudtrail:arn": trail_arn}
            if not context.access.decide_kms(CLOUDTRAIL, "kms:GenerateDataKey", key_arn, kms_context)[0].allowed:
                yield Refusal(logical_id, kind, "InsufficientEncryptionPolicyException",
                              f"Insufficient permissions to access S3 bucket {bucket} or KMS key {key_arn}.")


# -- CloudWatch Logs -----------------------------------------------------------------------------

def encrypted_log_groups(context: DeployContext) -> Iterator[Refusal]:
    """CloudWatch Logs User Guide, "Encrypt log data in CloudWatch Logs using AWS KMS": the key
    policy must let logs.REGION.amazonaws.com use the key for this log group, or CreateLogGroup
    is refused."""
    logs = Principal.of_service(f"logs.{context.region}.amazonaws.com")
    for logical_id, properties in context.resources("AWS::Logs::LogGroup"):
        if not properties.get("KmsKeyId"):
            continue
        key_arn = context.access.key_arn(properties["KmsKeyId"])
        group_arn = f"arn:aws:logs:{context.region}:{context.account}:log-group:{properties.get('LogGroupName', logical_id)}"
        kms_context = {"kms:EncryptionContext:aws:logs:arn": group_arn, "aws:SourceAccount": context.account}
        if any(not context.access.decide_kms(logs, action, key_arn, kms_context)[0].allowed
               for action in ("kms:GenerateDataKey", "kms:Decrypt")):
            yield Refusal(logical_id, "AWS::Logs::LogGroup", "AccessDeniedException",
                          f"The specified KMS key does not exist or is not allowed to be used with Arn '{group_arn}'")


# -- Step Functions --------------------------------------------------------------------------------

LOG_DELIVERY_ACTIONS = (
    "logs:CreateLogDelivery", "logs:GetLogDelivery", "logs:UpdateLogDelivery", "logs:DeleteLogDelivery",
    "logs:ListLogDeliveries", "logs:PutResourcePolicy", "logs:DescribeResourcePolicies", "logs:DescribeLogGroups",
)


def state_machine_logging(context: DeployContext) -> Iterator[Refusal]:
    """Step Functions Developer Guide, "Logging in CloudWatch Logs": a state machine that logs
    needs these permissions on "*" in its role, or CreateStateMachine is refused."""
    for logical_id, properties in context.resources("AWS::StepFunctions::StateMachine"):
        destinations = properties.get("LoggingConfiguration", {}).get("Destinations", [])
        if not destinations:
            continue
        role_arn = properties.get("RoleArn", "")
        principal = Principal.role_session(role_arn, "CloudFormation")
        if any(not context.access.decide(principal, action, "*")[0].allowed for action in LOG_DELIVERY_ACTIONS):
            yield Refusal(logical_id, "AWS::StepFunctions::StateMachine", "AccessDeniedException",
                          "The state machine IAM Role is not authorized to access the Log Destination")


def synchronous_children(context: DeployContext) -> Iterator[Refusal]:
    """A state machine whose tasks start child executions and wait for them (.sync) needs its role
    to manage the rule Step Functions uses for them, or CreateStateMachine is refused
    (pipeline.local.definitions.MANAGED_RULE)."""
    for logical_id, properties in context.resources("AWS::StepFunctions::StateMachine"):
        text = properties.get("Definition") or properties.get("DefinitionString")
        definition = definitions.text_of(text)
        if definition is None or not definitions.starts_synchronous_children(definition):
            continue
        role_arn = properties.get("RoleArn", "")
        principal = Principal.role_session(role_arn, "CloudFormation")
        rule = f"arn:aws:events:{context.region}:{context.account}:rule/{definitions.MANAGED_RULE}"
        if not all(context.access.decide(principal, action, rule)[0].allowed for action in definitions.MANAGED_RULE_ACTIONS):
            yield Refusal(logical_id, "AWS::StepFunctions::StateMachine", "AccessDeniedException",
                          f"'{role_arn}' is not authorized to create managed-rule.")


# -- KMS -----------------------------------------------------------------------------------------

def key_policy_lockout(context: DeployContext) -> Iterator[Refusal]:
    """AWS KMS API Reference, CreateKey and PutKeyPolicy: a key policy that would not let the
    principal creating the key change it again is refused (the policy lockout safety check)."""
    deployer = Principal(f"arn:aws:iam::{context.account}:role/CloudFormationDeployer", context.account,
                         role_arn=f"arn:aws:iam::{context.account}:role/CloudFormationDeployer")
    for logical_id, properties in context.resources("AWS::KMS::Key"):
        request = Request(deployer, "kms:PutKeyPolicy", f"arn:aws:kms:{context.region}:{context.account}:key/new")
        if not evaluate(request, [ADMIN_POLICY], properties.get("KeyPolicy", {}), key_policy=True).allowed:
            yield Refusal(logical_id, "AWS::KMS::Key", "MalformedPolicyDocumentException",
                          "The new key policy will not allow you to update the key policy in the future.")


def _true(value: Any) -> bool:
    return str(value).lower() == "true"


RULES: tuple[Rule, ...] = (name_limits, key_policy_lockout, trails, encrypted_log_groups, state_machine_logging,
                           synchronous_children)

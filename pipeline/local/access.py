"""Who may do what in the offline cloud: the deployed stack's policies, enforced as AWS enforces them.

Built once per deploy from the template as CloudFormation created it: each role's policies
(inline, customer managed and AWS managed), each KMS key's policy, the resource policies of
queues, topics and buckets, and which key encrypts which table, topic and queue. The offline
cloud asks it at every call the pipeline makes:

- a handler's AWS calls are made with its execution role's credentials (Lambda hands each
  function its role's session; here an access key per function names it);
- Step Functions' task calls (lambda:InvokeFunction, sns:Publish) as the state machine's role;
- EventBridge's StartExecution as the rule target's role, and its dead-letter delivery as the
  service principal events.amazonaws.com, through the queue policy;
- a service that encrypts with a KMS key calls KMS on behalf of its caller (kms:ViaService),
  through the key policy: "How Amazon DynamoDB uses AWS KMS", "Amazon SNS: Key management",
  "Amazon SQS: Key management" in the AWS documentation.

The policy language itself is pipeline.local.policy. Everything here is plain data, so the
DynamoDB process (pipeline.local.speed.dynamodb_process) receives the same rules as JSON.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from pipeline.local.policy import Decision, Principal, Request, UnsupportedPolicyError, evaluate, validate
from pipeline.template import TemplateError


class AccessDenied(Exception):
    """A refused call, with the error code and message the service answers with."""

    def __init__(self, code: str, message: str, status: int = 400):
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status


# Which KMS operations a service makes on its caller's behalf (documented per service):
# DynamoDB decrypts the table key for reads and writes alike ("How Amazon DynamoDB uses AWS KMS":
# the caller needs kms:Decrypt); SNS and SQS generate a data key to encrypt a message and
# decrypt it to deliver ("Amazon SNS: Key management", "Amazon SQS: Key management").
KMS_ON_BEHALF = {
    "dynamodb": ("kms:Decrypt",),
    "sns": ("kms:GenerateDataKey", "kms:Decrypt"),
    "sqs": ("kms:GenerateDataKey", "kms:Decrypt"),
    "s3": ("kms:GenerateDataKey", "kms:Decrypt"),
}


def aws_managed_key_policy(service: str, account: str, region: str) -> dict[str, Any]:
    """The key policy of an AWS managed key (alias/aws/SERVICE), which nobody can change.

    AWS KMS Developer Guide, "AWS managed keys": it lets principals of the account use the key
    through that one service, and nobody else; a service principal such as events.amazonaws.com
    is not of the account (no kms:CallerAccount), so it is refused.
    """
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": f"Allow access through {service} for all principals in the account that are authorized to use {service}",
                "Effect": "Allow",
                "Principal": {"AWS": "*"},
                "Action": ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*",
                           "kms:CreateGrant", "kms:DescribeKey"],
                "Resource": "*",
                "Condition": {"StringEquals": {"kms:CallerAccount": account,
                                               "kms:ViaService": f"{service}.{region}.amazonaws.com"}},
            },
            {
                "Sid": "Allow direct access to key metadata to the account",
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:aws:iam::{account}:root"},
                "Action": ["kms:Describe*", "kms:Get*", "kms:List*"],
                "Resource": "*",
            },
        ],
    }


@dataclass
class AccessControl:
    """The deployed stack's policies, keyed by ARN."""

    account: str
    region: str
    role_policies: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    resource_policies: dict[str, dict[str, Any]] = field(default_factory=dict)
    key_policies: dict[str, dict[str, Any]] = field(default_factory=dict)
    key_aliases: dict[str, str] = field(default_factory=dict)  # alias name or key id -> key ARN
    encryption: dict[str, str] = field(default_factory=dict)  # resource ARN -> key ARN
    bucket_keys: list[str] = field(default_factory=list)  # ARNs of buckets with an S3 Bucket Key
    credentials: dict[str, tuple[str, str]] = field(default_factory=dict)  # access key -> (role ARN, session)

    # -- the stack's keys and credentials --------------------------------------------------------

    def key_arn(self, reference: str) -> str:
        """A key ARN from any way a template names a key: ID, ARN, alias name or alias ARN.
        An AWS managed key (alias/aws/SERVICE) is created on first use, as AWS does."""
        name = reference.split(":", 5)[-1] if reference.startswith("arn:") and ":alias/" in reference else reference
        if name in self.key_aliases:
            return self.key_aliases[name]
        if reference.startswith("arn:") and ":key/" in reference:
            return reference
        if name.startswith("alias/aws/"):
            service = name.removeprefix("alias/aws/")
            key_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"{self.account}/{self.region}/{name}"))
            arn = f"arn:aws:kms:{self.region}:{self.account}:key/{key_id}"
            self.key_policies[arn] = aws_managed_key_policy(service, self.account, self.region)
            self.key_aliases[name] = arn
            return arn
        if name.startswith("alias/"):
            raise TemplateError(f"the KMS alias {name} is not in the stack: its key policy is not known offline")
        return f"arn:aws:kms:{self.region}:{self.account}:key/{name}"

    def issue_credentials(self, role_arn: str, session: str) -> str:
        """An access key ID that stands for a session of the role (what Lambda hands a function)."""
        digest = hashlib.sha1(f"{role_arn}/{session}".encode()).hexdigest()[:16].upper()
        access_key = f"ASIA{digest}"
        self.credentials[access_key] = (role_arn, session)
        return access_key

    def principal_for(self, access_key: str | None) -> Principal | None:
        """The role session an access key stands for; None for the account's own administrator
        (the offline cloud's user, whose calls are not restricted)."""
        if access_key is None or access_key not in self.credentials:
            return None
        role_arn, session = self.credentials[access_key]
        return Principal.role_session(role_arn, session)

    # -- decisions -------------------------------------------------------------------------------

    def decide(self, principal: Principal, action: str, resource: str,
               context: dict[str, Any] | None = None) -> tuple[Decision, Request]:
        request = Request(principal, action, resource, {**self._global_context(principal), **(context or {})})
        identity = self.role_policies.get(principal.role_arn or "", [])
        return evaluate(request, identity, self._resource_policy(resource)), request

    def decide_kms(self, principal: Principal, action: str, key_arn: str,
                   context: dict[str, Any]) -> tuple[Decision, Request]:
        request = Request(principal, action, key_arn, {**self._global_context(principal), **context})
        identity = self.role_policies.get(principal.role_arn or "", [])
        return evaluate(request, identity, self.key_policies.get(key_arn, {}), key_policy=True), request

    def kms_on_behalf(self, principal: Principal, service: str, resource: str,
                      encryption_context: dict[str, str], context: dict[str, Any] | None = None,
                      actions: tuple[str, ...] | None = None,
                      key_arn: str | None = None) -> tuple[Decision, Request] | None:
        """The first refusal, if any, of the KMS calls `service` makes for principal to use the
        encrypted resource (actions: those of this call, when they are not all of KMS_ON_BEHALF's;
        key_arn: the key the call names, when not the resource's own); None if the resource is not
        encrypted with a KMS key or all are allowed."""
        key_arn = key_arn or self.encryption.get(resource)
        if key_arn is None:
            return None
        context = {**(context or {}), "kms:ViaService": f"{service}.{self.region}.amazonaws.com"}
        context.update({f"kms:EncryptionContext:{k}": v for k, v in encryption_context.items()})
        if not principal.is_service:
            context["kms:CallerAccount"] = principal.account
        for action in actions or KMS_ON_BEHALF[service]:
            decision, request = self.decide_kms(principal, action, key_arn, context)
            if not decision.allowed:
                return decision, request
        return None

    def _global_context(self, principal: Principal) -> dict[str, Any]:
        # The SDK in AWS always calls over TLS; the offline endpoint stands in for that endpoint.
        context: dict[str, Any] = {"aws:SecureTransport": "true"}
        if not principal.is_service:
            context["aws:PrincipalAccount"] = principal.account
            context["aws:PrincipalArn"] = principal.role_arn or principal.arn
        return context

    def _resource_policy(self, resource: str) -> dict[str, Any] | None:
        if resource in self.resource_policies:
            return self.resource_policies[resource]
        if resource.startswith("arn:aws:s3:::"):  # an object is governed by its bucket's policy
            return self.resource_policies.get(resource.split("/", 1)[0])
        return None

    def documents(self) -> list[tuple[str, dict[str, Any]]]:
        """(where, document) for every policy the stack holds."""
        found = [(role, document) for role, documents in self.role_policies.items() for document in documents]
        found += list(self.resource_policies.items()) + list(self.key_policies.items())
        return found

    # -- to and from the DynamoDB process --------------------------------------------------------

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> AccessControl:
        data = json.loads(text)
        data["credentials"] = {k: tuple(v) for k, v in data["credentials"].items()}
        return cls(**data)


def table_encryption(properties: dict[str, Any]) -> dict[str, Any] | None:
    """A table's SSESpecification as the DynamoDB API takes it (Enabled), from the template's
    (SSEEnabled); None when the table is not encrypted with a KMS key."""
    sse = properties.get("SSESpecification", {})
    if str(sse.get("SSEEnabled")).lower() != "true":
        return None
    return {"Enabled": True, "SSEType": sse.get("SSEType", "KMS"),
            **({"KMSMasterKeyId": sse["KMSMasterKeyId"]} if sse.get("KMSMasterKeyId") else {})}


def bucket_encryption(properties: dict[str, Any]) -> tuple[str, bool] | None:
    """(key, bucket key enabled) of a bucket whose default encryption is SSE-KMS (or DSSE-KMS),
    the AWS managed key aws/s3 when it names none; None for SSE-S3 or no encryption."""
    rules = properties.get("BucketEncryption", {}).get("ServerSideEncryptionConfiguration", [])
    for rule in rules:
        default = rule.get("ServerSideEncryptionByDefault", {})
        if str(default.get("SSEAlgorithm", "")).startswith("aws:kms"):
            return default.get("KMSMasterKeyID") or "alias/aws/s3", str(rule.get("BucketKeyEnabled")).lower() == "true"
    return None


ManagedPolicyReader = Callable[[str], dict[str, Any]]  # policy ARN -> policy document


def from_template(cloudformation: dict[str, Any], resolver: Any, account: str, region: str,
                  managed_policy: ManagedPolicyReader) -> AccessControl:
    """The access rules of a deployed template, resolved as CloudFormation resolved them."""
    access = AccessControl(account, region)
    resources = {
        logical_id: resource for logical_id, resource in cloudformation["Resources"].items()
        if resolver.condition(resource.get("Condition"))
    }

    def arn(logical_id: str) -> str:
        return resolver.resolve({"Fn::GetAtt": [logical_id, "Arn"]})

    def properties(resource: dict[str, Any]) -> dict[str, Any]:
        return resolver.resolve(resource.get("Properties", {}))

    for logical_id, resource in resources.items():
        kind = resource["Type"]
        if kind == "AWS::KMS::Key":
            access.key_policies[arn(logical_id)] = properties(resource).get("KeyPolicy", {})
            access.key_aliases[resolver.resolve({"Ref": logical_id})] = arn(logical_id)
    for logical_id, resource in resources.items():
        kind, props = resource["Type"], properties(resource)
        if kind == "AWS::KMS::Alias":
            access.key_aliases[props["AliasName"]] = access.key_arn(props["TargetKeyId"])
    for logical_id, resource in resources.items():
        kind, props = resource["Type"], properties(resource)
        if kind == "AWS::IAM::Role":
            documents = [policy["PolicyDocument"] for policy in props.get("Policies", [])]
            documents += [managed_policy(policy_arn) for policy_arn in props.get("ManagedPolicyArns", [])]
            access.role_policies.setdefault(arn(logical_id), []).extend(documents)
        elif kind in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
            for role_name in props.get("Roles", []):
                role_arn = f"arn:aws:iam::{account}:role/{role_name}"
                access.role_policies.setdefault(role_arn, []).append(props["PolicyDocument"])
        elif kind == "AWS::SQS::QueuePolicy":
            for url in props.get("Queues", []):
                access.resource_policies[f"arn:aws:sqs:{region}:{account}:{url.rsplit('/', 1)[-1]}"] = props["PolicyDocument"]
        elif kind == "AWS::SNS::TopicPolicy":
            for topic_arn in props.get("Topics", []):
                access.resource_policies[topic_arn] = props["PolicyDocument"]
        elif kind == "AWS::S3::BucketPolicy":
            access.resource_policies[f"arn:aws:s3:::{props['Bucket']}"] = props["PolicyDocument"]
        elif kind == "AWS::DynamoDB::Table":
            sse = table_encryption(props)
            if sse:  # KMS; without a key, the AWS managed one
                access.encryption[arn(logical_id)] = access.key_arn(sse.get("KMSMasterKeyId") or "alias/aws/dynamodb")
        elif kind == "AWS::SNS::Topic" and props.get("KmsMasterKeyId"):
            access.encryption[resolver.resolve({"Ref": logical_id})] = access.key_arn(props["KmsMasterKeyId"])
        elif kind == "AWS::SQS::Queue" and props.get("KmsMasterKeyId"):
            access.encryption[arn(logical_id)] = access.key_arn(props["KmsMasterKeyId"])
        elif kind == "AWS::S3::Bucket":
            sse = bucket_encryption(props)
            if sse is not None:
                bucket_arn = f"arn:aws:s3:::{resolver.resolve({'Ref': logical_id})}"
                access.encryption[bucket_arn] = access.key_arn(sse[0])
                if sse[1]:
                    access.bucket_keys.append(bucket_arn)
    for where, document in access.documents():
        try:
            validate(document)
        except UnsupportedPolicyError as error:
            raise TemplateError(f"the offline cloud cannot evaluate the policy of {where}: {error}") from None
    return access

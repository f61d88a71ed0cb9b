"""Which IAM actions, on which resources, an AWS API operation needs.

IAM names an action after the API operation it allows, mostly: the Service Authorization
Reference lists, per service, each action and the resource types it is checked on, with each
type's ARN format. cfn-lint ships that reference as data (cfnlint/data/AdditionalSpecs/
Policies.json, pinned with cfn-lint); this module reads it, and adds only what the data cannot
say: where an operation's action has another name (S3's ListObjectsV2 is s3:ListBucket), and
which request parameter names each resource type. An operation whose action or resource cannot
be told this way is not guessed at: `accesses` raises Unauthorizable, and the offline cloud
refuses the call (or, for a Step Functions task, the deploy).
"""

from __future__ import annotations

import importlib.util
import json
import re
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import unquote


class Unauthorizable(Exception):
    """The offline cloud cannot tell which IAM action on which resource this operation is."""


@dataclass(frozen=True)
class Access:
    """One authorization IAM makes: action on resource."""

    action: str  # prefix:Action, as IAM names it
    resource: str  # an ARN, or "*" for actions that have no resource-level permissions


# The IAM prefix of a service where its signing name differs (botocore's signingName).
IAM_PREFIX = {"monitoring": "cloudwatch", "stepfunctions": "states"}

# Operations whose IAM action is another's, from the Service Authorization Reference's own notes
# (S3 User Guide, "Required permissions for Amazon S3 API operations"; SQS Developer Guide,
# "Amazon SQS API permissions"; Lambda's Invoke is lambda:InvokeFunction).
ACTION_OF = {
    ("s3", "ListObjectsV2"): "ListBucket", ("s3", "ListObjects"): "ListBucket", ("s3", "HeadBucket"): "ListBucket",
    ("s3", "ListBuckets"): "ListAllMyBuckets",
    ("s3", "HeadObject"): "GetObject", ("s3", "ListObjectVersions"): "ListBucketVersions",
    ("s3", "CreateMultipartUpload"): "PutObject", ("s3", "UploadPart"): "PutObject",
    ("s3", "CompleteMultipartUpload"): "PutObject", ("s3", "ListParts"): "ListMultipartUploadParts",
    ("s3", "DeleteObjects"): "DeleteObject",
    ("sqs", "SendMessageBatch"): "SendMessage", ("sqs", "DeleteMessageBatch"): "DeleteMessage",
    ("sqs", "ChangeMessageVisibilityBatch"): "ChangeMessageVisibility",
    ("lambda", "Invoke"): "InvokeFunction", ("lambda", "InvokeWithResponseStream"): "InvokeFunction",
    ("s3", "ListMultipartUploads"): "ListBucketMultipartUploads", ("s3", "SelectObjectContent"): "GetObject",
    ("sns", "PublishBatch"): "Publish",
}

# S3 reads and writes of a version are the ...Version actions (S3 User Guide, as above).
VERSIONED = {"GetObject": "GetObjectVersion", "DeleteObject": "DeleteObjectVersion",
             "GetObjectTagging": "GetObjectVersionTagging", "PutObjectTagging": "PutObjectVersionTagging",
             "DeleteObjectTagging": "DeleteObjectVersionTagging", "GetObjectAcl": "GetObjectVersionAcl",
             "PutObjectAcl": "PutObjectVersionAcl", "GetObjectAttributes": "GetObjectVersionAttributes"}

# Actions the reference lists with an optional resource type only (a condition key's), which
# IAM checks on "*": CloudWatch's PutMetricData is scoped by the cloudwatch:namespace key.
ON_ANY_RESOURCE = frozenset({"cloudwatch:PutMetricData"})

Arn = Callable[[Mapping[str, Any], str, str], "str | None"]


def _name_or_arn(value: Any, arn: str) -> str | None:
    if not isinstance(value, str) or not value:
        return None
    return value if value.startswith("arn:") else arn.format(value=value)


def _function(parameters: Mapping[str, Any], region: str, account: str) -> str | None:
    """A function named by name, partial ARN (ACCOUNT:function:NAME) or ARN, with its qualifier."""
    name = parameters.get("FunctionName")
    if not isinstance(name, str) or not name:
        return None
    if not name.startswith("arn:"):
        name = f"arn:aws:lambda:{region}:{account}:function:{name.split(':function:')[-1]}"
    qualifier = parameters.get("Qualifier")
    return f"{name}:{qualifier}" if isinstance(qualifier, str) and qualifier and name.count(":") == 6 else name


def _queue(parameters: Mapping[str, Any], region: str, account: str) -> str | None:
    """A queue named by its URL (https://sqs.REGION.amazonaws.com/ACCOUNT/NAME), or by name and
    owner (GetQueueUrl)."""
    url = parameters.get("QueueUrl")
    if isinstance(url, str) and url:
        parts = url.rstrip("/").split("/")
        owner = parts[-2] if len(parts) >= 2 and parts[-2].isdigit() else account
        return f"arn:aws:sqs:{region}:{owner}:{parts[-1]}"
    name = parameters.get("QueueName")
    if isinstance(name, str) and name:
        return f"arn:aws:sqs:{region}:{parameters.get('QueueOwnerAWSAccountId') or account}:{name}"
    return None


def _bucket(parameters: Mapping[str, Any], region: str, account: str) -> str | None:
    bucket = parameters.get("Bucket")
    return f"arn:aws:s3:::{bucket}" if isinstance(bucket, str) and bucket and ":" not in bucket else None


def _object(parameters: Mapping[str, Any], region: str, account: str) -> str | None:
    bucket, key = _bucket(parameters, region, account), parameters.get("Key")
    return f"{bucket}/{key}" if bucket and isinstance(key, str) and key else None


def _table(parameters: Mapping[str, Any], region: str, account: str) -> str | None:
    return _name_or_arn(parameters.get("TableName"), f"arn:aws:dynamodb:{region}:{account}:table/{{value}}")


def _index(parameters: Mapping[str, Any], region: str, account: str) -> str | None:
    table, index = _table(parameters, region, account), parameters.get("IndexName")
    return f"{table}/index/{index}" if table and isinstance(index, str) and index else None


def _event_bus(parameters: Mapping[str, Any], region: str, account: str) -> str | None:
    """The bus an entry (or a rule) names; the default bus when it names none."""
    return _name_or_arn(parameters.get("EventBusName") or "default",
                        f"arn:aws:events:{region}:{account}:event-bus/{{value}}")


def _rule(parameters: Mapping[str, Any], region: str, account: str) -> str | None:
    name = parameters.get("Name") or parameters.get("Rule")
    if not isinstance(name, str) or not name:
        return None
    if name.startswith("arn:"):
        return name
    bus = parameters.get("EventBusName") or "default"
    bus = bus.rsplit("/", 1)[-1] if isinstance(bus, str) else "default"
    return f"arn:aws:events:{region}:{account}:rule/{name}" if bus == "default" else \
        f"arn:aws:events:{region}:{account}:rule/{bus}/{name}"


def _parameter(name: str) -> Arn:
    def arn(parameters: Mapping[str, Any], region: str, account: str) -> str | None:
        value = parameters.get(name)
        return value if isinstance(value, str) and value.startswith("arn:") else None

    return arn


# (IAM prefix, resource type of the reference) -> (the parameters that name it, the ARN they make).
RESOURCE_OF: dict[tuple[str, str], tuple[tuple[str, ...], Arn]] = {
    ("dynamodb", "table"): (("TableName",), _table),
    ("dynamodb", "index"): (("IndexName",), _index),
    ("sqs", "queue"): (("QueueUrl", "QueueName"), _queue),
    ("sns", "topic"): (("TopicArn", "TargetArn"),
                       lambda p, r, a: _parameter("TopicArn")(p, r, a) or _parameter("TargetArn")(p, r, a)),
    ("states", "statemachine"): (("stateMachineArn",), _parameter("stateMachineArn")),
    ("states", "execution"): (("executionArn",), _parameter("executionArn")),
    ("states", "express"): (("executionArn",), lambda p, r, a: (p.get("executionArn")
                                                                if ":express:" in str(p.get("executionArn")) else None)),
    ("states", "maprun"): (("mapRunArn",), _parameter("mapRunArn")),
    ("lambda", "function"): (("FunctionName",), _function),
    ("s3", "bucket"): (("Bucket",), _bucket),
    ("s3", "object"): (("Key",), _object),
    ("events", "event-bus"): (("EventBusName", "Entries"), _event_bus),
    ("events", "rule-on-default-event-bus"): (("Name", "Rule"), _rule),
    ("events", "rule-on-custom-event-bus"): (("Name", "Rule"), _rule),
    ("kms", "key"): (("KeyId",), _parameter("KeyId")),
}


@lru_cache(maxsize=1)
def _reference_text() -> str:
    return cfn_lint_data("AdditionalSpecs", "Policies.json").read_text(encoding="utf-8")


@lru_cache(maxsize=64)
def _service_reference(prefix: str) -> dict[str, Any] | None:
    """One service of the Service Authorization Reference as cfn-lint ships it ({Actions,
    Resources}); only its part of the 2 MB file is decoded."""
    text = _reference_text()
    found = re.search(rf'\n "{re.escape(prefix)}": {{', text)
    if found is None:
        return None
    service, _ = json.JSONDecoder().raw_decode(text, found.end() - 1)
    return service


def cfn_lint_data(*parts: str) -> Path:
    """A data file cfn-lint ships, found without importing cfn-lint (its import takes a third of
    a second)."""
    spec = importlib.util.find_spec("cfnlint")
    if spec is None or spec.origin is None:
        raise Unauthorizable("cfn-lint is not installed")
    return Path(spec.origin).parent.joinpath("data", *parts)


def iam_prefix(signing_name: str) -> str:
    return IAM_PREFIX.get(signing_name, signing_name)


def action_of(prefix: str, operation: str, parameters: Mapping[str, Any] | None = None) -> str:
    """The IAM action an operation is checked as (prefix:Action)."""
    name = ACTION_OF.get((prefix, operation), operation)
    if prefix == "s3" and parameters and parameters.get("VersionId"):
        name = VERSIONED.get(name, name)
    return f"{prefix}:{name}"


def resource_types(action: str) -> list[str] | None:
    """The resource types the reference lists for an action; None if it has no such action."""
    prefix, _, name = action.partition(":")
    service = _service_reference(prefix)
    if service is None:
        return None
    entry = service["Actions"].get(name.lower())
    return None if entry is None else list(entry.get("Resources", []))


def why_not(prefix: str, operation: str, members: Collection[str]) -> str | None:
    """Why the offline cloud cannot authorize this operation, whose input has these members
    (botocore's model); None: it can, from the parameters that name its resource."""
    if (prefix, operation) in SPECIAL:
        return None
    action = action_of(prefix, operation)
    types = resource_types(action)
    if types is None:
        return f"IAM has no action {action} (Service Authorization Reference, as cfn-lint ships it)"
    named = {member.lower() for member in members}
    if types and action not in ON_ANY_RESOURCE and not any(
            (prefix, kind) in RESOURCE_OF and named & {p.lower() for p in RESOURCE_OF[(prefix, kind)][0]}
            for kind in types):
        return f"the offline cloud cannot tell which {_kinds(types)} {action} is on"
    return None


def accesses(prefix: str, operation: str, parameters: Mapping[str, Any], region: str,
             account: str) -> tuple[Access, ...]:
    """Every authorization IAM makes for the call; Unauthorizable if it cannot be told."""
    parameters = _AnyCase(parameters)
    special = SPECIAL.get((prefix, operation))
    if special is not None:
        return special(parameters, region, account)
    return (_access(prefix, operation, parameters, region, account),)


class _AnyCase(dict):  # type: ignore[type-arg]
    """Parameters by name whatever the case of its first letter: Step Functions' tasks name them
    as in its guide (StateMachineArn), the SDKs as in the API (stateMachineArn)."""

    def __init__(self, parameters: Mapping[str, Any]):
        super().__init__(parameters)
        self._lower = {str(key).lower(): key for key in parameters}

    def get(self, key: Any, default: Any = None) -> Any:
        if key in self:
            return self[key]
        found = self._lower.get(str(key).lower())
        return self[found] if found is not None else default


def _access(prefix: str, operation: str, parameters: Mapping[str, Any], region: str, account: str) -> Access:
    action = action_of(prefix, operation, parameters)
    types = resource_types(action)
    if types is None:
        raise Unauthorizable(f"IAM has no action {action}")
    if not types or action in ON_ANY_RESOURCE:
        return Access(action, "*")
    for kind in _most_specific_first(types):
        derive = RESOURCE_OF.get((prefix, kind))
        resource = derive[1](parameters, region, account) if derive else None
        if resource:
            return Access(action, resource)
    raise Unauthorizable(f"the offline cloud cannot tell which {_kinds(types)} {action} is on")


def _kinds(types: list[str]) -> str:
    return " or ".join(types) if len(types) <= 3 else f"{', '.join(types[:3])} (of {len(types)} resource types)"


def _most_specific_first(types: list[str]) -> list[str]:
    """An index before its table, an express execution before any: the narrower type when the
    parameters name it."""
    order = {"index": 0, "express": 0, "object": 1}
    return sorted(types, key=lambda kind: order.get(kind, 2))


def _copy_object(parameters: Mapping[str, Any], region: str, account: str) -> tuple[Access, ...]:
    """CopyObject reads the source and writes the destination (S3 API Reference, CopyObject:
    "you must have read access to the source object and write access to the destination bucket")."""
    source = parameters.get("CopySource")
    if isinstance(source, Mapping):
        bucket, key, version = source.get("Bucket"), source.get("Key"), source.get("VersionId")
    elif isinstance(source, str) and "/" in source.lstrip("/"):
        path, _, query = source.lstrip("/").partition("?versionId=")
        bucket, key = unquote(path).split("/", 1)
        version = query or None
    else:
        raise Unauthorizable("CopyObject without a CopySource")
    read = _access("s3", "GetObject", {"Bucket": bucket, "Key": key, "VersionId": version}, region, account)
    return (read, _access("s3", "PutObject", parameters, region, account))


def _deleted_objects(parameters: Mapping[str, Any], region: str, account: str) -> tuple[Access, ...]:
    """DeleteObjects is authorized as s3:DeleteObject on each key (S3 API Reference, DeleteObjects)."""
    objects = (parameters.get("Delete") or {}).get("Objects") if isinstance(parameters.get("Delete"), Mapping) else None
    if not objects:  # over HTTP the keys are in the XML body: the bucket's objects, all of them
        return (_access("s3", "DeleteObject", {**parameters, "Key": "*"}, region, account),)
    return tuple(_access("s3", "DeleteObject", {**parameters, "Key": item.get("Key"), "VersionId": item.get("VersionId")},
                         region, account) for item in objects if isinstance(item, Mapping))


def _per_entry(prefix: str, operation: str, list_name: str) -> Callable[..., tuple[Access, ...]]:
    """Operations that act on each entry of a list, each authorized on its own resource."""
    def accesses_of(parameters: Mapping[str, Any], region: str, account: str) -> tuple[Access, ...]:
        entries = parameters.get(list_name)
        if not isinstance(entries, list) or not entries:
            return (_access(prefix, operation, {}, region, account),)
        return tuple(dict.fromkeys(_access(prefix, operation, entry if isinstance(entry, Mapping) else {},
                                           region, account) for entry in entries))

    return accesses_of


def _per_table(operation: str, items_name: str) -> Callable[..., tuple[Access, ...]]:
    """DynamoDB's batch operations, authorized on each table they name (DynamoDB Developer
    Guide, "Using IAM policy conditions for fine-grained access control": the batch actions)."""
    def accesses_of(parameters: Mapping[str, Any], region: str, account: str) -> tuple[Access, ...]:
        tables = parameters.get(items_name)
        if not isinstance(tables, Mapping) or not tables:
            raise Unauthorizable(f"{operation} without {items_name}")
        return tuple(_access("dynamodb", operation, {"TableName": name}, region, account) for name in tables)

    return accesses_of


def _transaction(parameters: Mapping[str, Any], region: str, account: str) -> tuple[Access, ...]:
    """TransactWriteItems and TransactGetItems are authorized as each of their items' own action
    on its table (DynamoDB Developer Guide, "Using IAM with DynamoDB transactions")."""
    actions = {"Put": "PutItem", "Update": "UpdateItem", "Delete": "DeleteItem", "ConditionCheck": "ConditionCheckItem",
               "Get": "GetItem"}
    found = []
    for item in parameters.get("TransactItems") or []:
        for kind, operation in actions.items():
            if isinstance(item, Mapping) and isinstance(item.get(kind), Mapping):
                found.append(_access("dynamodb", operation, item[kind], region, account))
    if not found:
        raise Unauthorizable("a transaction without TransactItems")
    return tuple(dict.fromkeys(found))


SPECIAL: dict[tuple[str, str], Callable[[Mapping[str, Any], str, str], tuple[Access, ...]]] = {
    ("s3", "CopyObject"): _copy_object,
    ("events", "PutEvents"): _per_entry("events", "PutEvents", "Entries"),
    ("s3", "UploadPartCopy"): _copy_object,
    ("s3", "DeleteObjects"): _deleted_objects,
    ("dynamodb", "BatchWriteItem"): _per_table("BatchWriteItem", "RequestItems"),
    ("dynamodb", "BatchGetItem"): _per_table("BatchGetItem", "RequestItems"),
    ("dynamodb", "TransactWriteItems"): _transaction,
    ("dynamodb", "TransactGetItems"): _transaction,
}

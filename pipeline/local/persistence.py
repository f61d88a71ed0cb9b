"""What `pipeline serve --state DIR` keeps across a restart: the stacks, every object of every
bucket, the tables' items, the queues' messages and every execution's history.

Saved as serve stops (Ctrl-C or SIGTERM), once the executions still running have stopped; put
back as it starts, in the order they were made: each stack deployed again (its names are stable:
same stack name, same bucket), then the objects of its buckets (a stack `sam deploy` made needs
its code from SAM's bucket first), with no event announcing them, since each was announced when
first written. Everything goes through the AWS APIs but the executions: Step Functions cannot
create an ended one (see moto_executions).

DIR holds state.json and objects/ (each object's bytes, named by their SHA-256). state.json is
replaced in one step, after the objects it names are written: a save interrupted half way leaves
the previous state whole.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from pipeline.local.cloud import ACCOUNT_ID, CODE_BUCKET

if TYPE_CHECKING:
    from pipeline.local.cloud import LocalCloud

FORMAT = 1
STATE_FILE = "state.json"
OBJECTS = "objects"
CAPABILITIES = ["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM", "CAPABILITY_AUTO_EXPAND"]
# A queue's attributes CreateQueue takes that a kept queue needs again (SQS API Reference, CreateQueue).
QUEUE_ATTRIBUTES = ("DelaySeconds", "MaximumMessageSize", "MessageRetentionPeriod", "ReceiveMessageWaitTimeSeconds",
                    "VisibilityTimeout", "FifoQueue", "ContentBasedDeduplication")


class StateError(Exception):
    """DIR holds something that is not a state this version can put back."""


@dataclass
class Kept:
    """What a save wrote or a restore put back, and what it could not put back."""

    stacks: list[str] = field(default_factory=list)
    buckets: int = 0
    objects: int = 0
    executions: int = 0
    items: int = 0
    messages: int = 0
    not_kept: list[str] = field(default_factory=list)

    def line(self) -> str:
        stacks = f"stack {', '.join(self.stacks)}" if self.stacks else "no stack"
        return (f"{stacks}, {self.objects} object(s) in {self.buckets} bucket(s), {self.executions} execution(s), "
                f"{self.items} table item(s), {self.messages} queued message(s)")


def has_state(directory: Path) -> bool:
    return (directory / STATE_FILE).is_file()


# -- saving ---------------------------------------------------------------------------------------

def save(cloud: LocalCloud, directory: Path) -> Kept:
    """Write the cloud's state into directory (once its executions have stopped: stop_running).
    The code LocalCloud.deploy uploaded is not kept: a restart deploys the template again."""
    clients, kept = cloud.clients, Kept()
    blobs = directory / OBJECTS
    blobs.mkdir(parents=True, exist_ok=True)
    state: dict[str, Any] = {"format": FORMAT, "region": clients.region,
                             "saved": datetime.now(timezone.utc).isoformat(timespec="seconds")}
    state["stacks"] = _saved_stacks(cloud, kept)
    owners = {bucket: stack["name"] for stack in state["stacks"] for bucket in _stack_buckets(clients, stack["name"])}
    state["buckets"] = [_saved_bucket(clients.s3, bucket["Name"], owners.get(bucket["Name"]), blobs, kept)
                        for bucket in clients.s3.list_buckets()["Buckets"] if bucket["Name"] != CODE_BUCKET]
    state["tables"] = [_saved_table(clients.dynamodb, name, kept) for name in _pages(
        clients.dynamodb.list_tables, "TableNames", "ExclusiveStartTableName", "LastEvaluatedTableName")]
    state["queues"] = [_saved_queue(clients.sqs, url, kept) for url in clients.sqs.list_queues().get("QueueUrls", [])]
    state["executions"] = _saved_executions(clients.stepfunctions, kept)
    written = directory / f".{STATE_FILE}.{os.getpid()}"
    written.write_text(json.dumps(state, default=_to_json, indent=1), encoding="utf-8")
    os.replace(written, directory / STATE_FILE)
    named = {version["blob"] for bucket in state["buckets"] for version in bucket["versions"] if "blob" in version}
    for blob in blobs.iterdir():  # those of an earlier save that no object names now
        if blob.name not in named:
            blob.unlink()
    return kept


def _saved_stacks(cloud: LocalCloud, kept: Kept) -> list[dict[str, Any]]:
    saved = []
    for stack_id, processed in list(cloud.records.current.items()):
        try:
            described = cloud.clients.cloudformation.describe_stacks(StackName=stack_id)["Stacks"][0]
        except ClientError:
            continue
        if described["StackStatus"] == "DELETE_COMPLETE":
            continue
        name = described["StackName"]
        saved.append({"name": name, "body": processed.body, "parameters": processed.parameters,
                      "from_template": name == cloud.template_stack})
        kept.stacks.append(name)
    return saved


def _stack_buckets(clients: Any, stack_name: str) -> list[str]:
    resources = clients.cloudformation.describe_stack_resources(StackName=stack_name)["StackResources"]
    return [resource["PhysicalResourceId"] for resource in resources if resource["ResourceType"] == "AWS::S3::Bucket"]


def _saved_bucket(s3: Any, name: str, stack: str | None, blobs: Path, kept: Kept) -> dict[str, Any]:
    """Every version of every object (and each delete marker), oldest first for each key."""
    versioning = s3.get_bucket_versioning(Bucket=name).get("Status")
    entries: list[dict[str, Any]] = []
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=name):
        entries += page.get("Versions", []) + [{**marker, "DeleteMarker": True} for marker in page.get("DeleteMarkers", [])]
    # S3 lists a key's versions newest first; LastModified (to the second) orders a delete marker among them.
    order = {id(entry): index for index, entry in enumerate(entries)}
    entries.sort(key=lambda entry: (entry["Key"], entry["LastModified"], -order[id(entry)]))
    versions = []
    for entry in entries:
        if entry.get("DeleteMarker"):
            versions.append({"key": entry["Key"], "delete_marker": True})
            continue
        version = {} if entry["VersionId"] in (None, "null") else {"VersionId": entry["VersionId"]}
        got = s3.get_object(Bucket=name, Key=entry["Key"], **version)
        body = got["Body"].read()
        digest = hashlib.sha256(body).hexdigest()
        if not (blobs / digest).exists():
            (blobs / digest).write_bytes(body)
        versions.append({"key": entry["Key"], "blob": digest, "content_type": got.get("ContentType"),
                         "metadata": got.get("Metadata", {})})
        kept.objects += 1
    kept.buckets += 1
    return {"name": name, "stack": stack, "versioning": versioning, "versions": versions}


def _saved_table(dynamodb: Any, name: str, kept: Kept) -> dict[str, Any]:
    table = dynamodb.describe_table(TableName=name)["Table"]
    items = []
    for page in dynamodb.get_paginator("scan").paginate(TableName=name, ConsistentRead=True):
        items += page["Items"]
    kept.items += len(items)
    return {"name": name, "key_schema": table["KeySchema"], "attribute_definitions": table["AttributeDefinitions"],
            "items": items}


def _saved_queue(sqs: Any, url: str, kept: Kept) -> dict[str, Any]:
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    messages: list[dict[str, Any]] = []
    while True:  # the cloud is stopping: received messages need not become visible again
        received = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=43200,
                                       WaitTimeSeconds=0, AttributeNames=["All"],
                                       MessageAttributeNames=["All"]).get("Messages", [])
        if not received:
            break
        messages += [{"body": message["Body"], "attributes": {
                          name: {key: value for key, value in attribute.items()
                                 if key in ("DataType", "StringValue", "BinaryValue")}
                          for name, attribute in message.get("MessageAttributes", {}).items()},
                      "group": message.get("Attributes", {}).get("MessageGroupId"),
                      "deduplication": message.get("Attributes", {}).get("MessageDeduplicationId")}
                     for message in received]
    kept.messages += len(messages)
    return {"name": url.rstrip("/").rsplit("/", 1)[-1],
            "attributes": {key: attributes[key] for key in QUEUE_ATTRIBUTES if key in attributes},
            "messages": messages}


def _saved_executions(stepfunctions: Any, kept: Kept) -> list[dict[str, Any]]:
    saved = []
    for page in stepfunctions.get_paginator("list_state_machines").paginate():
        for machine in page["stateMachines"]:
            for listed in stepfunctions.get_paginator("list_executions").paginate(
                    stateMachineArn=machine["stateMachineArn"]):
                for execution in listed["executions"]:
                    if execution["status"] == "RUNNING":
                        kept.not_kept.append(f"execution {execution['executionArn']}: still running")
                        continue
                    described = stepfunctions.describe_execution(executionArn=execution["executionArn"])
                    described.pop("ResponseMetadata", None)
                    events = [event for history in stepfunctions.get_paginator("get_execution_history").paginate(
                        executionArn=execution["executionArn"]) for event in history["events"]]
                    saved.append({"described": described, "events": events})
    kept.executions += len(saved)
    return saved


# -- putting back ---------------------------------------------------------------------------------

def restore(cloud: LocalCloud, directory: Path) -> Kept:
    """Put the state saved in directory back into a cloud that has just started (and deployed
    its template, unless it started empty: that stack is the template's now, not the saved one)."""
    from pipeline.local import moto_executions

    state = _read(directory)
    redeployed = cloud.template_stack
    if state["region"] != cloud.clients.region:
        raise StateError(f"{directory} was saved in region {state['region']}, not {cloud.clients.region}")
    clients, kept = cloud.clients, Kept()
    # Buckets no stack declares first: one may hold the code a stack is deployed from (sam deploy --s3-bucket).
    _put_back_buckets(cloud, directory, [bucket for bucket in state["buckets"] if bucket["stack"] is None], kept)
    for stack in state["stacks"]:
        if stack["name"] == redeployed:
            kept.stacks.append(f"{stack['name']} (from {cloud.packaged.source.name if cloud.packaged else 'its template'})")
        elif stack["from_template"]:
            kept.not_kept.append(f"stack {stack['name']}: it was deployed from a template file, "
                                 "which `pipeline serve` without --empty deploys")
        else:
            reason = _deploy_again(clients.cloudformation, stack)
            if reason:
                kept.not_kept.append(f"stack {stack['name']}: {reason}")
            else:
                kept.stacks.append(stack["name"])
        # Its buckets next (SAM's artifacts bucket, before the stack deployed from it); made plain
        # if the stack could not be deployed again, since no object is ever lost.
        _put_back_buckets(cloud, directory, [bucket for bucket in state["buckets"] if bucket["stack"] == stack["name"]],
                          kept)
    for table in state["tables"]:
        _put_back_table(clients.dynamodb, table, kept)
    for queue in state["queues"]:
        _put_back_queue(clients.sqs, queue, kept)
    for execution in state["executions"]:
        described = execution["described"]
        if moto_executions.put_back(ACCOUNT_ID, clients.region, described, execution["events"]):
            kept.executions += 1
        else:
            kept.not_kept.append(f"execution {described['executionArn']}: its state machine is not deployed now")
    return kept


def _read(directory: Path) -> dict[str, Any]:
    try:
        state = json.loads((directory / STATE_FILE).read_text(encoding="utf-8"), object_hook=_from_json)
    except (OSError, ValueError) as error:
        raise StateError(f"cannot read {directory / STATE_FILE}: {error}") from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise StateError(f"{directory / STATE_FILE} is not a state this version of pipeline serve keeps "
                         f"(format {state.get('format') if isinstance(state, dict) else '?'}, not {FORMAT})")
    return state


def _deploy_again(cloudformation: Any, stack: dict[str, Any]) -> str | None:
    """Create the stack again from the template it was last given; why not, if it fails."""
    try:
        created = cloudformation.create_change_set(
            StackName=stack["name"], ChangeSetName="pipeline-serve-state", ChangeSetType="CREATE",
            TemplateBody=stack["body"], Capabilities=CAPABILITIES,
            Parameters=[{"ParameterKey": key, "ParameterValue": value} for key, value in stack["parameters"].items()])
        described = cloudformation.describe_change_set(ChangeSetName=created["Id"])
        if described["Status"] != "CREATE_COMPLETE":
            return described.get("StatusReason") or described["Status"]
        cloudformation.execute_change_set(ChangeSetName=created["Id"])
        status = cloudformation.describe_stacks(StackName=created["StackId"])["Stacks"][0]
    except (BotoCoreError, ClientError) as error:
        return str(error)
    if status["StackStatus"] != "CREATE_COMPLETE":
        return status.get("StackStatusReason") or status["StackStatus"]
    return None


def _put_back_buckets(cloud: LocalCloud, directory: Path, buckets: list[dict[str, Any]], kept: Kept) -> None:
    """Put back the objects of the buckets, each made (plain) first if it is not there."""
    s3 = cloud.clients.s3
    existing = {bucket["Name"] for bucket in s3.list_buckets()["Buckets"]}
    for bucket in buckets:
        if bucket["name"] not in existing:
            _create_bucket(s3, bucket, cloud.clients.region)
        with cloud.bus.silenced():
            for version in bucket["versions"]:
                if version.get("delete_marker"):
                    s3.delete_object(Bucket=bucket["name"], Key=version["key"])
                    continue
                extra = {"ContentType": version["content_type"]} if version.get("content_type") else {}
                s3.put_object(Bucket=bucket["name"], Key=version["key"], Metadata=version["metadata"],
                              Body=(directory / OBJECTS / version["blob"]).read_bytes(), **extra)
                kept.objects += 1
        kept.buckets += 1


def _create_bucket(s3: Any, bucket: dict[str, Any], region: str) -> None:
    where = {} if region == "us-east-1" else {"CreateBucketConfiguration": {"LocationConstraint": region}}
    s3.create_bucket(Bucket=bucket["name"], **where)
    if bucket["versioning"]:
        s3.put_bucket_versioning(Bucket=bucket["name"], VersioningConfiguration={"Status": bucket["versioning"]})


def _put_back_table(dynamodb: Any, table: dict[str, Any], kept: Kept) -> None:
    if table["name"] not in _pages(dynamodb.list_tables, "TableNames", "ExclusiveStartTableName",
                                   "LastEvaluatedTableName"):
        dynamodb.create_table(TableName=table["name"], KeySchema=table["key_schema"],
                              AttributeDefinitions=table["attribute_definitions"], BillingMode="PAY_PER_REQUEST")
    items = table["items"]
    for start in range(0, len(items), 25):  # BatchWriteItem takes at most 25 requests
        requests = {table["name"]: [{"PutRequest": {"Item": item}} for item in items[start:start + 25]]}
        while requests:
            requests = dynamodb.batch_write_item(RequestItems=requests).get("UnprocessedItems") or {}
    kept.items += len(items)


def _put_back_queue(sqs: Any, queue: dict[str, Any], kept: Kept) -> None:
    try:
        url = sqs.get_queue_url(QueueName=queue["name"])["QueueUrl"]
    except ClientError:
        url = sqs.create_queue(QueueName=queue["name"], Attributes=queue["attributes"])["QueueUrl"]
    for message in queue["messages"]:
        fifo = {"MessageGroupId": message["group"]} if message.get("group") else {}
        if message.get("deduplication"):
            fifo["MessageDeduplicationId"] = message["deduplication"]
        extra = {"MessageAttributes": message["attributes"]} if message["attributes"] else {}
        sqs.send_message(QueueUrl=url, MessageBody=message["body"], **fifo, **extra)
        kept.messages += 1


def _pages(call: Callable[..., dict[str, Any]], items: str, start: str, last: str) -> Iterator[str]:
    answer = call()
    yield from answer.get(items, [])
    while answer.get(last):
        answer = call(**{start: answer[last]})
        yield from answer.get(items, [])


def _to_json(value: Any) -> Any:
    if isinstance(value, datetime):
        return {"$datetime": value.isoformat()}
    if isinstance(value, bytes | bytearray):
        return {"$bytes": base64.b64encode(value).decode("ascii")}
    raise TypeError(f"{type(value).__name__} is not kept")


def _from_json(value: dict[str, Any]) -> Any:
    if len(value) == 1 and "$datetime" in value:
        return datetime.fromisoformat(value["$datetime"])
    if len(value) == 1 and "$bytes" in value:
        return base64.b64decode(value["$bytes"])
    return value

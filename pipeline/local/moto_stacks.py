"""What moto's CloudFormation does not do as CloudFormation does for the stacks it creates, done
around it through the services' public APIs (tests/pipeline/test_moto_core.py shows each gap):

- DefinitionSubstitutions: moto ignores them, and its Fn::Sub, which could stand in, turns the
  context object's "$$" into "$" (string.Template), so state machines are created without them
  and updated with the definition substituted as CloudFormation does it (apply_substitutions).
- Names CloudFormation generates: moto's are stack-logicalId-random without a limit and new on
  every deploy; CloudFormation shortens the stack name and logical ID to fit the resource's limit
  ("Name type", CloudFormation User Guide); here the suffix is also the same for the same stack
  and resource, so a stack deployed again has the same names (generated_name, and
  moto_core.stable_resource_name for the names moto's CloudFormation generates itself).
- Bucket settings moto ignores: versioning, public access block, EventBridge notifications
  (complete_buckets).
- Table settings moto ignores: TTL, point-in-time recovery and, on a table it created, the
  encryption (complete_tables).

Nothing of moto is imported here: the cloud imports this module before moto_version has checked
the installed moto.
"""

from __future__ import annotations

import copy
import hashlib
import json
import string
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from pipeline.local.change_sets import moto_skipped_types
from pipeline.template import TemplateError

if TYPE_CHECKING:
    from pipeline.clients import Clients
    from pipeline.local.resolver import TemplateResolver
    from pipeline.local.packaging import PackagedTemplate

Table = tuple[str, dict[str, Any]]
"""A table of the deployed stack: its name and its resolved properties."""

# Name properties CloudFormation fills in when a template leaves them out, and their limits.
GENERATED_NAMES = {"AWS::StepFunctions::StateMachine": ("StateMachineName", 80), "AWS::Events::Rule": ("Name", 64)}


def create_stack(clients: Clients, packaged: PackagedTemplate, stack_name: str, parameters: dict[str, str],
                 code_bucket: str) -> tuple[set[str], dict[str, str]]:
    """Create the stack in moto's CloudFormation, its code uploaded to code_bucket first; returns
    the resource types moto skipped and the names given to its resources (for_moto)."""
    template = for_moto(packaged.cloudformation, stack_name)
    clients.s3.create_bucket(Bucket=code_bucket)
    for code in [*packaged.functions.values(), *packaged.layers.values()]:
        clients.s3.put_object(Bucket=code_bucket, Key=code.zip_key, Body=code.zip_bytes)
    with moto_skipped_types() as skipped:
        try:
            clients.cloudformation.create_stack(
                StackName=stack_name,
                TemplateBody=json.dumps(template),
                Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in parameters.items()],
                Capabilities=["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM", "CAPABILITY_AUTO_EXPAND"],
            )
        except Exception as error:  # noqa: BLE001 - whatever moto raises, one line and no traceback
            reason = getattr(error, "response", {}).get("Error", {}).get("Message") or f"{type(error).__name__}: {error}"
            raise TemplateError(f"the offline cloud could not create {packaged.source.name}: "
                                f"{reason.splitlines()[0][:500]}") from None
    status = clients.cloudformation.describe_stacks(StackName=stack_name)["Stacks"][0]["StackStatus"]
    if status != "CREATE_COMPLETE":
        raise TemplateError(f"offline deploy of {packaged.source.name} ended in {status}")
    return skipped, generated_names(template)


def for_moto(cloudformation: dict[str, Any], stack_name: str, names: dict[str, str] | None = None) -> dict[str, Any]:
    """The template as moto's CloudFormation can create it as AWS would: state machines without
    DefinitionSubstitutions (apply_substitutions sets them after), and the names CloudFormation
    would generate given (an update keeps the earlier ones: names)."""
    adapted = copy.deepcopy(cloudformation)
    for logical_id, resource in adapted["Resources"].items():
        properties = resource.setdefault("Properties", {})
        if resource["Type"] == "AWS::StepFunctions::StateMachine":
            properties.pop("DefinitionSubstitutions", None)
        if resource["Type"] in GENERATED_NAMES:
            name_property, limit = GENERATED_NAMES[resource["Type"]]
            properties.setdefault(name_property, (names or {}).get(logical_id)
                                  or generated_name(stack_name, logical_id, limit))
    return adapted


def generated_names(template: dict[str, Any]) -> dict[str, str]:
    """The names for_moto gave, by logical ID."""
    return {logical_id: resource["Properties"][GENERATED_NAMES[resource["Type"]][0]]
            for logical_id, resource in template["Resources"].items() if resource["Type"] in GENERATED_NAMES}


def stable_suffix(stack_name: str, logical_id: str) -> str:
    """The 12 letters and digits CloudFormation appends to a name it generates, the same for the
    same stack name and logical ID: a stack deployed again (a new `pipeline serve`) has the same
    bucket and resource names, as scripts written against the last one expect."""
    digest = int(hashlib.sha256(f"{stack_name}/{logical_id}".encode()).hexdigest(), 16)
    alphabet = string.ascii_uppercase + string.digits
    letters = []
    for _ in range(12):
        digest, index = divmod(digest, len(alphabet))
        letters.append(alphabet[index])
    return "".join(letters)


def generated_name(stack_name: str, logical_id: str, limit: int) -> str:
    """stack-logicalId-SUFFIX, with stack name and logical ID shortened to fit limit."""
    suffix = stable_suffix(stack_name, logical_id)
    room = limit - len(suffix) - 2
    stack_part = stack_name[: max(room - min(len(logical_id), room // 2), room // 2)]
    logical_part = logical_id[: room - len(stack_part)]
    return f"{stack_part}-{logical_part}-{suffix}"


def apply_substitutions(clients: Clients, packaged: PackagedTemplate, resolver: TemplateResolver) -> None:
    """Substitute ${Name} placeholders as CloudFormation does, then update the state machine."""
    for logical_id, resource in packaged.resources_of_type("AWS::StepFunctions::StateMachine").items():
        properties = resource.get("Properties", {})
        substitutions = resolver.resolve(properties.get("DefinitionSubstitutions", {}))
        if not substitutions:
            continue
        definition = resolver.resolve(properties["DefinitionString"])
        for name, value in substitutions.items():
            definition = definition.replace("${" + name + "}", str(value))
        clients.stepfunctions.update_state_machine(
            stateMachineArn=resolver.resolve({"Ref": logical_id}), definition=definition
        )


def complete_buckets(clients: Clients, packaged: PackagedTemplate, resolver: TemplateResolver) -> None:
    """Apply the bucket settings moto's CloudFormation ignores, through the public S3 API."""
    for logical_id, resource in packaged.resources_of_type("AWS::S3::Bucket").items():
        if not resolver.condition(resource.get("Condition")):
            continue
        bucket = resolver.resolve({"Ref": logical_id})
        applied = ("VersioningConfiguration", "PublicAccessBlockConfiguration", "NotificationConfiguration")
        properties = resolver.resolve({k: v for k, v in resource.get("Properties", {}).items() if k in applied})
        if "VersioningConfiguration" in properties:
            clients.s3.put_bucket_versioning(
                Bucket=bucket, VersioningConfiguration={"Status": properties["VersioningConfiguration"]["Status"]}
            )
        if "PublicAccessBlockConfiguration" in properties:
            clients.s3.put_public_access_block(
                Bucket=bucket, PublicAccessBlockConfiguration=properties["PublicAccessBlockConfiguration"]
            )
        notification = properties.get("NotificationConfiguration", {})
        if notification.get("EventBridgeConfiguration", {}).get("EventBridgeEnabled") in (True, "true"):
            clients.s3.put_bucket_notification_configuration(
                Bucket=bucket, NotificationConfiguration={"EventBridgeConfiguration": {}}
            )
    # Bucket policies are not given to moto, which evaluates their Deny statements without their
    # conditions (DenyInsecureTransport would deny everything); pipeline.local.access enforces them.


def stack_tables(packaged: PackagedTemplate, resolver: TemplateResolver) -> list[Table]:
    """(name, resolved properties) of each table whose condition holds."""
    return [
        (resolver.resolve({"Ref": logical_id}), resolver.resolve(resource.get("Properties", {})))
        for logical_id, resource in packaged.resources_of_type("AWS::DynamoDB::Table").items()
        if resolver.condition(resource.get("Condition"))
    ]


def complete_tables(dynamodb: Any, tables: list[Table], set_encryption: Callable[[str, dict[str, Any]], None]
                    | None = None) -> None:
    """Apply the table settings moto's CloudFormation ignores (TTL, point-in-time recovery, and for
    a table it created, encryption), through the public DynamoDB API where it can: UpdateTable
    cannot set encryption in moto, so for a table moto's CloudFormation created, set_encryption
    (table name, SSESpecification: a core hook) sets it."""
    from pipeline.local.access import table_encryption

    for name, properties in tables:
        encryption = table_encryption(properties)
        if set_encryption is not None and encryption:
            set_encryption(name, encryption)
        ttl = properties.get("TimeToLiveSpecification", {})
        if ttl.get("Enabled") in (True, "true"):
            dynamodb.update_time_to_live(TableName=name, TimeToLiveSpecification={
                "Enabled": True, "AttributeName": ttl["AttributeName"]})
        if properties.get("PointInTimeRecoverySpecification", {}).get("PointInTimeRecoveryEnabled") in (True, "true"):
            dynamodb.update_continuous_backups(TableName=name, PointInTimeRecoverySpecification={
                "PointInTimeRecoveryEnabled": True})

"""DescribeStackResources and ListStackResources as CloudFormation answers them for a stack the
offline cloud runs: every resource whose condition holds, those the cloud applies itself
(policies, trails, alarms) included, which moto leaves out. Core hooks, installed with
pipeline.local.moto_change_sets."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any, Protocol

from moto.cloudformation.exceptions import ValidationError as MotoValidationError
from moto.cloudformation.models import Stack
from moto.cloudformation.parsing import ResourceMap
from moto.cloudformation.responses import CloudFormationResponse
from moto.core.responses import ActionResult

from pipeline.local.patching import Patch, Private
from pipeline.local.resolver import TemplateResolver

PARAM = Private(CloudFormationResponse, "_get_param")
PARSED_RESOURCES = Private(ResourceMap, "_parsed_resources", instance=True)


class Namer(Protocol):
    """Names the resources the offline cloud applies itself (pipeline.local.stack_host)."""

    def physical_id(self, stack_name: str, logical_id: str) -> str | None: ...


def stack_resource_patches(host: Namer) -> list[Patch]:
    return [
        Patch(CloudFormationResponse, "describe_stack_resources", lambda self: _describe_stack_resources(self, host)),
        Patch(CloudFormationResponse, "list_stack_resources", lambda self: _list_stack_resources(self, host)),
    ]


def _describe_stack_resources(self: CloudFormationResponse, host: Namer) -> ActionResult:
    stack = self.cloudformation_backend.get_stack(PARAM(self, "StackName") or
                                                  _stack_of(self, PARAM(self, "PhysicalResourceId")))
    wanted = PARAM(self, "LogicalResourceId")
    found = [{"StackName": stack.name, "StackId": stack.stack_id, "LogicalResourceId": row.logical_id,
              "PhysicalResourceId": row.physical_id, "ResourceType": row.resource_type, "Timestamp": row.timestamp,
              "ResourceStatus": row.status} for row in stack_resources(stack, host)
             if wanted in (None, row.logical_id)]
    return ActionResult({"StackResources": found})

def _list_stack_resources(self: CloudFormationResponse, host: Namer) -> ActionResult:
    stack = self.cloudformation_backend.get_stack(PARAM(self, "StackName"))
    return ActionResult({"StackResourceSummaries": [
        {"LogicalResourceId": row.logical_id, "PhysicalResourceId": row.physical_id,
         "ResourceType": row.resource_type, "LastUpdatedTimestamp": row.timestamp, "ResourceStatus": row.status}
        for row in stack_resources(stack, host)]})


@dataclass(frozen=True)
class StackResource:
    """One resource of a stack, as DescribeStackResources and ListStackResources give it."""

    logical_id: str
    resource_type: str
    physical_id: str
    status: str
    timestamp: Any


def stack_resources(stack: Stack, host: Namer) -> list[StackResource]:
    """Every resource of the stack whose condition holds, in the template's order: those moto
    created with their physical IDs, and those the offline cloud applies itself (policies, trails,
    alarms) with the name the cloud gave them, or one made as CloudFormation makes them; each with
    its last event's status and time (the stack's, for a stack created in one call)."""
    template = stack.template_dict  # what moto was given last (an update under way included)
    resolver = TemplateResolver(template, {k: str(v) for k, v in stack.parameters.items()}, {},
                                stack.region_name, stack.account_id, stack.name)
    present = {logical_id: resource for logical_id, resource in template.get("Resources", {}).items()
               if resolver.condition(resource.get("Condition"))}
    parsed = PARSED_RESOURCES.of(stack.resource_map)
    last_event = {event.logical_resource_id: event for event in stack.events}
    rows = []
    for logical_id, resource in present.items():
        made = parsed.get(logical_id)
        physical = getattr(made, "physical_resource_id", None) if made is not None else None
        if not isinstance(physical, str) or not physical:
            physical = host.physical_id(stack.name, logical_id) or _generated_id(stack, logical_id)
        event = last_event.get(logical_id)
        status = event.resource_status if event else ("UPDATE_COMPLETE" if stack.status.startswith("UPDATE")
                                                      else "CREATE_COMPLETE")
        rows.append(StackResource(logical_id, resource.get("Type", ""), physical, status,
                                  event.timestamp if event else stack.creation_time))
    return rows


def _generated_id(stack: Stack, logical_id: str) -> str:
    """A physical ID as CloudFormation generates one: stack-logicalId-SUFFIX (stable per stack)."""
    suffix = hashlib.sha256(f"{stack.stack_id}/{logical_id}".encode()).hexdigest()[:12].upper()
    return f"{stack.name}-{logical_id}-{suffix}"


def _stack_of(response: CloudFormationResponse, physical_id: str | None) -> str:
    """The stack that holds a resource of this physical ID (DescribeStackResources may name only it)."""
    for stack in response.cloudformation_backend.stacks.values():
        if physical_id and any(getattr(resource, "physical_resource_id", None) == physical_id
                               for resource in PARSED_RESOURCES.of(stack.resource_map).values()):
            return stack.name
    raise MotoValidationError(message="Either StackName or PhysicalResourceId must be specified.")

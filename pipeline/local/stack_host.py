"""What the offline cloud does with a stack CloudFormation deploys into it: the other side of
pipeline.local.moto_change_sets (`sam deploy` and `sam delete` through `pipeline serve`).

CloudFormation hands over the template it was given; the host transforms and checks it as
CloudFormation and the services would, gives moto a template it can create, and once moto has
created or updated the stack, has the cloud run it (LocalCloud.apply) or stop running it.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from pipeline.local import validation
from pipeline.local.change_sets import ProcessedTemplate, ReadObject, StackRecords, resources_present
from pipeline.local.change_sets import process_template
from pipeline.local.deploy_rules import Refusal
from pipeline.local.moto_stacks import for_moto, generated_names
from pipeline.template import TemplateError

if TYPE_CHECKING:
    from pipeline.clients import Clients
    from pipeline.local.alarms import Alarms
    from pipeline.local.packaging import PackagedTemplate
    from pipeline.stack import PipelineStack


class Runner(Protocol):
    """What runs the application of a stack (pipeline.local.cloud.LocalCloud)."""

    account_id: str
    clients: Clients
    code_root: Path
    records: StackRecords
    stack: PipelineStack | None
    alarms: Alarms

    def apply(self, stack_name: str, packaged: PackagedTemplate, skipped_types: set[str]) -> list[Refusal]: ...

    def withdraw(self, stack_name: str) -> None: ...


class StackHost:
    """The offline cloud as CloudFormation's change sets see it (moto_change_sets.Host)."""

    def __init__(self, cloud: Runner):
        self.cloud = cloud

    @property
    def records(self) -> StackRecords:
        return self.cloud.records

    def process(self, body: str, parameters: dict[str, str], read: ReadObject, stack_name: str) -> ProcessedTemplate:
        """A template submitted to CloudFormation, transformed, with its functions' code at hand,
        and what CloudFormation or a service would refuse in it (pipeline.local.validation)."""
        region, account_id = self.cloud.clients.region, self.cloud.account_id
        processed = process_template(body, parameters, region, read, self.cloud.code_root)
        processed.refusals = validation.refusals(processed.cloudformation, parameters, region, account_id, stack_name)
        return processed

    def moto_template(self, processed: ProcessedTemplate, stack_name: str, previous: ProcessedTemplate | None) -> dict[str, Any]:
        if processed.package is None:
            return processed.cloudformation
        template = for_moto(processed.cloudformation, stack_name, previous.names if previous else {})
        # moto's update compares resources, not conditions: it gets only those whose condition holds.
        template["Resources"] = {logical_id: template["Resources"][logical_id] for logical_id in resources_present(
            processed, (self.cloud.clients.region, self.cloud.account_id, stack_name))}
        processed.names = generated_names(template)
        return template

    def apply_processed(self, stack_name: str, processed: ProcessedTemplate, skipped_types: set[str]) -> list[Refusal]:
        if processed.package is None:  # no application to run (SAM's own artifacts stack, for one)
            self.cloud.withdraw(stack_name)  # if it ran one before this update, it runs none now
            return []
        refused = self.cannot_run(stack_name)
        if refused:
            raise TemplateError(refused)
        return self.cloud.apply(stack_name, processed.package, skipped_types)

    def withdraw(self, stack_name: str) -> None:
        self.cloud.withdraw(stack_name)

    def physical_id(self, stack_name: str, logical_id: str) -> str | None:
        """The name the offline cloud gave a resource it applies itself (an alarm), if any."""
        stack = self.cloud.stack
        if stack is None or stack.name != stack_name:
            return None
        return next((alarm.name for alarm in self.cloud.alarms.alarms if alarm.logical_id == logical_id), None)

    def cannot_run(self, stack_name: str) -> str | None:
        """Why the cloud cannot run this application stack as well (None: it can)."""
        stack = self.cloud.stack
        if stack is not None and stack.name != stack_name:
            return (f"The offline cloud runs one pipeline stack at a time, and {stack.name} is deployed "
                    f"(sam delete --stack-name {stack.name} first)")
        return None

    def record(self, stack_name: str, packaged: PackagedTemplate, parameters: dict[str, str],
               names: dict[str, str]) -> None:
        """A stack LocalCloud.deploy created from a template file, recorded as if submitted to
        CloudFormation: a later `sam deploy` to the stack is an update of it."""
        stack_id = self.cloud.clients.cloudformation.describe_stacks(StackName=stack_name)["Stacks"][0]["StackId"]
        self.records.current[stack_id] = ProcessedTemplate(packaged.source.read_text(encoding="utf-8"), parameters,
                                                   packaged.cloudformation, packaged, names)

"""A deployed pipeline stack, found through CloudFormation: offline or in AWS alike."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError


class StackNotFoundError(Exception):
    """No stack of that name exists, or it is not a pipeline stack."""


@dataclass(frozen=True)
class Rule:
    name: str
    state: str
    pattern: str


@dataclass(frozen=True)
class PipelineStack:
    name: str
    bucket: str
    state_machine_arn: str
    topic_arn: str
    dead_letter_queue_url: str
    rules: tuple[Rule, ...]
    resources: dict[str, str]
    backfill_state_machine_arn: str | None = None  # None for a stack without the backfill

    @classmethod
    def discover(cls, clients: Any, stack_name: str) -> PipelineStack:
        try:
            stack = clients.cloudformation.describe_stacks(StackName=stack_name)["Stacks"][0]
        except ClientError as error:
            raise StackNotFoundError(f"stack {stack_name!r} not found: {error.response['Error']['Message']}") from None
        outputs = {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}
        missing = {"LandingBucketName", "StateMachineArn", "NotificationTopicArn", "DeadLetterQueueUrl"} - set(outputs)
        if missing:
            raise StackNotFoundError(f"stack {stack_name!r} is not a file pipeline stack (no output {', '.join(sorted(missing))})")
        resources: dict[str, str] = {}
        rule_names = []
        paginator = clients.cloudformation.get_paginator("list_stack_resources")
        for page in paginator.paginate(StackName=stack_name):
            for summary in page["StackResourceSummaries"]:
                if summary.get("LogicalResourceId"):
                    resources[summary["LogicalResourceId"]] = summary.get("PhysicalResourceId", "")
                if summary["ResourceType"] == "AWS::Events::Rule":
                    rule_names.append(summary["PhysicalResourceId"])
        rules = []
        for name in rule_names:
            described = clients.events.describe_rule(Name=name.split("|")[-1])
            rules.append(Rule(described["Name"], described.get("State", "ENABLED"), described.get("EventPattern", "")))
        return cls(
            name=stack_name,
            bucket=outputs["LandingBucketName"],
            state_machine_arn=outputs["StateMachineArn"],
            topic_arn=outputs["NotificationTopicArn"],
            dead_letter_queue_url=outputs["DeadLetterQueueUrl"],
            rules=tuple(rules),
            resources=resources,
            backfill_state_machine_arn=outputs.get("BackfillStateMachineArn"),
        )

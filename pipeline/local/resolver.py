"""Resolves a deployed template's conditions and intrinsic functions, as CloudFormation does.

Used for the properties that moto's CloudFormation does not apply, which the offline cloud then
applies through the public API, and to know which conditional resources exist.
"""

from __future__ import annotations

import re
from typing import Any

NO_VALUE = object()
_SUB_VARIABLE = re.compile(r"\$\{([^}!][^}]*)\}")


class UnresolvableError(Exception):
    """An intrinsic function the offline cloud cannot resolve."""


class TemplateResolver:
    def __init__(self, cloudformation: dict[str, Any], parameters: dict[str, str], physical_ids: dict[str, str],
                 region: str, account_id: str, stack_name: str):
        self._template = cloudformation
        self._parameters = {
            key: str(spec.get("Default", "")) for key, spec in cloudformation.get("Parameters", {}).items()
        } | parameters
        self._pseudo = {
            "AWS::Region": region, "AWS::AccountId": account_id, "AWS::Partition": "aws",
            "AWS::StackName": stack_name, "AWS::URLSuffix": "amazonaws.com",
        }
        self._physical_ids = physical_ids

    def condition(self, name: str | None) -> bool:
        if name is None:
            return True
        return self._evaluate({"Condition": name})

    def _evaluate(self, node: dict[str, Any]) -> bool:
        if "Condition" in node:
            return self._evaluate(self._template["Conditions"][node["Condition"]])
        (function, args), = node.items()
        if function == "Fn::Equals":
            return str(self.resolve(args[0])) == str(self.resolve(args[1]))
        if function == "Fn::Not":
            return not self._evaluate(args[0])
        if function in ("Fn::And", "Fn::Or"):
            outcomes = [self._evaluate(arg) for arg in args]
            return all(outcomes) if function == "Fn::And" else any(outcomes)
        raise UnresolvableError(f"condition function {function}")

    def resolve(self, node: Any) -> Any:
        if isinstance(node, list):
            return [value for value in (self.resolve(item) for item in node) if value is not NO_VALUE]
        if not isinstance(node, dict):
            return node
        if len(node) == 1:
            (key, args), = node.items()
            if key == "Ref":
                return self._ref(args)
            if key == "Fn::If":
                return self.resolve(args[1] if self.condition(args[0]) else args[2])
            if key == "Fn::Sub":
                return self._sub(args)
            if key == "Fn::GetAtt":
                return self._get_att(*(args if isinstance(args, list) else args.split(".", 1)))
            if key == "Fn::Join":
                return str(args[0]).join(str(self.resolve(part)) for part in self.resolve(args[1]))
        resolved = {key: self.resolve(value) for key, value in node.items()}
        return {key: value for key, value in resolved.items() if value is not NO_VALUE}

    def _ref(self, name: str) -> Any:
        if name == "AWS::NoValue":
            return NO_VALUE
        if name in self._pseudo:
            return self._pseudo[name]
        if name in self._parameters:
            return self._parameters[name]
        if name in self._physical_ids:
            return self._physical_ids[name]
        raise UnresolvableError(f"Ref {name}")

    def _get_att(self, logical_id: str, attribute: str) -> str:
        """The attributes CloudFormation documents for the resource types a pipeline uses,
        derived from the physical ID as each service forms its ARNs."""
        kind = self._template["Resources"].get(logical_id, {}).get("Type")
        physical_id = self._physical_ids.get(logical_id, "")
        region, account = self._pseudo["AWS::Region"], self._pseudo["AWS::AccountId"]
        derived = {
            ("AWS::S3::Bucket", "Arn"): lambda: f"arn:aws:s3:::{physical_id}",
            ("AWS::Lambda::Function", "Arn"): lambda: f"arn:aws:lambda:{region}:{account}:function:{physical_id}",
            ("AWS::KMS::Key", "Arn"): lambda: f"arn:aws:kms:{region}:{account}:key/{physical_id}",
            ("AWS::KMS::Key", "KeyId"): lambda: physical_id,
            ("AWS::IAM::Role", "Arn"): lambda: f"arn:aws:iam::{account}:role/{physical_id}",
            ("AWS::SQS::Queue", "Arn"): lambda: f"arn:aws:sqs:{region}:{account}:{physical_id.rsplit('/', 1)[-1]}",
            ("AWS::SQS::Queue", "QueueName"): lambda: physical_id.rsplit("/", 1)[-1],
            ("AWS::SQS::Queue", "QueueUrl"): lambda: physical_id,
            ("AWS::SNS::Topic", "TopicArn"): lambda: physical_id,
            ("AWS::SNS::Topic", "TopicName"): lambda: physical_id.rsplit(":", 1)[-1],
            ("AWS::DynamoDB::Table", "Arn"): lambda: f"arn:aws:dynamodb:{region}:{account}:table/{physical_id}",
            ("AWS::Events::Rule", "Arn"): lambda: f"arn:aws:events:{region}:{account}:rule/{physical_id}",
            ("AWS::Logs::LogGroup", "Arn"): lambda: f"arn:aws:logs:{region}:{account}:log-group:{physical_id}:*",
            ("AWS::StepFunctions::StateMachine", "Arn"): lambda: physical_id,
            ("AWS::StepFunctions::StateMachine", "Name"): lambda: physical_id.rsplit(":", 1)[-1],
        }.get((kind, attribute))
        if derived is None:
            raise UnresolvableError(f"Fn::GetAtt {logical_id}.{attribute}")
        return derived()

    def _sub(self, args: Any) -> str:
        text, variables = (args, {}) if isinstance(args, str) else (args[0], self.resolve(args[1]))

        def replace(match: re.Match[str]) -> str:
            name = match.group(1)
            if name in variables:
                return str(variables[name])
            if "." in name:
                return self._get_att(*name.split(".", 1))
            return str(self._ref(name))

        return _SUB_VARIABLE.sub(replace, text)

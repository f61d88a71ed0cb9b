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
        resource = self._template["Resources"].get(logical_id, {})
        physical_id = self._physical_ids.get(logical_id, "")
        if resource.get("Type") == "AWS::S3::Bucket" and attribute == "Arn":
            return f"arn:aws:s3:::{physical_id}"
        if resource.get("Type") == "AWS::Lambda::Function" and attribute == "Arn":
            return f"arn:aws:lambda:{self._pseudo['AWS::Region']}:{self._pseudo['AWS::AccountId']}:function:{physical_id}"
        if resource.get("Type") == "AWS::KMS::Key" and attribute == "Arn":
            return f"arn:aws:kms:{self._pseudo['AWS::Region']}:{self._pseudo['AWS::AccountId']}:key/{physical_id}"
        raise UnresolvableError(f"Fn::GetAtt {logical_id}.{attribute}")

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

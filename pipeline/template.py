"""The one place that reads template.yaml: its YAML with CloudFormation's short forms, the
parameters, the functions' environment and memory, and the state machine's definition with its
substitutions. The tools that only read the template (graph, cost, the tests) use this module;
turning it into CloudFormation for the offline cloud is pipeline.local.packaging's job.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

SHORT_FORM_TAGS = {
    "!Ref": "Ref", "!Condition": "Condition", "!Base64": "Fn::Base64", "!Cidr": "Fn::Cidr",
    "!FindInMap": "Fn::FindInMap", "!GetAtt": "Fn::GetAtt", "!GetAZs": "Fn::GetAZs",
    "!ImportValue": "Fn::ImportValue", "!Join": "Fn::Join", "!Select": "Fn::Select",
    "!Split": "Fn::Split", "!Sub": "Fn::Sub", "!Transform": "Fn::Transform", "!And": "Fn::And",
    "!Equals": "Fn::Equals", "!If": "Fn::If", "!Not": "Fn::Not", "!Or": "Fn::Or",
}


class TemplateError(Exception):
    """The template cannot be read, transformed or given the parameters asked for."""


class _TemplateLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """The safe loader, in C where PyYAML was built with libyaml (template.yaml: 6 ms, not 60)."""


def _intrinsic(function: str):
    def construct(loader: yaml.SafeLoader, node: yaml.Node) -> dict[str, Any]:
        if isinstance(node, yaml.ScalarNode):
            value: Any = loader.construct_scalar(node)
            if function == "Fn::GetAtt":
                value = value.split(".", 1)
        elif isinstance(node, yaml.SequenceNode):
            value = loader.construct_sequence(node, deep=True)
        else:
            value = loader.construct_mapping(node, deep=True)
        return {function: value}

    return construct


for _tag, _function in SHORT_FORM_TAGS.items():
    _TemplateLoader.add_constructor(_tag, _intrinsic(_function))


def load_template(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise TemplateError(f"template not found: {path}") from None
    return parse_template(text, str(path))


def parse_template(text: str, name: str = "the template") -> dict[str, Any]:
    """A template's text (YAML with short forms, or JSON) as a document with long-form intrinsics."""
    try:
        document = yaml.load(text, Loader=_TemplateLoader)  # noqa: S506 - SafeLoader subclass
    except yaml.YAMLError as exc:
        raise TemplateError(f"{name} is not valid YAML: {exc}") from None
    if not isinstance(document, dict) or "Resources" not in document:
        raise TemplateError(f"{name} is not a CloudFormation/SAM template (no Resources)")
    return document


def function_environment(template: dict[str, Any], logical_id: str | None = None,
                         overrides: dict[str, str] | None = None) -> dict[str, str]:
    """The environment variables the template gives a function (Globals, then the function's own),
    with parameter Refs at their defaults or overrides. Other intrinsics resolve to an empty string:
    they name resources that exist only once deployed."""
    values = {name: str(spec.get("Default", "")) for name, spec in template.get("Parameters", {}).items()}
    values.update(overrides or {})
    variables = dict(template.get("Globals", {}).get("Function", {}).get("Environment", {}).get("Variables", {}))
    if logical_id is not None:
        properties = template["Resources"][logical_id].get("Properties", {})
        variables.update(properties.get("Environment", {}).get("Variables", {}))
    return {
        name: values.get(value["Ref"], "") if isinstance(value, dict) and "Ref" in value
        else "" if isinstance(value, dict) else str(value)
        for name, value in variables.items()
    }


def parse_parameter_overrides(overrides: list[str]) -> dict[str, str]:
    """`sam deploy --parameter-overrides` syntax: Key=Value (quotes around the value allowed)."""
    values: dict[str, str] = {}
    for item in overrides:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise TemplateError(f"bad parameter override {item!r}: expected Key=Value")
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            value = value[1:-1]
        values[key.strip()] = value
    return values


def function_memory(template: dict[str, Any]) -> dict[str, int]:
    """Each function's MemorySize (its own, or the Globals', or Lambda's default of 128)."""
    default = int(template.get("Globals", {}).get("Function", {}).get("MemorySize", 128))
    return {
        logical_id: int(resource.get("Properties", {}).get("MemorySize", default))
        for logical_id, resource in template["Resources"].items()
        if resource.get("Type") == "AWS::Serverless::Function"
    }


def state_machine_definition(template_path: Path, logical_id: str | None = None,
                             describe: Any = None) -> dict[str, Any]:
    """A state machine's ASL (its DefinitionUri, or its inline Definition), with each
    ${placeholder} of DefinitionSubstitutions replaced by describe(value) (by default the value's
    text)."""
    template = load_template(template_path)
    machines = {k: v for k, v in template["Resources"].items() if v.get("Type") == "AWS::Serverless::StateMachine"}
    if not machines:
        raise TemplateError(f"{template_path} has no AWS::Serverless::StateMachine")
    properties = machines[logical_id or next(iter(machines))].get("Properties", {})
    if "DefinitionUri" in properties:
        text = (template_path.parent / properties["DefinitionUri"]).read_text(encoding="utf-8")
    else:
        text = json.dumps(properties.get("Definition", {}))
    for name, value in properties.get("DefinitionSubstitutions", {}).items():
        text = text.replace("${" + name + "}", describe(value) if describe else str(value))
    return json.loads(text)

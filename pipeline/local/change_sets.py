"""What CloudFormation does with a change set that `sam deploy` creates, before and around moto.

`sam deploy` uploads its packaged template to S3 and hands CloudFormation a TemplateURL, the
parameters (a value, or UsePreviousValue) and the capabilities it acknowledges. CloudFormation
then reads the template, checks the parameters against their constraints, applies the SAM
transform, and lists the changes. This module does those steps with no moto in sight;
pipeline.local.moto_change_sets puts them into moto's CloudFormation. Sources are named at each
step (the CloudFormation API Reference and User Guide).
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import shutil
import threading
import warnings
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlparse

from pipeline.local.resolver import TemplateResolver
from pipeline.local.packaging import PackagedFunction, PackagedLayer, PackagedTemplate, transform
from pipeline.template import TemplateError, parse_template

SAM_TRANSFORM = "AWS::Serverless-2016-10-31"

ReadObject = Callable[["S3Location"], bytes]


class ValidationError(Exception):
    """What CloudFormation answers with a 400 ValidationError: the message is the answer."""


@dataclass(frozen=True)
class S3Location:
    bucket: str
    key: str
    version_id: str | None = None


# Virtual-hosted (bucket.s3.region.amazonaws.com/key) and path-style (s3.region.amazonaws.com/bucket/key)
# addresses, the two forms a TemplateURL takes (S3 User Guide, "Virtual hosting of buckets"; SAM CLI
# uploads path-style: s3_uploader.to_path_style_s3_url).
_VIRTUAL_HOSTED = re.compile(r"(?P<bucket>.+)\.s3([.-][a-z0-9-]+)*\.amazonaws\.com(\.cn)?")
_PATH_STYLE = re.compile(r"s3([.-][a-z0-9-]+)*\.amazonaws\.com(\.cn)?")


def template_location(url: str) -> S3Location:
    """The object a TemplateURL names: an S3 address in either form, or this cloud's own endpoint
    (path-style, as boto3 addresses it there). A versionId in the query picks that version."""
    parsed = urlparse(url)
    host = (parsed.hostname or "").lower()
    version = parse_qs(parsed.query).get("versionId", [None])[0]
    path = unquote(parsed.path).lstrip("/")
    hosted = _VIRTUAL_HOSTED.fullmatch(host)
    if hosted and not _PATH_STYLE.fullmatch(host):
        bucket, key = hosted.group("bucket"), path
    else:
        bucket, _, key = path.partition("/")
    if parsed.scheme not in ("http", "https") or not bucket or not key:
        raise ValidationError("TemplateURL must be a supported URL.")
    return S3Location(bucket, key, version)


def resolve_parameters(declared: dict[str, Any], given: list[dict[str, Any]],
                       previous: dict[str, str] | None) -> dict[str, str]:
    """Every declared parameter's value as text: given, the previous value (UsePreviousValue), or
    the default; checked against the parameter's constraints as CloudFormation checks them."""
    unknown = [p["ParameterKey"] for p in given if p["ParameterKey"] not in declared]
    if unknown:
        raise ValidationError(f"Parameters: [{', '.join(unknown)}] do not exist in the template")
    values: dict[str, str] = {}
    for entry in given:
        name = entry["ParameterKey"]
        if str(entry.get("UsePreviousValue", "false")).lower() == "true":
            if previous is None:
                raise ValidationError("Cannot specify UsePreviousValue on Parameters when ChangeSetType is CREATE")
            if name not in previous:
                raise ValidationError(f"Invalid input for parameter key {name}. Cannot specify usePreviousValue "
                                      "as true for a parameter key not in the previous template")
            values[name] = previous[name]
        else:
            values[name] = str(entry.get("ParameterValue", ""))
    missing = []
    for name, spec in declared.items():
        if name not in values:
            if "Default" in spec:
                values[name] = _text(spec["Default"])
            else:
                missing.append(name)
    if missing:
        raise ValidationError(f"Parameters: [{', '.join(missing)}] must have values")
    for name, spec in declared.items():
        _check_constraints(name, spec, values[name])
    return values


def _text(value: Any) -> str:
    if isinstance(value, list):
        return ",".join(_text(item) for item in value)
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)


def _check_constraints(name: str, spec: dict[str, Any], value: str) -> None:
    """The constraints of the template's Parameters section (CloudFormation User Guide,
    "Parameters syntax"): AllowedValues, AllowedPattern, Min/MaxLength, Min/MaxValue, Number. The
    messages are CloudFormation's ValidationError texts as AWS returns them (collected with their
    sources in docs/sam-deploy-offline.md); a ConstraintDescription replaces them."""
    described = spec.get("ConstraintDescription")

    def refuse(rule: str) -> ValidationError:
        if described:
            return ValidationError(f"Parameter {name} failed to satisfy constraint: {described}")
        return ValidationError(f"Parameter '{name}' {rule}")

    kind = spec.get("Type", "String")
    items = value.split(",") if kind in ("CommaDelimitedList", "List<Number>") else [value]
    for item in items:
        if kind in ("Number", "List<Number>"):
            try:
                number = float(item)
            except ValueError:
                raise refuse("must be a number.") from None
            if "MinValue" in spec and number < float(spec["MinValue"]):
                raise refuse(f"must be a number not less than {spec['MinValue']}")
            if "MaxValue" in spec and number > float(spec["MaxValue"]):
                raise refuse(f"must be a number not greater than {spec['MaxValue']}")
        if "AllowedValues" in spec and item not in [_text(allowed) for allowed in spec["AllowedValues"]]:
            raise refuse("must be one of AllowedValues")
        if "AllowedPattern" in spec and not re.fullmatch(spec["AllowedPattern"], item):
            raise refuse(f"must match pattern {spec['AllowedPattern']}")
        if "MinLength" in spec and len(item) < int(spec["MinLength"]):
            raise refuse(f"must contain at least {spec['MinLength']} characters")
        if "MaxLength" in spec and len(item) > int(spec["MaxLength"]):
            raise refuse(f"must contain at most {spec['MaxLength']} characters")


# The IAM resource types that need a capability, and the properties that name them (CloudFormation
# User Guide, "Acknowledging IAM resources in CloudFormation templates"): a custom name needs
# CAPABILITY_NAMED_IAM, any of them CAPABILITY_IAM.
IAM_NAMES = {
    "AWS::IAM::AccessKey": None, "AWS::IAM::Group": "GroupName", "AWS::IAM::InstanceProfile": "InstanceProfileName",
    "AWS::IAM::ManagedPolicy": "ManagedPolicyName", "AWS::IAM::Policy": None, "AWS::IAM::Role": "RoleName",
    "AWS::IAM::User": "UserName", "AWS::IAM::UserToGroupAddition": None,
}


def missing_capability(cloudformation: dict[str, Any], acknowledged: list[str]) -> str | None:
    """The capability the template requires that was not acknowledged, if any."""
    resources = [r for r in cloudformation.get("Resources", {}).values() if r.get("Type") in IAM_NAMES]
    named = any(IAM_NAMES[r["Type"]] and IAM_NAMES[r["Type"]] in r.get("Properties", {}) for r in resources)
    if named and "CAPABILITY_NAMED_IAM" not in acknowledged:
        return "CAPABILITY_NAMED_IAM"
    if resources and not {"CAPABILITY_IAM", "CAPABILITY_NAMED_IAM"} & set(acknowledged):
        return "CAPABILITY_IAM"
    return None


@dataclass
class ProcessedTemplate:
    """A submitted template after CloudFormation's processing: the body as submitted (GetTemplate's
    Original stage), the resolved parameters, and the plain CloudFormation it became."""

    body: str
    parameters: dict[str, str]
    cloudformation: dict[str, Any]
    package: PackagedTemplate | None = None
    """For an application (functions or state machines to run): the code and a readable template."""
    names: dict[str, str] = field(default_factory=dict)
    """Physical names the offline cloud chose for this stack's resources, kept across updates."""
    transformed: bool = False
    """The template declared the SAM transform."""
    refusals: list[Any] = field(default_factory=list)
    """What CloudFormation or a service would refuse before any resource runs (Refusal)."""


def _transforms(template: dict[str, Any]) -> bool:
    declared = template.get("Transform", [])
    return SAM_TRANSFORM in (declared if isinstance(declared, list) else [declared])


def process_template(body: str, parameters: dict[str, str], region: str, read: ReadObject,
                     code_root: Path) -> ProcessedTemplate:
    """Apply the SAM transform if the template declares it, and gather what the offline cloud needs
    to run its functions and state machines: each function's code, unzipped under code_root once
    per object (an update that keeps a function's code reuses it), and each state machine's
    definition from DefinitionS3Location.

    TransformFailed is the transform's refusal; ValidationError an object that cannot be read."""
    template = parse_template(body)
    transformed = _transforms(template)
    cloudformation = transform(template, parameters, region) if transformed else template
    application = {"AWS::Lambda::Function", "AWS::StepFunctions::StateMachine"} & {
        r.get("Type") for r in cloudformation["Resources"].values()}
    if not application:
        return ProcessedTemplate(body, parameters, cloudformation, transformed=transformed)
    code_root.mkdir(parents=True, exist_ok=True)
    functions, layers = {}, {}
    for logical_id, resource in cloudformation["Resources"].items():
        properties = resource.get("Properties", {})
        if resource.get("Type") == "AWS::StepFunctions::StateMachine" and "DefinitionS3Location" in properties:
            location = properties.pop("DefinitionS3Location")
            properties["DefinitionString"] = read(S3Location(
                location["Bucket"], location["Key"], location.get("Version"))).decode("utf-8")
        elif resource.get("Type") == "AWS::Lambda::Function":
            code = properties.get("Code", {})
            if "S3Bucket" not in code:
                raise ValidationError(f"{logical_id}: the offline cloud runs functions whose code is in S3 "
                                      "(as `sam deploy` packages it)")
            location = S3Location(code["S3Bucket"], code["S3Key"], code.get("S3ObjectVersion"))
            object_name = hashlib.sha256(repr(location).encode()).hexdigest()[:16]
            code_dir = code_root / f"{logical_id}-{object_name}"
            _unzip(read(location), code_dir)
            functions[logical_id] = PackagedFunction(logical_id, code_dir, properties.get("Handler", ""),
                                                     properties.get("Runtime", ""), location.key, b"")
        elif resource.get("Type") == "AWS::Lambda::LayerVersion" and "S3Bucket" in properties.get("Content", {}):
            content = properties["Content"]
            location = S3Location(content["S3Bucket"], content["S3Key"], content.get("S3ObjectVersion"))
            content_dir = code_root / f"{logical_id}-{hashlib.sha256(repr(location).encode()).hexdigest()[:16]}"
            _unzip(read(location), content_dir)
            layers[location.key] = PackagedLayer(logical_id, content_dir, location.key, b"")
    source = code_root / f"template-{hashlib.sha256(body.encode()).hexdigest()[:16]}.json"
    source.write_text(json.dumps(_with_inline_definitions(template, read)), encoding="utf-8")
    return ProcessedTemplate(body, parameters, cloudformation,
                     PackagedTemplate(source, parameters, cloudformation, functions, layers), transformed=transformed)


def _unzip(archive: bytes, folder: Path) -> None:
    if folder.is_dir():
        return  # the same object, unzipped for an earlier change set
    partial = folder.with_name(folder.name + ".partial")  # never a half-unzipped folder under the final name
    shutil.rmtree(partial, ignore_errors=True)
    with zipfile.ZipFile(io.BytesIO(archive)) as opened:
        for member in opened.namelist():
            if member.startswith("/") or ".." in Path(member).parts:
                raise ValidationError(f"the function code archive holds an unsafe path: {member}")
        opened.extractall(partial)
    partial.rename(folder)


def _with_inline_definitions(template: dict[str, Any], read: ReadObject) -> dict[str, Any]:
    """The SAM template with each state machine's DefinitionUri read into Definition, for the tools
    that read a template (pipeline.graph, the live page)."""
    inlined = json.loads(json.dumps(template))
    for resource in inlined["Resources"].values():
        properties = resource.get("Properties", {})
        uri = properties.get("DefinitionUri")
        if resource.get("Type") == "AWS::Serverless::StateMachine" and isinstance(uri, dict):
            properties.pop("DefinitionUri")
            properties["Definition"] = json.loads(read(S3Location(uri["Bucket"], uri["Key"], uri.get("Version"))))
    return inlined


class StackRecords:
    """Each stack's current processed template (by stack ID), and each change set's (by change set
    ID) until it is executed."""

    def __init__(self) -> None:
        self.current: dict[str, ProcessedTemplate] = {}
        self.pending: dict[str, ProcessedTemplate] = {}
        self.lock = threading.Lock()  # one stack operation at a time: the cloud has one set of wiring


@contextmanager
def moto_skipped_types() -> Iterator[set[str]]:
    """The resource types moto's CloudFormation skipped while the block ran (it warns "Tried to
    parse X but it's not supported by moto's CloudFormation implementation")."""
    skipped: set[str] = set()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield skipped
    skipped.update(str(w.message).split("Tried to parse ", 1)[1].split(" but", 1)[0]
                   for w in caught if "Tried to parse" in str(w.message))


@dataclass(frozen=True)
class ResourceChange:
    """One row of DescribeChangeSet's Changes (API Reference, ResourceChange)."""

    action: str  # Add, Modify, Remove
    logical_id: str
    resource_type: str
    replacement: str | None = None  # "True", "False" or "Conditional"; None for Add and Remove


def resources_present(processed: ProcessedTemplate, context: tuple[str, str, str]) -> dict[str, dict[str, Any]]:
    """The resources whose Condition holds with the processed template's parameters; context is
    (region, account ID, stack name), for conditions on pseudo parameters."""
    resolver = TemplateResolver(processed.cloudformation, processed.parameters, {}, *context)
    return {logical_id: resource for logical_id, resource in processed.cloudformation["Resources"].items()
            if resolver.condition(resource.get("Condition"))}


def changes(before: ProcessedTemplate | None, after: ProcessedTemplate,
            context: tuple[str, str, str]) -> list[ResourceChange]:
    """What a change set would do to each resource: add it (it is new, or its Condition now holds),
    remove it, or modify it because its definition, a parameter it refers to, or a condition it
    uses changed. Whether a modification replaces the resource depends on the property (each
    resource type's reference page), so "Conditional" says it may."""
    new = resources_present(after, context)
    old = resources_present(before, context) if before else {}
    changed_parameters = {name for name in after.parameters
                          if before is None or before.parameters.get(name) != after.parameters[name]}
    changed_conditions = set()
    if before is not None:
        was = TemplateResolver(before.cloudformation, before.parameters, {}, *context)
        now = TemplateResolver(after.cloudformation, after.parameters, {}, *context)
        changed_conditions = {name for name in after.cloudformation.get("Conditions", {})
                              if name not in before.cloudformation.get("Conditions", {})
                              or was.condition(name) != now.condition(name)}
    found = [ResourceChange("Add", logical_id, r["Type"]) for logical_id, r in new.items() if logical_id not in old]
    found += [ResourceChange("Remove", logical_id, r["Type"]) for logical_id, r in old.items() if logical_id not in new]
    for logical_id, resource in new.items():
        if logical_id in old and (old[logical_id] != resource
                                  or _refers_to(resource.get("Properties", {}), changed_parameters, changed_conditions)):
            found.append(ResourceChange("Modify", logical_id, resource["Type"], "Conditional"))
    return found


def _refers_to(value: Any, parameters: set[str], conditions: set[str]) -> bool:
    if isinstance(value, dict):
        if value.get("Ref") in parameters:
            return True
        if "Fn::If" in value and value["Fn::If"] and value["Fn::If"][0] in conditions:
            return True
        return any(_refers_to(item, parameters, conditions) for item in value.values())
    if isinstance(value, list):
        return any(_refers_to(item, parameters, conditions) for item in value)
    return isinstance(value, str) and any("${" + name + "}" in value for name in parameters)


__all__ = ["ProcessedTemplate", "ResourceChange", "S3Location", "StackRecords", "TemplateError",
           "ValidationError", "changes", "missing_capability", "moto_skipped_types", "process_template",
           "resolve_parameters", "resources_present", "template_location"]

"""What CloudFormation and the services refuse in a template before any resource runs, checked
from the sources AWS and its tools maintain rather than rule by rule.

- CloudFormation's resource schemas, IAM's policy grammar, intrinsic functions and dependency
  cycles, through cfn-lint (pinned): its errors (E rules), less the few that are its own
  heuristics or configuration (IGNORED). Its warnings and style rules never stop a deploy.
  A cycle is CloudFormation's synchronous ValidationError ("Circular dependency between
  resources: [A, B]"); any other is the resource's CREATE_FAILED.
- Each state machine's definition as CreateStateMachine checks it, and whether the offline cloud
  can run it (pipeline.local.definitions).
- Principals of this account that a resource policy names must exist: the offline account holds
  the stack's roles and nothing else (S3: MalformedPolicy "Invalid principal in policy"; SNS:
  "Invalid parameter: Policy Error: PrincipalNotFound"; SQS: "Invalid value for the parameter
  Policy."; KMS: "Policy contains a statement with one or more invalid principals."; IAM:
  "Invalid principal in policy", as AWS answers them).

cfn-lint takes about half a second, so its verdict on a transformed template is kept in a cache
folder (XDG_CACHE_HOME) and not asked again while the template is the same.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pipeline.local import definitions, schedules
from pipeline.local.deploy_rules import Refusal
from pipeline.local.resolver import TemplateResolver, UnresolvableError

# cfn-lint errors that are not CloudFormation's or a service's refusals: a rule that crashed,
# its configuration and deployment files, and its heuristics (a literal "${x}" outside Fn::Sub
# is deployed as written; a Ref or GetAtt whose format differs from the property's is not
# checked by CloudFormation; a service it believes shut down).
IGNORED = frozenset({"E0002", "E0003", "E0100", "E0200", "E2900", "E1029", "E1040", "E1041", "E3710"})
CYCLE = "E3004"


def refusals(cloudformation: dict[str, Any], parameters: dict[str, str], region: str, account: str,
             stack_name: str) -> list[Refusal]:
    """Every refusal for the resources whose condition holds: the template's own (a cycle) first,
    then what AWS would refuse, then what the offline cloud cannot run."""
    resolver = TemplateResolver(cloudformation, parameters, _placeholders(cloudformation), region, account, stack_name)
    present = {logical_id for logical_id, resource in cloudformation.get("Resources", {}).items()
               if _condition(resolver, resource.get("Condition"))}
    found = [refusal for refusal in lint(cloudformation, region) if not refusal.logical_id or refusal.logical_id in present]
    found += list(_definitions(cloudformation, resolver, present))
    found += list(_principals(cloudformation, resolver, present, account))
    found += list(_layers(cloudformation, resolver, present))
    found += list(_not_run(cloudformation, resolver, present))
    return sorted(found, key=lambda refusal: (refusal.logical_id != "", refusal.code == definitions.NOT_SUPPORTED))


def lint(cloudformation: dict[str, Any], region: str) -> list[Refusal]:
    """cfn-lint's errors for a transformed template, as refusals."""
    resources = cloudformation.get("Resources", {})
    errors = [m for m in _matches(cloudformation, region) if m["rule"].startswith("E") and m["rule"] not in IGNORED]
    cycle = [m["path"][1] for m in errors if m["rule"] == CYCLE and len(m["path"]) > 1]
    found = []
    if cycle:
        found.append(Refusal("", "", "ValidationError",
                             f"Circular dependency between resources: [{', '.join(dict.fromkeys(cycle))}]"))
    seen = set()
    for match in errors:
        if match["rule"] == CYCLE:
            continue
        path = match["path"]
        logical_id = path[1] if len(path) > 1 and path[0] == "Resources" else ""
        kind = resources.get(logical_id, {}).get("Type", "") if logical_id else ""
        where = "/".join(path[2:] if logical_id else path)
        code, message = IAM_WORDING.get((match["rule"], _grammar(match["message"])), (
            "ValidationError" if not logical_id else "Properties validation failed", match["message"]))
        message = f"{message} at {where} (cfn-lint {match['rule']}: {match['about']})"
        if (logical_id, message) not in seen:
            seen.add((logical_id, message))
            found.append(Refusal(logical_id, kind, code, message))
    return found


def _matches(cloudformation: dict[str, Any], region: str) -> list[dict[str, Any]]:
    """What cfn-lint finds in the template (rule, message, path, what the rule is about), kept in
    the cache folder for as long as the template and cfn-lint's version are the same."""
    from importlib.metadata import version

    text = json.dumps(cloudformation, sort_keys=True, default=str)
    key = hashlib.sha256(f"{version('cfn-lint')}/{region}/{text}".encode()).hexdigest()
    cached = _cache_folder() / f"{key}.json"
    try:
        return list(json.loads(cached.read_text(encoding="utf-8")))
    except (OSError, ValueError):
        pass
    from cfnlint.config import ConfigMixIn
    from cfnlint.runner import run_template_by_data

    found = [{"rule": m.rule.id, "message": m.message, "path": [str(part) for part in m.path],
              "about": m.rule.shortdesc}
             for m in run_template_by_data(json.loads(text), ConfigMixIn(regions=[region]), _rules())]
    try:
        cached.parent.mkdir(parents=True, exist_ok=True)
        partial = cached.with_suffix(f".{os.getpid()}.partial")
        partial.write_text(json.dumps(found), encoding="utf-8")
        partial.replace(cached)
    except OSError:
        pass  # a read-only home: checked again next time
    return found


# How IAM words the grammar errors cfn-lint finds in an identity policy (E3510), as IAM answers
# CreatePolicy and PutRolePolicy (MalformedPolicyDocument, recorded in
# terraform-aws-modules/terraform-aws-iam issue 603, hashicorp/terraform issue 13449 and
# aws/aws-cdk issue 7615).
IAM_WORDING = {
    ("E3510", "Resource"): ("MalformedPolicyDocument", "Policy statement must contain resources."),
    ("E3510", "Action"): ("MalformedPolicyDocument", "Policy statement must contain actions."),
    ("E3510", "Principal"): ("MalformedPolicyDocument", "Policy document should not specify a principal."),
}


def _grammar(message: str) -> str:
    """Which element a cfn-lint grammar message is about."""
    if "['Resource', 'NotResource']" in message:
        return "Resource"
    if "['Action', 'NotAction']" in message:
        return "Action"
    if "'Principal' was unexpected" in message or "'NotPrincipal' was unexpected" in message:
        return "Principal"
    return ""


_RULES: list[Any] = []


def _rules() -> Any:
    if not _RULES:
        from cfnlint.core import get_rules

        _RULES.append(get_rules([], [], []))
    return _RULES[0]


def _cache_folder() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "file-pipeline" / "cfn-lint"


def _placeholders(cloudformation: dict[str, Any]) -> dict[str, str]:
    """Before CloudFormation names anything: each resource stands for its own name if the template
    gives it one as text, else for its logical ID."""
    names = {"AWS::IAM::Role": "RoleName"}
    found = {}
    for logical_id, resource in cloudformation.get("Resources", {}).items():
        name = resource.get("Properties", {}).get(names.get(resource.get("Type", ""), ""))
        found[logical_id] = name if isinstance(name, str) else logical_id
    return found


def _condition(resolver: TemplateResolver, name: str | None) -> bool:
    try:
        return resolver.condition(name)
    except (UnresolvableError, KeyError):
        return True


def _resolved(resolver: TemplateResolver, value: Any) -> Any:
    try:
        return resolver.resolve(value)
    except (UnresolvableError, KeyError, TypeError):
        return None


def _definitions(cloudformation: dict[str, Any], resolver: TemplateResolver, present: set[str]) -> Iterator[Refusal]:
    kind = "AWS::StepFunctions::StateMachine"
    for logical_id, resource in cloudformation.get("Resources", {}).items():
        if resource.get("Type") != kind or logical_id not in present:
            continue
        properties = resource.get("Properties", {})
        if "Definition" in properties:
            text = json.dumps(properties["Definition"])
        elif "DefinitionString" in properties:
            text = _leniently(resolver, properties["DefinitionString"])
        else:
            continue  # DefinitionS3Location: read where the stack is processed
        for name, value in (properties.get("DefinitionSubstitutions") or {}).items():
            text = text.replace("${" + name + "}", _leniently(resolver, value))
        definition = definitions.text_of(text)
        if definition is None:
            if "${" not in text:  # a value the offline cloud could not resolve is not the template's fault
                yield Refusal(logical_id, kind, "InvalidDefinition", "Invalid State Machine Definition: "
                              "'INVALID_JSON_DESCRIPTION: the definition is not a JSON object at /'")
            continue
        workflow = str(_resolved(resolver, properties.get("StateMachineType")) or "STANDARD")
        for problem in definitions.problems(definition, workflow):
            yield Refusal(logical_id, kind, problem.code, problem.message)


_VARIABLE = re.compile(r"\$\{([^}!][^}]*)\}")


def _leniently(resolver: TemplateResolver, value: Any) -> str:
    """A value as text, each part the offline cloud cannot resolve before the stack exists left
    as a ${...} placeholder (which the definition checks pass over) rather than a refusal."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and "Fn::Join" in value:
        separator, parts = value["Fn::Join"]
        return str(separator).join(_leniently(resolver, part) for part in (parts if isinstance(parts, list) else []))
    if isinstance(value, dict) and "Fn::Sub" in value:
        text, variables = (value["Fn::Sub"], {}) if isinstance(value["Fn::Sub"], str) else value["Fn::Sub"]

        def replace(match: re.Match[str]) -> str:
            name = match.group(1)
            if name in variables:
                return _leniently(resolver, variables[name])
            found = _resolved(resolver, {"Fn::GetAtt": name.split(".", 1)} if "." in name else {"Ref": name})
            return str(found) if found is not None else match.group(0)

        return _VARIABLE.sub(replace, str(text))
    found = _resolved(resolver, value)
    return str(found) if found is not None else "${unresolved}"


# Powertools for AWS Lambda (Python)'s public layers: the offline runtime stands in for them with
# the Powertools installed with the pipeline (the version of src/*/requirements.txt).
POWERTOOLS_LAYER = re.compile(r"arn:aws[\w-]*:lambda:[\w-]+:017000801446:layer:AWSLambdaPowertoolsPython[\w-]*:\d+")


def _layers(cloudformation: dict[str, Any], resolver: TemplateResolver, present: set[str]) -> Iterator[Refusal]:
    """A layer from outside the stack is not in the offline cloud (but Powertools'). (That a
    function takes at most five is in CloudFormation's schema for AWS::Lambda::Function.)"""
    resources = cloudformation.get("Resources", {})
    for logical_id, resource in resources.items():
        layers = resource.get("Properties", {}).get("Layers")
        if resource.get("Type") != "AWS::Lambda::Function" or logical_id not in present or not isinstance(layers, list):
            continue
        for layer in layers:
            if isinstance(layer, dict) and resources.get(str(layer.get("Ref")), {}).get("Type") == "AWS::Lambda::LayerVersion":
                continue
            arn = _resolved(resolver, layer)
            if not (isinstance(arn, str) and POWERTOOLS_LAYER.fullmatch(arn)):
                yield Refusal(logical_id, "AWS::Lambda::Function", definitions.NOT_SUPPORTED,
                              f"layer {arn or layer} is not one of the stack's own, and the offline cloud has no "
                              "other layers (but Powertools')")


# Resources that do something on their own in AWS, which the offline cloud does not do: deployed
# as they are, they would sit there and the pipeline would seem to work without them.
NOT_RUN = {
    "AWS::Lambda::EventSourceMapping": "the offline cloud does not poll event sources (SQS, Kinesis, DynamoDB "
                                       "streams) for functions",
    "AWS::Lambda::Url": "the offline cloud does not serve function URLs",
    "AWS::ApiGateway::RestApi": "the offline cloud does not serve APIs",
    "AWS::ApiGatewayV2::Api": "the offline cloud does not serve APIs",
    "AWS::Pipes::Pipe": "the offline cloud does not run EventBridge Pipes",
    "AWS::Events::EventBus": "the offline cloud delivers S3's events on the default bus only",
}
S3_DESTINATIONS = ("LambdaConfigurations", "QueueConfigurations", "TopicConfigurations")


def _not_run(cloudformation: dict[str, Any], resolver: TemplateResolver, present: set[str]) -> Iterator[Refusal]:
    """What a template asks AWS to do by itself that the offline cloud would not: refused, one line
    each, rather than deployed to do nothing."""
    for logical_id, resource in cloudformation.get("Resources", {}).items():
        kind, properties = resource.get("Type", ""), resource.get("Properties", {})
        if logical_id not in present:
            continue
        if kind in NOT_RUN:
            yield Refusal(logical_id, kind, definitions.NOT_SUPPORTED, NOT_RUN[kind])
        elif kind == "AWS::Scheduler::Schedule":
            target = properties.get("Target") if isinstance(properties.get("Target"), dict) else {}
            arn = _resolved(resolver, target.get("Arn"))
            machine = (isinstance(arn, str) and ":states:" in arn and ":stateMachine:" in arn) or _names_a(
                cloudformation, target.get("Arn"), "AWS::StepFunctions::StateMachine")
            why = schedules.why_not_run(_resolved(resolver, properties.get("ScheduleExpression")), machine,
                                        arn or target.get("Arn"), sorted(set(properties) & schedules.UNRUN_PROPERTIES))
            if why:
                yield Refusal(logical_id, kind, definitions.NOT_SUPPORTED, why)
        elif kind == "AWS::Events::Rule":
            if "ScheduleExpression" in properties:
                yield Refusal(logical_id, kind, definitions.NOT_SUPPORTED, "scheduled rules do not fire offline")
            for target in properties.get("Targets") or []:
                arn = _resolved(resolver, target.get("Arn")) if isinstance(target, dict) else None
                if not (isinstance(arn, str) and ":states:" in arn and ":stateMachine:" in arn) and not (
                        isinstance(target, dict) and _names_a(cloudformation, target.get("Arn"),
                                                              "AWS::StepFunctions::StateMachine")):
                    yield Refusal(logical_id, kind, definitions.NOT_SUPPORTED,
                                  f"target {target.get('Id') if isinstance(target, dict) else target}: the offline "
                                  "cloud's EventBridge delivers to Step Functions state machines only")
        elif kind == "AWS::S3::Bucket":
            notification = _resolved(resolver, properties.get("NotificationConfiguration")) or {}
            for destination in S3_DESTINATIONS:
                if isinstance(notification, dict) and notification.get(destination):
                    yield Refusal(logical_id, kind, definitions.NOT_SUPPORTED,
                                  f"NotificationConfiguration {destination}: the offline cloud sends S3's events "
                                  "through EventBridge only")
        elif kind == "AWS::SNS::Subscription":
            protocol = _resolved(resolver, properties.get("Protocol"))
            if protocol not in ("email", "email-json"):
                yield Refusal(logical_id, kind, definitions.NOT_SUPPORTED,
                              f"a {protocol} subscription: the offline cloud delivers no notifications (an email is "
                              "read from the execution history instead)")


def _names_a(cloudformation: dict[str, Any], value: Any, kind: str) -> bool:
    """Whether a Ref or GetAtt names a resource of this type in the template."""
    if isinstance(value, dict):
        target = value.get("Ref") or (value.get("Fn::GetAtt") or [None])[0]
        return cloudformation.get("Resources", {}).get(str(target), {}).get("Type") == kind
    return False


# (resource type, property holding the policy, the error each service answers with)
RESOURCE_POLICIES = {
    "AWS::S3::BucketPolicy": ("PolicyDocument", "MalformedPolicy", "Invalid principal in policy"),
    "AWS::SNS::TopicPolicy": ("PolicyDocument", "InvalidParameter", "Invalid parameter: Policy Error: PrincipalNotFound"),
    "AWS::SQS::QueuePolicy": ("PolicyDocument", "InvalidAttributeValue", "Invalid value for the parameter Policy."),
    "AWS::KMS::Key": ("KeyPolicy", "MalformedPolicyDocumentException",
                      "Policy contains a statement with one or more invalid principals."),
    "AWS::IAM::Role": ("AssumeRolePolicyDocument", "MalformedPolicyDocument", "Invalid principal in policy"),
}
_ROLE_ARN = re.compile(r"arn:aws[\w-]*:iam::(?P<account>\d{12}):role/(?:.*/)?(?P<name>[\w+=,.@-]+)")
_OTHER_IAM_ARN = re.compile(r"arn:aws[\w-]*:(iam|sts)::(?P<account>\d{12}):(?P<kind>user|group|assumed-role|federated-user)/.+")


def _principals(cloudformation: dict[str, Any], resolver: TemplateResolver, present: set[str],
                account: str) -> Iterator[Refusal]:
    resources = cloudformation.get("Resources", {})
    roles = {logical_id for logical_id, r in resources.items() if r.get("Type") == "AWS::IAM::Role"}
    role_names = {str(_resolved(resolver, {"Ref": role})) for role in roles}
    for logical_id, resource in resources.items():
        spec = RESOURCE_POLICIES.get(resource.get("Type", ""))
        if spec is None or logical_id not in present:
            continue
        document = _resolved(resolver, resource.get("Properties", {}).get(spec[0])) or {}
        statements = document.get("Statement", []) if isinstance(document, dict) else []
        for statement in statements if isinstance(statements, list) else [statements]:
            named = statement.get("Principal") if isinstance(statement, dict) else None
            values = named.get("AWS", []) if isinstance(named, dict) else []
            for value in values if isinstance(values, list) else [values]:
                missing = _missing_principal(str(value), account, role_names)
                if missing:
                    answer = spec[2] if spec[1] != "MalformedPolicyDocument" else f'{spec[2]}: "AWS":"{value}"'
                    yield Refusal(logical_id, resource["Type"], definitions.NOT_SUPPORTED,
                                  f"the policy names {missing}, which this stack does not create, and the offline "
                                  f"account holds only the stack's roles (where it does not exist, AWS answers "
                                  f"{spec[1]}: {answer})")


def _missing_principal(value: str, account: str, role_names: set[str]) -> str | None:
    """Why an AWS principal of this account cannot exist offline; None if it can (or is another
    account's, which the offline cloud cannot know)."""
    role = _ROLE_ARN.fullmatch(value)
    if role and role["account"] == account and role["name"] not in role_names:
        return f"the role {role['name']}"
    other = _OTHER_IAM_ARN.fullmatch(value)
    if other and other["account"] == account:
        return f"the {other['kind']} {value.rsplit('/', 1)[-1]}"
    return None

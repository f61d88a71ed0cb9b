"""A state machine's definition as Step Functions checks it when the state machine is created,
and what of it the offline cloud can run.

Step Functions refuses a definition whose transitions are broken (CreateStateMachine answers
InvalidDefinition, "Invalid State Machine Definition: 'MISSING_TRANSITION_TARGET: Missing 'Next'
target: X at /States/Y/Next, ...'", as recorded from AWS in localstack/localstack issue 11978
and aws-cloudformation/cfn-lint issue 4073), names a Task resource it does not know
("SCHEMA_VALIDATION_FAILED: The resource provided ARN is not recognized. ...", LocalStack's
AWS-recorded test_dynamodb_task_service snapshot, test_invalid_integration), or asks an EXPRESS
workflow for .sync or .waitForTaskToken (test_sfn_api_express snapshot). A `.sync` start of a
child execution needs the rule Step Functions manages for it, and CreateStateMachine refuses a
role that may not create it ("'ROLE' is not authorized to create managed-rule.", recorded in
nasa/cumulus pull 2693; Step Functions Developer Guide, "IAM policies for Step Functions").

Every Task the definition holds, in Parallel branches and Map processors too, must be one the
offline cloud runs and authorizes as AWS does; any other is refused at deploy with one line
naming the state, never run unchecked.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from pipeline.local.moto_catalog import implements
from pipeline.local.service_actions import iam_prefix, why_not

NOT_SUPPORTED = "NotSupportedOffline"

# Step Functions' optimized integrations the offline cloud runs, with the patterns each takes
# (Step Functions Developer Guide, "Integrating services": each service's page lists its APIs).
OPTIMIZED: dict[str, dict[str, frozenset[str]]] = {
    "lambda": {"invoke": frozenset({"", "waitForTaskToken"})},
    "sns": {"publish": frozenset({"", "waitForTaskToken"})},
    "sqs": {"sendMessage": frozenset({"", "waitForTaskToken"})},
    "dynamodb": {api: frozenset({""}) for api in ("getItem", "putItem", "updateItem", "deleteItem")},
    "events": {"putEvents": frozenset({"", "waitForTaskToken"})},
    "states": {"startExecution": frozenset({"", "sync", "sync:2", "waitForTaskToken"})},
}

# The services of aws-sdk integrations, as Step Functions names them, where botocore's name differs.
AWS_SDK_SERVICES = {"sfn": "stepfunctions", "eventbridge": "events", "cloudwatchlogs": "logs"}

# The rule a .sync child execution's events go through (Step Functions Developer Guide, "IAM
# policies for Step Functions", the Synchronous tab).
MANAGED_RULE = "StepFunctionsGetEventsForStepFunctionsExecutionRule"
MANAGED_RULE_ACTIONS = ("events:PutTargets", "events:PutRule", "events:DescribeRule")

_OPTIMIZED_ARN = re.compile(r"arn:aws[\w-]*:states:::(?P<service>[\w-]+):(?P<api>[\w]+)(\.(?P<pattern>[\w:]+))?")
_AWS_SDK_ARN = re.compile(r"arn:aws[\w-]*:states:::aws-sdk:(?P<service>[\w-]+):(?P<api>\w+)(\.(?P<pattern>[\w:]+))?")
_LAMBDA_ARN = re.compile(r"arn:aws[\w-]*:lambda:[\w-]+:\d{12}:function:[\w-]+(:[\w$-]+)?")


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a definition: what Step Functions answers, or what the offline cloud cannot do."""

    code: str  # InvalidDefinition / AccessDeniedException (AWS's), or NotSupportedOffline
    message: str


@dataclass(frozen=True)
class Task:
    path: str  # /States/NAME, or deeper for branches and processors (as AWS locates problems)
    state: str
    resource: str
    credentials: bool  # the state names a role of its own


def text_of(definition: Any) -> dict[str, Any] | None:
    """A definition as a document (DefinitionString, or the Definition object); None if unreadable."""
    if isinstance(definition, dict):
        return definition
    try:
        parsed = json.loads(definition)
    except (TypeError, ValueError):
        return None
    return parsed if isinstance(parsed, dict) else None


def problems(definition: dict[str, Any], workflow_type: str) -> list[Problem]:
    """What CreateStateMachine refuses (one InvalidDefinition, its problems joined as AWS joins
    them), else each task the offline cloud cannot run."""
    tasks = list(_tasks(definition, ""))
    resources = [problem for task in tasks for problem in _resource_problems(task, workflow_type)]
    invalid = _transition_problems(definition) + [p.message for p in resources if p.code == "InvalidDefinition"]
    if invalid:
        return [Problem("InvalidDefinition", f"Invalid State Machine Definition: '{', '.join(invalid)}'")]
    return resources


def starts_synchronous_children(definition: dict[str, Any]) -> bool:
    """Whether a task starts a child execution and waits for it (.sync, .sync:2), which needs
    the rule Step Functions manages for it."""
    return any(_sync_child(task.resource) for task in _tasks(definition, ""))


def _transition_problems(definition: dict[str, Any], path: str = "") -> list[str]:
    """Step Functions' MISSING_TRANSITION_TARGET and MISSING_END_STATE checks, for a definition
    and each of its branches and item processors (locations as AWS gives them)."""
    states = definition.get("States")
    if not isinstance(states, dict) or not states or "StartAt" not in definition:
        missing = [field for field in ("States", "StartAt") if not definition.get(field)]
        return [f"SCHEMA_VALIDATION_FAILED: These fields are required: [{', '.join(missing)}] at {path or '/'}"]
    found = []
    edges: dict[str, list[str]] = {}
    if definition["StartAt"] not in states:
        found.append(f"MISSING_TRANSITION_TARGET: Missing 'Next' target: {definition['StartAt']} at {path}/StartAt")
    for name, state in states.items():
        if not isinstance(state, dict):
            continue
        targets = [("Next", state.get("Next")), ("Default", state.get("Default"))]
        targets += [(f"Choices[{i}]/Next", choice.get("Next")) for i, choice in enumerate(state.get("Choices") or [])
                    if isinstance(choice, dict)]
        targets += [(f"Catch[{i}]/Next", catch.get("Next")) for i, catch in enumerate(state.get("Catch") or [])
                    if isinstance(catch, dict)]
        edges[name] = []
        for where, target in targets:
            if target is None:
                continue
            if target not in states:
                found.append(f"MISSING_TRANSITION_TARGET: Missing 'Next' target: {target} at {path}/States/{name}/{where}")
            else:
                edges[name].append(target)
        for index, branch in enumerate(state.get("Branches") or []):
            if isinstance(branch, dict):
                found += _transition_problems(branch, f"{path}/States/{name}/Branches[{index}]")
        for key in ("ItemProcessor", "Iterator"):
            if isinstance(state.get(key), dict):
                found += _transition_problems(state[key], f"{path}/States/{name}/{key}")
    if not any(isinstance(state, dict) and (state.get("End") is True or state.get("Type") in ("Succeed", "Fail"))
               for state in states.values()):
        return found + ["MISSING_END_STATE: Workflow has no terminal state at null"]
    reached, frontier = set(), [definition["StartAt"]]
    while frontier:
        name = frontier.pop()
        if name in reached or name not in states:
            continue
        reached.add(name)
        frontier += edges.get(name, [])
    found += [f'MISSING_TRANSITION_TARGET: State "{name}" is not reachable. at {path}/States/{name}'
              for name in states if name not in reached]
    return found


def _sync_child(resource: str) -> bool:
    matched = _OPTIMIZED_ARN.fullmatch(resource)
    return bool(matched and matched["service"] == "states" and (matched["pattern"] or "").startswith("sync"))


def _tasks(definition: dict[str, Any], path: str) -> Iterator[Task]:
    for name, state in (definition.get("States") or {}).items():
        if not isinstance(state, dict):
            continue
        here = f"{path}/States/{name}"
        if state.get("Type") == "Task":
            yield Task(here, name, str(state.get("Resource", "")), "Credentials" in state)
        for index, branch in enumerate(state.get("Branches") or []):
            if isinstance(branch, dict):
                yield from _tasks(branch, f"{here}/Branches[{index}]")
        for key in ("ItemProcessor", "Iterator"):
            if isinstance(state.get(key), dict):
                yield from _tasks(state[key], f"{here}/{key}")


def _resource_problems(task: Task, workflow_type: str) -> list[Problem]:
    resource = task.resource
    where = f"at {task.path}/Resource"
    if "${" in resource:  # a value known only once the stack exists: checked when it runs
        return []
    if task.credentials:
        return [Problem(NOT_SUPPORTED, f"state {task.state!r} assumes a role of its own (Credentials), "
                                               "which the offline cloud does not emulate")]
    if _LAMBDA_ARN.fullmatch(resource):
        return []
    if re.fullmatch(r"arn:aws[\w-]*:states:[\w-]+:\d{12}:activity:.+", resource):
        if workflow_type == "EXPRESS":
            return [Problem("InvalidDefinition", f"SCHEMA_VALIDATION_FAILED: Express state machine does not support "
                                                 f"Activity ARN {where}")]
        return [Problem(NOT_SUPPORTED, f"state {task.state!r} waits for an activity ({resource}): no activity "
                                               "worker polls the offline cloud")]
    sdk = _AWS_SDK_ARN.fullmatch(resource)
    optimized = _OPTIMIZED_ARN.fullmatch(resource)
    if not sdk and not optimized:
        return [Problem("InvalidDefinition", f"SCHEMA_VALIDATION_FAILED: The resource provided {resource} is not "
                                             "recognized. The value is not a valid resource ARN, or the resource is "
                                             f"not available in this region. {where}")]
    matched = sdk or optimized
    assert matched is not None
    pattern = matched["pattern"] or ""
    if workflow_type == "EXPRESS" and pattern.startswith("sync"):
        return [Problem("InvalidDefinition", f"SCHEMA_VALIDATION_FAILED: Express state machine does not support "
                                             f"'.sync' service integration {where}")]
    if workflow_type == "EXPRESS" and pattern == "waitForTaskToken":
        return [Problem("InvalidDefinition", f"SCHEMA_VALIDATION_FAILED: Express state machine does not support "
                                             f"'.waitForTaskToken' service integration  {where}")]
    if sdk:
        return _aws_sdk_problems(task, matched["service"], matched["api"], pattern)
    service, api = matched["service"], matched["api"]
    patterns = OPTIMIZED.get(service, {}).get(api)
    if service in OPTIMIZED and patterns is None:  # Step Functions lists every API of these services
        return [Problem("InvalidDefinition", f"SCHEMA_VALIDATION_FAILED: The resource provided {resource} is not "
                                             "recognized. The value is not a valid resource ARN, or the resource is "
                                             f"not available in this region. {where}")]
    if patterns is None or pattern not in patterns:
        return [Problem(NOT_SUPPORTED, f"state {task.state!r} calls {service}:{api}"
                                               f"{'.' + pattern if pattern else ''}, an integration the offline cloud "
                                               "cannot run and authorize as AWS does")]
    return []


def _aws_sdk_problems(task: Task, service: str, api: str, pattern: str) -> list[Problem]:
    from pipeline.local.api_calls import service_model

    named = f"aws-sdk:{service}:{api}{'.' + pattern if pattern else ''}"
    if pattern:
        return [Problem(NOT_SUPPORTED, f"state {task.state!r} calls {named}: the offline cloud runs aws-sdk "
                                               "integrations as request-response calls only")]
    model = service_model(AWS_SDK_SERVICES.get(service, service))
    operation = api[:1].upper() + api[1:]
    if model is None or operation not in model.operation_names:
        return [Problem(NOT_SUPPORTED, f"state {task.state!r} calls {named}, an API botocore does not know")]
    shape = model.operation_model(operation).input_shape
    reason = why_not(iam_prefix(model.signing_name), operation, shape.members if shape is not None else ())
    if reason is None and not implements(model.service_name, operation):
        reason = f"moto does not implement {model.service_name} {operation}"
    if reason:
        return [Problem(NOT_SUPPORTED, f"state {task.state!r} calls {named}, which the offline cloud cannot "
                                               f"run and authorize as AWS does: {reason}")]
    return []


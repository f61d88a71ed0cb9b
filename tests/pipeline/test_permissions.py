"""Every statement that grants the pipeline something is needed: docs/permissions.md, kept true.

Each row of the table names a statement of template.yaml. The test removes that statement alone,
runs the row's check in the offline cloud, and asserts the row's outcome; with every statement
in place the same checks pass (test_the_template_as_it_is_passes_every_check).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from pipeline.offline import OfflineCloud
from pipeline.local.faults import Fault
from pipeline.template import TemplateError, load_template
from tests.forks import Fork

ROOT = Path(__file__).resolve().parents[2]
TABLE = ROOT / "docs" / "permissions.md"
SAMPLES = ROOT / "samples"


@dataclass(frozen=True)
class Row:
    statement: str
    resource: str
    check: str
    outcome: str


def table_rows() -> list[Row]:
    rows = []
    for line in TABLE.read_text(encoding="utf-8").splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) != 5 or not cells[0].startswith("`"):
            continue
        statement, resource, _, check, outcome = cells
        rows.append(Row(statement.strip("`"), resource.split("`")[1], check.strip("`"), outcome.strip("`")))
    return rows


ROWS = table_rows()


def statements_of(template: dict[str, Any], logical_id: str) -> list[tuple[list[Any], Any, str]]:
    """(containing list, item, name) for each statement or SAM policy template of a resource."""
    properties = template["Resources"][logical_id]["Properties"]
    found = []
    for document in (properties.get("KeyPolicy"), properties.get("PolicyDocument")):
        if document:
            found += [(document["Statement"], s, s.get("Sid", "")) for s in document["Statement"]]
    for policy in properties.get("Policies", []):
        statements = (policy.get("PolicyDocument") or policy).get("Statement")  # an IAM role's, or SAM's
        if statements is not None:
            found += [(statements, s, s.get("Sid", "")) for s in statements]
            continue
        (name, arguments), = policy.items()
        target = next(iter(arguments.values()))
        target = target.get("Ref") or target.get("Fn::GetAtt", [""])[0]
        found.append((properties["Policies"], policy, f"{name}: {target}"))
    return found


def template_without(row: Row, tmp_path: Path) -> Path:
    """template.yaml without the row's statement, as JSON (a template format CloudFormation takes),
    with its code and definition paths made absolute."""
    template = load_template(ROOT / "template.yaml")
    logical_id = row.resource
    matches = [(container, item) for container, item, name in statements_of(template, logical_id)
               if name == row.statement]
    assert len(matches) == 1, f"{row.statement} is not one statement of {logical_id}"
    container, item = matches[0]
    container.remove(item)
    for resource in template["Resources"].values():
        properties = resource.get("Properties", {})
        for key in ("CodeUri", "DefinitionUri"):
            if isinstance(properties.get(key), str):
                properties[key] = str(ROOT / properties[key])
    path = tmp_path / "template.json"
    path.write_text(json.dumps(template), encoding="utf-8")
    return path


@dataclass(frozen=True)
class Check:
    deploy_only: bool
    file: str | None
    overrides: tuple[str, ...]
    faults: tuple[Fault, ...]
    backfill: bool = False
    # "sweep FILE": the file lands unannounced and the sweep schedule fires; "upload-then-sweep
    # FILE": the file is uploaded (its event runs it), then the sweep fires.
    sweep: str | None = None


def parse_check(text: str) -> Check:
    words = text.split()
    overrides = tuple(word for word in words[1:] if "=" in word)
    faults = tuple(Fault.parse(words[i + 1]) for i, word in enumerate(words) if word == "--inject")
    if words[0] == "deploy":
        return Check(True, None, overrides, faults)
    rest = text.removeprefix(f"{words[0]} ").split(" --inject")[0]
    name = " ".join(word for word in rest.split() if "=" not in word)
    return Check(False, name, overrides, faults, backfill=words[0] in ("backfill", "sweep", "upload-then-sweep"),
                 sweep=words[0] if "sweep" in words[0] else None)


@dataclass(frozen=True)
class Outcome:
    result: Any  # the file's FileResult
    alarm_actions: list[Any]
    backfill: dict[str, Any] | None = None  # the backfill's DescribeExecution, for a backfill check
    failed_items: dict[str, Any] | None = None  # key -> its failed child workflow's record
    schedule_error: str | None = None  # why the sweep schedule could not start the backfill


def run_backfill(cloud: OfflineCloud, file: Path) -> Outcome:
    """The file placed in the bucket unannounced, and backfilled."""
    from pipeline import backfill
    from pipeline.driver import ExecutionFollower

    with cloud.bus.silenced():
        cloud.clients.s3.put_object(Bucket=cloud.stack.bucket, Key=file.name, Body=file.read_bytes())
    follower = ExecutionFollower(cloud.clients, cloud.stack.state_machine_arn)
    run = backfill.start(cloud.clients, cloud.stack, "")
    (result,), ended = backfill.follow(cloud.clients, cloud.stack, run, follower=follower, poll_s=0.02, timeout_s=60)
    return Outcome(result, [], ended, backfill.failed_items(cloud.clients, ended))


def run_sweep(cloud: OfflineCloud, file: Path, upload_first: bool) -> Outcome:
    """The file uploaded (or placed unannounced), then the sweep schedule fired and followed."""
    from pipeline import backfill
    from pipeline.driver import ExecutionFollower

    if upload_first:
        (uploaded,) = cloud.run([file])
        assert uploaded.status == "SUCCEEDED", (uploaded.status, uploaded.cause)
    else:
        with cloud.bus.silenced():
            cloud.clients.s3.put_object(Bucket=cloud.stack.bucket, Key=file.name, Body=file.read_bytes())
    firing = cloud.scheduler.fire("SweepSchedule")
    if firing.error is not None:
        return Outcome(None, [], schedule_error=firing.error)
    run = backfill.BackfillRun(firing.execution_arn, "", tuple(backfill.listed_objects(
        cloud.clients, cloud.stack.bucket, "")))
    follower = ExecutionFollower(cloud.clients, cloud.stack.state_machine_arn)
    (result,), ended = backfill.follow(cloud.clients, cloud.stack, run, follower=follower, poll_s=0.02, timeout_s=60)
    return Outcome(result, [], ended, backfill.failed_items(cloud.clients, ended))


def run_check(template: Path, check: Check) -> Outcome | TemplateError | None:
    """The deploy's refusal (a TemplateError), or what happened to the file and the alarm."""
    try:
        with OfflineCloud.deploy(template, list(check.overrides), time_scale=0, faults=list(check.faults)) as cloud:
            if check.deploy_only:
                return None
            if check.sweep:
                return run_sweep(cloud, SAMPLES / check.file, upload_first=check.sweep == "upload-then-sweep")
            if check.backfill:
                return run_backfill(cloud, SAMPLES / check.file)
            (result,) = cloud.run([SAMPLES / check.file])
            # The alarm acts when the execution's end is reported, a moment after the history shows
            # it (in AWS, minutes after).
            assert result.execution_arn is None or cloud.wait_for_report(result.execution_arn)
            return Outcome(result, list(cloud.alarms.history))
    except TemplateError as refused:
        return refused


def assert_outcome(outcome: Any, expected: str) -> None:
    refused = re.fullmatch(r"refused: (\S+)", expected)
    if refused:
        assert isinstance(outcome, TemplateError), f"deployed, but AWS would refuse it with {refused.group(1)}"
        assert f": {refused.group(1)}: " in str(outcome)
        return
    assert not isinstance(outcome, TemplateError), f"deploy refused: {outcome}"
    schedule = re.fullmatch(r"schedule refused \((.+)\)", expected)
    if schedule:
        assert outcome.schedule_error and schedule.group(1) in outcome.schedule_error, outcome.schedule_error
        return
    if expected == "swept again":  # no seen record: the sweep ran the uploaded file a second time
        assert outcome.backfill["status"] == "SUCCEEDED", outcome.backfill
        assert outcome.result.status == "SUCCEEDED" and outcome.result.execution_arn, outcome.result
        return
    backfill = re.fullmatch(r"backfill (item )?FAILED: (\S+) \((.+)\)", expected)
    if backfill:
        item, error, text = backfill.groups()
        if item:
            assert outcome.backfill["status"] == "SUCCEEDED", outcome.backfill
            (failed,) = outcome.failed_items.values()
            assert failed["Error"] == error and text in failed["Cause"], failed
        else:
            assert outcome.backfill["status"] == "FAILED", outcome.backfill
            assert outcome.backfill["error"] == error and text in outcome.backfill["cause"], outcome.backfill
        return
    alarm = re.fullmatch(r"alarm refused \((.+)\)", expected)
    if alarm:
        assert outcome.result.status == "FAILED" and outcome.result.notification is not None
        (action,) = outcome.alarm_actions
        assert not action.published and alarm.group(1) in action.reason, action
        return
    outcome = outcome.result
    if expected == "LOST":
        assert outcome.status == "LOST", (outcome.status, outcome.reason)
        assert not outcome.accounted_for
        return
    failed = re.fullmatch(r"FAILED, (not )?notified: (\S+) \((.+)\)", expected)
    assert failed, f"unreadable outcome {expected!r}"
    not_notified, error, text = failed.groups()
    assert outcome.status == "FAILED", (outcome.status, outcome.error, outcome.cause)
    assert (outcome.notification is None) == bool(not_notified)
    assert outcome.error == error, (outcome.error, outcome.cause)
    assert text in (outcome.cause or ""), outcome.cause


def test_the_table_lists_every_statement_that_grants_something():
    template = load_template(ROOT / "template.yaml")
    granted = [
        (name, logical_id)
        for logical_id in template["Resources"]
        for _, item, name in statements_of(template, logical_id)
        if item.get("Effect", "Allow") == "Allow"
    ]
    assert all(name for name, _ in granted), f"a statement without a Sid: {granted}"
    assert sorted(granted) == sorted((row.statement, row.resource) for row in ROWS)


@pytest.mark.slow
@pytest.mark.parametrize("row", ROWS, ids=lambda row: row.statement)
def test_without_the_statement_the_offline_run_fails_as_aws_would(row, tmp_path):
    assert_outcome(run_check(template_without(row, tmp_path), parse_check(row.check)), row.outcome)


@pytest.mark.parametrize("check", sorted({row.check for row in ROWS}))
def test_the_template_as_it_is_passes_every_check(check):
    parsed = parse_check(check)
    outcome = run_check(ROOT / "template.yaml", parsed)
    assert not isinstance(outcome, TemplateError), outcome
    if parsed.deploy_only:
        return
    if parsed.backfill:
        assert outcome.backfill["status"] == "SUCCEEDED" and not outcome.failed_items, outcome.backfill
        if parsed.sweep == "upload-then-sweep":  # seen when uploaded: the sweep skips it
            assert (outcome.result.status, outcome.result.execution_arn) == ("IGNORED", None), outcome.result
        else:
            assert outcome.result.status == "SUCCEEDED", (outcome.result.error, outcome.result.cause)
        return
    failed = outcome.result.status == "FAILED"
    assert [action.published for action in outcome.alarm_actions] == ([True] if failed else []), outcome.alarm_actions
    outcome = outcome.result
    if parsed.faults:  # the start fails by design: the event waits in the dead-letter queue
        assert outcome.status == "DEAD_LETTERED", outcome.reason
    else:
        assert outcome.accounted_for, (outcome.status, outcome.error, outcome.cause)
        assert "AccessDenied" not in (outcome.cause or "") and "not authorized" not in (outcome.cause or "")


def test_a_rule_target_role_without_start_execution_sends_the_event_to_the_dead_letter_queue():
    """The target role is SAM's, generated from the state machine's EventBridgeRule event: here its
    policy is taken from the deployed stack's IAM instead of from template.yaml."""
    with OfflineCloud.deploy(ROOT / "template.yaml", time_scale=0) as cloud:
        (rule,) = cloud.stack.rules
        (target,) = cloud.clients.events.list_targets_by_rule(Rule=rule.name)["Targets"]
        cloud.access.role_policies[target["RoleArn"]] = []
        (result,) = cloud.run([SAMPLES / "sales.csv"])
    assert result.status == "DEAD_LETTERED"
    assert result.error == "NO_PERMISSIONS"
    assert "states:StartExecution" in result.cause


def test_a_dead_letter_queue_on_an_aws_managed_key_loses_the_event(tmp_path):
    path = Fork().set_property("TriggerDeadLetterQueue", "KmsMasterKeyId", "alias/aws/sqs").write(tmp_path)
    outcome = run_check(path, parse_check("run sales.csv --inject start-failure"))
    assert_outcome(outcome, "LOST")


def test_a_trail_cloudtrail_would_refuse_is_refused_offline(tmp_path):
    path = Fork().set_property("LandingWritesTrail", "IsMultiRegionTrail", True).write(tmp_path)
    outcome = run_check(path, parse_check("deploy TriggerSource=CloudTrail"))
    assert_outcome(outcome, "refused: InvalidParameterCombinationException")


def test_a_stack_name_too_long_for_the_trail_name_is_refused_in_cloudtrail_mode():
    with pytest.raises(TemplateError, match=r"LandingWritesTrail .*InvalidTrailNameException.*128"):
        with OfflineCloud.deploy(ROOT / "template.yaml", ["TriggerSource=CloudTrail"], stack_name="s" * 120):
            pass
    with OfflineCloud.deploy(ROOT / "template.yaml", stack_name="s" * 120) as cloud:  # names CloudFormation generates
        assert len(cloud.stack.rules[0].name) <= 64
        assert len(cloud.stack.state_machine_arn.rsplit(":", 1)[-1]) <= 80

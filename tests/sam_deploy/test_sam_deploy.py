"""The SAM CLI deploys the project into `pipeline serve` as it would into AWS: `sam deploy --guided`
answered at a terminal, `sam deploy` from samconfig.toml, an update through a change set, an update
AWS would refuse (rolled back), `sam list stack-outputs` and `sam delete`; between each, files
uploaded with the AWS CLI run through the stack SAM deployed."""

from __future__ import annotations

import json
import re
import subprocess
import tomllib

import pytest

from tests.conftest import SAMPLES
from tests.forks import Fork
from tests.sam_deploy.sam_cli import Project
from tests.serve_process import Server, aws_cli, statuses

pytestmark = [pytest.mark.slow, pytest.mark.sam_deploy]

STACK = "file-pipeline"  # samconfig.toml's stack_name, and guided deploy's default
PARAMETERS = ["NotificationEmail", "TriggerSource", "WorkflowType", "KeyPrefix", "FailureRate", "FailureSeed",
              "LogLevel", "LogRetentionDays", "BackfillMaxConcurrency", "BackfillToleratedFailurePercentage",
              "SweepEveryHours"]


def upload(project: Project, server: Server, sample: str, key: str) -> None:
    subprocess.run([aws_cli(), "s3", "cp", str(SAMPLES / sample), f"s3://{landing_bucket(project)}/{key}"],
                   env=server.environment(), check=True, capture_output=True, timeout=60)


def landing_bucket(project: Project) -> str:
    listed = project.run("list", "stack-outputs", "--stack-name", STACK, "--output", "json")
    assert listed.returncode == 0, listed.stderr
    return {o["OutputKey"]: o["OutputValue"] for o in json.loads(listed.stdout)}["LandingBucketName"]


def test_a_guided_deploy_answered_as_a_newcomer_answers_it_runs_the_pipeline(project, server):
    terminal = project.terminal("deploy", "--guided")
    terminal.answer(r"Stack Name \[file-pipeline\]: ", "")
    terminal.answer(r"AWS Region \[us-east-1\]: ", "")
    for name in PARAMETERS:  # Enter for each default, but no simulated failures in a first try
        terminal.answer(rf"Parameter {name}( \[[^\]]*\])?: ", "0" if name == "FailureRate" else "")
    terminal.answer(r"Confirm changes before deploy \[Y/n\]: ", "")
    terminal.answer(r"Allow SAM CLI IAM role creation \[Y/n\]: ", "")
    terminal.answer(r"Disable rollback \[y/N\]: ", "")
    terminal.answer(r"Save arguments to configuration file \[Y/n\]: ", "")
    terminal.answer(r"SAM configuration file \[samconfig.toml\]: ", "")
    terminal.answer(r"SAM configuration environment \[default\]: ", "")
    terminal.expect(r"Creating the required resources")  # SAM's artifacts stack, created by a change set
    change_set = terminal.answer(r"Deploy this changeset\? \[y/N\]: ", "y")
    for added in ("ProcessFileStateMachine", "CheckExtFunction", "RandomFailureFunction", "LandingBucket"):
        assert f"+ Add {added}".replace(" ", "") in change_set.replace(" ", ""), change_set
    terminal.expect(r"CREATE_COMPLETE\s+AWS::CloudFormation::Stack\s+file-pipeline")
    terminal.expect(rf"Successfully created/updated stack - {STACK} in us-east-1")
    assert terminal.wait() == 0, terminal.output[-4000:]
    server.wait_for(rf"stack {STACK} deployed")
    assert landing_bucket(project) == "file-pipeline-landingbucket-ska6pnyls5tn"  # the README's rehearsal names it

    saved = tomllib.loads((project.folder / "samconfig.toml").read_text(encoding="utf-8"))["default"]
    deploy_options = {**saved["global"]["parameters"], **saved["deploy"]["parameters"]}  # as SAM reads them
    assert deploy_options["stack_name"] == STACK and deploy_options["confirm_changeset"] is True
    assert 'FailureRate=\\"0\\"' in json.dumps(deploy_options["parameter_overrides"])

    upload(project, server, "sales.csv", "daily/sales.csv")
    upload(project, server, "notes.txt", "daily/notes.txt")
    server.wait_for(r"daily/sales\.csv: SUCCEEDED")
    server.wait_for(r"daily/notes\.txt: FAILED")
    seen = statuses(server.pipeline("status", "--stack", STACK, "--json"))
    assert seen == {"daily/sales.csv": "SUCCEEDED", "daily/notes.txt": "FAILED"}


def test_deploy_update_refused_update_and_delete_from_samconfig(project, server):
    deployed = project.run("deploy", answers="y\n")  # samconfig.toml: confirm_changeset = true
    assert deployed.returncode == 0, deployed.stdout[-4000:] + deployed.stderr[-4000:]
    assert f"Successfully created/updated stack - {STACK} in us-east-1" in deployed.stdout
    assert "LandingBucketName" in deployed.stdout  # the Outputs table
    upload(project, server, "notes.txt", "daily/notes.txt")
    server.wait_for(r"daily/notes\.txt: FAILED")
    server.wait_for(r"--- Subject: .*notes\.txt")

    # An update through a change set: only FailureRate is given, every other parameter keeps its value.
    updated = project.run("deploy", "--parameter-overrides", "FailureRate=0", answers="y\n")
    assert updated.returncode == 0, updated.stdout[-4000:] + updated.stderr[-4000:]
    assert "Modify" in updated.stdout and "RandomFailureFunction" in updated.stdout
    assert "UPDATE_COMPLETE" in updated.stdout
    upload(project, server, "sales.csv", "daily/sales.csv")
    server.wait_for(r"daily/sales\.csv: SUCCEEDED")

    unchanged = project.run("deploy", "--parameter-overrides", "FailureRate=0")
    assert unchanged.returncode == 0, unchanged.stderr[-4000:]
    assert f"No changes to deploy. Stack {STACK} is up to date" in unchanged.stdout + unchanged.stderr

    # An update AWS would refuse: CloudTrail refuses a multi-Region trail without global service events.
    built = project.folder / ".aws-sam" / "build" / "template.yaml"
    Fork(built).set_property("LandingWritesTrail", "IsMultiRegionTrail", True).write(built.parent, built.name)
    refused = project.run("deploy", "--parameter-overrides", "FailureRate=0 TriggerSource=CloudTrail", answers="y\n")
    said = refused.stdout + refused.stderr
    assert refused.returncode != 0, said[-4000:]
    # The trail is new in this update (its condition now holds), so it is the trail's creation that fails.
    assert re.search(r"CREATE_FAILED\s+AWS::CloudTrail::Trail\s+LandingWritesTrail", said), said[-6000:]
    unwrapped = re.sub(r"\s+", "", said)  # SAM wraps long reasons in its table's column
    assert re.sub(r"\s+", "", "Multi-Region trail must include global service events.") in unwrapped
    assert "UPDATE_ROLLBACK_COMPLETE" in said
    upload(project, server, "returns.csv", "daily/returns.csv")  # the stack as it was still runs
    server.wait_for(r"daily/returns\.csv: SUCCEEDED")

    deleted = project.run("delete", "--no-prompts")
    assert deleted.returncode == 0, deleted.stdout[-4000:] + deleted.stderr[-4000:]
    assert "Deleted successfully" in deleted.stdout
    server.wait_for(rf"stack {STACK} deleted")
    gone = subprocess.run([aws_cli(), "cloudformation", "describe-stacks", "--stack-name", STACK],
                          env=server.environment(), capture_output=True, text=True, timeout=60)
    assert gone.returncode != 0 and f"Stack with id {STACK} does not exist" in gone.stderr

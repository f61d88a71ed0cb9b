"""`pipeline serve --state DIR`: the stacks, objects, table items, dead letters and execution
history kept across a restart (pipeline.local.persistence), for a stack deployed from
template.yaml and for one `sam deploy` made through change sets, and as a user runs it."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone

import boto3

from pipeline.ledger import files_seen
from pipeline.local import persistence
from pipeline.offline import OfflineCloud
from pipeline.local.faults import Fault
from tests.conftest import ROOT, SAMPLES, TEMPLATE
from tests.pipeline.test_change_set_deploys import ARTIFACTS, STACK, change_set, execute, packaged_template_url
from tests.serve_process import Server, statuses


def _seen(cloud: OfflineCloud) -> dict[str, list[tuple[str, list[str]]]]:
    """Each file the pipeline saw, with the outcome and path of each of its executions."""
    found: dict[str, list[tuple[str, list[str]]]] = {}
    for seen in files_seen(cloud.clients, cloud.stack, datetime.now(timezone.utc) - timedelta(hours=1)):
        found.setdefault(seen.result.key, []).append((seen.result.status, seen.result.states))
    return found


def _histories(cloud: OfflineCloud) -> dict[str, list[dict]]:
    stepfunctions = cloud.clients.stepfunctions
    listed = stepfunctions.list_executions(stateMachineArn=cloud.stack.state_machine_arn)["executions"]
    return {execution["executionArn"]: stepfunctions.get_execution_history(executionArn=execution["executionArn"])["events"]
            for execution in listed}


def _versions(cloud: OfflineCloud, key: str) -> list[bytes]:
    """The object's versions, oldest first (S3 lists them newest first)."""
    s3 = cloud.clients.s3
    listed = s3.list_object_versions(Bucket=cloud.stack.bucket, Prefix=key)["Versions"]
    return [s3.get_object(Bucket=cloud.stack.bucket, Key=key, VersionId=version["VersionId"])["Body"].read()
            for version in reversed(listed)]


def _items(cloud: OfflineCloud) -> list[dict]:
    dynamodb = cloud.clients.dynamodb
    return sorted((item for name in dynamodb.list_tables()["TableNames"]
                   for item in dynamodb.scan(TableName=name)["Items"]), key=json.dumps)


def test_a_restart_puts_back_objects_with_their_versions_executions_items_and_dead_letters(tmp_path):
    state, second = tmp_path / "state", tmp_path / "sales.csv"
    second.write_text("day,amount\n2026-12-04,7\n")
    faults = [Fault.parse("start-failure")]
    with OfflineCloud.deploy(TEMPLATE, {"FailureRate": "0"}, time_scale=0, faults=faults) as cloud:
        results = cloud.run([SAMPLES / "inventory.csv"]) + cloud.run([SAMPLES / "sales.csv", SAMPLES / "notes.txt"])
        results += cloud.run([second])  # a second version of sales.csv
        assert [result.status for result in results] == ["DEAD_LETTERED", "SUCCEEDED", "FAILED", "SUCCEEDED"]
        bucket, before = cloud.stack.bucket, _seen(cloud)
        histories, items = _histories(cloud), _items(cloud)
        cloud.stop_running()
        saved = persistence.save(cloud, state)
    assert (saved.objects, saved.executions, saved.messages) == (4, 3, 1)

    with OfflineCloud.deploy(TEMPLATE, {"FailureRate": "0"}, time_scale=0) as cloud:
        kept = persistence.restore(cloud, state)
        assert kept.not_kept == []
        assert cloud.stack.bucket == bucket  # the same stack name gives the same names
        assert _versions(cloud, "sales.csv") == [(SAMPLES / "sales.csv").read_bytes(), second.read_bytes()]
        assert _seen(cloud) == before  # the dead letter too, and no object put back started an execution
        assert _histories(cloud) == histories
        assert _items(cloud) == items  # the idempotency records
        # The cloud runs on from there: the dead letter replays, a new file runs.
        letter = cloud.clients.sqs.receive_message(QueueUrl=cloud.stack.dead_letter_queue_url)["Messages"][0]
        assert json.loads(letter["Body"])["detail"]["object"]["key"] == "inventory.csv"
        assert [result.status for result in cloud.run([SAMPLES / "returns.csv"])] == ["SUCCEEDED"]
        assert len(_histories(cloud)) == 4


def test_a_stack_sam_deploy_made_comes_back_with_its_code_from_the_artifacts_bucket(tmp_path):
    with OfflineCloud.start(time_scale=0) as cloud:
        execute(cloud, change_set(cloud, packaged_template_url(cloud), "CREATE", {"FailureRate": "0"}))
        assert cloud.run([SAMPLES / "sales.csv"])[0].status == "SUCCEEDED"
        bucket = cloud.stack.bucket
        cloud.stop_running()
        persistence.save(cloud, tmp_path)

    with OfflineCloud.start(time_scale=0) as cloud:
        kept = persistence.restore(cloud, tmp_path)
        assert (kept.stacks, kept.not_kept) == ([STACK], [])
        assert cloud.stack.name == STACK and cloud.stack.bucket == bucket
        assert ARTIFACTS in [bucket["Name"] for bucket in cloud.clients.s3.list_buckets()["Buckets"]]
        assert _seen(cloud) == {"sales.csv": [("SUCCEEDED", ["Check File Extension", "Route By Extension",
                                                              "Process CSV", "Processed"])]}
        assert cloud.run([SAMPLES / "returns.csv"])[0].status == "SUCCEEDED"
        # As CloudFormation has it: a later `sam deploy` updates the stack put back.
        template = cloud.clients.cloudformation.get_template(StackName=STACK)["TemplateBody"]
        assert "AWS::Serverless::Function" in json.dumps(template)


def test_pipeline_serve_state_keeps_a_run_across_a_restart(tmp_path):
    state = tmp_path / "state"
    server = Server("--state", str(state), "--parameter-overrides", "FailureRate=0", "--inject", "start-failure")
    assert f"{state} holds no state yet" in server.output
    s3 = boto3.client("s3", endpoint_url=server.endpoint, region_name="us-east-1",
                      aws_access_key_id="offline", aws_secret_access_key="offline")
    s3.put_object(Bucket=server.bucket, Key="daily/dead.csv", Body=(SAMPLES / "sales.csv").read_bytes())
    server.wait_for(r"daily/dead\.csv: DEAD_LETTERED")
    s3.put_object(Bucket=server.bucket, Key="daily/sales.csv", Body=(SAMPLES / "sales.csv").read_bytes())
    server.wait_for(r"daily/sales\.csv: SUCCEEDED")
    assert server.stop() == 130
    assert (f"kept in {state}: stack file-pipeline, 2 object(s) in 2 bucket(s), 1 execution(s), 1 table item(s), "
            "1 queued message(s)") in server.output

    again = Server("--state", str(state), "--parameter-overrides", "FailureRate=0")
    try:
        assert again.bucket == server.bucket
        assert f"put back from {state}: stack file-pipeline (from template.yaml), 2 object(s)" in again.output
        assert statuses(again.pipeline("status", "--stack", "file-pipeline", "--json")) == {
            "daily/dead.csv": "DEAD_LETTERED", "daily/sales.csv": "SUCCEEDED"}
        time.sleep(1.5)  # the server looks at the dead-letter queue every second
        assert "s3://" not in again.output.split("Ctrl-C stops the cloud")[1]  # nothing put back is news
    finally:
        again.stop(signal.SIGTERM)


def test_a_state_that_cannot_be_read_is_refused_and_left_as_it_is(tmp_path):
    (tmp_path / "state.json").write_text('{"format": 99}')
    completed = subprocess.run([sys.executable, "-m", "pipeline.cli", "serve", "--port", "0", "--state", str(tmp_path)],
                               cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert completed.returncode == 2
    assert f"--state: {tmp_path / 'state.json'} is not a state this version of pipeline serve keeps" in completed.stderr
    assert (tmp_path / "state.json").read_text() == '{"format": 99}'


def test_with_empty_the_stack_from_template_yaml_is_not_deployed_again_but_its_objects_are_kept(tmp_path):
    with OfflineCloud.deploy(TEMPLATE, time_scale=0) as cloud:
        cloud.clients.s3.put_object(Bucket=cloud.stack.bucket, Key="daily/notes.txt", Body=b"kept")
        bucket = cloud.stack.bucket
        cloud.run([SAMPLES / "notes.txt"])
        cloud.stop_running()
        persistence.save(cloud, tmp_path)

    with OfflineCloud.start(time_scale=0) as cloud:  # pipeline serve --empty
        kept = persistence.restore(cloud, tmp_path)
        assert cloud.stack is None and kept.stacks == []
        assert kept.not_kept[0] == ("stack file-pipeline: it was deployed from a template file, "
                                    "which `pipeline serve` without --empty deploys")
        assert kept.not_kept[1].endswith(": its state machine is not deployed now")
        assert cloud.clients.s3.get_object(Bucket=bucket, Key="daily/notes.txt")["Body"].read() == b"kept"

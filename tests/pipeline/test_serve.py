"""`pipeline serve`, `pipeline status` and `pipeline replay`, as a user runs them: the server in
a process of its own, uploads with the AWS CLI (from PyPI) and with boto3, the commands in
processes of their own with the environment the server prints."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
from pathlib import Path

import boto3
import pytest

from tests.conftest import ROOT, SAMPLES
from tests.serve_process import Server, aws_cli, statuses

# Four throttles use up the Process CSV retries (MaxAttempts 3) of one file; the first start fails once.
FAULTS = ["--inject", "start-failure", "--inject", "throttle:RandomFailureFunction:4"]


@pytest.fixture(scope="module")
def server():
    served = Server("--parameter-overrides", "FailureRate=0")
    yield served
    if served.process.poll() is None:
        served.stop()


@pytest.fixture
def faulty_server():
    """A server of the test's own, whose faults meet its first uploads whatever ran before."""
    served = Server("--parameter-overrides", "FailureRate=0", *FAULTS)
    yield served
    if served.process.poll() is None:
        served.stop()


def test_uploads_from_the_aws_cli_and_boto3_run_the_pipeline_and_failures_replay(faulty_server):
    server = faulty_server
    env = server.environment()
    # The first upload meets the start failure: its event goes to the dead-letter queue.
    subprocess.run([aws_cli(), "s3", "cp", str(SAMPLES / "sales.csv"), f"s3://{server.bucket}/daily/dead.csv"],
                   env=env, check=True, capture_output=True, timeout=60)
    server.wait_for(r"daily/dead\.csv: DEAD_LETTERED")
    # The second meets four throttles: its processing fails, and the notification says how to replay it.
    s3 = boto3.client("s3", endpoint_url=server.endpoint, region_name="us-east-1",
                      aws_access_key_id="offline", aws_secret_access_key="offline")
    s3.put_object(Bucket=server.bucket, Key="daily/throttled.csv", Body=(SAMPLES / "sales.csv").read_bytes())
    server.wait_for(r"daily/throttled\.csv: FAILED")
    server.wait_for(r'pipeline replay --stack file-pipeline --key "daily/throttled\.csv"')
    # The faults are used up: the next file goes through.
    subprocess.run([aws_cli(), "s3", "cp", str(SAMPLES / "returns.csv"), f"s3://{server.bucket}/daily/fine.csv"],
                   env=env, check=True, capture_output=True, timeout=60)
    server.wait_for(r"daily/fine\.csv: SUCCEEDED")

    seen = statuses(server.pipeline("status", "--stack", "file-pipeline", "--json"))
    assert seen == {"daily/dead.csv": "DEAD_LETTERED", "daily/throttled.csv": "FAILED", "daily/fine.csv": "SUCCEEDED"}
    table = server.pipeline("status", "--endpoint", server.endpoint, "--since", "1h")
    assert "Lambda.TooManyRequestsException" in table.stdout and "DEAD_LETTERED" in table.stdout

    dry = server.pipeline("replay", "--stack", "file-pipeline", "--dead-letters", "--dry-run")
    assert dry.returncode == 0 and "2 file(s) to replay (dry run: nothing changed)" in dry.stderr
    dry_json = server.pipeline("replay", "--stack", "file-pipeline", "--dead-letters", "--dry-run", "--json")
    planned = {record["key"]: record["replay_from"] for record in map(json.loads, dry_json.stdout.splitlines())}
    assert planned == {"daily/dead.csv": "dead letter", "daily/throttled.csv": "execution"}
    assert statuses(server.pipeline("status", "--stack", "file-pipeline", "--json")) == seen  # nothing changed

    replayed = server.pipeline("replay", "--stack", "file-pipeline", "--dead-letters", "--json")
    assert statuses(replayed) == {"daily/dead.csv": "SUCCEEDED", "daily/throttled.csv": "SUCCEEDED"}
    after = [json.loads(line) for line in server.pipeline("status", "--stack", "file-pipeline", "--json").stdout.splitlines()]
    assert sorted((record["key"], record["status"]) for record in after) == [
        ("daily/dead.csv", "SUCCEEDED"), ("daily/fine.csv", "SUCCEEDED"),
        ("daily/throttled.csv", "FAILED"), ("daily/throttled.csv", "SUCCEEDED")]  # the queue is empty now
    again = server.pipeline("replay", "--stack", "file-pipeline", "--dead-letters")
    assert again.returncode == 0 and "0 file(s) to replay" in again.stderr  # each latest execution succeeded


def test_replay_follows_a_file_that_fails_again_as_pipeline_run_does(server):
    env = server.environment()
    subprocess.run([aws_cli(), "s3", "cp", str(SAMPLES / "notes.txt"), f"s3://{server.bucket}/notes.txt"],
                   env=env, check=True, capture_output=True, timeout=60)
    server.wait_for(r"/notes\.txt: FAILED")
    replayed = server.pipeline("replay", "--stack", "file-pipeline", "--key", "notes.txt")
    assert replayed.returncode == 0, replayed.stderr  # FAILED with a notification: accounted for
    assert "notes.txt  FAILED" in replayed.stdout and "InvalidFileExtension" in replayed.stdout
    assert 'pipeline replay --stack file-pipeline --key "notes.txt"' in replayed.stdout


def test_status_and_replay_say_what_is_wrong_in_one_line(server):
    for arguments in (["status", "--stack", "no-such-stack"], ["status", "--stack", "file-pipeline", "--since", "soon"],
                      ["replay", "--endpoint", "http://127.0.0.1:9"]):
        completed = server.pipeline(*arguments)
        assert completed.returncode == 2 and completed.stderr.count("\n") == 1, completed.stderr
        assert completed.stderr.startswith("pipeline: error: ")


@pytest.mark.slow
def test_the_live_page_follows_the_run_without_a_reload(server, tmp_path):
    from tests.pipeline.browser import Page

    page = Page(server.endpoint + "/", tmp_path / "profile")
    try:
        assert page.wait_for("document.querySelectorAll('#overview-graph .node').length") >= 8
        before = page.evaluate("document.querySelectorAll('.file').length")
        page.evaluate("window.notReloaded = true")
        s3 = boto3.client("s3", endpoint_url=server.endpoint, region_name="us-east-1",
                          aws_access_key_id="offline", aws_secret_access_key="offline")
        s3.put_object(Bucket=server.bucket, Key="live/Q3 leads.csv", Body=(SAMPLES / "sales.csv").read_bytes())
        page.wait_for(f"document.querySelectorAll('.file').length > {before}")
        assert page.evaluate("window.notReloaded") is True
        keys = page.evaluate("Array.from(document.querySelectorAll('code.key')).map(k => k.textContent)")
        assert "live/Q3 leads.csv" in keys
        page.evaluate("document.querySelector('.file:last-of-type').click()")
        assert page.wait_for("document.querySelectorAll('#overview-graph .node.path-succeeded').length") >= 3
        page.screenshot(tmp_path / "live.png")
        assert (tmp_path / "live.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        if os.environ.get("PIPELINE_UPDATE_SCREENSHOT"):  # docs/live-page.png, refreshed on demand
            shutil.copy(tmp_path / "live.png", ROOT / "docs" / "live-page.png")
    finally:
        page.close()


def test_ctrl_c_stops_the_server_and_everything_it_started():
    served = Server("--parameter-overrides", "FailureRate=0")
    s3 = boto3.client("s3", endpoint_url=served.endpoint, region_name="us-east-1",
                      aws_access_key_id="offline", aws_secret_access_key="offline")
    s3.put_object(Bucket=served.bucket, Key="daily/before-ctrl-c.csv", Body=(SAMPLES / "sales.csv").read_bytes())
    served.wait_for(r"daily/before-ctrl-c\.csv: SUCCEEDED")
    children = served.children()
    assert children  # both functions' environments (and, with the speed layer, the DynamoDB process)
    port = int(served.endpoint.rsplit(":", 1)[1])
    assert served.stop(signal.SIGINT) == 130  # as a shell reports an interruption
    assert "1 file(s) finished while it ran" in served.output and "Offline cloud stopped." in served.output
    assert "Traceback" not in served.output and "docker" not in served.output.lower()
    for pid in children:
        assert not Path(f"/proc/{pid}").exists() or "zombie" in Path(f"/proc/{pid}/status").read_text().lower()
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=2)

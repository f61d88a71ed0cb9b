"""Ctrl-C and SIGTERM in `pipeline run`, as a terminal sends them (to the whole foreground process
group): no traceback, no Docker, the files that finished as usual, then one short account of the
rest with the command that runs them again; exit status 130, and no process left behind."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import ROOT, write_files

pytestmark = pytest.mark.slow


def descendants(pid: int) -> list[int]:
    found = []
    try:
        tasks = list(Path(f"/proc/{pid}/task").iterdir())
    except FileNotFoundError:  # the process has ended
        return found
    for task in tasks:
        try:
            children = (task / "children").read_text().split()
        except FileNotFoundError:  # a thread that ended meanwhile
            continue
        for child in children:
            found += [int(child), *descendants(int(child))]
    return found


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_an_interrupted_run_says_what_finished_and_how_to_run_the_rest(tmp_path, signum):
    files = write_files(tmp_path, {f"part-{n:02d}.csv": b"id\n1\n" for n in range(12)})
    # Throttles with real waits (1 s, 2 s, ...) keep the later files in flight.
    run = subprocess.Popen(
        [sys.executable, "-m", "pipeline.cli", "run", *map(str, files), "--parameter-overrides", "FailureRate=0",
         "--inject", "throttle:RandomFailureFunction:30"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.monotonic() + 60
    lines = []
    assert run.stderr is not None
    while not any("Offline cloud: deployed" in line for line in lines):
        assert time.monotonic() < deadline and run.poll() is None, "".join(lines)
        lines.append(run.stderr.readline())
    while not any("[1/12]" in line for line in lines):  # a file finished, the others under way
        assert time.monotonic() < deadline and run.poll() is None, "".join(lines)
        lines.append(run.stderr.readline())
    children = descendants(run.pid)  # the functions' environments, the DynamoDB process
    os.killpg(run.pid, signum)  # as a terminal sends Ctrl-C: to the whole process group
    stdout, rest = run.communicate(timeout=60)
    stderr = "".join(lines) + rest
    assert run.returncode == 130, stderr
    assert "Traceback" not in stderr + stdout and "docker" not in (stderr + stdout).lower()
    summary = re.search(r"Interrupted: (\d+) of 12 files finished.*, (\d+) in flight, (\d+) not started\.", stderr)
    assert summary, stderr
    assert int(summary.group(1)) + int(summary.group(2)) + int(summary.group(3)) == 12
    not_finished = stderr.split("Not finished: ", 1)[1].splitlines()[0].split(", ")
    rerun = stderr.split("Run them again: pipeline run ", 1)[1].splitlines()[0]
    assert not_finished and all(f"/{key} " in f"{rerun} " for key in not_finished), stderr
    assert not [pid for pid in children if alive(pid)]


def test_an_interrupted_replay_says_its_executions_go_on_and_how_to_follow_them(tmp_path):
    from tests.serve_process import Server

    # Four throttles fail one file (Process CSV's MaxAttempts 3), with real waits between them;
    # the replays meet the rest, so they are still waiting when the replay is interrupted.
    server = Server("--parameter-overrides", "FailureRate=0", "--time-scale", "1",
                    "--inject", "throttle:RandomFailureFunction:16")
    try:
        s3 = boto3_s3(server)
        for n in range(2):
            s3.put_object(Bucket=server.bucket, Key=f"daily/part-{n}.csv", Body=b"id\n1\n")
        server.wait_for(r"part-0\.csv: FAILED", timeout_s=60)
        server.wait_for(r"part-1\.csv: FAILED", timeout_s=60)
        replay = subprocess.Popen(
            [sys.executable, "-m", "pipeline.cli", "replay", "--stack", "file-pipeline"], cwd=ROOT,
            env=server.environment(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            start_new_session=True, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
        assert replay.stderr is not None
        started = replay.stderr.readline()
        assert "replaying 2 file(s)" in started, started + replay.communicate(timeout=30)[1]
        os.killpg(replay.pid, signal.SIGINT)
        stdout, stderr = replay.communicate(timeout=60)
        assert replay.returncode == 130, stderr
        assert "Traceback" not in stderr + stdout
        assert "Interrupted: 0 of 2 files finished, 2 in flight, 0 not started." in stderr
        assert "Their executions go on in the stack: pipeline status --stack file-pipeline --since 1h follows them" in stderr
        server.wait_for(r"part-0\.csv: FAILED[\s\S]*part-0\.csv: FAILED", timeout_s=60)  # it went on, and failed again
    finally:
        server.stop()


def boto3_s3(server):
    import boto3

    return boto3.client("s3", endpoint_url=server.endpoint, region_name="us-east-1",
                        aws_access_key_id="offline", aws_secret_access_key="offline")

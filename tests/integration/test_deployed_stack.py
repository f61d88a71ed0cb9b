"""A deployed stack, driven by the same code as the offline cloud. Runs only with AWS_SAM_STACK_NAME.

    AWS_SAM_STACK_NAME=file-pipeline make test
"""

import os

import pytest

from pipeline.clients import Clients
from pipeline.driver import run_files
from pipeline.stack import PipelineStack

STACK = os.environ.get("AWS_SAM_STACK_NAME")
pytestmark = [pytest.mark.integration, pytest.mark.skipif(not STACK, reason="AWS_SAM_STACK_NAME is not set")]


@pytest.fixture(scope="module")
def deployed():
    clients = Clients.aws(region=os.environ.get("AWS_REGION"))
    return clients, PipelineStack.discover(clients, STACK)


def test_a_txt_file_fails_with_a_notification(deployed, tmp_path):
    clients, stack = deployed
    path = tmp_path / "integration-notes.txt"
    path.write_text("not a csv")
    (result,) = run_files(clients, stack, [path], prefix="integration-tests/", timeout_s=180)
    assert result.status == "FAILED"
    assert result.error == "InvalidFileExtension"
    assert result.notification is not None and path.name in result.notification.subject


def test_a_csv_file_ends_succeeded_or_notified(deployed, tmp_path):
    clients, stack = deployed
    path = tmp_path / "integration-sales.csv"
    path.write_text("id,amount\n1,2\n")
    (result,) = run_files(clients, stack, [path], prefix="integration-tests/", timeout_s=180)
    assert result.status in ("SUCCEEDED", "FAILED"), result  # the poll ends on failure too
    assert result.accounted_for
    if result.status == "FAILED":
        assert result.error == "SimulatedProcessingError"


def test_status_lists_a_failed_file_and_replay_runs_it_again(deployed, tmp_path):
    from datetime import datetime, timedelta, timezone

    from pipeline.driver import follow_started
    from pipeline.ledger import files_seen
    from pipeline.replay import plan, start

    clients, stack = deployed
    path = tmp_path / "integration-replay.txt"
    path.write_text("not a csv")
    since = datetime.now(timezone.utc) - timedelta(minutes=1)
    (result,) = run_files(clients, stack, [path], prefix="integration-tests/", timeout_s=180)
    assert result.status == "FAILED"
    seen = {item.result.execution_arn: item.result for item in files_seen(clients, stack, since)}
    assert seen[result.execution_arn].status == "FAILED" and seen[result.execution_arn].error == "InvalidFileExtension"
    chosen = plan(clients, stack, since, key=result.key)
    assert [item.result.execution_arn for item in chosen.failed] == [result.execution_arn]
    started = []
    start(clients, stack, chosen, started)
    (replayed,) = follow_started(clients, stack, started, timeout_s=180, poll_s=1.0)
    assert replayed.status == "FAILED" and replayed.error == "InvalidFileExtension"  # a .txt fails again
    assert replayed.execution_arn != result.execution_arn and replayed.notification is not None

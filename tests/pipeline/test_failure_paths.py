"""Processing failures and faults: each ends FAILED with a notification naming the exact key."""

import pytest

from tests.offline import run_one


@pytest.fixture(scope="module")
def cloud(deploy):
    return deploy(FailureRate=1)


def test_a_processing_failure_is_caught_and_notified(cloud, files):
    result = run_one(cloud, files, "q3 sales.csv")
    assert result.status == "FAILED"
    assert result.error == "SimulatedProcessingError"
    assert result.cause.startswith("Simulated failure processing s3://")
    assert result.notification.subject == "[file pipeline] Failed: q3 sales.csv"
    assert "Key:        q3 sales.csv\n" in result.notification.message
    assert "stackTrace" not in result.notification.message

"""Processing failures and faults: each ends FAILED with a notification naming the exact key."""

import pytest

from pipeline.local.faults import Fault
from tests.pipeline.conftest import run_one


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


def test_a_handler_timeout_is_caught_and_notified(cloud, files):
    cloud.faults.add(Fault("timeout", "RandomFailureFunction", 1))
    result = run_one(cloud, files, "slow.csv")
    assert result.error == "Sandbox.Timedout"
    assert "Task timed out after" in result.cause
    assert result.notification is not None and result.accounted_for


def test_lambda_service_errors_exhaust_retries_then_are_notified(cloud, files):
    cloud.faults.add(Fault("service-error", "RandomFailureFunction", 4))  # MaxAttempts 3: four attempts in all
    result = run_one(cloud, files, "unlucky.csv")
    process = next(visit for visit in result.visits if visit.name == "Process CSV")
    assert process.errors == ("Lambda.ServiceException",) * 4
    assert result.error == "Lambda.ServiceException"
    assert result.notification is not None


def test_a_failing_sns_publish_fails_the_execution_visibly(cloud, files):
    cloud.faults.add(Fault("sns-failure", None, 4))
    result = run_one(cloud, files, "unheard.csv")
    assert result.status == "FAILED"
    assert result.error == "SNS.InternalErrorException"
    assert result.notification is None
    assert not result.accounted_for

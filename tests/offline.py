"""The offline cloud, deployed from the real template.yaml, for tests/pipeline and tests/reliability:
the deploy fixture (once per test module, one at a time) and helpers that run files through it."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.results import FileResult
from pipeline.offline import OfflineCloud
from tests.conftest import TEMPLATE, write_files
from tests.forks import STATE_MACHINE, Fork


@pytest.fixture(scope="module")
def deploy():
    """deploy(**parameters) -> OfflineCloud, torn down at the end of the module (one at a time)."""
    current: list = []

    def start(template: Path = TEMPLATE, time_scale: float = 0, fast: bool | None = None,
              **parameters: str) -> OfflineCloud:
        """fast=True for tests of the speed layer itself; by default the layer is on unless
        PIPELINE_OFFLINE_FAST=0."""
        if current:
            current.pop().__exit__(None, None, None)
        deployment = OfflineCloud.deploy(template, {k: str(v) for k, v in parameters.items()}, time_scale=time_scale,
                                       fast=fast)
        cloud = deployment.__enter__()
        current.append(deployment)
        return cloud

    yield start
    if current:
        current.pop().__exit__(None, None, None)


def run_one(cloud: OfflineCloud, folder: Path, name: str, data: bytes = b"id,value\n1,a\n",
            prefix: str = "") -> FileResult:
    (result,) = cloud.run(write_files(folder, {name: data}), prefix=prefix, timeout_s=60)
    return result


@pytest.fixture
def files(tmp_path: Path) -> Path:
    return tmp_path


def jsonata_template(folder: Path) -> Path:
    """template.yaml with its state machine written in JSONata instead (same functions and topic)."""
    definition = Path(__file__).parent / "pipeline" / "definitions" / "process_file.jsonata.asl.json"
    return Fork().set_property(STATE_MACHINE, "DefinitionUri", str(definition)).write(folder)


def execution_output(cloud: OfflineCloud, result: FileResult) -> dict:
    """A succeeded execution's output as its ExecutionSucceeded event records it: the event the
    driver saw end it (DescribeExecution reflects the end a moment later, as in AWS it may)."""
    import json

    events = cloud.clients.stepfunctions.get_execution_history(executionArn=result.execution_arn)["events"]
    (ended,) = [event for event in events if event["type"] == "ExecutionSucceeded"]
    return json.loads(ended["executionSucceededEventDetails"]["output"])


def follow_execution(cloud: OfflineCloud, execution_arn: str, key: str = "-", timeout_s: float = 60) -> FileResult:
    """Wait for an execution started outside the driver (an event sent straight to the state
    machine, a redelivery) and read its outcome as the driver would."""
    import time

    from pipeline.driver import ExecutionFollower

    result = FileResult(file="-", bucket=cloud.stack.bucket, key=key, execution_arn=execution_arn)
    follower = ExecutionFollower(cloud.clients, cloud.stack.state_machine_arn)
    deadline = time.monotonic() + timeout_s
    while not follower.settle(result):
        if time.monotonic() > deadline:
            raise AssertionError(f"execution {execution_arn} did not end within {timeout_s} s")
        time.sleep(0.02)
    return result

"""Shared test helpers: project paths, handler modules loaded as Lambda loads them, and the
offline cloud deployed from the real template.yaml (once per test module, one at a time)."""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path
from types import ModuleType

import pytest

from pipeline.driver import FileResult
from pipeline.local.cloud import LocalCloud
from pipeline.local.template import function_environment, load_template

ROOT = Path(__file__).resolve().parent.parent
EVENTS = ROOT / "events"
SAMPLES = ROOT / "samples"
TEMPLATE = ROOT / "template.yaml"


def load_event(name: str) -> dict:
    return json.loads((EVENTS / name).read_text(encoding="utf-8"))


def globals_environment() -> dict[str, str]:
    """The environment the template's Globals give every function, parameters at their defaults."""
    return function_environment(load_template(TEMPLATE))


class FunctionModules:
    """Imports a function's modules from its CodeUri, alone, and forgets them afterwards.

    The two functions are separate deployment packages; each test sees only one of them on
    sys.path, with the environment the template's Globals give it, as the Lambda runtime would.
    """

    def __init__(self, code_dir: Path, monkeypatch: pytest.MonkeyPatch):
        self.code_dir = code_dir
        self._names = {path.stem for path in code_dir.glob("*.py")}
        for name, value in globals_environment().items():
            monkeypatch.setenv(name, value)

    def __enter__(self) -> FunctionModules:
        sys.path.insert(0, str(self.code_dir))
        return self

    def module(self, name: str) -> ModuleType:
        return importlib.import_module(name)

    def __exit__(self, *exc: object) -> None:
        sys.path.remove(str(self.code_dir))
        for name in self._names:
            sys.modules.pop(name, None)


@pytest.fixture
def check_ext(monkeypatch):
    with FunctionModules(ROOT / "src" / "check_ext", monkeypatch) as modules:
        yield modules


@pytest.fixture
def random_failure(monkeypatch):
    with FunctionModules(ROOT / "src" / "random_failure", monkeypatch) as modules:
        yield modules


class FakeContext:
    function_name = "test-function"
    function_version = "$LATEST"
    memory_limit_in_mb = 128
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:test-function"
    aws_request_id = "c6af9ac6-7b61-11e6-9a41-93e812345678"
    log_group_name = "/aws/lambda/test-function"
    log_stream_name = "2026/11/26/[$LATEST]abcdef"

    def get_remaining_time_in_millis(self) -> int:
        return 10_000


@pytest.fixture
def lambda_context() -> FakeContext:
    return FakeContext()


@pytest.fixture(scope="module")
def deploy():
    """deploy(**parameters) -> LocalCloud, torn down at the end of the module (one at a time)."""
    current: list = []

    def start(template: Path = TEMPLATE, time_scale: float = 0, optimized: bool | None = None,
              **parameters: str) -> LocalCloud:
        """optimized=True for tests of the speed layer itself; by default the layer is on unless
        PIPELINE_OFFLINE_FAST=0."""
        if current:
            current.pop().__exit__(None, None, None)
        deployment = LocalCloud.deploy(template, {k: str(v) for k, v in parameters.items()}, time_scale=time_scale,
                                       optimized=optimized)
        cloud = deployment.__enter__()
        current.append(deployment)
        return cloud

    yield start
    if current:
        current.pop().__exit__(None, None, None)


def write_files(folder: Path, files: dict[str, bytes]) -> list[Path]:
    paths = []
    for name, data in files.items():
        path = folder / name
        path.write_bytes(data)
        paths.append(path)
    return paths


def run_one(cloud: LocalCloud, folder: Path, name: str, data: bytes = b"id,value\n1,a\n", prefix: str = "") -> FileResult:
    (result,) = cloud.run(write_files(folder, {name: data}), prefix=prefix, timeout_s=60)
    return result


@pytest.fixture
def files(tmp_path: Path) -> Path:
    return tmp_path


def jsonata_template(folder: Path) -> Path:
    """template.yaml with its state machine written in JSONata instead (same functions and topic)."""
    text = TEMPLATE.read_text(encoding="utf-8")
    text = text.replace("CodeUri: src/", f"CodeUri: {ROOT / 'src'}/").replace(
        "DefinitionUri: statemachine/process_file.asl.json",
        f"DefinitionUri: {Path(__file__).parent / 'pipeline' / 'definitions' / 'process_file.jsonata.asl.json'}",
    )
    path = folder / "template.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def follow_execution(cloud: LocalCloud, execution_arn: str, key: str = "-", timeout_s: float = 60) -> FileResult:
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

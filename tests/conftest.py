"""Shared test helpers: project paths, fixtures, and handler modules loaded as Lambda loads them.

Nothing here imports moto or the offline cloud: unit tests stay light. The offline cloud's
fixtures are in tests/offline.py, for tests/pipeline and tests/reliability."""

from __future__ import annotations

import importlib
import json
import os
import sys
from pathlib import Path
from types import ModuleType

import pytest

from pipeline.template import function_environment, load_template

ROOT = Path(__file__).resolve().parent.parent
EVENTS = ROOT / "events"
SAMPLES = ROOT / "samples"
TEMPLATE = ROOT / "template.yaml"


@pytest.fixture(scope="session", autouse=True)
def run_cache_of_this_session(tmp_path_factory: pytest.TempPathFactory) -> None:
    """What the offline cloud keeps between runs (pipeline.local.run_cache) goes to a folder of
    this session's, for every process it starts too: not into the developer's cache."""
    if "PIPELINE_CACHE_DIR" not in os.environ:
        os.environ["PIPELINE_CACHE_DIR"] = str(tmp_path_factory.mktemp("run-cache"))


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


def write_files(folder: Path, files: dict[str, bytes]) -> list[Path]:
    paths = []
    for name, data in files.items():
        path = folder / name
        path.write_bytes(data)
        paths.append(path)
    return paths

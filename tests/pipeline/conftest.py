"""The real template.yaml, deployed into the offline cloud once per test module."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import ROOT, TEMPLATE
from pipeline.driver import FileResult
from pipeline.local.cloud import LocalCloud


@pytest.fixture(scope="module")
def deploy():
    """deploy(**parameters) -> LocalCloud, torn down at the end of the module (one at a time)."""
    current: list = []

    def start(template: Path = TEMPLATE, **parameters: str) -> LocalCloud:
        if current:
            current.pop().__exit__(None, None, None)
        deployment = LocalCloud.deploy(template, {k: str(v) for k, v in parameters.items()}, time_scale=0)
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
        f"DefinitionUri: {Path(__file__).parent / 'definitions' / 'process_file.jsonata.asl.json'}",
    )
    path = folder / "template.yaml"
    path.write_text(text, encoding="utf-8")
    return path

"""Fixtures for tests/sam_deploy: the pinned SAM CLI, one `sam build` per session (in a copy of
the project), a fresh copy of that build per test, and `pipeline serve --empty` for it to deploy to."""

from __future__ import annotations

import shutil
from collections.abc import Iterator

import pytest

from tests.conftest import ROOT
from tests.sam_deploy.sam_cli import Project, SamCli
from tests.sam_local.sam_cli import found_or_skip
from tests.serve_process import Server


@pytest.fixture(scope="session")
def built_project(tmp_path_factory: pytest.TempPathFactory) -> Project:
    """Skips every test here without the SAM CLI or python3.13; fails instead under
    SAM_DEPLOY_REQUIRED=1 (CI, where both must be there)."""
    sam = found_or_skip(lambda: SamCli.find(ROOT), "SAM_DEPLOY_REQUIRED", "sam deploy")
    base = tmp_path_factory.mktemp("sam-deploy")
    project = Project.copy_of(ROOT, sam, base / "project", base / "home")
    project.build(ROOT / ".aws-sam" / "sam-deploy-cache")
    return project


@pytest.fixture
def project(built_project: Project, tmp_path) -> Project:
    """The built project, copied: a guided deploy rewrites its samconfig.toml."""
    folder = tmp_path / "project"
    shutil.copytree(built_project.folder, folder, symlinks=True)
    return Project(built_project.sam, folder, tmp_path / "home")


@pytest.fixture
def server(project: Project) -> Iterator[Server]:
    """`pipeline serve --empty`, and the project's commands given the environment it prints."""
    served = Server("--empty")
    project.endpoint_env = served.exported()
    yield served
    if served.process.poll() is None:
        served.stop()

"""The README runs as written: every `$ ` line of its `console` blocks that needs no AWS account
runs here, in a copy of the repository, as a newcomer types it (the shell expands its globs),
with `pipeline serve`'s exported lines where the README says to export them; the lines that need
an account, Docker or a terminal to answer are named, with the test that runs them instead."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.serve_process import Server

pytestmark = pytest.mark.slow

README = ROOT / "README.md"

# Lines run elsewhere, or only with what this test has not: what instead.
ELSEWHERE = {
    "Deploy to AWS": "an AWS account (tests/integration, with AWS_SAM_STACK_NAME)",
    "`sam local invoke`, one fixture per path": "Docker: tests/sam_local runs these very lines",
}
REHEARSAL = "Rehearse the AWS deploy offline"
REHEARSED_BY_SAM_DEPLOY = (  # tests/sam_deploy runs them: serve --empty, the SAM CLI (the guided deploy
    # at a terminal), uploads with the AWS CLI to the bucket the README names
    ".venv/bin/pipeline serve --empty",
    ".venv/bin/sam build && .venv/bin/sam deploy --guided",
    ".venv/bin/aws s3 cp samples/notes.txt s3://file-pipeline-landingbucket-ska6pnyls5tn/",
    ".venv/bin/sam deploy --parameter-overrides FailureRate=0",
    ".venv/bin/sam delete --stack-name file-pipeline",
)


@dataclass(frozen=True)
class Line:
    section: str
    command: str  # as typed, less its prompt and comment


def console_lines(readme: Path) -> list[Line]:
    found, section, in_console = [], "", False
    for text in readme.read_text(encoding="utf-8").splitlines():
        if text.startswith("#"):
            section = text.lstrip("#").strip()
        elif text.strip() == "```console":
            in_console = True
        elif text.strip() == "```":
            in_console = False
        elif in_console and text.startswith("$ "):
            command = text[2:]
            command = command.split("  #", 1)[0].rstrip() if "  #" in command else command.rstrip()
            found.append(Line(section, command))
    return found


@pytest.fixture(scope="module")
def copy(tmp_path_factory) -> Path:
    """The repository as a clone has it, with the .venv `make` made (the README's first step)."""
    folder = tmp_path_factory.mktemp("readme") / "repo"
    shutil.copytree(ROOT, folder, symlinks=True, ignore=shutil.ignore_patterns(
        ".venv", ".venv-lint", ".aws-sam", ".git", "__pycache__", ".pytest_cache", "*.html"))
    (folder / ".venv").symlink_to(ROOT / ".venv")
    if (ROOT / ".venv-lint").exists():
        (folder / ".venv-lint").symlink_to(ROOT / ".venv-lint")
    return folder


def shell(command: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", "-c", command], cwd=cwd, env=env or {**os.environ}, capture_output=True, text=True,
                          timeout=600)


RUN_HERE = {"Try it in one command", "The `pipeline` command", "Watch it live: `pipeline serve`",
            "After a failure: `pipeline status` and `pipeline replay`", "Backfill: files already in the bucket",
            "See what happened", REHEARSAL}


def test_every_section_with_commands_is_run_here_or_names_what_runs_it():
    """A new section of commands must say where it runs, here or elsewhere."""
    sections = {line.section for line in console_lines(README)}
    assert sections - RUN_HERE - set(ELSEWHERE) == set()
    assert RUN_HERE | set(ELSEWHERE) == sections  # and none is listed that the README no longer has


def test_the_offline_lines_run_as_written(copy):
    lines = [line for line in console_lines(README) if line.section not in ELSEWHERE]
    offline = [line for line in lines if line.section != REHEARSAL and "--stack" not in line.command
               and not line.command.startswith(".venv/bin/pipeline serve")]
    for line in offline:
        done = shell(line.command, copy)
        assert done.returncode == 0, f"{line.command}\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}"
        assert "Traceback" not in done.stderr, line.command
        if line.command == "make demo":
            assert "5 files: 2 failed, 3 succeeded; 0 unaccounted for" in done.stdout
    assert (copy / "report.html").is_file()


def test_the_lines_for_a_stack_run_against_pipeline_serve_with_its_exports(copy):
    """`pipeline serve` as the README starts it, then every line that names `--stack file-pipeline`,
    with the lines serve prints to export (README: they work on serve as on a deployed stack)."""
    (serve_line,) = [line for line in console_lines(README) if line.command.startswith(".venv/bin/pipeline serve ")
                     and line.section.startswith("Watch it live")]
    server = Server(*shlex.split(serve_line.command)[2:])  # on a free port, its waits scaled to none
    try:
        env = server.environment()
        assert server.bucket == "file-pipeline-landingbucket-ska6pnyls5tn"  # as the README shows it
        for line in console_lines(README):
            if "--stack file-pipeline" not in line.command or line.section in ELSEWHERE:
                continue
            done = shell(line.command, copy, env)
            assert done.returncode == 0, f"{line.command}\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}"
            assert "Traceback" not in done.stderr, line.command
    finally:
        server.stop()


def test_the_rehearsal_lines_run_or_are_run_by_tests_sam_deploy(copy):
    lines = [line.command for line in console_lines(README) if line.section == REHEARSAL]
    assert [line for line in lines if line not in REHEARSED_BY_SAM_DEPLOY] == ["make sam"]
    assert set(REHEARSED_BY_SAM_DEPLOY) <= set(lines)  # as the README still writes them
    # make sam puts .venv/bin/sam in front of make lint's SAM CLI: run where that is installed (CI).
    if (ROOT / ".venv-lint" / ".installed").exists() and "python3.13" in shell("make -s print-python313", ROOT).stdout:
        done = shell("make sam", ROOT)
        assert done.returncode == 0, done.stderr
        assert "SAM CLI, version 1.170.0" in shell(".venv/bin/sam --version", ROOT).stdout

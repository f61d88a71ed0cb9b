"""The SAM CLI as a newcomer runs it against `pipeline serve`: in a copy of the project (guided
deploy rewrites samconfig.toml), with the environment the server prints, a home of its own
(SAM keeps metadata there) and, for `sam deploy --guided`, a pseudo-terminal answered prompt by
prompt."""

from __future__ import annotations

import os
import pty
import re
import select
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from tests.sam_local.sam_cli import sam_and_python313

PROJECT_FILES = ("template.yaml", "samconfig.toml", "src", "statemachine", "samples")
POLL_DELAY_S = "0.5"
"""SAM_CLI_POLL_DELAY: SAM sleeps this long before each read of the stack events (5 s by default)."""

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


@dataclass(frozen=True)
class SamCli:
    sam: Path
    python313: Path

    @classmethod
    def find(cls, root: Path) -> SamCli:
        return cls(*sam_and_python313(root))


class Project:
    """A copy of the project, where the SAM CLI runs as in the README."""

    def __init__(self, sam: SamCli, folder: Path, home: Path):
        self.sam, self.folder, self.home = sam, folder, home
        self.endpoint_env: dict[str, str] = {}

    @classmethod
    def copy_of(cls, root: Path, sam: SamCli, folder: Path, home: Path) -> Project:
        folder.mkdir(parents=True)
        for name in PROJECT_FILES:
            source = root / name
            if source.is_dir():
                shutil.copytree(source, folder / name, ignore=shutil.ignore_patterns("__pycache__"))
            else:
                shutil.copy2(source, folder / name)
        home.mkdir(parents=True, exist_ok=True)
        return cls(sam, folder, home)

    def environment(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        env.update(HOME=str(self.home), SAM_CLI_TELEMETRY="0", SAM_CLI_POLL_DELAY=POLL_DELAY_S,
                   PATH=f"{self.sam.python313.parent}{os.pathsep}{env['PATH']}", **self.endpoint_env)
        return env

    def run(self, *arguments: str, answers: str = "", timeout_s: float = 300) -> subprocess.CompletedProcess:
        """A `sam` command, its prompts answered from stdin (click reads confirmations there)."""
        return subprocess.run([str(self.sam.sam), *arguments], cwd=self.folder, env=self.environment(),
                              input=answers, capture_output=True, text=True, timeout=timeout_s)

    def build(self, cache: Path) -> None:
        built = self.run("build", "--cached", "--cache-dir", str(cache), timeout_s=900)
        if built.returncode != 0:
            raise AssertionError(f"sam build failed:\n{built.stdout[-4000:]}\n{built.stderr[-4000:]}")

    def terminal(self, *arguments: str) -> Terminal:
        return Terminal([str(self.sam.sam), *arguments], self.folder, self.environment())


class Terminal:
    """A command in a pseudo-terminal, as a user at a keyboard runs it."""

    def __init__(self, argv: list[str], cwd: Path, env: dict[str, str]):
        self.master, follower = pty.openpty()
        self.process = subprocess.Popen(argv, cwd=cwd, env={**env, "TERM": "dumb", "COLUMNS": "200"},
                                        stdin=follower, stdout=follower, stderr=follower, start_new_session=True)
        os.close(follower)
        self.output = ""
        self._read_to = 0

    def _read(self, timeout_s: float) -> bool:
        ready, _, _ = select.select([self.master], [], [], timeout_s)
        if not ready:
            return True
        try:
            chunk = os.read(self.master, 65536)
        except OSError:  # EIO: the command has ended and the terminal closed
            return False
        if not chunk:
            return False
        self.output += ANSI.sub("", chunk.decode("utf-8", "replace")).replace("\r\n", "\n")
        return True

    def expect(self, pattern: str, timeout_s: float = 120) -> str:
        """Wait for pattern in what the command has written since the last match; returns that text."""
        deadline = time.monotonic() + timeout_s
        while True:
            found = re.search(pattern, self.output[self._read_to:])
            if found:
                seen = self.output[self._read_to:self._read_to + found.end()]
                self._read_to += found.end()
                return seen
            if time.monotonic() > deadline or not self._read(0.2):
                raise AssertionError(f"no {pattern!r} in the terminal; it shows:\n{self.output[-6000:]}")

    def answer(self, prompt: str, reply: str, timeout_s: float = 120) -> str:
        seen = self.expect(prompt, timeout_s)
        os.write(self.master, (reply + "\r").encode())
        return seen

    def wait(self, timeout_s: float = 300) -> int:
        deadline = time.monotonic() + timeout_s
        while self._read(0.2):
            if time.monotonic() > deadline:
                self.process.kill()
                raise AssertionError(f"still running after {timeout_s} s:\n{self.output[-6000:]}")
        code = self.process.wait(timeout=30)
        os.close(self.master)
        return code

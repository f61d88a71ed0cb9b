"""`pipeline serve` in a process of its own, as a user runs it, and the AWS CLI beside it."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from tests.conftest import ROOT


class Server:
    """`pipeline serve` in a process of its own, its output gathered as it comes."""

    def __init__(self, *arguments: str):
        self.process = subprocess.Popen(
            [sys.executable, "-m", "pipeline.cli", "serve", "--port", "0", "--time-scale", "0", *arguments],
            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        self.banner = banner = self.wait_for(r"Ctrl-C stops the cloud", timeout_s=60)
        self.endpoint = re.search(r"export AWS_ENDPOINT_URL=(\S+)", banner).group(1)
        landing = re.search(r"landing bucket: (\S+)", banner)
        self.bucket = landing.group(1) if landing else None  # none with --empty

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line)

    @property
    def output(self) -> str:
        return "".join(self.lines)

    def wait_for(self, pattern: str, timeout_s: float = 30) -> str:
        deadline = time.monotonic() + timeout_s
        while not re.search(pattern, self.output):
            if time.monotonic() > deadline or self.process.poll() is not None:
                raise AssertionError(f"no {pattern!r} in pipeline serve's output:\n{self.output}")
            time.sleep(0.05)
        return self.output

    def exported(self) -> dict[str, str]:
        """What the banner says to export."""
        return dict(re.findall(r"(AWS_[A-Z_]+)=(\S+)", self.banner))

    def environment(self) -> dict[str, str]:
        return {**os.environ, **self.exported()}

    def pipeline(self, *arguments: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "pipeline.cli", *arguments], cwd=ROOT, env=self.environment(),
                              capture_output=True, text=True, timeout=120)

    def children(self) -> list[int]:
        found = []
        for task in Path(f"/proc/{self.process.pid}/task").iterdir():
            found += [int(pid) for pid in (task / "children").read_text().split()]
        return found

    def stop(self, signum: int = signal.SIGINT) -> int:
        self.process.send_signal(signum)
        code = self.process.wait(timeout=60)
        self._reader.join(timeout=10)
        return code


def aws_cli() -> str:
    found = shutil.which("aws", path=str(Path(sys.executable).parent)) or shutil.which("aws")
    if not found:
        pytest.fail("the AWS CLI is not installed: `make test` installs it (pyproject.toml, test extra)")
    return found


def statuses(completed: subprocess.CompletedProcess) -> dict[str, str]:
    assert completed.returncode == 0, completed.stderr
    return {record["key"]: record["status"] for record in map(json.loads, completed.stdout.splitlines())}

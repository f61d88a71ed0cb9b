"""A moto server in a process of its own, for a service the handlers call on every invocation.

The offline cloud runs moto, the Step Functions interpreter and the server that answers the
handlers in one Python process, so they all share one interpreter lock. The idempotency table is
called twice per processed file and by nobody else, so its DynamoDB runs here instead, on the
other core: over 1,000 files the offline cloud's own CPU time per file went from 15 to 9 ms.

    python -m pipeline.local.speed.dynamodb_process   # prints its endpoint, serves until stdin closes
"""

from __future__ import annotations

import subprocess
import sys
from typing import Any


class ServiceProcess:
    """Starts at once; the endpoint is read when first asked for, so start-up overlaps a deploy."""

    def __init__(self) -> None:
        self._process = subprocess.Popen(
            [sys.executable, "-m", "pipeline.local.speed.dynamodb_process"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
            start_new_session=True,  # Ctrl-C is the offline cloud's: it closes this process itself
        )
        self._endpoint: str | None = None

    @property
    def pid(self) -> int:
        return self._process.pid

    @property
    def endpoint(self) -> str:
        if self._endpoint is None:
            assert self._process.stdout is not None
            line = self._process.stdout.readline().strip()
            if not line.startswith("http://"):
                raise RuntimeError(f"the service process did not start (exit status {self._process.poll()})")
            self._endpoint = line
        return self._endpoint

    def use_access_control(self, access: Any) -> None:
        """Hand the deployed stack's access rules to the process's gatekeeper."""
        import urllib.request

        from pipeline.local.gatekeeper import CONTROL_PATH

        request = urllib.request.Request(self.endpoint + CONTROL_PATH, data=access.to_json().encode("utf-8"),
                                         method="PUT")
        with urllib.request.urlopen(request, timeout=10) as response:
            response.read()

    def close(self) -> None:
        if self._process.stdin:
            self._process.stdin.close()  # the server stops when its stdin closes
        try:
            self._process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        if self._process.stdout:
            self._process.stdout.close()


def main() -> None:
    from moto import mock_aws

    from pipeline.local.gatekeeper import Gatekeeper
    from pipeline.local.speed.keep_alive import KeepAliveServer
    from pipeline.local.speed.moto_application import MotoApplication, quick_dispatch

    mock_aws().start()  # moto's backends in this process, as its own server keeps them
    with quick_dispatch():
        server = KeepAliveServer(Gatekeeper(MotoApplication(), accept_rules=True))
        server.start()
        print(server.endpoint, flush=True)
        sys.stdin.read()  # until the offline cloud closes our stdin, or ends
        server.server_close()  # its threads are daemons: they end with the process


if __name__ == "__main__":
    main()

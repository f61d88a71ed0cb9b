"""A moto server in a process of its own, for a service the handlers call on every invocation.

The offline cloud runs moto, the Step Functions interpreter and the server that answers the
handlers in one Python process, so they all share one interpreter lock. The idempotency table is
called twice per processed file and by nobody else, so its DynamoDB runs here instead, on the
other core: over 1,000 files the offline cloud's own CPU time per file went from 15 to 9 ms.

    python -m pipeline.local.service_process   # prints its endpoint, serves until stdin closes
"""

from __future__ import annotations

import subprocess
import sys
from typing import Any


class ServiceProcess:
    """Starts at once; the endpoint is read when first asked for, so start-up overlaps a deploy."""

    def __init__(self) -> None:
        self._process = subprocess.Popen(
            [sys.executable, "-m", "pipeline.local.service_process"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
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


def moto_wsgi_app() -> Any:
    """moto's server as a WSGI application (what moto's own server runs): every service,
    dispatched by host and headers. See moto_hooks on why it is built here."""
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

    return DomainDispatcherApplication(create_backend_app)


def main() -> None:
    from moto import mock_aws

    from pipeline.local.http_server import KeepAliveServer

    mock_aws().start()  # moto's backends in this process, as its own server keeps them
    server = KeepAliveServer(moto_wsgi_app())
    server.start()
    print(server.endpoint, flush=True)
    sys.stdin.read()  # until the offline cloud closes our stdin, or ends
    server.server_close()  # its threads are daemons: they end with the process


if __name__ == "__main__":
    main()

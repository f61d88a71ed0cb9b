"""The parts of the offline cloud that the speed layer may replace, done the plain way: moto's
own server application and server, every call between services through boto3 and moto's API.

This is the whole cloud when the speed layer is off (PIPELINE_OFFLINE_FAST=0, or a moto other
than the pinned one), and the baseline `make bench` compares the speed layer with. Enforcement
does not live here: it is the same whichever layer runs.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from typing import TYPE_CHECKING, Any, ContextManager, Protocol

if TYPE_CHECKING:
    from pipeline.clients import Clients
    from pipeline.local.access import AccessControl
    from pipeline.local.moto_core import LambdaInvoker, TaskClientFactory
    from pipeline.local.moto_stacks import Table


class ServiceProcess(Protocol):
    """A service in a process of its own: once a stack is deployed, every caller's calls to the
    service (the cloud's, the functions', the tasks', AWS clients') go to its endpoint; it holds
    the stack's tables and checks each call against the stack's access rules."""

    @property
    def pid(self) -> int: ...

    @property
    def endpoint(self) -> str: ...

    def stack_deployed(self, clients: Clients, tables: list[Table], access: AccessControl) -> None:
        """The stack's tables (created in moto by its CloudFormation) created here, and its rules."""

    def stack_withdrawn(self, clients: Clients) -> None:
        """The stack's tables gone with it."""

    def close(self) -> None: ...


class PlainLayer:
    """How the offline cloud does each replaceable part without the speed layer."""

    name = "plain"
    parts: tuple[str, ...] = ()

    def services(self) -> dict[str, ServiceProcess]:
        """Services in processes of their own, by botocore's service name; started first, so
        they come up while moto starts. None: every service is in the cloud's process."""
        return {}

    def application(self) -> Any:
        """moto's server application, as moto's own server builds it."""
        from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

        return DomainDispatcherApplication(create_backend_app)

    @contextmanager
    def serve(self, app: Any, host: str = "127.0.0.1", port: int = 0) -> Iterator[str]:
        """Serve app over HTTP for the length of the block; yields its endpoint."""
        from moto.moto_server.werkzeug_app import MotoRequestHandler
        from werkzeug.serving import make_server

        logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one line per request otherwise
        server = make_server(host, port, app, threaded=True, request_handler=MotoRequestHandler)
        # shutdown() waits for the loop's next look: every 0.5 s by default, which every command paid as it ended.
        thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        thread.start()
        try:
            yield f"http://{host}:{server.server_address[1]}"
        finally:
            server.shutdown()
            server.server_close()
            thread.join()

    def clients(self, clients: Clients, account_id: str, region: str) -> Clients:
        """The cloud's own clients (the driver's, offline)."""
        return clients

    def starter(self, account_id: str, region: str) -> Any:
        """How EventBridge starts an execution: None goes through the Step Functions API."""
        return None

    def publish_metrics(self, clients: Clients, account_id: str, region: str, namespace: str,
                        metrics: list[dict[str, Any]]) -> None:
        """A service publishing its own metrics."""
        clients.cloudwatch.put_metric_data(Namespace=namespace, MetricData=metrics)

    def task_client(self, invoke: LambdaInvoker) -> TaskClientFactory | None:
        """The client each Step Functions task calls through; None: moto's own."""
        return None

    def after_execution_end(self, execution: Any) -> None:
        """Anything to do with an execution once it has ended and been reported."""

    def installed(self) -> ContextManager[None]:
        """Patches into moto, for the length of the block."""
        return nullcontext()

    def running(self) -> ContextManager[None]:
        """Around the deployed cloud's life."""
        return nullcontext()

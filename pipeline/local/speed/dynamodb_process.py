"""A moto server in a process of its own, for a service the handlers call on every invocation.

The offline cloud runs moto, the Step Functions interpreter and the server that answers the
handlers in one Python process, so they all share one interpreter lock. The idempotency table is
called twice per processed file and by nobody else, so its DynamoDB runs here instead, on the
other core: over 1,000 files the offline cloud's own CPU time per file went from 15 to 9 ms.

    python -m pipeline.local.speed.dynamodb_process   # prints its endpoint, serves until stdin closes

The stack's tables, which moto's CloudFormation created in the cloud's process, are created
again here (create_tables) with the settings the template gives them.
"""

from __future__ import annotations

import os
import subprocess
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pipeline.clients import Clients
    from pipeline.local.access import AccessControl
    from pipeline.local.moto_stacks import Table


class DynamoDBProcess:
    """Starts at once; the endpoint is read when first asked for, so start-up overlaps a deploy
    (a pipeline.local.plain_layer.ServiceProcess)."""

    def __init__(self) -> None:
        self._process = subprocess.Popen(
            [sys.executable, "-m", "pipeline.local.speed.dynamodb_process"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
            start_new_session=True,  # Ctrl-C is the offline cloud's: it closes this process itself
        )
        self._endpoint: str | None = None
        self._tables: list[str] = []  # the deployed stack's, created here

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

    def stack_deployed(self, clients: Clients, tables: list[Table], access: AccessControl) -> None:
        self._tables = [name for name, _ in tables]  # first: withdrawing a half-deployed stack drops them
        create_tables(clients, self.endpoint, tables)
        self._use_access_control(access)

    def stack_withdrawn(self, clients: Clients) -> None:
        delete_tables(clients, self.endpoint, self._tables)  # moto deletes its own
        self._tables = []

    def _use_access_control(self, access: AccessControl) -> None:
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


def create_tables(clients: Clients, endpoint: str, tables: list[Table]) -> list[str]:
    """Create each table moto's CloudFormation created in the DynamoDB at endpoint: keys, billing
    and indexes as moto made them, then the template's settings (moto_stacks.complete_tables). Returns
    the tables' names."""
    from pipeline.local.access import table_encryption
    from pipeline.local.moto_stacks import complete_tables

    source = clients.session.client("dynamodb")
    target = clients.session.client("dynamodb", endpoint_url=endpoint)
    existing = set(target.list_tables()["TableNames"])
    for name, properties in tables:
        if name in existing:  # an update: the table keeps its items, as a table CloudFormation updates does
            continue
        table = source.describe_table(TableName=name)["Table"]
        definition: dict[str, Any] = {
            "TableName": name,
            "KeySchema": table["KeySchema"],
            "AttributeDefinitions": table["AttributeDefinitions"],
            "BillingMode": table.get("BillingModeSummary", {}).get("BillingMode", "PAY_PER_REQUEST"),
        }
        if definition["BillingMode"] == "PROVISIONED":
            throughput = table["ProvisionedThroughput"]
            definition["ProvisionedThroughput"] = {
                "ReadCapacityUnits": throughput["ReadCapacityUnits"],
                "WriteCapacityUnits": throughput["WriteCapacityUnits"],
            }
        for index_kind in ("GlobalSecondaryIndexes", "LocalSecondaryIndexes"):
            if table.get(index_kind):
                definition[index_kind] = [
                    {key: index[key] for key in ("IndexName", "KeySchema", "Projection") if key in index}
                    for index in table[index_kind]
                ]
        encryption = table_encryption(properties)
        if encryption:
            definition["SSESpecification"] = encryption
        target.create_table(**definition)
    complete_tables(target, tables)
    return [name for name, _ in tables]


def delete_tables(clients: Clients, endpoint: str, names: list[str]) -> None:
    target = clients.session.client("dynamodb", endpoint_url=endpoint)
    for name in names:
        try:
            target.delete_table(TableName=name)
        except target.exceptions.ResourceNotFoundException:
            pass


def _answer_one(application: Any) -> None:
    """A ListTables before serving: the first request imports moto's IAM and reads DynamoDB's
    model (0.18 s), which is better done now, while the offline cloud starts, than in its deploy."""
    from werkzeug.test import Client

    answer = Client(application).post("/", data="{}", headers={
        "X-Amz-Target": "DynamoDB_20120810.ListTables", "Content-Type": "application/x-amz-json-1.0",
        "Authorization": "AWS4-HMAC-SHA256 Credential=offline/20260101/us-east-1/dynamodb/aws4_request, "
                         "SignedHeaders=host, Signature=0"})
    if answer.status_code != 200:  # the process still serves; the first request pays as before
        print(f"dynamodb process: warming up got {answer.status}", file=sys.stderr)


def main() -> None:
    from moto import mock_aws

    from pipeline.local import moto_dynamodb
    from pipeline.local.gatekeeper import Gatekeeper
    from pipeline.local.patching import applied
    from pipeline.local.speed.keep_alive import KeepAliveServer
    from pipeline.local.speed.moto_application import MotoApplication, quick_dispatch

    mock_aws().start()  # moto's backends in this process, as its own server keeps them
    with applied(moto_dynamodb.patches()), quick_dispatch():
        application = Gatekeeper(MotoApplication(), accept_rules=True)
        _answer_one(application)
        server = KeepAliveServer(application)
        server.start()
        print(server.endpoint, flush=True)
        sys.stdin.read()  # until the offline cloud closes our stdin, or ends
        server.server_close()  # its threads are daemons: they end with the process
    # What the process holds lives in memory only, and the interpreter's teardown of moto took
    # 0.17 s of every stop: end here.
    sys.stdout.flush()
    os._exit(0)


if __name__ == "__main__":
    main()

"""The DynamoDB the handlers call runs in a process of its own, which ends with the cloud."""

import os
import socket
from urllib.parse import urlsplit

import boto3
import pytest

from pipeline.local.speed.dynamodb_process import DynamoDBProcess


def _refuses_connections(endpoint: str) -> bool:
    address = urlsplit(endpoint)
    try:
        socket.create_connection((address.hostname, address.port), timeout=2).close()
    except ConnectionRefusedError:
        return True
    return False


def test_a_service_process_serves_until_it_is_closed():
    service = DynamoDBProcess()
    try:
        client = boto3.client("dynamodb", endpoint_url=service.endpoint, region_name="us-east-1",
                              aws_access_key_id="offline", aws_secret_access_key="offline")
        client.create_table(TableName="probe", BillingMode="PAY_PER_REQUEST",
                            AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
                            KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}])
        assert client.list_tables()["TableNames"] == ["probe"]
        assert not _refuses_connections(service.endpoint)
    finally:
        service.close()
    with pytest.raises(ProcessLookupError):  # ended and reaped
        os.kill(service.pid, 0)
    assert _refuses_connections(service.endpoint)


def test_the_offline_cloud_ends_its_service_process(deploy):
    cloud = deploy(FailureRate=0, fast=True)  # the DynamoDB process belongs to the speed layer
    endpoint, pid = cloud.clients.endpoints["dynamodb"], cloud.services["dynamodb"].pid
    assert endpoint.startswith("http://127.0.0.1:") and not _refuses_connections(endpoint)
    deploy(FailureRate=0, fast=True)  # the fixture tears the first cloud down before deploying again
    with pytest.raises(ProcessLookupError):  # ended and reaped (its port may serve the new process now)
        os.kill(pid, 0)

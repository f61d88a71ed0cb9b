"""The DynamoDB the handlers call runs in a process of its own, which ends with the cloud."""

import urllib.error
import urllib.request

import boto3

from pipeline.local.speed.dynamodb_process import ServiceProcess


def test_a_service_process_serves_until_it_is_closed():
    service = ServiceProcess()
    try:
        client = boto3.client("dynamodb", endpoint_url=service.endpoint, region_name="us-east-1",
                              aws_access_key_id="offline", aws_secret_access_key="offline")
        client.create_table(TableName="probe", BillingMode="PAY_PER_REQUEST",
                            AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
                            KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}])
        assert client.list_tables()["TableNames"] == ["probe"]
    finally:
        service.close()
    assert service._process.returncode == 0


def test_the_offline_cloud_ends_its_service_process(deploy):
    cloud = deploy(FailureRate=0, fast=True)  # the DynamoDB process belongs to the speed layer
    endpoint = cloud.clients.endpoints["dynamodb"]
    assert endpoint.startswith("http://127.0.0.1:")
    deploy(FailureRate=0, fast=True)  # the fixture tears the first cloud down before deploying again
    try:
        urllib.request.urlopen(endpoint, timeout=2)
        reachable = True
    except (urllib.error.URLError, ConnectionError):
        reachable = False
    assert not reachable

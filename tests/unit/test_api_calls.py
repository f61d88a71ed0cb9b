"""What IAM action and resource an API request is, and the task calls nobody can check are refused."""

import json

import pytest
from botocore.exceptions import ClientError

from pipeline.local.access import AccessControl
from pipeline.local.api_calls import read_call
from pipeline.local.task_calls import TaskAuthority

HEADERS = {"authorization": "AWS4-HMAC-SHA256 Credential=ASIAEXAMPLE/20261126/us-east-1/dynamodb/aws4_request, x"}


def dynamodb(operation, **body):
    return read_call("POST", "/", "", {**HEADERS, "x-amz-target": f"DynamoDB_20120810.{operation}"},
                     json.dumps(body).encode(), "us-east-1", "123456789012")


def test_a_query_of_an_index_is_on_the_index():
    table = "arn:aws:dynamodb:us-east-1:123456789012:table/records"
    assert dynamodb("PutItem", TableName="records").resource == table
    assert dynamodb("Query", TableName="records", IndexName="by-key").resource == f"{table}/index/by-key"
    assert dynamodb("ListTables").action == "dynamodb:ListTables"


@pytest.mark.parametrize(("method", "path", "query", "action"), [
    ("GET", "/landing/a%2Bb.csv", "", "s3:GetObject"),
    ("HEAD", "/landing/a+b.csv", "versionId=v1", "s3:GetObjectVersion"),
    ("PUT", "/landing/k.csv", "", "s3:PutObject"),
    ("GET", "/landing", "list-type=2&prefix=a", "s3:ListBucket"),
    ("PUT", "/landing/k.csv", "tagging", ""),  # not modelled: the gatekeeper refuses it
])
def test_s3_requests_are_read_as_iam_names_them(method, path, query, action):
    headers = {"authorization": "AWS4-HMAC-SHA256 Credential=ASIAEXAMPLE/20261126/us-east-1/s3/aws4_request, x"}
    assert read_call(method, path, query, headers, b"", "us-east-1", "123456789012").action == action


def test_a_task_integration_the_offline_cloud_does_not_check_is_refused():
    tasks = TaskAuthority(AccessControl("123456789012", "us-east-1"))
    with pytest.raises(ClientError, match="does not authorize dynamodb put_item tasks"):
        tasks("arn:aws:iam::123456789012:role/machine", "dynamodb", "put_item", {"TableName": "t"})

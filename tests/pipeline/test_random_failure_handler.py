"""The random_failure handler against moto's S3 and DynamoDB: it summarizes the object, records
each object version once, and fails with its named error at the configured rate."""

import boto3
import pytest
from moto import mock_aws

from tests.conftest import load_event


@pytest.fixture
def landing_bucket(monkeypatch):
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("IDEMPOTENCY_TABLE", "processed-objects")
    with mock_aws():
        boto3.client("dynamodb", region_name="us-east-1").create_table(
            TableName="processed-objects", BillingMode="PAY_PER_REQUEST",
            AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
            KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        )
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket="file-pipeline-landing-example")
        s3.put_object(Bucket="file-pipeline-landing-example", Key="daily/sales.csv", Body=b"id,amount\n1,2.50\n2,3.75\n")
        yield s3


def test_handler_summarizes_the_object_on_success(random_failure, landing_bucket, lambda_context, monkeypatch):
    monkeypatch.setenv("FAILURE_RATE", "0")
    result = random_failure.module("app").lambda_handler(load_event("process-csv.json"), lambda_context)
    assert result == {"bucket": "file-pipeline-landing-example", "key": "daily/sales.csv", "version_id": None,
                      "rows": 2, "columns": 2, "bytes": 24, "processed_by": lambda_context.aws_request_id}


def test_a_duplicate_delivery_gets_the_recorded_summary(random_failure, landing_bucket, lambda_context, monkeypatch):
    monkeypatch.setenv("FAILURE_RATE", "0")
    app = random_failure.module("app")
    event = {"bucket": "file-pipeline-landing-example", "key": "daily/sales.csv", "version_id": None, "etag": "e1"}
    first = app.lambda_handler({**event, "execution": "one"}, lambda_context)
    landing_bucket.delete_object(Bucket="file-pipeline-landing-example", Key="daily/sales.csv")
    assert app.lambda_handler({**event, "execution": "two"}, lambda_context) == first
    with pytest.raises(Exception, match="NoSuchKey"):
        app.lambda_handler({**event, "etag": "e2", "execution": "three"}, lambda_context)


def test_handler_fails_with_the_named_error_at_rate_one(random_failure, landing_bucket, lambda_context, monkeypatch):
    monkeypatch.setenv("FAILURE_RATE", "1")
    app = random_failure.module("app")
    with pytest.raises(random_failure.module("failure_policy").SimulatedProcessingError, match="daily/sales.csv"):
        app.lambda_handler(load_event("process-csv.json"), lambda_context)


def test_handler_rejects_input_without_a_key(random_failure, landing_bucket, lambda_context):
    app = random_failure.module("app")
    with pytest.raises(app.InvalidTaskInputError):
        app.lambda_handler({"bucket": "b"}, lambda_context)


def test_an_empty_object_is_a_named_error_and_a_header_alone_is_zero_rows(random_failure, landing_bucket,
                                                                          lambda_context, monkeypatch):
    monkeypatch.setenv("FAILURE_RATE", "0")
    app = random_failure.module("app")
    landing_bucket.put_object(Bucket="file-pipeline-landing-example", Key="daily/empty.csv", Body=b"")
    landing_bucket.put_object(Bucket="file-pipeline-landing-example", Key="daily/header.csv", Body=b"id,amount\n")
    with pytest.raises(app.EmptyObjectError, match="daily/empty.csv is empty"):
        app.lambda_handler({"bucket": "file-pipeline-landing-example", "key": "daily/empty.csv", "etag": "e"},
                           lambda_context)
    summary = app.lambda_handler({"bucket": "file-pipeline-landing-example", "key": "daily/header.csv", "etag": "h"},
                                 lambda_context)
    assert (summary["rows"], summary["bytes"]) == (0, 10)

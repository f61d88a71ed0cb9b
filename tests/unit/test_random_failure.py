"""random_failure streams the object, counts it, and fails at the configured rate."""

import io

import boto3
import pytest
from moto import mock_aws

from tests.conftest import load_event


class OneByteAtATime(io.RawIOBase):
    """A body that hands out tiny chunks, as a slow network would."""

    def __init__(self, data: bytes):
        self._data = io.BytesIO(data)

    def read(self, size: int = -1) -> bytes:
        return self._data.read(min(size, 7) if size and size > 0 else 7)


@pytest.mark.parametrize(
    ("data", "rows", "columns"),
    [
        (b"a,b\n1,2\n3,4\n", 2, 2),
        (b"a,b\n1,2\n3,4", 2, 2),
        (b"\xef\xbb\xbfid,text\n1,\"line one\nline two\"\n", 1, 2),
        (b"", 0, 0),
        (b"only,header\n", 0, 2),
    ],
)
def test_rows_and_bytes_are_counted_while_streaming(random_failure, data, rows, columns):
    stats = random_failure.module("csv_stats").count_csv(OneByteAtATime(data))
    assert (stats.rows, stats.bytes, stats.columns) == (rows, len(data), columns)


def test_invalid_utf8_is_a_named_error(random_failure):
    with pytest.raises(UnicodeDecodeError):
        random_failure.module("csv_stats").count_csv(io.BytesIO(b"a,b\n\xff\xfe,1\n"))


@pytest.mark.parametrize("rate", ["-0.1", "1.5", "often"])
def test_a_bad_failure_rate_is_rejected(random_failure, rate):
    policy = random_failure.module("failure_policy")
    with pytest.raises(policy.InvalidFailureRateError):
        policy.FailurePolicy.from_environment(rate, None)


def test_a_seed_makes_outcomes_depend_only_on_the_key(random_failure):
    FailurePolicy = random_failure.module("failure_policy").FailurePolicy
    policy = FailurePolicy.from_environment("0.5", "seed")
    keys = [f"file-{n}.csv" for n in range(200)]
    first = [policy.fails(key) for key in keys]
    assert first == [policy.fails(key) for key in reversed(keys)][::-1]
    assert 60 < sum(first) < 140
    assert not any(FailurePolicy.from_environment("0", "seed").fails(key) for key in keys)
    assert all(FailurePolicy.from_environment("1", "seed").fails(key) for key in keys)


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

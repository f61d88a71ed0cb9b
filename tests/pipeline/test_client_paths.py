"""One S3 write is one event, whatever the client: PutObject, a multipart upload (boto3's transfer
manager and the AWS CLI above their 8 MB threshold), CopyObject. Each event's `reason` is the API
S3 names (S3 User Guide, "Using EventBridge": the Object Created event's detail.reason)."""

from __future__ import annotations

import json
import subprocess

import pytest
from boto3.s3.transfer import TransferConfig

from tests.conftest import TEMPLATE
from tests.serve_process import Server, aws_cli

MB = 1024 * 1024


@pytest.fixture(scope="module")
def cloud(deploy):
    return deploy(TEMPLATE, FailureRate="0")


def started_reasons(cloud, key: str) -> list[str]:
    """The reason of every event delivered for the key (deliveries happen as S3 answers the write)."""
    reasons = []
    for delivery in cloud.bus.deliveries:
        if delivery.execution_arn is None:
            continue
        started = cloud.clients.stepfunctions.describe_execution(executionArn=delivery.execution_arn)
        detail = json.loads(started["input"]).get("detail", {})
        if detail.get("object", {}).get("key") == key:
            reasons.append(detail["reason"])
    return reasons


def test_a_multipart_upload_is_one_event_with_its_reason(cloud, tmp_path):
    big = tmp_path / "big.csv"
    big.write_bytes(b"id,value\n" + b"1,abcdefgh\n" * (9 * MB // 11))
    cloud.clients.s3.upload_file(str(big), cloud.stack.bucket, "big.csv",
                                 Config=TransferConfig(multipart_threshold=8 * MB, multipart_chunksize=8 * MB))
    assert started_reasons(cloud, "big.csv") == ["CompleteMultipartUpload"]


def test_a_put_and_a_copy_are_one_event_each(cloud):
    s3 = cloud.clients.s3
    s3.put_object(Bucket=cloud.stack.bucket, Key="put.csv", Body=b"id\n1\n")
    s3.copy_object(Bucket=cloud.stack.bucket, Key="copied.csv", CopySource={"Bucket": cloud.stack.bucket, "Key": "put.csv"})
    assert (started_reasons(cloud, "put.csv"), started_reasons(cloud, "copied.csv")) == (["PutObject"], ["CopyObject"])


@pytest.mark.slow
def test_the_aws_cli_uploads_a_large_file_as_one_file(tmp_path):
    big = tmp_path / "large.csv"
    big.write_bytes(b"id,value\n" + b"1,abcdefgh\n" * (13 * MB // 11))
    server = Server("--parameter-overrides", "FailureRate=0")
    try:
        subprocess.run([aws_cli(), "s3", "cp", str(big), f"s3://{server.bucket}/large.csv"],
                       env=server.environment(), check=True, capture_output=True, timeout=120)
        server.wait_for(r"large\.csv: SUCCEEDED")
        listed = server.pipeline("status", "--stack", "file-pipeline", "--json")
        assert [json.loads(line)["key"] for line in listed.stdout.splitlines()] == ["large.csv"]
    finally:
        server.stop()

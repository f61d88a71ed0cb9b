"""`pipeline delete-buckets` empties a versioned bucket whole, then deletes it."""

import boto3
from moto import mock_aws

from pipeline.buckets import delete_bucket
from pipeline.cli import main


def test_every_version_and_delete_marker_goes_then_the_bucket():
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket="landing")
        s3.put_bucket_versioning(Bucket="landing", VersioningConfiguration={"Status": "Enabled"})
        for i in range(2_300):  # more than two pages of versions
            s3.put_object(Bucket="landing", Key=f"k{i % 900}.csv", Body=b"x")
        for i in range(5):
            s3.delete_object(Bucket="landing", Key=f"k{i}.csv")
        deleted = delete_bucket(s3, "landing")
        assert (deleted.versions, deleted.delete_markers) == (2_300, 5)
        assert "landing" not in [b["Name"] for b in s3.list_buckets()["Buckets"]]


def test_an_empty_bucket_is_deleted_and_a_missing_one_is_a_usage_error(capsys):
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket="trail-logs")
        assert main(["delete-buckets", "trail-logs", "--region", "us-east-1"]) == 0
        assert "Deleted s3://trail-logs (0 versions, 0 delete markers)" in capsys.readouterr().out
        assert main(["delete-buckets", "trail-logs", "--region", "us-east-1"]) == 2
        assert "NoSuchBucket" in capsys.readouterr().err

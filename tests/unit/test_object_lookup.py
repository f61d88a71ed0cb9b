"""check_ext's S3 look-up: HeadObject, with the answers S3 gives a caller without s3:ListBucket."""

import boto3
import pytest
from botocore.stub import Stubber


@pytest.fixture
def lookup(check_ext, monkeypatch):
    module = check_ext.module("object_lookup")
    client = boto3.client("s3", region_name="us-east-1", aws_access_key_id="k", aws_secret_access_key="s")
    monkeypatch.setattr(module, "_client", client)
    with Stubber(client) as stubber:
        yield module, stubber


def test_the_version_and_etag_must_match(lookup):
    module, stubber = lookup
    expected = {"Bucket": "b", "Key": "a+b.csv", "VersionId": "v1"}
    stubber.add_response("head_object", {"ETag": '"abc"'}, expected)
    stubber.add_response("head_object", {"ETag": '"other"'}, expected)
    assert module.s3_object_exists("b", "a+b.csv", "v1", "abc")
    assert not module.s3_object_exists("b", "a+b.csv", "v1", "abc")


@pytest.mark.parametrize("status", [400, 403, 404])
def test_a_refusal_or_a_miss_means_not_this_object(lookup, status):
    module, stubber = lookup
    stubber.add_client_error("head_object", service_error_code=str(status), http_status_code=status)
    assert not module.s3_object_exists("b", "a b.csv", None, None)


def test_any_other_error_is_raised(lookup):
    module, stubber = lookup
    stubber.add_client_error("head_object", service_error_code="InternalError", http_status_code=500)
    with pytest.raises(Exception, match="InternalError"):
        module.s3_object_exists("b", "a b.csv", None, None)


def test_the_current_version_is_the_head_s_and_none_in_an_unversioned_bucket(lookup):
    module, stubber = lookup
    stubber.add_response("head_object", {"ETag": '"abc"', "VersionId": "v9"}, {"Bucket": "b", "Key": "k"})
    stubber.add_response("head_object", {"ETag": '"abc"', "VersionId": "null"}, {"Bucket": "b", "Key": "k"})
    stubber.add_client_error("head_object", service_error_code="404", http_status_code=404)
    assert module.current_version("b", "k") == ("v9", "abc")
    assert module.current_version("b", "k") == (None, "abc")
    assert module.current_version("b", "k") is None

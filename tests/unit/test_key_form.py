"""Which reading of an EventBridge key names the object, asked of S3 with HeadObject.

AWS does not document how S3 encodes detail.object.key, so an ambiguous key (one with '+' or
'%XX') is looked up in both forms. These tests drive the real lookup through botocore's Stubber
on a real S3 client: every expected call and its parameters are stated, and a call that is not
stated fails the test.
"""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.stub import Stubber

from tests.conftest import ROOT

BUCKET = "landing"
ETAG = "b1946ac92492d2347c6235b4d2611184"


def object_created(key: str, version_id: str | None = "v1", etag: str | None = ETAG) -> dict[str, Any]:
    """An S3 EventBridge "Object Created" event carrying key exactly as given."""
    obj: dict[str, Any] = {"key": key, "size": 10}
    if etag:
        obj["etag"] = etag
    if version_id:
        obj["version-id"] = version_id
    return {"version": "0", "detail-type": "Object Created", "source": "aws.s3", "time": "2026-11-02T09:30:00Z",
            "detail": {"version": "0", "bucket": {"name": BUCKET}, "object": obj}}


def head(key: str, version_id: str | None = "v1") -> dict[str, str]:
    params = {"Bucket": BUCKET, "Key": key}
    if version_id:
        params["VersionId"] = version_id
    return params


@pytest.fixture
def s3():
    client = boto3.client("s3", region_name="us-east-1", aws_access_key_id="k", aws_secret_access_key="s")
    with Stubber(client) as stubber:
        yield client, stubber
        stubber.assert_no_pending_responses()


@pytest.fixture
def read(check_ext, s3):
    client, _ = s3
    landed_file = check_ext.module("landed_file")
    return lambda event: landed_file.read_landed_file(event, s3_client=client)


def found(stubber: Stubber, params: dict[str, str], etag: str = ETAG) -> None:
    stubber.add_response("head_object", {"ETag": f'"{etag}"', "ContentLength": 10}, params)


def missing(stubber: Stubber, params: dict[str, str], status: int = 404) -> None:
    stubber.add_client_error("head_object", service_error_code=str(status), http_status_code=status,
                             expected_params=params)


@pytest.mark.parametrize("key", ["daily/sales.csv", "100%.csv", "a:b.csv", "my file.csv", "données.csv"])
def test_a_key_that_reads_the_same_decoded_costs_no_call(read, key):
    landed = read(object_created(key))  # the stubber has no response: any call would fail
    assert (landed.key, landed.event_key, landed.key_form) == (key, key, "unambiguous")


def test_only_the_decoded_object_exists(read, s3):
    _, stubber = s3
    found(stubber, head("Q3 customers leads.CSV"))
    landed = read(object_created("Q3 customers+leads.CSV"))
    assert (landed.key, landed.key_form, landed.event_key) == ("Q3 customers leads.CSV", "decoded", "Q3 customers+leads.CSV")
    assert landed.file_extension == ".csv"


def test_only_the_raw_object_exists(read, s3):
    _, stubber = s3
    missing(stubber, head("Q3 customers leads.CSV"))
    found(stubber, head("Q3 customers+leads.CSV"))
    landed = read(object_created("Q3 customers+leads.CSV"))
    assert (landed.key, landed.key_form) == ("Q3 customers+leads.CSV", "raw")


def test_a_decoded_object_with_another_etag_is_not_the_announced_one(read, s3):
    _, stubber = s3
    found(stubber, head("a b.csv", None), etag="0" * 32)
    found(stubber, head("a+b.csv", None))
    landed = read(object_created("a+b.csv", version_id=None))
    assert (landed.key, landed.key_form) == ("a+b.csv", "raw")


def test_without_an_etag_in_the_event_any_etag_matches(read, s3):
    _, stubber = s3
    found(stubber, head("a b.csv", None), etag="0" * 32)
    landed = read(object_created("a+b.csv", version_id=None, etag=None))
    assert (landed.key, landed.key_form) == ("a b.csv", "decoded")


def test_the_event_s_version_id_is_asked_for_with_both_candidates(read, s3):
    _, stubber = s3
    missing(stubber, head("a b.csv", "3HL4kqtJlcpXroDTDmjVBH40Nrjfkd"), status=400)  # a version of another key
    found(stubber, head("a+b.csv", "3HL4kqtJlcpXroDTDmjVBH40Nrjfkd"))
    landed = read(object_created("a+b.csv", version_id="3HL4kqtJlcpXroDTDmjVBH40Nrjfkd"))
    assert (landed.key, landed.version_id) == ("a+b.csv", "3HL4kqtJlcpXroDTDmjVBH40Nrjfkd")


def test_403_is_a_missing_key_to_a_caller_without_list_bucket(read, s3):
    _, stubber = s3
    missing(stubber, head("a b.csv"), status=403)
    found(stubber, head("a+b.csv"))
    assert read(object_created("a+b.csv")).key_form == "raw"


def test_when_neither_exists_the_typed_error_names_bucket_both_keys_and_version(check_ext, read, s3):
    _, stubber = s3
    missing(stubber, head("Q3 customers leads.CSV"), status=403)
    missing(stubber, head("Q3 customers+leads.CSV"))
    with pytest.raises(check_ext.module("landed_file").ObjectNotFoundError) as raised:
        read(object_created("Q3 customers+leads.CSV"))
    assert isinstance(raised.value, LookupError)
    assert str(raised.value) == ("Neither 'Q3 customers leads.CSV' (form-decoded) nor 'Q3 customers+leads.CSV' "
                                 "(as sent) exists in bucket 'landing' at version 'v1'")


def test_any_other_s3_error_propagates_and_stops_the_lookup(read, s3):
    _, stubber = s3
    stubber.add_client_error("head_object", service_error_code="InternalError", http_status_code=500,
                             expected_params=head("a b.csv"))
    with pytest.raises(ClientError, match="InternalError"):
        read(object_created("a+b.csv"))


def test_a_percent_encoded_plus_decodes_to_a_plus(read, s3):
    _, stubber = s3
    found(stubber, head("reports/a+b 100%.csv"))
    landed = read(object_created("reports/a%2Bb+100%25.csv"))
    assert (landed.key, landed.key_form, landed.display_name) == ("reports/a+b 100%.csv", "decoded", "a+b 100%.csv")


def test_the_default_client_is_made_once_and_reused(check_ext, monkeypatch):
    client = boto3.client("s3", region_name="us-east-1", aws_access_key_id="k", aws_secret_access_key="s")
    made = []
    monkeypatch.setattr(boto3, "client", lambda *args, **kwargs: made.append(args) or client)
    read_landed_file = check_ext.module("landed_file").read_landed_file
    with Stubber(client) as stubber:
        found(stubber, head("a b.csv"))
        found(stubber, head("c d.csv"))
        assert read_landed_file(object_created("a+b.csv")).key == "a b.csv"
        assert read_landed_file(object_created("c+d.csv")).key == "c d.csv"
    assert made == [("s3",)]


def test_a_plain_key_never_imports_boto3():
    """Cold start: the handler's imports and an unambiguous key leave boto3 unimported."""
    script = (
        "import json, sys\n"
        "import app, landed_file\n"
        "landed = landed_file.read_landed_file(json.loads(sys.argv[1]))\n"
        "print(json.dumps([landed.key_form, 'boto3' in sys.modules]))\n"
    )
    run = subprocess.run([sys.executable, "-c", script, json.dumps(object_created("daily/my file.csv"))],
                         cwd=ROOT / "src" / "check_ext", capture_output=True, text=True, check=True,
                         env={"PATH": "", "POWERTOOLS_SERVICE_NAME": "check-ext", "POWERTOOLS_METRICS_NAMESPACE": "t"})
    assert json.loads(run.stdout) == ["unambiguous", False]

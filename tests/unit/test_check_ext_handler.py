"""The check_ext handler returns what the state machine routes on, and logs a metric."""

import json

import boto3
import pytest
from botocore.stub import Stubber

from tests.conftest import load_event

RESOLVED = "Resolved the event's key form"


def logged(caplog, message):
    """Log records with this message. Read from caplog, not stdout: Powertools keeps the stream
    of the first Logger made for the service, which an earlier test's capsys may have replaced."""
    return [record for record in caplog.records if record.getMessage() == message]


def metrics_printed(capsys):
    """The invocation's EMF blobs that Powertools printed to stdout (not the cold-start one)."""
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    return [entry for entry in lines if "_aws" in entry and "ColdStart" not in entry]


def test_handler_returns_file_details_for_the_state_machine(check_ext, lambda_context, caplog, capsys, monkeypatch):
    event = load_event("eventbridge-encoded-key.json")  # "daily/my+file.CSV": the bucket tells which key it is
    client = boto3.client("s3", region_name="us-east-1", aws_access_key_id="k", aws_secret_access_key="s")
    monkeypatch.setattr(check_ext.module("object_lookup"), "_client", client)
    with Stubber(client) as s3:
        s3.add_response("head_object", {"ETag": f'"{event["detail"]["object"]["etag"]}"'}, {
            "Bucket": event["detail"]["bucket"]["name"], "Key": "daily/my file.CSV",
            "VersionId": event["detail"]["object"]["version-id"]})
        result = check_ext.module("app").lambda_handler(event, lambda_context)
    assert result["key"] == "daily/my file.CSV"
    assert (result["event_key"], result["key_form"]) == ("daily/my+file.CSV", "decoded")
    assert result["file_extension"] == ".csv"
    assert result["display_name"] == "my file.CSV"
    assert set(result) >= {"bucket", "key", "file_extension", "size", "version_id", "etag", "event_source"}
    assert logged(caplog, "File landed")
    (resolved,) = logged(caplog, RESOLVED)
    assert (resolved.raw_key, resolved.decoded_key, resolved.key_form) == (
        "daily/my+file.CSV", "daily/my file.CSV", "decoded")
    (emf,) = metrics_printed(capsys)
    assert emf["FilesChecked"] == [1.0] and emf["EventKeyFormDecoded"] == [1.0]
    assert "EventKeyFormRaw" not in emf


def test_handler_raises_the_typed_error_for_a_foreign_event(check_ext, lambda_context):
    with pytest.raises(Exception) as raised:
        check_ext.module("app").lambda_handler({"source": "aws.ec2", "detail-type": "x"}, lambda_context)
    assert type(raised.value).__name__ == "UnrecognizedEventError"


@pytest.fixture
def s3(check_ext, monkeypatch):
    """The handler's own S3 client (made once per environment), stubbed: unstated calls fail."""
    client = boto3.client("s3", region_name="us-east-1", aws_access_key_id="k", aws_secret_access_key="s")
    monkeypatch.setattr(check_ext.module("object_lookup"), "_client", client)
    with Stubber(client) as stubber:
        yield stubber
        stubber.assert_no_pending_responses()


def raw_key_event(key):
    event = load_event("eventbridge-csv.json")
    event["detail"]["object"]["key"] = key
    return event


def test_handler_logs_and_counts_a_raw_key_form(check_ext, lambda_context, caplog, capsys, s3):
    event = raw_key_event("daily/Q3 customers+leads.CSV")
    version = event["detail"]["object"]["version-id"]
    bucket = event["detail"]["bucket"]["name"]
    s3.add_client_error("head_object", service_error_code="403", http_status_code=403,
                        expected_params={"Bucket": bucket, "Key": "daily/Q3 customers leads.CSV", "VersionId": version})
    s3.add_response("head_object", {"ETag": f'"{event["detail"]["object"]["etag"]}"'},
                    {"Bucket": bucket, "Key": "daily/Q3 customers+leads.CSV", "VersionId": version})
    result = check_ext.module("app").lambda_handler(event, lambda_context)
    assert (result["key"], result["key_form"], result["file_extension"]) == ("daily/Q3 customers+leads.CSV", "raw", ".csv")
    (resolved,) = logged(caplog, RESOLVED)
    assert (resolved.raw_key, resolved.decoded_key, resolved.key_form) == (
        "daily/Q3 customers+leads.CSV", "daily/Q3 customers leads.CSV", "raw")
    (emf,) = metrics_printed(capsys)
    assert emf["EventKeyFormRaw"] == [1.0]
    assert "EventKeyFormDecoded" not in emf


def test_handler_neither_logs_nor_counts_a_plain_key(check_ext, lambda_context, caplog, capsys, s3):
    result = check_ext.module("app").lambda_handler(load_event("eventbridge-csv.json"), lambda_context)
    assert (result["key"], result["key_form"]) == ("daily/sales.csv", "unambiguous")
    assert not logged(caplog, RESOLVED)
    (emf,) = metrics_printed(capsys)
    assert emf["FilesChecked"] == [1.0]
    assert not [name for name in emf if name.startswith("EventKeyForm")]


def test_handler_raises_object_not_found_naming_both_keys(check_ext, lambda_context, s3):
    event = raw_key_event("daily/a+b.csv")
    s3.add_client_error("head_object", service_error_code="404", http_status_code=404)
    s3.add_client_error("head_object", service_error_code="404", http_status_code=404)
    with pytest.raises(Exception) as raised:
        check_ext.module("app").lambda_handler(event, lambda_context)
    assert type(raised.value).__name__ == "ObjectNotFoundError"
    assert "'daily/a b.csv' (form-decoded) nor 'daily/a+b.csv' (as sent)" in str(raised.value)

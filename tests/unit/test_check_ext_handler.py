"""The check_ext handler returns what the state machine routes on, and logs a metric."""

import json

import boto3
import pytest
from botocore.stub import Stubber

from tests.conftest import load_event


def test_handler_returns_file_details_for_the_state_machine(check_ext, lambda_context, capsys, monkeypatch):
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
    logged = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert any(entry.get("message") == "File landed" for entry in logged)
    assert any("FilesChecked" in entry for entry in logged)
    (resolved,) = [entry for entry in logged if entry.get("message") == "Resolved the event's key form"]
    assert (resolved["raw_key"], resolved["decoded_key"], resolved["key_form"]) == (
        "daily/my+file.CSV", "daily/my file.CSV", "decoded")
    assert any("EventKeyFormDecoded" in entry for entry in logged)


def test_handler_raises_the_typed_error_for_a_foreign_event(check_ext, lambda_context):
    with pytest.raises(Exception) as raised:
        check_ext.module("app").lambda_handler({"source": "aws.ec2", "detail-type": "x"}, lambda_context)
    assert type(raised.value).__name__ == "UnrecognizedEventError"

"""The check_ext handler returns what the state machine routes on, and logs a metric."""

import json

import pytest

from tests.conftest import load_event


def test_handler_returns_file_details_for_the_state_machine(check_ext, lambda_context, capsys):
    result = check_ext.module("app").lambda_handler(load_event("eventbridge-encoded-key.json"), lambda_context)
    assert result["key"] == "daily/my file.CSV"
    assert result["file_extension"] == ".csv"
    assert result["display_name"] == "my file.CSV"
    assert set(result) >= {"bucket", "key", "file_extension", "size", "version_id", "etag", "event_source"}
    logged = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert any(entry.get("message") == "File landed" for entry in logged)
    assert any("FilesChecked" in entry for entry in logged)


def test_handler_raises_the_typed_error_for_a_foreign_event(check_ext, lambda_context):
    with pytest.raises(Exception) as raised:
        check_ext.module("app").lambda_handler({"source": "aws.ec2", "detail-type": "x"}, lambda_context)
    assert type(raised.value).__name__ == "UnrecognizedEventError"

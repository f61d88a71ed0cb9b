"""Hostile keys and events: each ends as DESIGN.md promises, and each notification names the key."""

import json
import time
import unicodedata

import pytest

from pipeline.driver import ExecutionFollower
from pipeline.results import FileResult
from tests.offline import execution_output, follow_execution

CSV = b"id,v\n1,2\n"
NFC = unicodedata.normalize("NFC", "café-résumé.csv")
NFD = unicodedata.normalize("NFD", "café-résumé.csv")
SUCCEEDING_KEYS = [
    "space in name.csv", "plus+sign.csv", "percent%20literal.csv", NFC, NFD, "hash#.csv", "equals=.csv",
    "amp&er.csv", "quote'\"s.csv", "back\\slash.csv", "ctrl\x01\x1fchars.csv", "tab\there.csv",
    "UPPER.CSV", "x" * 1020 + ".csv", "日本語/データ.csv", "emoji 📈.csv",
]
FAILING_KEYS = {
    "no-extension": "", ".csv": "", "trailing.": "", "double.csv.gz": ".gz", "report.CSV.txt": ".txt",
}


@pytest.fixture(scope="module")
def cloud(deploy):
    return deploy(FailureRate=0)


def put_and_follow(cloud, key: str, body: bytes = CSV) -> FileResult:
    version = cloud.clients.s3.put_object(Bucket=cloud.stack.bucket, Key=key, Body=body)["VersionId"]
    result = FileResult(file=key, bucket=cloud.stack.bucket, key=key, version_id=version)
    follower = ExecutionFollower(cloud.clients, cloud.stack.state_machine_arn)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        follower.refresh()
        if follower.settle(result):
            return result
        time.sleep(0.02)
    raise AssertionError(f"no execution ended for {key!r}")


@pytest.mark.parametrize("key", SUCCEEDING_KEYS, ids=lambda k: repr(k)[:40])
def test_hostile_csv_keys_are_processed_byte_for_byte(cloud, key):
    result = put_and_follow(cloud, key)
    assert result.status == "SUCCEEDED", result
    assert execution_output(cloud, result)["result"]["summary"]["key"] == key


def test_nfc_and_nfd_forms_are_two_distinct_objects(cloud):
    assert NFC != NFD
    keys = {put_and_follow(cloud, form).key for form in (NFC, NFD)}
    assert keys == {NFC, NFD}


@pytest.mark.parametrize(("key", "extension"), FAILING_KEYS.items())
def test_keys_without_a_csv_extension_fail_with_a_notification_naming_them(cloud, key, extension):
    result = put_and_follow(cloud, key)
    assert result.status == "FAILED"
    assert result.error == "InvalidFileExtension"
    assert f"Key:        {key}\n" in result.notification.message
    assert f"[{extension}]" in result.cause


def test_a_zero_byte_csv_fails_with_a_notification_and_a_header_alone_is_processed(cloud):
    empty = put_and_follow(cloud, "empty.csv", b"")
    assert (empty.status, empty.error) == ("FAILED", "EmptyObjectError") and empty.notification is not None
    assert "empty.csv is empty (0 bytes)" in empty.notification.message
    assert put_and_follow(cloud, "header-only.csv", b"id,value\n").status == "SUCCEEDED"


def test_a_csv_that_is_not_utf8_fails_with_a_named_error(cloud):
    result = put_and_follow(cloud, "latin1.csv", "naïve,café\n".encode("latin-1"))
    assert result.error == "UnicodeDecodeError"
    assert "latin1.csv" in result.notification.subject


def test_a_folder_marker_is_never_announced_to_the_state_machine(cloud):
    before = len(cloud.bus.deliveries)
    cloud.clients.s3.put_object(Bucket=cloud.stack.bucket, Key="a/folder/", Body=b"")
    assert len(cloud.bus.deliveries) == before


BAD_EVENTS = {
    "empty object": {},
    "foreign source": {"source": "aws.ec2", "detail-type": "EC2 Instance State-change Notification", "detail": {}},
    "truncated detail": {"source": "aws.s3", "detail-type": "Object Created"},
    "no bucket": {"source": "aws.s3", "detail-type": "Object Created", "detail": {"object": {"key": "orphan+file.csv"}}},
    "detail is a string": {"source": "aws.s3", "detail-type": "Object Created", "detail": "oops"},
    "key is a number": {"source": "aws.s3", "detail-type": "Object Created",
                        "detail": {"bucket": {"name": "b"}, "object": {"key": 7}}},
    "records empty": {"Records": []},
    "cloudtrail read": {"source": "aws.s3", "detail-type": "AWS API Call via CloudTrail",
                        "detail": {"eventSource": "s3.amazonaws.com", "eventName": "GetObject"}},
}


@pytest.mark.parametrize("name", BAD_EVENTS)
def test_malformed_events_sent_straight_to_the_state_machine_fail_with_a_notification(cloud, name):
    sfn = cloud.clients.stepfunctions
    arn = sfn.start_execution(stateMachineArn=cloud.stack.state_machine_arn, name=f"bad-{name.replace(' ', '-')}",
                              input=json.dumps(BAD_EVENTS[name]))["executionArn"]
    result = follow_execution(cloud, arn)
    assert result.status == "FAILED"
    assert result.error in ("MalformedEventError", "UnrecognizedEventError")
    assert result.notification is not None
    assert result.notification.subject == "[file pipeline] Failed: unreadable event"
    if name == "no bucket":
        assert "orphan+file.csv" in result.notification.message

"""check_ext reads bucket, key and extension from every event shape, byte for byte."""

from urllib.parse import unquote_plus

import pytest

from tests.conftest import load_event
from pipeline.events import ObjectWrite, cloudtrail_object_write, s3_notification, s3_object_created

HOSTILE_KEYS = [
    "a+b.csv", "my file.csv", "100%.csv", "données/été.csv", "#hash=eq&amp.csv", "quote'\"s.csv",
    "back\\slash.csv", "tab\tname.csv", "deep/" * 40 + "file.csv", "emoji-😀.csv", "plus+and space.csv",
]
SHAPES = {
    "S3 EventBridge": s3_object_created,
    "CloudTrail": cloudtrail_object_write,
    "S3 notification": s3_notification,
}


def bucket_holding(*keys, version_id=None):
    """An object_exists answer for a bucket that holds exactly these keys (at this version)."""
    def exists(bucket, key, version, etag):
        return key in keys and (version_id is None or version == version_id)
    return exists


def nothing_asked(bucket, key, version, etag):
    raise AssertionError(f"asked S3 about {key!r}: a key without '+' or '%' needs no look-up")


@pytest.mark.parametrize(
    ("fixture", "bucket", "key", "extension", "source"),
    [
        ("eventbridge-csv.json", "file-pipeline-landing-example", "daily/sales.csv", ".csv", "S3 EventBridge"),
        ("eventbridge-txt.json", "file-pipeline-landing-example", "daily/notes.txt", ".txt", "S3 EventBridge"),
        ("eventbridge-encoded-key.json", "file-pipeline-landing-example", "daily/my file.CSV", ".csv", "S3 EventBridge"),
        ("cloudtrail-csv.json", "file-pipeline-landing-example", "daily/q1+q2 sales.csv", ".csv", "CloudTrail"),
        ("s3-put.json", "file-pipeline-landing-example", "daily/sales.csv", ".csv", "S3 notification"),
    ],
)
def test_every_fixture_is_read_with_its_decoded_key(check_ext, fixture, bucket, key, extension, source):
    landed = check_ext.module("landed_file").read_landed_file(load_event(fixture), bucket_holding(key))
    assert (landed.bucket, landed.key, landed.file_extension, landed.event_source) == (bucket, key, extension, source)
    assert landed.version_id == "IYV3p45BT0ac8hjHg1houSdS1a.Mro8e"


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("key", HOSTILE_KEYS)
def test_hostile_keys_survive_every_shape_byte_for_byte(check_ext, shape, key):
    event = SHAPES[shape](ObjectWrite(bucket="landing", key=key, size=10))
    landed = check_ext.module("landed_file").read_landed_file(event, bucket_holding(key))
    assert landed.key == key
    assert landed.event_source == shape
    if shape != "S3 EventBridge":  # documented encodings: nothing to resolve
        assert landed.key_form == "unambiguous"


def test_cloudtrail_keys_are_never_unquoted(check_ext):
    event = cloudtrail_object_write(ObjectWrite(bucket="landing", key="a%20b+c.csv"))
    assert check_ext.module("landed_file").read_landed_file(event).key == "a%20b+c.csv"


@pytest.mark.parametrize(
    ("key", "extension"),
    [
        ("DATA.CSV", ".csv"), ("a.csv.gz", ".gz"), (".csv", ""), ("README", ""), ("file.", ""),
        ("dir.v2/README", ""), ("dir/.hidden", ""), ("..csv", ".csv"), ("x/y/z.Csv", ".csv"), ("folder/", ""),
    ],
)
def test_extension_is_the_lowercased_last_suffix_of_the_last_segment(check_ext, key, extension):
    assert check_ext.module("landed_file").file_extension(key) == extension


def test_display_name_is_printable_ascii_and_short(check_ext):
    name = check_ext.module("landed_file").display_name("deep/" + "é" * 100 + ".csv")
    assert name.isascii() and name.isprintable() and len(name) <= 60


@pytest.mark.parametrize(
    ("event", "error", "message"),
    [
        ([], "UnrecognizedEventError", "JSON object"),
        ({"source": "aws.ec2", "detail-type": "EC2 Instance State-change Notification"}, "UnrecognizedEventError", "aws.ec2"),
        ({"detail-type": "Object Created", "source": "aws.s3"}, "MalformedEventError", "detail"),
        ({"detail-type": "Object Created", "detail": {"bucket": {"name": "b"}, "object": {}}}, "MalformedEventError", "object.key"),
        ({"detail-type": "Object Created", "detail": {"object": {"key": "lost+file.csv"}}}, "MalformedEventError", "'lost+file.csv'"),
        ({"detail-type": "Object Created", "detail": {"bucket": {}, "object": {"key": "k.csv"}}}, "MalformedEventError", "k.csv"),
        ({"Records": []}, "MalformedEventError", "exactly one record"),
        ({"Records": [{"eventSource": "aws:sqs"}]}, "UnrecognizedEventError", "aws:sqs"),
        ({"detail-type": "AWS API Call via CloudTrail", "detail": {"eventSource": "s3.amazonaws.com", "eventName": "GetObject"}},
         "UnrecognizedEventError", "GetObject"),
        ({"detail-type": "AWS API Call via CloudTrail", "detail": {"eventSource": "s3.amazonaws.com", "eventName": "PutObject",
          "errorCode": "AccessDenied", "requestParameters": {"bucketName": "b", "key": "k.csv"}}}, "MalformedEventError", "AccessDenied"),
    ],
)
def test_malformed_events_raise_a_typed_error_with_a_clear_message(check_ext, event, error, message):
    with pytest.raises(Exception) as raised:
        check_ext.module("landed_file").read_landed_file(event)
    assert type(raised.value).__name__ == error
    assert message in str(raised.value)


@pytest.mark.parametrize("key_form", ["form", "raw"])
@pytest.mark.parametrize("key", ["Q3 customers+leads.CSV", "a+b.csv", "100%25.csv", "my file.csv", "plain.csv"])
def test_an_eventbridge_key_is_found_whichever_form_s3_sends(check_ext, key_form, key):
    event = s3_object_created(ObjectWrite(bucket="landing", key=key, version_id="v1"), key_form=key_form)
    landed = check_ext.module("landed_file").read_landed_file(event, bucket_holding(key, version_id="v1"))
    assert landed.key == key
    sent = event["detail"]["object"]["key"]
    assert landed.event_key == sent
    expected = "unambiguous" if unquote_plus(sent) == sent else ("decoded" if key_form == "form" else "raw")
    assert landed.key_form == expected


def test_a_plain_key_costs_no_look_up(check_ext):
    event = s3_object_created(ObjectWrite(bucket="landing", key="daily/sales.csv"))
    assert check_ext.module("landed_file").read_landed_file(event, nothing_asked).key_form == "unambiguous"


def test_of_two_objects_the_event_s_version_picks_the_announced_one(check_ext):
    # "a b.csv" exists too, at another version: the decoded reading of a raw "a+b.csv" names it.
    event = s3_object_created(ObjectWrite(bucket="landing", key="a+b.csv", version_id="v2"), key_form="raw")

    def exists(bucket, key, version, etag):
        return (key, version) in {("a b.csv", "v1"), ("a+b.csv", "v2")}

    landed = check_ext.module("landed_file").read_landed_file(event, exists)
    assert (landed.key, landed.key_form) == ("a+b.csv", "raw")


def test_when_neither_reading_exists_the_error_names_both(check_ext):
    event = s3_object_created(ObjectWrite(bucket="landing", key="Q3 a+b.csv", version_id="v9"), key_form="raw")
    with pytest.raises(Exception) as raised:
        check_ext.module("landed_file").read_landed_file(event, bucket_holding())
    assert type(raised.value).__name__ == "ObjectNotFoundError"
    assert str(raised.value) == ("Neither 'Q3 a b.csv' (form-decoded) nor 'Q3 a+b.csv' (as sent) "
                                 "exists in bucket 'landing' at version 'v9'")


def backfill_listing(key, bucket="landing", etag='"abc"', size=10):
    """An object as the backfill state machine hands it on (statemachine/backfill.asl.json)."""
    return {"version": "0", "source": "file-pipeline.backfill", "detail-type": "Object Listed",
            "time": "2026-12-05T01:00:00Z", "detail": {"bucket": {"name": bucket},
                                                       "object": {"key": key, "etag": etag, "size": size}}}


@pytest.mark.parametrize("key", HOSTILE_KEYS)
def test_a_backfill_listing_keeps_the_key_raw_and_names_the_current_version(check_ext, key):
    asked = []

    def current(bucket, listed_key):
        asked.append((bucket, listed_key))
        return "v7", "abc"

    landed = check_ext.module("landed_file").read_landed_file(backfill_listing(key), current_version=current)
    assert (landed.key, landed.version_id, landed.etag, landed.event_source) == (key, "v7", "abc", "Backfill")
    assert asked == [("landing", key)]


def test_a_listed_object_deleted_since_is_a_typed_error_naming_it(check_ext):
    module = check_ext.module("landed_file")
    with pytest.raises(module.ObjectNotFoundError, match=r"s3://landing/gone\.csv was listed for a backfill"):
        module.read_landed_file(backfill_listing("gone.csv"), current_version=lambda bucket, key: None)


def test_a_listed_object_overwritten_since_is_processed_at_its_current_version(check_ext):
    landed = check_ext.module("landed_file").read_landed_file(
        backfill_listing("a.csv", etag='"old"'), current_version=lambda bucket, key: ("v2", "new"))
    assert (landed.version_id, landed.etag) == ("v2", "new")


def test_a_listing_from_another_source_is_not_read_as_a_backfill(check_ext):
    module = check_ext.module("landed_file")
    event = {**backfill_listing("a.csv"), "source": "someone.else"}
    with pytest.raises(module.UnrecognizedEventError):
        module.read_landed_file(event, current_version=lambda bucket, key: ("v", "e"))

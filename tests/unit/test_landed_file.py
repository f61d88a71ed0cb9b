"""check_ext reads bucket, key and extension from every event shape, byte for byte."""

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
    landed = check_ext.module("landed_file").read_landed_file(load_event(fixture))
    assert (landed.bucket, landed.key, landed.file_extension, landed.event_source) == (bucket, key, extension, source)
    assert landed.version_id == "IYV3p45BT0ac8hjHg1houSdS1a.Mro8e"


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("key", HOSTILE_KEYS)
def test_hostile_keys_survive_every_shape_byte_for_byte(check_ext, shape, key):
    event = SHAPES[shape](ObjectWrite(bucket="landing", key=key, size=10))
    landed = check_ext.module("landed_file").read_landed_file(event)
    assert landed.key == key
    assert landed.event_source == shape


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
        ({"detail-type": "Object Created", "detail": {"object": {"key": "lost+file.csv"}}}, "MalformedEventError", "'lost file.csv'"),
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

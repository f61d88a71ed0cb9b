"""events/ is exactly what pipeline.events builds, and keys are encoded as S3 encodes them."""

from urllib.parse import unquote_plus

import pytest

from tests.conftest import EVENTS
from pipeline import events


def test_fixture_files_match_the_event_builders():
    built = events.fixtures()
    assert sorted(built) == sorted(path.name for path in EVENTS.glob("*.json"))
    for name, event in built.items():
        assert (EVENTS / name).read_text(encoding="utf-8") == events.render(event), f"run `make fixtures`: {name} drifted"


@pytest.mark.parametrize("key", ["my file.csv", "a+b.csv", "100%.csv", "été/ü.csv", "a/b/c.csv", "#=&'\".csv"])
def test_encoded_keys_decode_back_to_the_original(key):
    encoded = events.encode_key(key)
    assert unquote_plus(encoded) == key
    assert " " not in encoded and encoded.isascii()


def test_eventbridge_and_cloudtrail_shapes_follow_the_aws_documentation():
    write = events.ObjectWrite(bucket="b", key="my file.csv", size=3, version_id="v1")
    s3 = events.s3_object_created(write)
    assert (s3["source"], s3["detail-type"]) == ("aws.s3", "Object Created")
    assert s3["detail"]["object"] == {"key": "my+file.csv", "size": 3, "etag": write.etag, "version-id": "v1",
                                      "sequencer": write.sequencer}
    trail = events.cloudtrail_object_write(write)
    assert trail["detail-type"] == "AWS API Call via CloudTrail"
    assert trail["detail"]["requestParameters"]["key"] == "my file.csv"
    assert trail["detail"]["responseElements"]["x-amz-version-id"] == "v1"

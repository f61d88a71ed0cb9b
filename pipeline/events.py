"""The one place that builds the events AWS sends when an object lands in S3.

Shapes follow the AWS documentation: the S3 EventBridge "Object Created" event, the CloudTrail
"AWS API Call via CloudTrail" event for S3 data events, and the classic S3 notification that
`sam local generate-event s3 put` prints. The offline cloud delivers these, the tests read them,
and events/ is written from them (`python -m pipeline.events events/`), so a fixture cannot drift
from what the pipeline is tested with.
"""

from __future__ import annotations

import json
import sys
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from urllib.parse import quote_plus

CLOUDTRAIL_EVENT_NAMES = ("PutObject", "CopyObject", "CompleteMultipartUpload")
EXAMPLE_ACCOUNT = "123456789012"
EXAMPLE_REGION = "us-east-1"


def encode_key(key: str) -> str:
    """S3 form-encodes keys in its events: space -> '+', other reserved and non-ASCII bytes
    -> %XX, '/' kept. CloudTrail, by contrast, carries the raw key."""
    return quote_plus(key, safe="/")


@dataclass(frozen=True)
class ObjectWrite:
    """What S3 knows about one object write: enough to announce it in any shape."""

    bucket: str
    key: str
    size: int = 0
    etag: str = "d41d8cd98f00b204e9800998ecf8427e"
    version_id: str | None = None
    api: str = "PutObject"
    region: str = EXAMPLE_REGION
    account: str = EXAMPLE_ACCOUNT
    time: datetime = field(default_factory=lambda: datetime.now(timezone.utc))
    request_id: str = field(default_factory=lambda: uuid.uuid4().hex[:16].upper())
    sequencer: str = "617f08299329d189"

    @property
    def timestamp(self) -> str:
        return self.time.strftime("%Y-%m-%dT%H:%M:%SZ")


KEY_FORMS = ("form", "raw")


def s3_object_created(write: ObjectWrite, key_form: str = "form") -> dict[str, Any]:
    """S3 EventBridge notification, detail-type "Object Created".

    AWS does not document how the key is encoded here: form-encoded as in classic notifications
    (Powertools decodes it so), or raw (as captured events with literal ':' suggest). key_form
    picks one, so the pipeline can be shown right either way."""
    if key_form not in KEY_FORMS:
        raise ValueError(f"key_form must be one of {KEY_FORMS}, not {key_form!r}")
    key = encode_key(write.key) if key_form == "form" else write.key
    obj: dict[str, Any] = {"key": key, "size": write.size, "etag": write.etag}
    if write.version_id:
        obj["version-id"] = write.version_id
    obj["sequencer"] = write.sequencer
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Object Created",
        "source": "aws.s3",
        "account": write.account,
        "time": write.timestamp,
        "region": write.region,
        "resources": [f"arn:aws:s3:::{write.bucket}"],
        "detail": {
            "version": "0",
            "bucket": {"name": write.bucket},
            "object": obj,
            "request-id": write.request_id,
            "requester": write.account,
            "source-ip-address": "192.0.2.10",
            "reason": write.api,
        },
    }


def cloudtrail_object_write(write: ObjectWrite) -> dict[str, Any]:
    """CloudTrail data event for an S3 write, as EventBridge delivers it. The key is raw."""
    if write.api not in CLOUDTRAIL_EVENT_NAMES:
        raise ValueError(f"CloudTrail events are built for {', '.join(CLOUDTRAIL_EVENT_NAMES)}, not {write.api}")
    response: dict[str, Any] | None = {"x-amz-server-side-encryption": "AES256"}
    if write.version_id:
        response["x-amz-version-id"] = write.version_id
    if write.api == "CompleteMultipartUpload":
        response = None if not write.version_id else {"x-amz-version-id": write.version_id}
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "AWS API Call via CloudTrail",
        "source": "aws.s3",
        "account": write.account,
        "time": write.timestamp,
        "region": write.region,
        "resources": [],
        "detail": {
            "eventVersion": "1.09",
            "userIdentity": {
                "type": "IAMUser",
                "principalId": "AIDAEXAMPLEPRINCIPAL",
                "arn": f"arn:aws:iam::{write.account}:user/data-engineer",
                "accountId": write.account,
                "accessKeyId": "AKIAIOSFODNN7EXAMPLE",
                "userName": "data-engineer",
            },
            "eventTime": write.timestamp,
            "eventSource": "s3.amazonaws.com",
            "eventName": write.api,
            "awsRegion": write.region,
            "sourceIPAddress": "192.0.2.10",
            "userAgent": "[aws-cli/2.15.0 Python/3.11.6 Linux/6.1 exe/x86_64.debian.12]",
            "requestParameters": {
                "bucketName": write.bucket,
                "Host": f"{write.bucket}.s3.{write.region}.amazonaws.com",
                "key": write.key,
            },
            "responseElements": response,
            "additionalEventData": {
                "SignatureVersion": "SigV4",
                "CipherSuite": "TLS_AES_128_GCM_SHA256",
                "bytesTransferredIn": float(write.size if write.api == "PutObject" else 0),
                "SSEApplied": "Default_SSE_S3",
                "AuthenticationMethod": "AuthHeader",
                "x-amz-id-2": "EXAMPLEid2/EXAMPLEid2EXAMPLEid2EXAMPLEid2=",
                "bytesTransferredOut": 0.0,
            },
            "requestID": write.request_id,
            "eventID": str(uuid.uuid4()),
            "readOnly": False,
            "resources": [
                {"type": "AWS::S3::Object", "ARN": f"arn:aws:s3:::{write.bucket}/{write.key}"},
                {"accountId": write.account, "type": "AWS::S3::Bucket", "ARN": f"arn:aws:s3:::{write.bucket}"},
            ],
            "eventType": "AwsApiCall",
            "managementEvent": False,
            "recipientAccountId": write.account,
            "eventCategory": "Data",
            "tlsDetails": {
                "tlsVersion": "TLSv1.3",
                "cipherSuite": "TLS_AES_128_GCM_SHA256",
                "clientProvidedHostHeader": f"{write.bucket}.s3.{write.region}.amazonaws.com",
            },
        },
    }


def s3_notification(write: ObjectWrite) -> dict[str, Any]:
    """Classic S3 event notification, shaped as `sam local generate-event s3 put` prints it."""
    obj: dict[str, Any] = {"key": encode_key(write.key), "size": write.size, "eTag": write.etag}
    if write.version_id:
        obj["versionId"] = write.version_id
    obj["sequencer"] = "0A1B2C3D4E5F678901"
    return {
        "Records": [
            {
                "eventVersion": "2.0",
                "eventSource": "aws:s3",
                "awsRegion": write.region,
                "eventTime": write.time.strftime("%Y-%m-%dT%H:%M:%S.000Z"),
                "eventName": "ObjectCreated:Put",
                "userIdentity": {"principalId": "EXAMPLE"},
                "requestParameters": {"sourceIPAddress": "127.0.0.1"},
                "responseElements": {
                    "x-amz-request-id": "EXAMPLE123456789",
                    "x-amz-id-2": "EXAMPLE123/5678abcdefghijklambdaisawesome/mnopqrstuvwxyzABCDEFGH",
                },
                "s3": {
                    "s3SchemaVersion": "1.0",
                    "configurationId": "testConfigRule",
                    "bucket": {
                        "name": write.bucket,
                        "ownerIdentity": {"principalId": "EXAMPLE"},
                        "arn": f"arn:aws:s3:::{write.bucket}",
                    },
                    "object": obj,
                },
            }
        ]
    }


# ------------------------------------------------------------------ fixtures in events/

FIXTURE_BUCKET = "file-pipeline-landing-example"
_FIXTURE_TIME = datetime(2026, 11, 2, 9, 30, tzinfo=timezone.utc)


def backfill_listing(bucket: str, key: str, etag: str, size: int, backfill_execution: str,
                     time: str) -> dict[str, Any]:
    """An object as the backfill state machine hands it to the file-processing state machine
    (statemachine/backfill.asl.json, "Process File"): the key raw, as ListObjectsV2 lists it, the
    ETag with its quotes, no version ID."""
    return {
        "version": "0",
        "source": "file-pipeline.backfill",
        "detail-type": "Object Listed",
        "time": time,
        "detail": {
            "bucket": {"name": bucket},
            "object": {"key": key, "etag": f'"{etag}"', "size": size},
            "backfill": {"execution": backfill_execution},
        },
    }


def _fixture_write(key: str, size: int, api: str = "PutObject") -> ObjectWrite:
    return ObjectWrite(
        bucket=FIXTURE_BUCKET, key=key, size=size, api=api,
        etag="b1946ac92492d2347c6235b4d2611184", version_id="IYV3p45BT0ac8hjHg1houSdS1a.Mro8e",
        time=_FIXTURE_TIME, request_id="N4N7GDK58NMKJ12R",
    )


def _stable_ids(event: dict[str, Any], name: str) -> dict[str, Any]:
    """Fixtures carry fixed ids so that regenerating them changes nothing."""
    if "id" in event:
        event["id"] = str(uuid.uuid5(uuid.NAMESPACE_URL, f"file-pipeline/{name}"))
    if isinstance(event.get("detail"), dict) and "eventID" in event["detail"]:
        event["detail"]["eventID"] = str(uuid.uuid5(uuid.NAMESPACE_URL, f"file-pipeline/{name}/trail"))
    return event


def fixtures() -> dict[str, dict[str, Any]]:
    """Every file in events/, by name: one per trigger path and event shape."""
    built = {
        "eventbridge-csv.json": s3_object_created(_fixture_write("daily/sales.csv", 4096)),
        "eventbridge-txt.json": s3_object_created(_fixture_write("daily/notes.txt", 512)),
        "eventbridge-encoded-key.json": s3_object_created(_fixture_write("daily/my file.CSV", 2048)),
        "cloudtrail-csv.json": cloudtrail_object_write(_fixture_write("daily/q1+q2 sales.csv", 8192)),
        "s3-put.json": s3_notification(_fixture_write("daily/sales.csv", 1024)),
        "backfill-listing.json": backfill_listing(
            FIXTURE_BUCKET, "daily/my file.CSV", "b1946ac92492d2347c6235b4d2611184", 6,
            f"arn:aws:states:{EXAMPLE_REGION}:{EXAMPLE_ACCOUNT}:execution:file-pipeline-backfill:example",
            "2026-11-02T09:30:00Z"),
        "process-csv.json": {
            "bucket": FIXTURE_BUCKET,
            "key": "daily/sales.csv",
            "version_id": None,
            "execution": f"arn:aws:states:{EXAMPLE_REGION}:{EXAMPLE_ACCOUNT}:execution:file-pipeline-process-file:example",
        },
    }
    return {name: _stable_ids(event, name) for name, event in built.items()}


def render(event: dict[str, Any]) -> str:
    return json.dumps(event, indent=2, ensure_ascii=False) + "\n"


def write_fixtures(folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, event in fixtures().items():
        path = folder / name
        path.write_text(render(event), encoding="utf-8")
        written.append(path)
    return written


if __name__ == "__main__":
    for path in write_fixtures(Path(sys.argv[1] if len(sys.argv) > 1 else "events")):
        print(path)

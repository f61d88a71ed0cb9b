"""Where a file landed, read from any of the three event shapes that can announce it.

S3 can announce a new object through EventBridge ("Object Created"), through CloudTrail data
events ("AWS API Call via CloudTrail"), or with a classic S3 notification (``Records[]``). Each
shape names the key its own way. A classic notification URL-encodes it form style (space ->
``+``), as the S3 User Guide documents, and is decoded so. CloudTrail gives it raw, and decoding
it would corrupt ``a+b.csv``.

For EventBridge, AWS does not document how ``detail.object.key`` is encoded. Powertools'
``S3EventBridgeNotificationEvent`` decodes it form style; captured events carry literal ``:``,
and an AWS Solutions project dropped the decoding after ``video+data.mp4`` failed. This module
does not guess. A key without ``+`` or ``%`` reads the same either way and is used as sent, with
no S3 call. Otherwise S3 HeadObject asks the bucket which reading holds the announced object (its
version ID and ETag, when the event has them): the form-decoded one first, then the one as sent.
The result says which (``key_form``), so the handler can log and count it and the first real
deployment tells which form S3 sends. If neither exists, ``ObjectNotFoundError`` names both.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import unquote_plus

from aws_lambda_powertools.utilities.data_classes import EventBridgeEvent, S3Event
from aws_lambda_powertools.utilities.data_classes.s3_event import S3EventBridgeNotificationEvent

CLOUDTRAIL_WRITE_EVENTS = frozenset({"PutObject", "CopyObject", "CompleteMultipartUpload"})
SUBJECT_NAME_LIMIT = 60


class MalformedEventError(ValueError):
    """The event has a shape this pipeline knows, but a field it needs is missing or wrong."""


class UnrecognizedEventError(ValueError):
    """The event is not an S3 object-created announcement in any shape this pipeline reads."""


class ObjectNotFoundError(LookupError):
    """Neither reading of an EventBridge event's key names the announced object in the bucket."""


ObjectExists = Callable[[str, str, "str | None", "str | None"], bool]
CurrentVersion = Callable[[str, str], "tuple[str | None, str | None] | None"]
"""(bucket, key) -> (version ID, ETag) of the object's current version, None if there is none."""

# The backfill state machine (statemachine/backfill.asl.json) hands each listed object on in
# this shape: ListObjectsV2 gives keys raw, and no version ID.
BACKFILL_SOURCE = "file-pipeline.backfill"
BACKFILL_DETAIL_TYPE = "Object Listed"
"""(bucket, key, version ID, ETag) -> does the bucket hold that object?"""

KeyForm = Literal["decoded", "raw", "unambiguous"]
"""Which reading of an EventBridge key named the object: "decoded" (form-decoded) or "raw" (as
sent) when the bucket had to tell; "unambiguous" when both read the same or the shape's encoding
is documented (CloudTrail, classic notification)."""


@dataclass(frozen=True)
class LandedFile:
    bucket: str
    key: str
    file_extension: str
    size: int | None
    version_id: str | None
    etag: str | None
    event_source: str
    event_time: str | None
    display_name: str
    event_key: str  # the key as the event carried it
    key_form: KeyForm

    @classmethod
    def create(cls, *, bucket: Any, key: Any, event_source: str, size: Any = None,
               version_id: Any = None, etag: Any = None, event_time: Any = None,
               event_key: str | None = None, key_form: KeyForm = "unambiguous") -> LandedFile:
        if not isinstance(bucket, str) or not bucket:
            raise MalformedEventError(f"{event_source} event has no bucket name (key: {key!r})")
        if not isinstance(key, str) or not key:
            raise MalformedEventError(f"{event_source} event has no object key (bucket: {bucket!r})")
        if size is not None and (isinstance(size, bool) or not isinstance(size, int)):
            raise MalformedEventError(f"{event_source} event has a non-integer size {size!r} for key {key!r}")
        return cls(
            bucket=bucket,
            key=key,
            file_extension=file_extension(key),
            size=size,
            version_id=version_id or None,
            etag=(etag or "").strip('"') or None,
            event_source=event_source,
            event_time=event_time,
            display_name=display_name(key),
            event_key=key if event_key is None else event_key,
            key_form=key_form,
        )


def file_extension(key: str) -> str:
    """Lower-cased last suffix of the key's last path segment: ``DATA.CSV`` -> ``.csv``.

    ``a.csv.gz`` is ``.gz``; dotfiles (``.csv``), names without a dot and names ending in a dot
    have no extension.
    """
    name = key.rsplit("/", 1)[-1]
    dot = name.rfind(".")
    if dot <= 0 or dot == len(name) - 1:
        return ""
    return name[dot:].lower()


def display_name(key: str) -> str:
    """The key's last segment made safe for an SNS subject (printable ASCII, short)."""
    name = key.rstrip("/").rsplit("/", 1)[-1] or key
    safe = "".join(ch if " " <= ch <= "~" else "?" for ch in name).strip() or "?"
    if len(safe) > SUBJECT_NAME_LIMIT:
        safe = safe[: SUBJECT_NAME_LIMIT - 3] + "..."
    return safe


def read_landed_file(event: Any, object_exists: ObjectExists | None = None, *,
                     s3_client: Any = None, current_version: CurrentVersion | None = None) -> LandedFile:
    """Read bucket, key and object details from whichever shape announced the file.

    Only an EventBridge key that reads differently form-decoded needs an answer from the bucket:
    object_exists gives it if passed, else S3 HeadObject through s3_client, or through a client
    made once per execution environment (boto3 is imported only then). A backfill listing asks
    the bucket for the object's current version (current_version, else HeadObject)."""
    if not isinstance(event, dict):
        raise UnrecognizedEventError(f"Expected a JSON object event, got {type(event).__name__}")
    if "Records" in event:
        return _from_s3_notification(event)
    detail_type = event.get("detail-type")
    if detail_type == "Object Created":
        return _from_s3_eventbridge(event, object_exists, s3_client)
    if detail_type == "AWS API Call via CloudTrail":
        return _from_cloudtrail(event)
    if detail_type == BACKFILL_DETAIL_TYPE and event.get("source") == BACKFILL_SOURCE:
        return _from_backfill_listing(event, current_version or _head_current_version(s3_client))
    raise UnrecognizedEventError(
        "Not an S3 'Object Created' event, a CloudTrail S3 write event, an S3 notification or a backfill listing "
        f"(source={event.get('source')!r}, detail-type={detail_type!r})"
    )


def _detail(event: dict) -> dict:
    detail = event.get("detail")
    if not isinstance(detail, dict):
        raise MalformedEventError(f"{event.get('detail-type')!r} event has no 'detail' object")
    return detail


def _from_s3_eventbridge(event: dict, object_exists: ObjectExists | None, s3_client: Any) -> LandedFile:
    detail = _detail(event)
    bucket, obj = detail.get("bucket"), detail.get("object")
    name = bucket.get("name") if isinstance(bucket, dict) else None
    if not isinstance(obj, dict) or not isinstance(obj.get("key"), str):
        raise MalformedEventError(f"S3 'Object Created' event has no detail.object.key (bucket: {name!r})")
    parsed = S3EventBridgeNotificationEvent(event)
    sent = obj["key"]
    version_id, etag = obj.get("version-id") or None, (obj.get("etag") or "").strip('"') or None
    details = {"event_source": "S3 EventBridge", "size": parsed.detail.object.size, "version_id": version_id,
               "etag": etag, "event_time": event.get("time"), "event_key": sent}
    decoded = unquote_plus(sent)
    if decoded == sent:  # no "+" and no "%XX": both readings agree, nothing to ask
        return LandedFile.create(bucket=name, key=sent, **details)
    if not isinstance(name, str) or not name:
        raise MalformedEventError(f"S3 EventBridge event has no bucket name (key: {sent!r})")
    exists = object_exists or _head_object_lookup(s3_client)
    # Decoded first, as Powertools and classic notifications read a key; stop at the first match.
    candidates: tuple[tuple[KeyForm, str], ...] = (("decoded", decoded), ("raw", sent))
    for form, key in candidates:
        if exists(name, key, version_id, etag):
            return LandedFile.create(bucket=name, key=key, key_form=form, **details)
    at = f"version {version_id!r}" if version_id else f"ETag {etag!r}" if etag else "any version"
    raise ObjectNotFoundError(
        f"Neither {decoded!r} (form-decoded) nor {sent!r} (as sent) exists in bucket {name!r} at {at}"
    )


def _head_object_lookup(s3_client: Any) -> ObjectExists:
    def exists(bucket: str, key: str, version_id: str | None, etag: str | None) -> bool:
        # Imported here, not at the top: only an ambiguous key needs botocore and boto3.
        from object_lookup import s3_object_exists

        return s3_object_exists(bucket, key, version_id, etag, s3_client)

    return exists


def _head_current_version(s3_client: Any) -> CurrentVersion:
    def current(bucket: str, key: str) -> tuple[str | None, str | None] | None:
        from object_lookup import current_version

        return current_version(bucket, key, s3_client)

    return current


def _from_backfill_listing(event: dict, current_version: CurrentVersion) -> LandedFile:
    """An object the backfill listed. Its key is raw (never unquote it). The listing has no
    version ID, so the bucket is asked for the current version: the version a live upload's
    event would name, which keeps processing once per object version whichever path announced
    it. An object overwritten since the listing is processed at its current version (its own
    upload's event announces it too); one deleted since is ObjectNotFoundError."""
    detail = _detail(event)
    bucket, obj = detail.get("bucket"), detail.get("object")
    name = bucket.get("name") if isinstance(bucket, dict) else None
    if not isinstance(obj, dict) or not isinstance(obj.get("key"), str) or not obj["key"]:
        raise MalformedEventError(f"Backfill listing has no detail.object.key (bucket: {name!r})")
    if not isinstance(name, str) or not name:
        raise MalformedEventError(f"Backfill listing has no bucket name (key: {obj['key']!r})")
    key = obj["key"]
    current = current_version(name, key)
    if current is None:
        raise ObjectNotFoundError(f"s3://{name}/{key} was listed for a backfill but is no longer in the bucket")
    version_id, etag = current
    return LandedFile.create(bucket=name, key=key, event_source="Backfill", size=obj.get("size"),
                             version_id=version_id, etag=etag or obj.get("etag"), event_time=event.get("time"))


def _from_cloudtrail(event: dict) -> LandedFile:
    detail = EventBridgeEvent(event).detail
    if not isinstance(detail, dict):
        raise MalformedEventError("CloudTrail event has no 'detail' object")
    name = detail.get("eventName")
    if detail.get("eventSource") != "s3.amazonaws.com" or name not in CLOUDTRAIL_WRITE_EVENTS:
        raise UnrecognizedEventError(
            f"CloudTrail event {detail.get('eventSource')}:{name} is not an S3 object write "
            f"({', '.join(sorted(CLOUDTRAIL_WRITE_EVENTS))})"
        )
    if detail.get("errorCode"):
        raise MalformedEventError(
            f"CloudTrail {name} failed ({detail['errorCode']}), no object was written"
        )
    params = detail.get("requestParameters")
    if not isinstance(params, dict):
        raise MalformedEventError(f"CloudTrail {name} event has no requestParameters")
    response = detail.get("responseElements") or {}
    extra = detail.get("additionalEventData") or {}
    size = extra.get("bytesTransferredIn") if name == "PutObject" else None
    return LandedFile.create(
        bucket=params.get("bucketName"),
        key=params.get("key"),  # CloudTrail keys are raw: never unquote them
        event_source="CloudTrail",
        size=int(size) if isinstance(size, (int, float)) and not isinstance(size, bool) else None,
        version_id=response.get("x-amz-version-id") if isinstance(response, dict) else None,
        etag=(response.get("ETag") or (response.get("CopyObjectResult") or {}).get("ETag"))
        if isinstance(response, dict) else None,
        event_time=detail.get("eventTime") or event.get("time"),
    )


def _from_s3_notification(event: dict) -> LandedFile:
    records = event.get("Records")
    if not isinstance(records, list) or len(records) != 1 or not isinstance(records[0], dict):
        count = len(records) if isinstance(records, list) else "no"
        raise MalformedEventError(f"S3 notification must carry exactly one record, got {count}")
    record = records[0]
    if record.get("eventSource") != "aws:s3" or not str(record.get("eventName", "")).startswith(
        "ObjectCreated:"
    ):
        raise UnrecognizedEventError(
            f"S3 notification record is {record.get('eventSource')}:{record.get('eventName')}, "
            "not aws:s3 ObjectCreated:*"
        )
    s3 = record.get("s3")
    if not isinstance(s3, dict) or not isinstance(s3.get("object"), dict) or not isinstance(
        s3.get("bucket"), dict
    ):
        raise MalformedEventError("S3 notification record lacks s3.bucket or s3.object")
    if not isinstance(s3["object"].get("key"), str):
        raise MalformedEventError("S3 notification record lacks s3.object.key")
    parsed = S3Event(event)
    obj = s3["object"]
    return LandedFile.create(
        bucket=s3["bucket"].get("name"),
        key=parsed.object_key,
        event_source="S3 notification",
        size=obj.get("size"),
        version_id=obj.get("versionId"),
        etag=obj.get("eTag"),
        event_time=record.get("eventTime"),
    )

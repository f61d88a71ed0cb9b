"""Seen records: what lets a reconciliation sweep skip an object the pipeline already checked.

With a sweep (the template's SweepEveryHours), SEEN_FILES_TABLE names the stack's SeenFilesTable
and every object this function reads is recorded there as ``seen#BUCKET/KEY#"ETAG"``, with the ETag
quoted as S3 lists it: the sweep's child workflow builds the same id from a ListObjectsV2 item
(which has no version ID) and skips a seen object (statemachine/backfill.asl.json). The record
never expires: a sweep covers the whole prefix, however old the object.

Recording is best effort: a file is checked and processed whether or not its record could be
written (it is logged, and counted as SeenRecordsFailed); the cost of a missed record is that a
later sweep runs the object again (a success of the last 7 days is answered from its idempotency
record; anything else runs, and is notified, again). The client gives up within a few seconds, well
inside the function's 10 s timeout: a slow table must not fail a good file.
"""

from __future__ import annotations

import os
from datetime import datetime, timezone
from typing import Any

from object_lookup import s3_client

TABLE_VARIABLE = "SEEN_FILES_TABLE"

_client: Any = None


def seen_table() -> str | None:
    """The table seen records go to, None without a sweep."""
    return os.environ.get(TABLE_VARIABLE) or None


def seen_id(bucket: str, key: str, etag: str) -> str:
    return f'seen#{bucket}/{key}#"{etag}"'


def dynamodb_client() -> Any:
    """The environment's DynamoDB client, made on first use (as object_lookup's S3 client)."""
    global _client
    if _client is None:
        import boto3
        from botocore.config import Config

        _client = boto3.client("dynamodb", config=Config(
            connect_timeout=1, read_timeout=2, retries={"max_attempts": 3, "mode": "standard"}))
    return _client


def etag_of(bucket: str, key: str, version_id: str | None, client: Any = None) -> str:
    """The object's ETag (unquoted), for an event that has none (a CloudTrail record)."""
    request = {"Bucket": bucket, "Key": key, **({"VersionId": version_id} if version_id else {})}
    return (client if client is not None else s3_client()).head_object(**request)["ETag"].strip('"')


def record_seen(table: str, bucket: str, key: str, etag: str | None, version_id: str | None,
                event_source: str, *, dynamodb: Any = None, s3: Any = None) -> str:
    """Write the object's seen record; returns its id. Raises what S3 or DynamoDB raise."""
    record_id = seen_id(bucket, key, etag or etag_of(bucket, key, version_id, s3))
    item = {"id": {"S": record_id}, "seen_at": {"S": datetime.now(timezone.utc).isoformat(timespec="seconds")},
            "event_source": {"S": event_source}}
    if version_id:
        item["version_id"] = {"S": version_id}
    (dynamodb if dynamodb is not None else dynamodb_client()).put_item(TableName=table, Item=item)
    return record_id

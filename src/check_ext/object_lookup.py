"""Does this object exist in the bucket, and which is its current version? One S3 HeadObject, only
for a key whose event form is ambiguous, or an object a backfill listed.

boto3 is imported, and the client made, on the first call that needs them, then kept for the life
of the execution environment: a key without "+" or "%" never needs them, and importing boto3 and
making an S3 client took 0.25-0.35 s together when measured locally, a cost every cold start
would otherwise pay.
"""

from __future__ import annotations

from typing import Any

# HeadObject answers that mean "not this object" rather than "S3 failed": 404 for a missing key
# to a caller with s3:ListBucket, 403 to a caller without it (this function's role has none);
# 400 or 404 for a version ID that is not this key's (S3 API Reference, HeadObject).
NOT_THIS_OBJECT = frozenset({400, 403, 404})

_client: Any = None


def s3_client() -> Any:
    """The environment's S3 client, made (and boto3 imported) on first use."""
    global _client
    if _client is None:
        import boto3

        _client = boto3.client("s3")
    return _client


def current_version(bucket: str, key: str, client: Any = None) -> tuple[str | None, str | None] | None:
    """(version ID, ETag) of the key's current version, None if the bucket has no such key (a
    400, 403 or 404 answer); any other error is raised. The version ID is None in a bucket that
    was never versioned."""
    from botocore.exceptions import ClientError

    try:
        head = (client if client is not None else s3_client()).head_object(Bucket=bucket, Key=key)
    except ClientError as error:
        if error.response.get("ResponseMetadata", {}).get("HTTPStatusCode") in NOT_THIS_OBJECT:
            return None
        raise
    version = head.get("VersionId")
    return (None if version in (None, "null") else version), head.get("ETag", "").strip('"') or None


def s3_object_exists(bucket: str, key: str, version_id: str | None, etag: str | None,
                     client: Any = None) -> bool:
    """True if bucket holds key (at version_id, when given) with this ETag (when given).

    A 400, 403 or 404 answer is False; any other error is raised. client defaults to the
    environment's own (see s3_client)."""
    from botocore.exceptions import ClientError

    request = {"Bucket": bucket, "Key": key}
    if version_id:
        request["VersionId"] = version_id
    try:
        head = (client if client is not None else s3_client()).head_object(**request)
    except ClientError as error:
        if error.response.get("ResponseMetadata", {}).get("HTTPStatusCode") in NOT_THIS_OBJECT:
            return False
        raise
    # In an unversioned bucket the ETag is what tells the announced object from another one (the
    # other reading of the key, or a later overwrite).
    return etag is None or head.get("ETag", "").strip('"') == etag

"""Does this object exist in the bucket? One S3 HeadObject, only for a key whose event form is ambiguous.

boto3 is imported, and the client made, on the first call: a key without "+" or "%" never needs
them, and importing boto3 costs about 100 ms of cold start.
"""

from __future__ import annotations

from typing import Any

_client: Any = None


def s3_object_exists(bucket: str, key: str, version_id: str | None, etag: str | None) -> bool:
    """True if bucket holds key (at version_id, when given) with this ETag (when given).

    A 400, 403 or 404 means "not this object": S3 answers 404 for a missing key only to a caller
    allowed s3:ListBucket, and 403 to anyone else; a version ID of another key is a 400 or 404
    (S3 API Reference, HeadObject)."""
    global _client
    from botocore.exceptions import ClientError

    if _client is None:
        import boto3

        _client = boto3.client("s3")
    request = {"Bucket": bucket, "Key": key}
    if version_id:
        request["VersionId"] = version_id
    try:
        head = _client.head_object(**request)
    except ClientError as error:
        if error.response.get("ResponseMetadata", {}).get("HTTPStatusCode") in (400, 403, 404):
            return False
        raise
    return etag is None or head.get("ETag", "").strip('"') == etag

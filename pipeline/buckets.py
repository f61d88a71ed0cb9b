"""Deleting the buckets a deleted stack keeps: every object version and delete marker, then the bucket.

The template keeps its buckets when the stack is deleted (DeletionPolicy: Retain), because
CloudFormation cannot delete a bucket that holds anything, and a versioned bucket holds every
version and delete marker ever written (S3 User Guide, "Deleting a bucket": DeleteBucket answers
BucketNotEmpty until then). DeleteObjects takes at most 1,000 keys a request.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

BATCH = 1000  # DeleteObjects' limit


@dataclass(frozen=True)
class DeletedBucket:
    bucket: str
    versions: int
    delete_markers: int


def delete_bucket(s3: Any, bucket: str, progress: Callable[[str, int], None] | None = None) -> DeletedBucket:
    """Delete every version and delete marker of the bucket, then the bucket itself.

    Always lists from the start again after a batch, so no page marker points at deleted keys."""
    versions = markers = 0
    while True:
        page = s3.list_object_versions(Bucket=bucket, MaxKeys=BATCH)
        found = [("v", item) for item in page.get("Versions", [])] + [("m", item) for item in page.get("DeleteMarkers", [])]
        if not found:
            break
        for start in range(0, len(found), BATCH):
            batch = found[start:start + BATCH]
            response = s3.delete_objects(Bucket=bucket, Delete={"Quiet": True, "Objects": [
                {"Key": item["Key"], "VersionId": item["VersionId"]} for _, item in batch]})
            if response.get("Errors"):
                error = response["Errors"][0]
                raise RuntimeError(f"s3://{bucket}/{error['Key']}: {error['Code']}: {error['Message']}")
            versions += sum(kind == "v" for kind, _ in batch)
            markers += sum(kind == "m" for kind, _ in batch)
        if progress:
            progress(bucket, versions + markers)
    s3.delete_bucket(Bucket=bucket)
    return DeletedBucket(bucket, versions, markers)

"""Process CSV: the simulated processing step of the pipeline.

Streams the object from the landing bucket, counts its rows and bytes, then fails with
SimulatedProcessingError at the rate set by FAILURE_RATE (FAILURE_SEED makes the outcome
deterministic per key, for tests). On success it returns a summary of what it read. An object of
0 bytes fails with EmptyObjectError (and is notified): it is a broken delivery, where a CSV with
only its header is a day with no records, processed as 0 rows.

Each object version is processed once: a duplicate delivery of the same bucket, key and version
(or ETag, when the bucket is not versioned) gets the recorded summary back, through Powertools'
idempotency utility and the template's IdempotencyTable. A failure is not recorded, so a later
delivery tries again.
"""

import os
from typing import Any

import boto3
from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)
from aws_lambda_powertools.utilities.typing import LambdaContext

from csv_stats import count_csv
from failure_policy import FailurePolicy, SimulatedProcessingError

logger = Logger()
metrics = Metrics()
s3 = boto3.client("s3")
policy = FailurePolicy.from_environment(os.environ.get("FAILURE_RATE"), os.environ.get("FAILURE_SEED"))
processed_objects = DynamoDBPersistenceLayer(table_name=os.environ.get("IDEMPOTENCY_TABLE", ""))
once_per_object_version = IdempotencyConfig(
    event_key_jmespath="[bucket, key, version_id || etag]",
    raise_on_no_idempotency_key=True,
    expires_after_seconds=7 * 24 * 3600,
)


class InvalidTaskInputError(ValueError):
    """The state machine passed no bucket or key."""


class EmptyObjectError(ValueError):
    """The object has no bytes at all: a truncated export or an upload that never finished, not
    a file with no records (its header alone is 0 rows, and is processed)."""


@logger.inject_lambda_context(correlation_id_path="execution")
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    bucket, key = event.get("bucket"), event.get("key")
    if not isinstance(bucket, str) or not bucket or not isinstance(key, str) or not key:
        raise InvalidTaskInputError(f"Expected 'bucket' and 'key' strings, got bucket={bucket!r} key={key!r}")
    metrics.add_metric(name="ProcessingRequests", unit=MetricUnit.Count, value=1)  # duplicates included
    once_per_object_version.register_lambda_context(context)
    obj = {"bucket": bucket, "key": key, "version_id": event.get("version_id"), "etag": event.get("etag")}
    return process_object(obj=obj, request_id=context.aws_request_id)


@idempotent_function(data_keyword_argument="obj", config=once_per_object_version, persistence_store=processed_objects)
def process_object(obj: dict[str, Any], request_id: str) -> dict[str, Any]:
    bucket, key, version_id = obj["bucket"], obj["key"], obj["version_id"]
    request = {"Bucket": bucket, "Key": key}
    if version_id:
        request["VersionId"] = version_id
    body = s3.get_object(**request)["Body"]
    try:
        stats = count_csv(body)
    finally:
        body.close()
    logger.info("Read object", bucket=bucket, key=key, version_id=version_id, rows=stats.rows, bytes=stats.bytes)
    if stats.bytes == 0:
        raise EmptyObjectError(f"s3://{bucket}/{key} is empty (0 bytes): nothing was processed. A CSV with only "
                               "its header is processed as 0 rows.")

    if policy.fails(key):
        metrics.add_metric(name="ProcessingFailures", unit=MetricUnit.Count, value=1)
        raise SimulatedProcessingError(
            f"Simulated failure processing s3://{bucket}/{key} (FAILURE_RATE={policy.rate})"
        )

    metrics.add_metric(name="FilesProcessed", unit=MetricUnit.Count, value=1)
    metrics.add_metric(name="RowsProcessed", unit=MetricUnit.Count, value=stats.rows)
    return {"bucket": bucket, "key": key, "version_id": version_id, "rows": stats.rows,
            "columns": stats.columns, "bytes": stats.bytes, "processed_by": request_id}

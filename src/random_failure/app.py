"""Process CSV: the simulated processing step of the pipeline.

Streams the object from the landing bucket, counts its rows and bytes, then fails with
SimulatedProcessingError at the rate set by FAILURE_RATE (FAILURE_SEED makes the outcome
deterministic per object, for tests). On success it returns a summary of what it read.
"""

import os
from typing import Any

import boto3
from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from csv_stats import count_csv
from failure_policy import FailurePolicy, SimulatedProcessingError

logger = Logger()
metrics = Metrics()
s3 = boto3.client("s3")
policy = FailurePolicy.from_environment(os.environ.get("FAILURE_RATE"), os.environ.get("FAILURE_SEED"))


class InvalidTaskInputError(ValueError):
    """The state machine passed no bucket or key."""


@logger.inject_lambda_context(correlation_id_path="execution")
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    bucket, key, version_id = event.get("bucket"), event.get("key"), event.get("version_id")
    if not isinstance(bucket, str) or not bucket or not isinstance(key, str) or not key:
        raise InvalidTaskInputError(f"Expected 'bucket' and 'key' strings, got bucket={bucket!r} key={key!r}")

    request = {"Bucket": bucket, "Key": key}
    if version_id:
        request["VersionId"] = version_id
    body = s3.get_object(**request)["Body"]
    try:
        stats = count_csv(body)
    finally:
        body.close()
    logger.info("Read object", bucket=bucket, key=key, rows=stats.rows, bytes=stats.bytes)

    if policy.fails(key):
        metrics.add_metric(name="ProcessingFailures", unit=MetricUnit.Count, value=1)
        raise SimulatedProcessingError(
            f"Simulated failure processing s3://{bucket}/{key} (FAILURE_RATE={policy.rate})"
        )

    metrics.add_metric(name="FilesProcessed", unit=MetricUnit.Count, value=1)
    metrics.add_metric(name="RowsProcessed", unit=MetricUnit.Count, value=stats.rows)
    return {"bucket": bucket, "key": key, "version_id": version_id, "rows": stats.rows,
            "columns": stats.columns, "bytes": stats.bytes}

"""Check File Extension: the first step of the pipeline.

Reads the event that announced a file (S3 EventBridge, CloudTrail or classic S3 notification)
and returns the file's bucket, key, normalized extension and object details. The state machine's
Choice routes on ``file_extension``; a malformed event raises a typed error that the state
machine catches and notifies.
"""

from dataclasses import asdict
from typing import Any
from urllib.parse import unquote_plus

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from landed_file import LandedFile, read_landed_file
from seen_files import record_seen, seen_table

logger = Logger()
metrics = Metrics()

# How S3 encodes keys in EventBridge events is undocumented: these count which form it sent.
KEY_FORM_METRICS = {"decoded": "EventKeyFormDecoded", "raw": "EventKeyFormRaw"}


@logger.inject_lambda_context(correlation_id_path=correlation_paths.EVENT_BRIDGE)
@metrics.log_metrics(capture_cold_start_metric=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    landed = read_landed_file(event)
    logger.info(
        "File landed",
        bucket=landed.bucket,
        key=landed.key,
        file_extension=landed.file_extension,
        event_source=landed.event_source,
    )
    if landed.key_form in KEY_FORM_METRICS:  # the bucket had to tell which reading of the key it holds
        logger.info("Resolved the event's key form", raw_key=landed.event_key,
                    decoded_key=unquote_plus(landed.event_key), key_form=landed.key_form)
        metrics.add_metric(name=KEY_FORM_METRICS[landed.key_form], unit=MetricUnit.Count, value=1)
    table = seen_table()
    if table:
        record(table, landed)
    metrics.add_metric(name="FilesChecked", unit=MetricUnit.Count, value=1)
    return asdict(landed)


def record(table: str, landed: LandedFile) -> None:
    """The object's seen record, for the reconciliation sweep: best effort (seen_files says why)."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        record_seen(table, landed.bucket, landed.key, landed.etag, landed.version_id, landed.event_source)
    except (BotoCoreError, ClientError) as error:
        logger.error("Could not record the file as seen: a reconciliation sweep will run it again",
                     bucket=landed.bucket, key=landed.key, error=str(error))
        metrics.add_metric(name="SeenRecordsFailed", unit=MetricUnit.Count, value=1)

"""Every fixture in events/ through the real SAM CLI: `sam build`, then each `sam local invoke` line
of the README against the function it names, and `sam local start-lambda` answering boto3, warm.

The functions are the template's own (its CodeUri, built by `sam build`), each in the Lambda base
image for python3.13 arm64 that Docker holds: AWS's public.ecr.aws/lambda/python:3.13-arm64 when
present (`make local-invoke` pulls it), else the stand-in that scripts/standin-lambda-image/build.sh
builds for machines that cannot pull images (CI's). The stand-in differs from AWS's image:

- Debian trixie (glibc 2.41, Python 3.13.5) instead of Amazon Linux 2023 and AWS's Python 3.13 build;
- awslambdaric and boto3 are the versions that script pins from PyPI (boto3 1.44.8), not the ones
  Lambda's runtime includes (its boto3 is usually older); both live in /var/runtime, as in AWS's image.
On an x86_64 host either image runs under qemu-user-static: cold starts take seconds (invocations
here take 5 to 30 s), warm ones tens of milliseconds, and the REPORT line's "Max Memory Used" is not
a measurement. So that a cold start importing boto3 fits, the tests' copy of the built template
multiplies each function's Timeout by 6 there (sam_cli.EMULATION_TIMEOUT_FACTOR).

The handlers are not adapted to any of this. Each function reaches AWS only at a local moto server
(tests/sam_local/aws_endpoint.py) through AWS_ENDPOINT_URL, which that copy of the template declares
(`--env-vars` sets only declared variables). Credentials are fake.

The README's lines are run as written, plus the options that point them at this build, the
project's samconfig.toml, the endpoint and the base image (SamLocal._options).
"""

from __future__ import annotations

import csv
import io
import json
import re
import time

import boto3
import pytest
from botocore.config import Config

from pipeline.template import load_template, state_machine_definition
from tests.conftest import EVENTS, ROOT, SAMPLES, TEMPLATE
from tests.sam_local.aws_endpoint import AwsEndpoint, Landing, StoredObject
from tests.sam_local.conftest import FIXTURE_BODY, FIXTURE_BUCKET, FIXTURE_VERSION_ID, IDEMPOTENCY_TABLE
from tests.sam_local.readme import invoke_lines
from tests.sam_local.sam_cli import REGION

pytestmark = [pytest.mark.sam_local, pytest.mark.slow]

README_LINES = invoke_lines(ROOT / "README.md")
FIXTURE_ETAG = "b1946ac92492d2347c6235b4d2611184"


def landed(key: str, file_extension: str, *, size: int, event_source: str = "S3 EventBridge",
           event_key: str | None = None, key_form: str = "unambiguous", etag: str | None = FIXTURE_ETAG,
           event_time: str = "2026-11-02T09:30:00Z") -> dict:
    """What Check File Extension returns for a fixture: written out here, not computed by its code."""
    name = key.rsplit("/", 1)[-1]
    return {"bucket": FIXTURE_BUCKET, "key": key, "file_extension": file_extension, "size": size,
            "version_id": FIXTURE_VERSION_ID, "etag": etag, "event_source": event_source, "event_time": event_time,
            "display_name": name, "event_key": event_key or key, "key_form": key_form}


CHECK_EXT_RESULTS = {
    "events/eventbridge-csv.json": landed("daily/sales.csv", ".csv", size=4096),
    "events/eventbridge-txt.json": landed("daily/notes.txt", ".txt", size=512),
    "events/eventbridge-encoded-key.json": landed("daily/my file.CSV", ".csv", size=2048,
                                                  event_key="daily/my+file.CSV", key_form="decoded"),
    "events/cloudtrail-csv.json": landed("daily/q1+q2 sales.csv", ".csv", size=8192, event_source="CloudTrail",
                                         etag=None),
    "events/s3-put.json": landed("daily/sales.csv", ".csv", size=1024, event_source="S3 notification",
                                 event_time="2026-11-02T09:30:00.000Z"),
    "events/backfill-listing.json": landed("daily/my file.CSV", ".csv", size=6, event_source="Backfill"),
}
ROUTES = {  # where the state machine's Choice sends each result, and the error it names
    "events/eventbridge-csv.json": ("Process CSV", None),
    "events/eventbridge-txt.json": ("Invalid Extension", "InvalidFileExtension"),
    "events/eventbridge-encoded-key.json": ("Process CSV", None),
    "events/cloudtrail-csv.json": ("Process CSV", None),
    "events/s3-put.json": ("Process CSV", None),
    "events/backfill-listing.json": ("Process CSV", None),
}
HEAD_ENCODED_KEY = f"HEAD /{FIXTURE_BUCKET}/daily/my%20file.CSV?versionId={FIXTURE_VERSION_ID} HTTP/1.1"
HEAD_CURRENT_VERSION = f"HEAD /{FIXTURE_BUCKET}/daily/my%20file.CSV HTTP/1.1"
ASKED = {"events/eventbridge-encoded-key.json": [HEAD_ENCODED_KEY],  # the only key that reads differently decoded
         "events/backfill-listing.json": [HEAD_CURRENT_VERSION]}  # a listing names no version


def sales_summary() -> dict:
    """What Process CSV returns for samples/sales.csv as daily/sales.csv, less processed_by."""
    data = (SAMPLES / "sales.csv").read_bytes()
    header, *rows = list(csv.reader(io.StringIO(data.decode("utf-8"))))
    return {"bucket": FIXTURE_BUCKET, "key": "daily/sales.csv", "version_id": None, "rows": len(rows),
            "columns": len(header), "bytes": len(data)}


def route(result: dict) -> tuple[str, str | None]:
    """The state the definition's "Route By Extension" Choice picks for a Check File Extension result,
    and the Error that state names, if any. Knows the two comparisons that Choice uses, and says so
    when it meets another."""
    states = state_machine_definition(TEMPLATE)["States"]
    choice = states["Route By Extension"]
    for rule in choice["Choices"]:
        value = result[rule["Variable"].removeprefix("$.file.")]
        if "StringEquals" in rule:
            matched = value == rule["StringEquals"]
        elif "StringMatches" in rule:
            pattern = ".*".join(re.escape(part) for part in rule["StringMatches"].split("*"))
            matched = re.fullmatch(pattern, value, flags=re.DOTALL) is not None
        else:
            raise AssertionError(f"route() does not know this Choice rule yet: {rule}")
        if matched:
            target = rule["Next"]
            break
    else:
        target = choice["Default"]
    error = states[target].get("Parameters", {}).get("error", {}).get("Error")
    return target, error


def test_the_readme_invokes_each_fixture_once_with_a_function_of_the_template():
    functions = {name for name, resource in load_template(TEMPLATE)["Resources"].items()
                 if resource["Type"] == "AWS::Serverless::Function"}
    assert sorted(line.event for line in README_LINES) == sorted(f"events/{p.name}" for p in EVENTS.glob("*.json"))
    assert {line.function for line in README_LINES} <= functions
    assert set(CHECK_EXT_RESULTS) | {"events/process-csv.json"} == {line.event for line in README_LINES}


@pytest.mark.parametrize("line", README_LINES, ids=lambda line: line.event.removeprefix("events/"))
def test_sam_local_invoke(line, sam_local, endpoint, tmp_path, checked):
    env_vars = sam_local.endpoint_env_vars(endpoint.url, tmp_path)
    if line.function == "RandomFailureFunction":
        check_process_csv(line, sam_local, endpoint, env_vars, checked)
        return
    before = len(endpoint.requests())
    invocation = sam_local.invoke(line.argv, env_vars)
    result = invocation.payload
    assert result == CHECK_EXT_RESULTS[line.event]
    target, error = route(result)
    assert (target, error) == ROUTES[line.event]
    # Only a key that reads differently form-decoded, or a backfill's listing, makes check_ext ask the bucket.
    asked = endpoint.requests()[before:]
    assert asked == ASKED.get(line.event, [])
    checked(f"{line.text}: {result['bucket']}/{result['key']} {result['file_extension']} ({result['event_source']}, "
            f"key form {result['key_form']}, HeadObject calls: {len(asked)}) -> {target}"
            f"{f' ({error})' if error else ''}; {invocation.seconds:.1f} s")


def check_process_csv(line, sam_local, endpoint, env_vars, checked):
    """The first delivery reads the object and records its summary; the second, of the same object
    version, gets that record back (processed_by names the first request) without reading again."""
    first = sam_local.invoke(line.argv, env_vars)
    read_after_first = endpoint.requests().count(f"GET /{FIXTURE_BUCKET}/daily/sales.csv HTTP/1.1")
    second = sam_local.invoke(line.argv, env_vars)
    # When SAM lost a first attempt's answer (first.rerun), the object read once and the record
    # tell what happened: that attempt did run, and the rerun got its recorded result.
    processed_by = first.payload["processed_by"] if first.rerun and read_after_first == 1 else first.request_id
    assert first.payload == {**sales_summary(), "processed_by": processed_by}
    assert second.payload == first.payload
    assert second.request_id != first.request_id
    assert read_after_first == 1
    assert endpoint.requests().count(f"GET /{FIXTURE_BUCKET}/daily/sales.csv HTTP/1.1") == 1
    (record,) = endpoint.client("dynamodb").scan(TableName=IDEMPOTENCY_TABLE)["Items"]
    assert record["status"]["S"] == "COMPLETED"
    assert json.loads(record["data"]["S"]) == first.payload
    summary = first.payload
    checked(f"{line.text}: {summary['bucket']}/{summary['key']}: {summary['rows']} rows, {summary['columns']} columns, "
            f"{summary['bytes']} bytes, processed_by {summary['processed_by']}; {first.seconds:.1f} s. Again: the "
            f"recorded result, object not read again; {second.seconds:.1f} s")


def test_an_encoded_key_whose_announced_version_is_not_in_the_bucket_is_an_ObjectNotFoundError(sam_local, tmp_path,
                                                                                             checked):
    (line,) = [line for line in README_LINES if line.event == "events/eventbridge-encoded-key.json"]
    # The key is there, but at a version S3 assigned, not the one the event announces.
    landing = Landing(bucket=FIXTURE_BUCKET, objects=(StoredObject("daily/my file.CSV", FIXTURE_BODY),))
    with AwsEndpoint(sam_local.toolchain.host_address, landing, tmp_path / "moto.log", ROOT) as endpoint:
        invocation = sam_local.invoke(line.argv, sam_local.endpoint_env_vars(endpoint.url, tmp_path))
        asked = [request for request in endpoint.requests() if request.startswith("HEAD ")]
    assert invocation.payload["errorType"] == "ObjectNotFoundError"
    assert invocation.payload["errorMessage"] == (
        f"Neither 'daily/my file.CSV' (form-decoded) nor 'daily/my+file.CSV' (as sent) exists in bucket "
        f"'{FIXTURE_BUCKET}' at version '{FIXTURE_VERSION_ID}'")
    assert asked == [HEAD_ENCODED_KEY,
                     f"HEAD /{FIXTURE_BUCKET}/daily/my+file.CSV?versionId={FIXTURE_VERSION_ID} HTTP/1.1"]
    checked(f"{line.text}, the announced version not in the bucket: {invocation.payload['errorType']} after "
            f"{len(asked)} HeadObjects; {invocation.seconds:.1f} s")


def test_start_lambda_answers_boto3_invoke_from_warm_containers(sam_local, endpoint, tmp_path, checked):
    env_vars = sam_local.endpoint_env_vars(endpoint.url, tmp_path)
    log = tmp_path / "start-lambda.log"
    calls = [("CheckExtFunction", "events/eventbridge-csv.json"),
             ("CheckExtFunction", "events/eventbridge-encoded-key.json"),
             ("CheckExtFunction", "events/eventbridge-csv.json"),
             ("RandomFailureFunction", "events/process-csv.json"),
             ("RandomFailureFunction", "events/process-csv.json")]
    answers = []
    with sam_local.start_lambda(env_vars, log) as url:
        lambda_ = boto3.client("lambda", endpoint_url=url, region_name=REGION, aws_access_key_id="testing",
                               aws_secret_access_key="testing",
                               config=Config(read_timeout=300, retries={"total_max_attempts": 1}))
        for function, event in calls:
            started = time.monotonic()
            response = lambda_.invoke(FunctionName=function, Payload=(ROOT / event).read_bytes())
            answers.append((response, json.loads(response["Payload"].read()), time.monotonic() - started))
    for (function, event), (response, payload, _) in zip(calls, answers):
        assert response["StatusCode"] == 200 and "FunctionError" not in response, (function, event, payload)
    payloads = [payload for _, payload, _ in answers]
    assert payloads[:3] == [CHECK_EXT_RESULTS[event] for _, event in calls[:3]]
    assert payloads[3] == {**sales_summary(), "processed_by": payloads[3]["processed_by"]}
    assert payloads[4] == payloads[3]  # the recorded result
    # One container per function, kept warm: only each function's first invocation is a cold start.
    cold_starts = [(record["function_name"], record["cold_start"]) for record in log_records(log.read_text())
                   if "cold_start" in record and record.get("message") in ("File landed", "Read object")]
    assert cold_starts == [("CheckExtFunction", True), ("CheckExtFunction", False), ("CheckExtFunction", False),
                           ("RandomFailureFunction", True)]
    seconds = [s for _, _, s in answers]
    assert seconds[2] < seconds[0] and seconds[4] < seconds[3]
    checked("sam local start-lambda --warm-containers LAZY, boto3 invoke: " + ", ".join(
        f"{function} {event.removeprefix('events/')} {'cold' if n in (0, 3) else 'warm'} {s * 1000:.0f} ms"
        for n, ((function, event), s) in enumerate(zip(calls, seconds))))


def log_records(text: str) -> list[dict]:
    records = []
    for line in text.splitlines():
        start = line.find('{"level"')
        if start >= 0:
            records.append(json.loads(line[start:]))
    return records

"""Calls between the offline cloud's services made directly in moto's backends, answered exactly
as botocore would answer them from moto's HTTP response (same fields, same errors), without the
round trip through botocore's request side, moto's stub and its response classes."""

from __future__ import annotations

import io
import json
import random
import string
import uuid
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from botocore.client import BaseClient
from botocore.endpoint import Endpoint
from botocore.exceptions import ClientError
from botocore.parsers import ResponseParser
from botocore.response import StreamingBody
from moto.awslambda.models import lambda_backends
from moto.cloudwatch.models import cloudwatch_backends
from moto.core import DEFAULT_ACCOUNT_ID
from moto.core.exceptions import JsonRESTError
from moto.core.exceptions import ServiceException as MotoServiceException
from moto.stepfunctions.parser.api import ExecutionStatus
from moto.stepfunctions.parser.models import stepfunctions_parser_backends

from pipeline.local.patching import Private
from pipeline.local.speed.json_answers import ParsedAnswer, find_timestamp_members, json_value

if TYPE_CHECKING:
    from pipeline.local.moto_core import LambdaInvoker

CLIENT_ENDPOINT = Private(BaseClient, "_endpoint", instance=True)
PARSER_FACTORY = Private(Endpoint, "_response_parser_factory", instance=True)
TIMESTAMP_PARSER = Private(ResponseParser, "_timestamp_parser", instance=True)
BLOB_PARSER = Private(ResponseParser, "_blob_parser", instance=True)


def as_client_error(error: Exception, operation: str) -> ClientError:
    """A moto service error as botocore raises it from the HTTP response moto would send."""
    if isinstance(error, JsonRESTError):
        code, message, status = error.error_type or "", error.message, int(error.code)
    elif isinstance(error, MotoServiceException):
        code, message, status = error.code, error.message, 400
    else:
        raise TypeError(f"not a moto service error: {error!r}")
    metadata = {"RequestId": str(uuid.uuid4()), "HTTPStatusCode": status, "HTTPHeaders": {}, "RetryAttempts": 0}
    return ClientError({"Error": {"Code": code, "Message": message}, "ResponseMetadata": metadata}, operation)


class DirectLambdaClient:
    """The Lambda client of the engine's tasks: a synchronous Invoke goes straight to the
    runtime, answered as botocore answers it from moto (StatusCode, FunctionError, Payload);
    any other call or invocation type goes through the real client."""

    def __init__(self, client: Any, region: str, invoke: LambdaInvoker):
        self._client = client
        self._region = region
        self._invoke = invoke

    def invoke(self, **parameters: Any) -> dict[str, Any]:
        if parameters.get("InvocationType", "RequestResponse") != "RequestResponse":
            return self._client.invoke(**parameters)
        name = str(parameters["FunctionName"])
        account = name.split(":")[4] if name.startswith("arn:") else DEFAULT_ACCOUNT_ID
        payload = parameters.get("Payload") or b"{}"
        body = payload.decode("utf-8") if isinstance(payload, bytes) else str(payload)
        try:
            function = lambda_backends[account][self._region].get_function(name, parameters.get("Qualifier"))
            result, errored = self._invoke(function.function_arn, body)
        except (JsonRESTError, MotoServiceException) as error:
            raise as_client_error(error, "Invoke") from None
        data = result.encode("utf-8")
        response: dict[str, Any] = {
            "ResponseMetadata": {"RequestId": str(uuid.uuid4()), "HTTPStatusCode": 200, "HTTPHeaders": {},
                                 "RetryAttempts": 0},
            "StatusCode": 200,
            "Payload": StreamingBody(io.BytesIO(data), len(data)),
        }
        if errored:
            response["FunctionError"] = "Unhandled"
        return response

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)


REQUEST_ID_CHARACTERS = string.ascii_letters + string.digits


def _request_id() -> str:
    """A request ID of the form moto's S3 gives (52 letters and digits): an identifier, not a
    secret, so drawn in one call (secrets.choice read the system's random source 52 times)."""
    return "".join(random.choices(REQUEST_ID_CHARACTERS, k=52))


class DirectUploadsClient:
    """An S3 client whose plain uploads (PutObject with a bucket, a key and a body in bytes: the
    driver's) go straight into moto's S3 backend, stored and announced as moto's S3 response
    stores them for botocore's request (a CRC32 checksum, the bucket's ACL) and answered with the
    headers it would send, parsed by the client's own parser. Anything else, or a bucket with
    Object Lock (whose uploads need headers of their own), goes through the real client."""

    def __init__(self, client: Any, account_id: str):
        self._client = client
        self._account_id = account_id
        self._shape = client.meta.service_model.operation_model("PutObject").output_shape
        factory = PARSER_FACTORY.of(CLIENT_ENDPOINT.of(client))
        self._parser = factory.create_parser(client.meta.service_model.protocol)

    def put_object(self, **parameters: Any) -> dict[str, Any]:
        from moto.s3.models import s3_backends
        from moto.s3.utils import compute_checksum

        body = parameters.get("Body")
        if set(parameters) != {"Bucket", "Key", "Body"} or not isinstance(body, bytes):
            return self._client.put_object(**parameters)
        backend = s3_backends[self._account_id]["aws"]
        bucket = backend.buckets.get(parameters["Bucket"])
        if bucket is None or bucket.object_lock_enabled:  # the real client answers as S3 does
            return self._client.put_object(**parameters)
        checksum = compute_checksum(body, algorithm="CRC32").decode("utf-8")  # botocore sends CRC32
        key = backend.put_object(bucket.name, parameters["Key"], body, storage="STANDARD", checksum_value=checksum)
        key.set_acl(bucket.acl)
        key.checksum_algorithm = "CRC32"
        # A new version has no tags: moto's PutObject clears them through put_object_tagging, which
        # also validates the empty set and announces tags added, an event S3 sends for
        # PutObjectTagging (S3 User Guide, "Using EventBridge": Object Tags Added), not for an
        # upload, and delivery drops. The tags are cleared here without either.
        backend.tagger.delete_all_tags_for_resource(key.arn)
        headers = {"x-amz-checksum-crc32": checksum, **key.response_dict, "x-amzn-requestid": _request_id()}
        headers.pop("content-length", None)
        parsed = self._parser.parse({"status_code": 200, "headers": headers, "body": b""}, self._shape)
        parsed["ResponseMetadata"]["RetryAttempts"] = 0
        return parsed

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)


class DirectReadsClient:
    """A Step Functions client whose reads of executions (the driver's ListExecutions, and one
    GetExecutionHistory per file) are answered from the backend: moto's answer, written as
    moto writes it and parsed by the client's own parser, without the round trip through
    botocore's request side, moto's stub and its response class. Anything else, or a call with
    parameters these do not take, goes through the real client."""

    PARAMETERS = {"GetExecutionHistory": {"executionArn"},
                  "ListExecutions": {"stateMachineArn", "maxResults", "nextToken"}}

    def __init__(self, client: Any, account_id: str, region: str):
        self._client = client
        self._account_id = account_id
        self._region = region
        self._shapes = {name: client.meta.service_model.operation_model(name).output_shape for name in self.PARAMETERS}
        self._timestamps = {name: find_timestamp_members(shape) for name, shape in self._shapes.items()}
        # The parser the client's endpoint makes for each response (with the session's defaults).
        factory = PARSER_FACTORY.of(CLIENT_ENDPOINT.of(client))
        self._parser = factory.create_parser(client.meta.service_model.protocol)
        # What the parser would make of the JSON, made straight from moto's answer (None: parse it).
        answers = ParsedAnswer(TIMESTAMP_PARSER.of(self._parser), BLOB_PARSER.of(self._parser))
        self._converters = {name: answers.compiled(shape) for name, shape in self._shapes.items()}

    def _answer(self, operation: str, read: Callable[[Any], Any]) -> dict[str, Any]:
        backend = stepfunctions_parser_backends[self._account_id][self._region]
        try:
            result = read(backend)
        except (JsonRESTError, MotoServiceException) as error:
            raise as_client_error(error, operation) from None
        headers = {"x-amzn-requestid": str(uuid.uuid4()), "content-type": "application/x-amz-json-1.0"}
        convert = self._converters[operation]
        if convert is None:
            body = json.dumps(json_value(result, self._timestamps[operation])).encode("utf-8")
            parsed = self._parser.parse({"status_code": 200, "headers": headers, "body": body},
                                        self._shapes[operation])
        else:  # the members as the parser makes them, then its ResponseMetadata, as it orders them
            parsed = convert(result)
            parsed["ResponseMetadata"] = self._parser.parse(
                {"status_code": 200, "headers": headers, "body": b"{}"}, self._shapes[operation])["ResponseMetadata"]
        parsed["ResponseMetadata"]["RetryAttempts"] = 0
        return parsed

    def _direct(self, operation: str, parameters: dict[str, Any]) -> bool:
        return set(parameters) <= self.PARAMETERS[operation] and self._timestamps[operation] is not None

    def get_execution_history(self, **parameters: Any) -> dict[str, Any]:
        if not self._direct("GetExecutionHistory", parameters) or "executionArn" not in parameters:
            return self._client.get_execution_history(**parameters)
        return self._answer("GetExecutionHistory",
                            lambda backend: backend.get_execution_history(parameters["executionArn"]))

    def list_executions(self, **parameters: Any) -> dict[str, Any]:
        if not self._direct("ListExecutions", parameters) or "stateMachineArn" not in parameters:
            return self._client.list_executions(**parameters)
        return self._answer("ListExecutions", lambda backend: listed_executions(backend, **parameters))

    def get_paginator(self, operation_name: str) -> Any:
        if operation_name == "get_execution_history":
            # moto answers in one page, whatever maxResults says
            return _Pages(self.get_execution_history, None, lambda: self._client.get_paginator(operation_name))
        if operation_name == "list_executions":
            return _Pages(self.list_executions, "maxResults", lambda: self._client.get_paginator(operation_name))
        return self._client.get_paginator(operation_name)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)


def listed_executions(backend: Any, stateMachineArn: str, maxResults: int | None = None,  # noqa: N803 - API names
                      nextToken: str | None = None) -> dict[str, Any]:
    """What moto's StepFunctionResponse.list_executions answers (no statusFilter)."""
    state_machine = backend.describe_state_machine(stateMachineArn)
    results, next_token = backend.list_executions(stateMachineArn, status_filter=None, max_results=maxResults,
                                                  next_token=nextToken)
    executions = []
    for execution in results:
        listed = {"executionArn": execution.execution_arn, "name": execution.name, "startDate": execution.start_date,
                  "stateMachineArn": state_machine.arn, "status": execution.status}
        if execution.status in (ExecutionStatus.SUCCEEDED, ExecutionStatus.FAILED, ExecutionStatus.ABORTED):
            listed["stopDate"] = execution.stop_date
        executions.append(listed)
    return {"executions": executions, "nextToken": next_token}


class _Pages:
    """A paginator over one of DirectReadsClient's calls, for PageSize only (anything else in
    PaginationConfig goes to the real paginator)."""

    def __init__(self, call: Callable[..., dict[str, Any]], limit_key: str | None, real: Callable[[], Any]):
        self._call = call
        self._limit_key = limit_key
        self._real = real  # makes the real paginator, when needed

    def paginate(self, **parameters: Any) -> Iterator[dict[str, Any]]:
        config = parameters.pop("PaginationConfig", None) or {}
        if set(config) - {"PageSize"} or (config and self._limit_key is None):
            yield from self._real().paginate(**parameters, PaginationConfig=config)
            return
        if config:
            parameters[self._limit_key] = config["PageSize"]
        while True:
            page = self._call(**parameters)
            yield page
            if not page.get("nextToken"):
                return
            parameters["nextToken"] = page["nextToken"]


def start_execution(account_id: str, region: str, state_machine_arn: str, name: str, execution_input: str) -> str:
    """StartExecution in the executing Step Functions backend; moto's errors as ClientError."""
    try:
        backend = stepfunctions_parser_backends[account_id][region]
        return backend.start_execution(state_machine_arn, name, execution_input).execution_arn
    except (JsonRESTError, MotoServiceException) as error:
        raise as_client_error(error, "StartExecution") from None


def put_metric_data(account_id: str, region: str, namespace: str, metric_data: list[dict[str, Any]]) -> None:
    """PutMetricData in the CloudWatch backend, as a service publishes its own metrics."""
    cloudwatch_backends[account_id][region].put_metric_data(namespace, metric_data)

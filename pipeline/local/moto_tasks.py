"""Step Functions' tasks as AWS runs them, where moto's interpreter differs: an API error named
as the AWS SDK for Java names it (Step Functions runs on it), parameters and responses in the
API's own shapes, timestamps as Step Functions gives them. Core hooks, installed by moto_core.
"""

from __future__ import annotations

import datetime
from functools import lru_cache
from typing import Any

from botocore import xform_name
from botocore.exceptions import ClientError
from moto.stepfunctions.parser.api import HistoryEventType, TaskFailedEventDetails
from moto.stepfunctions.parser.asl.component.common.error_name.custom_error_name import CustomErrorName
from moto.stepfunctions.parser.asl.component.common.error_name.failure_event import FailureEvent
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import (
    state_task_service_dynamodb,
    state_task_service_events,
    state_task_service_sfn,
    state_task_service_sqs,
)
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service import (
    StateTaskService,
)
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_lambda import (
    StateTaskServiceLambda,
)
from moto.stepfunctions.parser.asl.eval.event.event_detail import EventDetails

from pipeline.local.api_calls import service_model
from pipeline.local.patching import Private

SERVICE_NAME = Private(StateTaskService, "_get_boto_service_name")
SERVICE_ACTION = Private(StateTaskService, "_get_boto_service_action")
TO_REQUEST = Private(StateTaskService, "_to_boto_request")
FROM_RESPONSE = Private(StateTaskService, "_from_boto_response")
SFN_RESOURCE = Private(StateTaskService, "_get_sfn_resource")
SFN_RESOURCE_TYPE = Private(StateTaskService, "_get_sfn_resource_type")
# moto's own, taken before moto_core patches them
_original_lambda_error_cause = Private(StateTaskServiceLambda, "_error_cause_from_client_error").of(
    StateTaskServiceLambda)


def lambda_error_cause(client_error: ClientError) -> tuple[str, str]:
    """Step Functions names a Lambda API error after the AWS SDK for Java's exception: a modelled
    error by its own name (Lambda.TooManyRequestsException), any other, such as
    AccessDeniedException, as Lambda.AWSLambdaException (the "Error handling" page of the Step
    Functions Developer Guide lists Lambda.AWSLambdaException for Lambda's unmodelled errors)."""
    error, cause = _original_lambda_error_cause(client_error)
    if client_error.response["Error"]["Code"] not in _lambda_error_codes():
        error = "Lambda.AWSLambdaException"
    return error, cause


@lru_cache(maxsize=1)
def _lambda_error_codes() -> frozenset[str]:
    return frozenset(_modelled_errors("lambda"))


@lru_cache(maxsize=8)
def _modelled_errors(service: str) -> dict[str, str]:
    """A service's error codes and the exception each is (botocore's model: the shape's name),
    with the codes of its query protocol where it answers them too (SQS's
    AWS.SimpleQueueService.NonExistentQueue is QueueDoesNotExist)."""
    found = {}
    for shape in service_model(service).error_shapes:
        found[shape.error_code] = shape.name
        query_code = shape.metadata.get("error", {}).get("code")
        if query_code:
            found[query_code] = shape.name
    return found


# Optimized integrations whose API errors moto names otherwise than Step Functions does:
# (Step Functions' prefix, the AWS SDK for Java's service name in the cause, its exception for
# an error it does not model, botocore's service). Recorded against AWS in LocalStack's
# snapshots (error_handling/test_task_service_dynamodb and test_task_service_sqs:
# DynamoDB.AmazonDynamoDBException and SQS.AmazonSQSException for unmodelled codes, with the
# cause "MESSAGE (Service: AmazonSQS; Status Code: 400; Error Code: CODE; Request ID: ID;
# Proxy: null)"; test_task_service_sfn: StepFunctions.StateMachineDoesNotExistException).
SDK_ERRORS = {
    state_task_service_dynamodb.StateTaskServiceDynamoDB: ("DynamoDB", "AmazonDynamoDBv2", "AmazonDynamoDBException",
                                                            "dynamodb"),
    state_task_service_sqs.StateTaskServiceSqs: ("SQS", "AmazonSQS", "AmazonSQSException", "sqs"),
    state_task_service_sfn.StateTaskServiceSfn: ("StepFunctions", "AWSStepFunctions", "AWSStepFunctionsException",
                                                  "stepfunctions"),
    state_task_service_events.StateTaskServiceEvents: ("EventBridge", "AmazonEventBridge",
                                                       "AmazonEventBridgeException", "events"),
}


# How Step Functions spells a service in the errors of its aws-sdk integrations (Step Functions
# Developer Guide, "AWS SDK service integrations": the exception prefix of each service); moto
# spells them in lower case except DynamoDb and Sfn.
AWS_SDK_ERROR_PREFIX = {
    "s3": "S3", "dynamodb": "DynamoDb", "sqs": "Sqs", "sns": "Sns", "eventbridge": "EventBridge", "sfn": "Sfn",
    "lambda": "Lambda", "secretsmanager": "SecretsManager", "ssm": "Ssm", "sts": "Sts", "iam": "Iam", "kms": "Kms",
    "ec2": "Ec2", "cloudwatch": "CloudWatch", "cloudwatchlogs": "CloudWatchLogs",
}


def aws_sdk_error_prefix(service_name: str) -> str:
    return AWS_SDK_ERROR_PREFIX.get(service_name.lower(), service_name[:1].upper() + service_name[1:])


_original_response_value = Private(StateTaskService, "_from_boto_response_value").of(StateTaskService)


def response_value(value: Any) -> Any:
    """A value of a task's response as Step Functions gives it: a timestamp in epoch milliseconds
    (as a .sync child execution's StartDate and StopDate show in the Step Functions guide's
    examples), a streamed body as text."""
    if isinstance(value, datetime.datetime):
        return int(value.timestamp() * 1000)
    return _original_response_value(value)


def _operation(task: Any, boto_service_name: str | None, service_action_name: str | None) -> Any:
    """The botocore operation a service task calls (the task's service and action by default)."""
    service = SERVICE_NAME(task, boto_service_name=boto_service_name)
    action = SERVICE_ACTION(task, service_action_name=service_action_name)
    return _operation_model(service, action)


@lru_cache(maxsize=128)
def _operation_model(service: str, action: str) -> Any:
    model = service_model(service)
    for name in model.operation_names:
        if xform_name(name) == action:
            return model.operation_model(name)
    raise KeyError(f"botocore's {service} has no operation {action}")


def sdk_error(task_service: type, client_error: ClientError) -> tuple[str, str]:
    """(error, cause) of a task's API error, as the AWS SDK for Java names it: a modelled error
    by its exception (its shape's name, "Exception" added), any other by the service's own."""
    prefix, sdk_service, generic, service = SDK_ERRORS[task_service]
    code = client_error.response["Error"]["Code"]
    metadata = client_error.response.get("ResponseMetadata", {})
    modelled = _modelled_errors(service).get(code)
    name = (modelled if modelled.endswith("Exception") else f"{modelled}Exception") if modelled else generic
    details = [f"Service: {sdk_service}", f"Status Code: {metadata.get('HTTPStatusCode', 400)}", f"Error Code: {code}",
               f"Request ID: {metadata.get('RequestId', '')}", "Proxy: null"]
    return f"{prefix}.{name}", f"{client_error.response['Error'].get('Message', '')} ({'; '.join(details)})"


def service_error(original: Any) -> Any:
    """A service task's _from_error that fails the task with the error as sdk_error names it."""
    def from_error(self: Any, env: Any, ex: Exception) -> Any:
        if not isinstance(ex, ClientError):
            return original(self, env, ex)
        error, cause = sdk_error(type(self), ex)
        return FailureEvent(env=env, error_name=CustomErrorName(error), event_type=HistoryEventType.TaskFailed,
                            event_details=EventDetails(taskFailedEventDetails=TaskFailedEventDetails(
                                error=error, cause=cause, resource=SFN_RESOURCE(self),
                                resourceType=SFN_RESOURCE_TYPE(self))))

    return from_error


def normalise_parameters(self: Any, parameters: dict[str, Any], boto_service_name: str | None = None,
                         service_action_name: str | None = None) -> None:
    """A task's parameters in the request shape of botocore's model (moto guesses from names)."""
    shape = _operation(self, boto_service_name, service_action_name).input_shape
    if shape is not None:
        TO_REQUEST(self, parameters, shape)


def normalise_response(self: Any, response: Any, boto_service_name: str | None = None,
                       service_action_name: str | None = None) -> None:
    """A task's response in the response shape of botocore's model."""
    shape = _operation(self, boto_service_name, service_action_name).output_shape
    if shape is not None:
        FROM_RESPONSE(self, response, shape)

"""Step Functions' task calls, authorized as the state machine's role.

Step Functions makes every call of a Task state with the role the state machine runs as (Step
Functions Developer Guide, "How Step Functions works with IAM"). A refusal is raised as the
service's API answers it, and the interpreter then records it in the execution history as AWS
does: Lambda's AccessDeniedException as Lambda.AWSLambdaException (recorded in
awslabs/aws-deployment-framework issue 460), SNS's AuthorizationError as
SNS.AuthorizationErrorException and its KMSAccessDenied as SNS.KMSAccessDeniedException (the
rule "SNS." + the exception's name, in LocalStack's AWS-recorded snapshot
test_sns_task_service.snapshot.json, test_publish_base_error_topic_arn).
"""

from __future__ import annotations

import random
import string
import uuid
from typing import Any

from botocore.exceptions import ClientError

from pipeline.local.access import AccessControl
from pipeline.local.policy import Principal


class TaskAuthority:
    """Decides the task calls; `access` is set once the stack is deployed."""

    def __init__(self, access: AccessControl | None = None):
        self.access = access
        self._sessions: dict[str, str] = {}

    def __call__(self, role_arn: str, service: str, operation: str, parameters: dict[str, Any]) -> None:
        if self.access is None:
            return
        principal = Principal.role_session(role_arn, self._session(role_arn))
        if service == "lambda" and operation == "invoke":
            self._check(principal, "lambda:InvokeFunction", self._function_arn(parameters["FunctionName"]),
                        "AccessDeniedException", 403, "Invoke")
        elif service == "sns" and operation == "publish":
            topic_arn = parameters.get("TopicArn") or parameters.get("TargetArn") or ""
            # SNS writes the action as "SNS:Publish" in its refusals.
            self._check(principal, "SNS:Publish", topic_arn, "AuthorizationError", 403, "Publish")
            if self.access.kms_on_behalf(principal, "sns", topic_arn, {"aws:sns:topicArn": topic_arn}) is not None:
                raise _client_error("KMSAccessDenied", SNS_KMS_REFUSAL.format(request_id=uuid.uuid4()), 400, "Publish")
        else:  # refused rather than allowed unchecked: a pass offline must mean a pass in AWS
            raise _client_error("AccessDeniedException",
                                f"The offline cloud does not authorize {service} {operation} tasks, so it refuses "
                                f"this one for {principal.arn}", 400, operation)

    def _check(self, principal: Principal, action: str, resource: str, code: str, status: int,
               operation: str) -> None:
        assert self.access is not None
        decision, request = self.access.decide(principal, action, resource)
        if not decision.allowed:
            raise _client_error(code, decision.message(request), status, operation)

    def _function_arn(self, name: str) -> str:
        assert self.access is not None
        if name.startswith("arn:"):
            return name
        return f"arn:aws:lambda:{self.access.region}:{self.access.account}:function:{name}"

    def _session(self, role_arn: str) -> str:
        """Step Functions' role sessions are named with 32 random letters (as seen in refusals
        recorded from AWS); one per role is as good for the messages here."""
        return self._sessions.setdefault(role_arn, "".join(random.choices(string.ascii_letters, k=32)))


# What SNS answers when KMS refuses the publisher the topic's key (recorded in aws/aws-cdk issue
# 24337): KMS's error, wrapped, under SNS's code KMSAccessDenied.
SNS_KMS_REFUSAL = (
    "The ciphertext refers to a customer master key that does not exist, does not exist in this region, or you are "
    "not allowed to access. (Service: AWSKMS; Status Code: 400; Error Code: AccessDeniedException; "
    "Request ID: {request_id}; Proxy: null)"
)


def _client_error(code: str, message: str, status: int, operation: str) -> ClientError:
    metadata = {"RequestId": str(uuid.uuid4()), "HTTPStatusCode": status, "HTTPHeaders": {}, "RetryAttempts": 0}
    return ClientError({"Error": {"Code": code, "Message": message}, "ResponseMetadata": metadata}, operation)

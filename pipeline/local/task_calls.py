"""Step Functions' task calls, authorized as the state machine's role.

Step Functions makes every call of a Task state with the role the state machine runs as (Step
Functions Developer Guide, "How Step Functions works with IAM"), whatever the integration: an
optimized one (lambda:invoke, sns:publish, sqs:sendMessage, dynamodb:putItem, events:putEvents,
states:startExecution, ...), an `aws-sdk:` one, or a Distributed Map's S3 reads and writes. Each
call the interpreter makes through its client is decided here by pipeline.local.authorize, on
the IAM actions and resources pipeline.local.service_actions derives from its parameters, the
same decision a handler's call gets. A refusal is raised as the service's API answers it, and
the interpreter then records it in the execution history as AWS does: Lambda's
AccessDeniedException as Lambda.AWSLambdaException (recorded in awslabs/aws-deployment-framework
issue 460), SNS's AuthorizationError as SNS.AuthorizationErrorException and its KMSAccessDenied
as SNS.KMSAccessDeniedException (the rule "SNS." + the exception's name, in LocalStack's
AWS-recorded snapshot test_sns_task_service.snapshot.json, test_publish_base_error_topic_arn).
"""

from __future__ import annotations

import random
import string
import threading
import uuid
from typing import Any

from botocore.exceptions import ClientError

from pipeline.local.access import AccessControl, AccessDenied
from pipeline.local.api_calls import api_call
from pipeline.local.authorize import refuse
from pipeline.local.policy import Principal


UNDECIDED: Any = object()


class TaskAuthority:
    """Decides the task calls; `access` is set once the stack is deployed (and each decision is
    kept until it changes: the stack's policies are fixed between deployments)."""

    def __init__(self, access: AccessControl | None = None):
        self._access = access
        self._sessions: dict[str, str] = {}
        self._decided: dict[tuple[Any, ...], AccessDenied | None] = {}
        self._lock = threading.Lock()

    @property
    def access(self) -> AccessControl | None:
        return self._access

    @access.setter
    def access(self, access: AccessControl | None) -> None:
        with self._lock:
            self._access, self._decided = access, {}

    def __call__(self, role_arn: str, service: str, operation: str, parameters: dict[str, Any]) -> None:
        """service is the IAM prefix (the client's signing name), operation the API's name."""
        access = self._access
        if access is None:
            return
        call = api_call(service, operation, parameters, access.region, access.account)
        cache_key = (role_arn, service, operation, call.accesses)
        refusal = self._decided.get(cache_key, UNDECIDED)
        if refusal is UNDECIDED:
            refusal = refuse(access, Principal.role_session(role_arn, self._session(role_arn)), call)
            with self._lock:
                if self._access is access:
                    self._decided[cache_key] = refusal
        if refusal is not None:
            raise _client_error(refusal.code, refusal.message, refusal.status, operation)

    def _session(self, role_arn: str) -> str:
        """Step Functions' role sessions are named with 32 random letters (as seen in refusals
        recorded from AWS); one per role is as good for the messages here."""
        return self._sessions.setdefault(role_arn, "".join(random.choices(string.ascii_letters, k=32)))


def _client_error(code: str, message: str, status: int, operation: str) -> ClientError:
    metadata = {"RequestId": str(uuid.uuid4()), "HTTPStatusCode": status, "HTTPHeaders": {}, "RetryAttempts": 0}
    return ClientError({"Error": {"Code": code, "Message": message}, "ResponseMetadata": metadata}, operation)

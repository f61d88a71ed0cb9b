"""The door the handlers' AWS calls come through: each call authorized as its caller's role.

A WSGI middleware in front of moto's application, in the offline cloud's process and in the
DynamoDB process alike. A request signed with a function's access key is authorized as that
function's execution role (pipeline.local.access); a refusal is answered as the service answers
it. Requests from the offline cloud's own user are not restricted, as an administrator's are not.
"""

from __future__ import annotations

import io
import json
import threading
import uuid
from typing import Any, Callable, Iterable
from xml.sax.saxutils import escape

from pipeline.local.access import AccessControl, AccessDenied
from pipeline.local.api_calls import ApiCall, credentials_of, read_call
from pipeline.local.policy import Principal

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
CONTROL_PATH = "/_offline/access-control"  # where the DynamoDB process receives the rules


class Gatekeeper:
    """accept_rules: take the rules from a PUT to CONTROL_PATH (the DynamoDB process, which the
    offline cloud hands them to that way); the offline cloud's own gatekeeper is given them."""

    def __init__(self, app: WsgiApp, access: AccessControl | None = None, accept_rules: bool = False):
        self.app = app
        self.access = access
        self._accept_rules = accept_rules
        self._lock = threading.Lock()
        self._decided: dict[tuple[str, str, str], AccessDenied | None] = {}

    def use(self, access: AccessControl) -> None:
        with self._lock:
            self.access = access
            self._decided = {}

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if self._accept_rules and environ.get("PATH_INFO") == CONTROL_PATH and environ["REQUEST_METHOD"] == "PUT":
            self.use(AccessControl.from_json(_body(environ).decode("utf-8")))
            start_response("204 No Content", [])
            return [b""]
        headers = {k[5:].replace("_", "-").lower(): v for k, v in environ.items() if k.startswith("HTTP_")}
        access_key, _ = credentials_of(headers)
        access = self.access
        principal = access.principal_for(access_key) if access else None
        if principal is None or access is None:
            return self.app(environ, start_response)
        body = _body(environ)
        call = read_call(environ["REQUEST_METHOD"], environ.get("PATH_INFO", ""), environ.get("QUERY_STRING", ""),
                         headers, body, access.region, access.account)
        refusal = self._refusal(access, access_key or "", principal, call) if call else None
        if refusal is not None and call is not None:
            return _answer(call, refusal, environ["REQUEST_METHOD"], start_response)
        if call is not None and call.action in ("s3:GetObject", "s3:GetObjectVersion"):
            return self._without_list_permission(access, principal, call, environ, start_response)
        return self.app(environ, start_response)

    def _refusal(self, access: AccessControl, access_key: str, principal: Principal,
                 call: ApiCall) -> AccessDenied | None:
        cache_key = (access_key, call.action or call.operation, call.resource)
        if cache_key in self._decided:
            return self._decided[cache_key]
        refusal = refuse(access, principal, call)
        with self._lock:
            self._decided[cache_key] = refusal
        return refusal

    def _without_list_permission(self, access: AccessControl, principal: Principal, call: ApiCall,
                                 environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        """S3 answers a missing key with 404 only to a caller allowed s3:ListBucket on the bucket,
        and with 403 to anyone else (S3 User Guide, GetObject and HeadObject: "Permissions")."""
        captured: list[Any] = []

        def capture(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Callable[[bytes], None]:
            captured[:] = [status, headers]
            return lambda data: None

        result = self.app(environ, capture)
        if captured and captured[0].startswith("404"):
            listing = ApiCall("s3", "s3:ListBucket", f"arn:aws:s3:::{call.bucket}", "ListObjects", call.bucket)
            refusal = refuse(access, principal, listing)
            if refusal is not None:
                if hasattr(result, "close"):
                    result.close()
                return _answer(call, refusal, environ["REQUEST_METHOD"], start_response)
        start_response(*captured)
        return result


def refuse(access: AccessControl, principal: Principal, call: ApiCall) -> AccessDenied | None:
    """The service's answer if the call is refused, else None."""
    if not call.action:
        return AccessDenied(
            "AccessDenied" if call.service == "s3" else "AccessDeniedException",
            f"The offline cloud cannot tell which IAM action {call.service} {call.operation} is, so it refuses "
            f"it for {principal.arn} rather than allow what AWS might not", 403)
    decision, request = access.decide(principal, call.action, call.resource)
    if not decision.allowed:
        if call.service == "s3":  # S3 quotes the resource (S3 User Guide, "Troubleshoot access denied (403 Forbidden)")
            message = decision.message(request).replace(f"resource: {call.resource} ", f'resource: "{call.resource}" ')
            return AccessDenied("AccessDenied", message, 403)
        return AccessDenied("AccessDeniedException", decision.message(request), 400)
    if call.service == "dynamodb":
        table = call.resource.rsplit("/", 1)[-1]
        refused = access.kms_on_behalf(principal, "dynamodb", call.resource,
                                       {"aws:dynamodb:tableName": table, "aws:dynamodb:subscriberId": access.account})
        if refused is not None:
            return AccessDenied("AccessDeniedException", DYNAMODB_KMS_REFUSAL.format(request_id=uuid.uuid4()), 400)
    return None


# What DynamoDB answers when KMS refuses the caller the table's key (recorded in aws/aws-cdk
# issue 10010 and aws-samples/aws-secure-environment-accelerator pull 919): not the usual
# "User: ... is not authorized" form, but KMS's own error, wrapped.
DYNAMODB_KMS_REFUSAL = (
    "KMS key access denied error: com.amazonaws.services.kms.model.AWSKMSException: The ciphertext refers to a "
    "customer master key that does not exist, does not exist in this region, or you are not allowed to access. "
    "(Service: AWSKMS; Status Code: 400; Error Code: AccessDeniedException; Request ID: {request_id}; Proxy: null)"
)


def _body(environ: dict[str, Any]) -> bytes:
    length = int(environ.get("CONTENT_LENGTH") or 0)
    body = environ["wsgi.input"].read(length) if length else b""
    environ["wsgi.input"] = io.BytesIO(body)
    return body


def _answer(call: ApiCall, refusal: AccessDenied, method: str,
            start_response: Callable[..., Any]) -> Iterable[bytes]:
    request_id = str(uuid.uuid4())
    status = f"{refusal.status} {'Forbidden' if refusal.status == 403 else 'Bad Request'}"
    if call.service == "s3":
        body = b"" if method == "HEAD" else (
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            f"<Error><Code>{refusal.code}</Code><Message>{escape(refusal.message)}</Message>"
            f"<RequestId>{request_id}</RequestId><HostId>offline</HostId></Error>").encode("utf-8")
        start_response(status, [("Content-Type", "application/xml"), ("x-amz-request-id", request_id),
                                ("Content-Length", str(len(body)))])
        return [body]
    body = json.dumps({"__type": f"com.amazon.coral.service#{refusal.code}", "Message": refusal.message}).encode()
    start_response(status, [("Content-Type", "application/x-amz-json-1.0"), ("x-amzn-RequestId", request_id),
                            ("Content-Length", str(len(body)))])
    return [body]

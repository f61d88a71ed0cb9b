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
from urllib.parse import quote
from xml.sax.saxutils import escape

from pipeline.local.access import AccessControl, AccessDenied
from pipeline.local.api_calls import ApiCall, api_call, credentials_of, read_call
from pipeline.local.authorize import refuse
from pipeline.local.policy import Principal

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
CONTROL_PATH = "/_offline/access-control"  # where the DynamoDB process receives the rules
UNDECIDED: Any = object()


class Gatekeeper:
    """accept_rules: take the rules from a PUT to CONTROL_PATH (the DynamoDB process, which the
    offline cloud hands them to that way); the offline cloud's own gatekeeper is given them."""

    def __init__(self, app: WsgiApp, access: AccessControl | None = None, accept_rules: bool = False):
        self.app = app
        self.access = access
        self._accept_rules = accept_rules
        self._lock = threading.Lock()
        self._decided: dict[tuple[Any, ...], AccessDenied | None] = {}  # the stack's policies are fixed between deploys

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
        if environ.get("CONTENT_TYPE"):
            headers["content-type"] = environ["CONTENT_TYPE"]
        access_key, _ = credentials_of(headers)
        access = self.access
        principal = access.principal_for(access_key) if access else None
        if principal is None or access is None:
            return self.app(environ, start_response)
        body = _body(environ)
        call = read_call(environ["REQUEST_METHOD"], _raw_path(environ), environ.get("QUERY_STRING", ""),
                         headers, body, access.region, access.account)
        refusal = self._refusal(access, access_key or "", principal, call)
        if refusal is not None:
            return _answer(call, refusal, environ["REQUEST_METHOD"], start_response)
        if call.operation in ("GetObject", "HeadObject"):
            return self._without_list_permission(access, principal, call, environ, start_response)
        return self.app(environ, start_response)

    def _refusal(self, access: AccessControl, access_key: str, principal: Principal,
                 call: ApiCall) -> AccessDenied | None:
        decided, cache_key = self._decided, (access_key, call.operation, call.accesses)
        refusal = decided.get(cache_key, UNDECIDED)
        if refusal is not UNDECIDED:
            return refusal
        refusal = refuse(access, principal, call)
        with self._lock:
            if self.access is access:  # not a decision of the rules use() has just replaced
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
            listing = api_call("s3", "ListObjectsV2", {"Bucket": call.bucket}, access.region, access.account)
            refusal = refuse(access, principal, listing)
            if refusal is not None:
                if hasattr(result, "close"):
                    result.close()
                return _answer(call, refusal, environ["REQUEST_METHOD"], start_response)
        start_response(*captured)
        return result


def _raw_path(environ: dict[str, Any]) -> str:
    """The path as the client sent it, still percent-encoded (PATH_INFO is decoded: a key's "%2F"
    would read as a "/")."""
    raw = environ.get("RAW_URI") or environ.get("REQUEST_URI")
    if raw:
        return raw.split("?", 1)[0]
    return quote(environ.get("PATH_INFO", "").encode("latin-1"), safe="/")


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
    if call.service in QUERY_PROTOCOL:
        body = (f"<ErrorResponse><Error><Type>Sender</Type><Code>{refusal.code}</Code>"
                f"<Message>{escape(refusal.message)}</Message></Error><RequestId>{request_id}</RequestId>"
                "</ErrorResponse>").encode("utf-8")
        start_response(status, [("Content-Type", "text/xml"), ("x-amzn-RequestId", request_id),
                                ("Content-Length", str(len(body)))])
        return [body]
    body = json.dumps({"__type": f"com.amazon.coral.service#{refusal.code}", "Message": refusal.message}).encode()
    start_response(status, [("Content-Type", "application/x-amz-json-1.0"), ("x-amzn-RequestId", request_id),
                            ("x-amzn-ErrorType", refusal.code), ("Content-Length", str(len(body)))])
    return [body]


# The services of the offline cloud that speak the query protocol (their errors are XML).
QUERY_PROTOCOL = frozenset({"sns", "cloudformation", "sts", "iam"})

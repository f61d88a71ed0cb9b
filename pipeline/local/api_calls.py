"""Which API operation an HTTP request is, and which IAM actions on which resources it needs.

The handlers reach the offline cloud with ordinary AWS SDK calls; to authorize one, the offline
cloud needs what IAM checks (pipeline.local.service_actions). The operation and its parameters
are read from the request with botocore's own service models, whatever the protocol: the JSON
APIs by X-Amz-Target, the query APIs (SNS) by Action, and the REST APIs (S3, Lambda) by matching
each operation's method, URI template, and the query string and header members it requires.
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ElementTree
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any
from urllib.parse import parse_qs, unquote

from pipeline.local.service_actions import Access, Unauthorizable, accesses, iam_prefix

_CREDENTIAL = re.compile(r"Credential=([^/,\s]+)/\d{8}/[^/]+/([^/]+)/aws4_request")

# botocore's name for a service whose signing name is another (its metadata's signingName).
SERVICE_OF_SIGNING_NAME = {"states": "stepfunctions", "monitoring": "cloudwatch"}


@dataclass(frozen=True)
class ApiCall:
    service: str  # the IAM prefix: s3, dynamodb, states, ...
    operation: str  # the API operation, for messages ("" when it cannot be told)
    accesses: tuple[Access, ...]  # every authorization IAM makes for it; empty when it cannot be told
    parameters: Mapping[str, Any] = field(default_factory=dict)
    why_not: str = ""  # why the accesses cannot be told

    @property
    def action(self) -> str:
        return self.accesses[0].action if self.accesses else ""

    @property
    def resource(self) -> str:
        return self.accesses[0].resource if self.accesses else "*"

    @property
    def bucket(self) -> str:
        return str(self.parameters.get("Bucket", ""))

    @property
    def key(self) -> str:
        return str(self.parameters.get("Key", ""))


def credentials_of(headers: dict[str, str]) -> tuple[str | None, str | None]:
    """(access key ID, signing service) from a SigV4 Authorization header."""
    found = _CREDENTIAL.search(headers.get("authorization", ""))
    return (found.group(1), found.group(2)) if found else (None, None)


def api_call(service: str, operation: str, parameters: Mapping[str, Any], region: str, account: str) -> ApiCall:
    """The call an SDK makes (IAM prefix, operation name, its parameters), with what IAM checks."""
    try:
        return ApiCall(service, operation, accesses(service, operation, parameters, region, account), parameters)
    except Unauthorizable as error:
        return ApiCall(service, operation, (), parameters, str(error))


def read_call(method: str, path: str, query: str, headers: dict[str, str], body: bytes,
              region: str, account: str) -> ApiCall:
    """The call an HTTP request makes (path is the decoded path, as WSGI gives it)."""
    _, signing_name = credentials_of(headers)
    prefix = iam_prefix(signing_name or "")
    model = service_model(SERVICE_OF_SIGNING_NAME.get(signing_name or "", signing_name or ""))
    if model is None:
        return ApiCall(prefix, f"{method} {path}", (), {}, f"no AWS service signs as {signing_name!r}")
    protocol = model.metadata["protocol"]
    if protocol == "json":
        operation = headers.get("x-amz-target", "").rsplit(".", 1)[-1]
        try:
            parameters = json.loads(body or b"{}")
        except ValueError:
            parameters = {}
        found = (operation, parameters if isinstance(parameters, dict) else {})
    elif protocol == "smithy-rpc-v2-cbor":  # /service/SERVICE/operation/OPERATION, a CBOR body
        operation = path.rstrip("/").rsplit("/operation/", 1)[-1] if "/operation/" in path else ""
        found = (operation, {})
    elif protocol in ("query", "ec2"):
        form = {k: v[0] for k, v in parse_qs(body.decode("utf-8", "replace") or query, keep_blank_values=True).items()}
        found = (form.pop("Action", ""), form)
    else:
        found = _rest_operation(model, method, unquote(path), query, headers, body)
    if found is None or not found[0] or found[0] not in model.operation_names:
        return ApiCall(prefix, f"{method} {path}", (), {}, f"no {model.service_name} operation answers {method} {path}")
    return api_call(prefix, found[0], found[1], region, account)


@lru_cache(maxsize=32)
def service_model(name: str) -> Any:
    """botocore's model of a service; None if botocore does not know it."""
    import botocore.session
    from botocore.exceptions import UnknownServiceError

    try:
        return botocore.session.get_session().get_service_model(name)
    except UnknownServiceError:
        return None


@dataclass(frozen=True)
class _Route:
    operation: str
    method: str
    path: re.Pattern[str]
    labels: tuple[str, ...]  # member names, in the order of the template's groups
    literal_query: frozenset[str]  # query keys the URI template itself requires
    query_members: dict[str, str]  # query key -> member name
    header_members: dict[str, str]  # header (lowercase) -> member name
    required_query: frozenset[str]
    required_headers: frozenset[str]

    @property
    def specificity(self) -> int:
        return len(self.literal_query | self.required_query) + len(self.required_headers)


@lru_cache(maxsize=32)
def _routes(service: str) -> tuple[_Route, ...]:
    model = service_model(service)
    routes = []
    for name in model.operation_names:
        operation = model.operation_model(name)
        uri = operation.http.get("requestUri", "/")
        path_template, _, literal = uri.partition("?")
        labels: list[str] = []
        pattern = ""
        for piece in re.split(r"(\{[^}]+\})", path_template):
            if piece.startswith("{"):
                label = piece[1:-1]
                greedy = label.endswith("+")
                labels.append(label.rstrip("+"))
                pattern += "(.+)" if greedy else "([^/]+)"
            else:
                pattern += re.escape(piece)
        shape = operation.input_shape
        members = shape.members if shape is not None else {}
        required = set(shape.required_members) if shape is not None else set()
        by_label = {member.serialization.get("name", key): key for key, member in members.items()
                    if member.serialization.get("location") == "uri"}
        query = {member.serialization.get("name", key): key for key, member in members.items()
                 if member.serialization.get("location") == "querystring"}
        header = {member.serialization.get("name", key).lower(): key for key, member in members.items()
                  if member.serialization.get("location") == "header"}
        routes.append(_Route(
            name, operation.http["method"], re.compile(pattern.rstrip("/") + "/?" if pattern != "/" else "/"),
            tuple(by_label.get(label, label) for label in labels),
            frozenset(key.split("=")[0] for key in literal.split("&") if key and not key.startswith("x-id")),
            query, header,
            frozenset(q for q, member in query.items() if member in required),
            frozenset(h for h, member in header.items() if member in required),
        ))
    return tuple(routes)


def _rest_operation(model: Any, method: str, path: str, query: str, headers: dict[str, str],
                    body: bytes) -> tuple[str, dict[str, Any]] | None:
    params = parse_qs(query, keep_blank_values=True)
    best: tuple[_Route, re.Match[str]] | None = None
    for route in _routes(model.service_name):
        if route.method != method:
            continue
        matched = route.path.fullmatch(path or "/")
        if matched is None or not (route.literal_query | route.required_query) <= set(params) \
                or not route.required_headers <= set(headers):
            continue
        if best is None or route.specificity > best[0].specificity:
            best = (route, matched)
    if best is None:
        return None
    route, matched = best
    parameters: dict[str, Any] = dict(zip(route.labels, matched.groups()))
    parameters.update({member: params[key][0] for key, member in route.query_members.items() if key in params})
    parameters.update({member: headers[name] for name, member in route.header_members.items() if name in headers})
    if route.operation == "DeleteObjects":
        parameters["Delete"] = {"Objects": _deleted_keys(body)}
    return route.operation, parameters


def _deleted_keys(body: bytes) -> list[dict[str, str]]:
    """The objects of a DeleteObjects request body (S3 API Reference, DeleteObjects)."""
    try:
        root = ElementTree.fromstring(body)
    except ElementTree.ParseError:
        return []
    found = []
    for element in root.iter():
        if element.tag.rsplit("}", 1)[-1] == "Object":
            fields = {child.tag.rsplit("}", 1)[-1]: child.text or "" for child in element}
            found.append({"Key": fields.get("Key", ""), **({"VersionId": fields["VersionId"]}
                                                          if fields.get("VersionId") else {})})
    return found

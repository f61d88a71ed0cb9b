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
import threading
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
    operation: str  # the API operation (METHOD path when it cannot be told), for messages
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
    """The call an HTTP request makes. path is as the client sent it (percent-encoded: a key's
    "%2F" is not a "/"); the JSON protocol names the operation in X-Amz-Target, the query protocol
    in Action, and a REST request is matched against the service's routes."""
    _, signing_name = credentials_of(headers)
    prefix = iam_prefix(signing_name or "")
    target = headers.get("x-amz-target", "")
    if target:
        try:
            parameters = json.loads(body or b"{}")
        except ValueError:
            parameters = {}
        return api_call(prefix, target.rsplit(".", 1)[-1], parameters if isinstance(parameters, dict) else {},
                        region, account)
    model = service_model(SERVICE_OF_SIGNING_NAME.get(signing_name or "", signing_name or ""))
    if model is None:
        return ApiCall(prefix, f"{method} {path}", (), {}, f"no AWS service signs as {signing_name!r}")
    protocol = model.metadata["protocol"]
    if protocol in ("query", "ec2"):
        form = {k: v[0] for k, v in parse_qs(body.decode("utf-8", "replace") or query, keep_blank_values=True).items()}
        return api_call(prefix, form.pop("Action", ""), form, region, account)
    if protocol == "smithy-rpc-v2-cbor":  # /service/SERVICE/operation/OPERATION, a CBOR body
        operation = path.rstrip("/").rsplit("/operation/", 1)[-1] if "/operation/" in path else ""
        return api_call(prefix, operation, {}, region, account)
    found = _rest_operation(model, method, path, query, headers, body)
    if found is None:
        return ApiCall(prefix, f"{method} {path}", (), {}, f"no {model.service_name} operation answers {method} {path}")
    return api_call(prefix, found[0], found[1], region, account)


_models: dict[str, Any] = {}
_models_lock = threading.Lock()  # a botocore session does not load models in parallel


def service_model(name: str) -> Any:
    """botocore's model of a service; None if botocore does not know it."""
    if name not in _models:
        from botocore.exceptions import UnknownServiceError

        with _models_lock:
            if name not in _models:
                try:
                    _models[name] = _botocore_session().get_service_model(name)
                except UnknownServiceError:
                    _models[name] = None
    return _models[name]


@lru_cache(maxsize=1)
def _botocore_session() -> Any:
    """One session for every model read here (a session loads botocore's data files once), with
    a Loader of its own: botocore's S3 clients strip "/{Bucket}" from the URIs of the model they
    share (handlers.remove_bucket_from_url_paths_from_model), and requests are read here by the
    URIs as S3 defines them (pipeline.local.botocore_data shares the other sessions' Loader)."""
    import botocore.loaders
    import botocore.session

    session = botocore.session.get_session()
    session.register_component("data_loader", botocore.loaders.create_loader(session.get_config_variable("data_path")))
    return session


@dataclass(frozen=True)
class _Route:
    operation: str
    method: str
    path: re.Pattern[str]
    labels: tuple[str, ...]  # member names, in the order of the template's groups
    literal_query: frozenset[str]  # query keys the URI template itself requires
    x_id: str  # the operation's name in the x-id query key the SDKs send, where its URI names one
    query_members: dict[str, str]  # query key -> member name
    header_members: dict[str, str]  # header (lowercase) -> member name
    required_query: frozenset[str]
    required_headers: frozenset[str]

    @property
    def specificity(self) -> int:
        return len(self.literal_query | self.required_query) + len(self.required_headers)


_built_routes: dict[str, tuple[_Route, ...]] = {}


def _routes(service: str) -> tuple[_Route, ...]:
    if service not in _built_routes:
        with _models_lock:
            if service not in _built_routes:
                _built_routes[service] = _build_routes(service)
    return _built_routes[service]


def _build_routes(service: str) -> tuple[_Route, ...]:
    """Every operation's route, from the model's raw data (a tenth of the time botocore's own
    operation models take to build for S3's hundred operations)."""
    data = _botocore_session().get_service_data(service)
    shapes = data.get("shapes", {})
    routes = []
    for name, operation in data.get("operations", {}).items():
        http = operation.get("http", {})
        path_template, _, literal = http.get("requestUri", "/").partition("?")
        labels: list[str] = []
        pattern = ""
        for piece in re.split(r"(\{[^}]+\})", path_template):
            if piece.startswith("{"):
                labels.append(piece[1:-1].rstrip("+"))
                pattern += "(.+)" if piece.endswith("+}") else "([^/]+)"
            else:
                pattern += re.escape(piece)
        shape = shapes.get(operation.get("input", {}).get("shape", ""), {})
        members = shape.get("members", {})
        required = set(shape.get("required", []))

        def located(where: str) -> dict[str, str]:
            return {member.get("locationName", key): key for key, member in members.items()
                    if member.get("location") == where}

        by_label, query, header = located("uri"), located("querystring"), located("header")
        header = {name.lower(): key for name, key in header.items()}
        routes.append(_Route(
            name, http.get("method", "POST"), re.compile(pattern.rstrip("/") + "/?" if pattern != "/" else "/"),
            tuple(by_label.get(label, label) for label in labels),
            frozenset(key.split("=")[0] for key in literal.split("&") if key and not key.startswith("x-id")),
            next((key.split("=", 1)[1] for key in literal.split("&") if key.startswith("x-id=")), ""),
            query, header,
            frozenset(q for q, member in query.items() if member in required),
            frozenset(h for h, member in header.items() if member in required),
        ))
    return tuple(routes)


def _rest_operation(model: Any, method: str, path: str, query: str, headers: dict[str, str],
                    body: bytes) -> tuple[str, dict[str, Any]] | None:
    params = parse_qs(query, keep_blank_values=True)
    x_id = params.get("x-id", [""])[0]
    query_keys, header_names = params.keys(), headers.keys()
    best: tuple[_Route, re.Match[str]] | None = None
    for route in _routes(model.service_name):
        if route.method != method or (x_id and route.x_id and route.x_id != x_id):
            continue
        matched = route.path.fullmatch(path or "/")
        if matched is None or not (route.literal_query | route.required_query) <= query_keys \
                or not route.required_headers <= header_names:
            continue
        named = x_id == route.operation  # the SDKs name the operation in x-id where routes are alike
        if best is None or (named, route.specificity) > (x_id == best[0].operation, best[0].specificity):
            best = (route, matched)
    if best is None:
        return None
    route, matched = best
    parameters: dict[str, Any] = dict(zip(route.labels, (unquote(value) for value in matched.groups())))
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

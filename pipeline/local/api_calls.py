"""Which IAM action, on which resource, an AWS API request over HTTP is.

The handlers reach the offline cloud with ordinary boto3 calls; to authorize one, the offline
cloud needs what IAM would check: the action (Service Authorization Reference, "Actions defined
by ...") and the resource ARN. Only the APIs and forms botocore sends are read: S3's REST API
(path-style, as botocore addresses an IP endpoint) and the JSON APIs named by X-Amz-Target.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from urllib.parse import parse_qs, unquote

_CREDENTIAL = re.compile(r"Credential=([^/,\s]+)/\d{8}/[^/]+/([^/]+)/aws4_request")


@dataclass(frozen=True)
class ApiCall:
    service: str
    action: str  # service:Action, as IAM names it; "" when it cannot be told
    resource: str
    operation: str  # the API operation, for messages
    bucket: str = ""
    key: str = ""


def credentials_of(headers: dict[str, str]) -> tuple[str | None, str | None]:
    """(access key ID, signing service) from a SigV4 Authorization header."""
    found = _CREDENTIAL.search(headers.get("authorization", ""))
    return (found.group(1), found.group(2)) if found else (None, None)


def read_call(method: str, path: str, query: str, headers: dict[str, str], body: bytes,
              region: str, account: str) -> ApiCall | None:
    """The call a request makes; None for a request that is not a signed AWS API call."""
    _, service = credentials_of(headers)
    target = headers.get("x-amz-target", "")
    if service == "s3":
        return _s3_call(method, path, query)
    if target:
        return _json_call(service or "", target, body, region, account)
    return ApiCall(service or "", "", "*", f"{method} {path}")


def _s3_call(method: str, path: str, query: str) -> ApiCall:
    parts = unquote(path).lstrip("/").split("/", 1)
    bucket, key = parts[0], parts[1] if len(parts) > 1 else ""
    params = parse_qs(query, keep_blank_values=True)
    if key:
        resource = f"arn:aws:s3:::{bucket}/{key}"
        versioned = "versionId" in params
        if method in ("GET", "HEAD") and not (set(params) - {"versionId", "partNumber", "response-content-type"}):
            action, operation = ("s3:GetObjectVersion" if versioned else "s3:GetObject"), \
                ("HeadObject" if method == "HEAD" else "GetObject")
        elif method in ("PUT", "POST") and not (set(params) - {"uploads", "uploadId", "partNumber"}):
            action, operation = "s3:PutObject", "PutObject"
        elif method == "DELETE" and not (set(params) - {"versionId"}):
            action, operation = ("s3:DeleteObjectVersion" if versioned else "s3:DeleteObject"), "DeleteObject"
        else:
            action, operation = "", f"{method} object ?{query}"
        return ApiCall("s3", action, resource, operation, bucket, key)
    resource = f"arn:aws:s3:::{bucket}"
    if method in ("GET", "HEAD") and not (set(params) - {"list-type", "prefix", "delimiter", "max-keys",
                                                           "continuation-token", "start-after", "encoding-type",
                                                           "marker", "fetch-owner"}):
        return ApiCall("s3", "s3:ListBucket", resource, "HeadBucket" if method == "HEAD" else "ListObjects", bucket)
    if method == "GET" and "versions" in params:
        return ApiCall("s3", "s3:ListBucketVersions", resource, "ListObjectVersions", bucket)
    if method == "GET" and "location" in params:
        return ApiCall("s3", "s3:GetBucketLocation", resource, "GetBucketLocation", bucket)
    return ApiCall("s3", "", resource, f"{method} bucket ?{query}", bucket)


# The parameter that names the resource, and how its ARN is formed, per JSON service.
_JSON_RESOURCES = {
    "dynamodb": ("TableName", "arn:aws:dynamodb:{region}:{account}:table/{value}"),
    "states": ("stateMachineArn", "{value}"),
    "sqs": ("QueueUrl", "arn:aws:sqs:{region}:{account}:{name}"),
}


def _json_call(service: str, target: str, body: bytes, region: str, account: str) -> ApiCall:
    operation = target.rsplit(".", 1)[-1]
    prefix = service
    try:
        parameters = json.loads(body or b"{}")
    except ValueError:
        parameters = {}
    named = _JSON_RESOURCES.get(prefix)
    value = parameters.get(named[0]) if named and isinstance(parameters, dict) else None
    if not named or not isinstance(value, str):  # an operation on no one resource, as ListTables
        return ApiCall(prefix, f"{prefix}:{operation}", "*", operation)
    resource = named[1].format(region=region, account=account, value=value, name=value.rsplit("/", 1)[-1])
    if prefix == "dynamodb" and isinstance(parameters.get("IndexName"), str):  # a query of an index is on the index
        resource += f"/index/{parameters['IndexName']}"
    return ApiCall(prefix, f"{prefix}:{operation}", resource, operation)

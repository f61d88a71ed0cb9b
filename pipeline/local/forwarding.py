"""Requests for a service that runs in another process of the offline cloud go there.

The offline cloud may serve a service from a process of its own (DynamoDB, with the speed
layer); the functions reach it directly, and an AWS client at the cloud's one endpoint (`pipeline
serve`) reaches it through here, so every caller sees the same tables, as in AWS. The request is
passed on as it came, signature included: the other process authorizes it as this one would.
"""

from __future__ import annotations

import http.client
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import urlsplit

from pipeline.local.api_calls import credentials_of

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]

# Hop-by-hop headers (RFC 9110, section 7.6.1) are not passed on.
HOP_BY_HOP = frozenset({"connection", "keep-alive", "proxy-connection", "te", "trailer", "transfer-encoding",
                        "upgrade"})


class Forwarding:
    """endpoints: signing name -> URL of the process that serves it (changed as stacks deploy)."""

    def __init__(self, app: WsgiApp):
        self.app = app
        self.endpoints: dict[str, str] = {}

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if not self.endpoints:
            return self.app(environ, start_response)
        _, service = credentials_of({"authorization": environ.get("HTTP_AUTHORIZATION", "")})
        target = self.endpoints.get(service or "")
        if target is None:
            return self.app(environ, start_response)
        return _forward(target, environ, start_response)


def _forward(target: str, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    address = urlsplit(target)
    length = int(environ.get("CONTENT_LENGTH") or 0)
    body = environ["wsgi.input"].read(length) if length else b""
    headers = {key[5:].replace("_", "-").title(): value for key, value in environ.items()
               if key.startswith("HTTP_") and key[5:].replace("_", "-").lower() not in HOP_BY_HOP}
    if environ.get("CONTENT_TYPE"):
        headers["Content-Type"] = environ["CONTENT_TYPE"]
    headers["Content-Length"] = str(len(body))
    path = environ.get("RAW_URI") or environ.get("REQUEST_URI") or (
        environ.get("PATH_INFO", "/") + (f"?{environ['QUERY_STRING']}" if environ.get("QUERY_STRING") else ""))
    connection = http.client.HTTPConnection(address.hostname, address.port, timeout=60)
    try:
        connection.request(environ["REQUEST_METHOD"], path, body=body, headers=headers)
        response = connection.getresponse()
        data = response.read()
    finally:
        connection.close()
    passed = [(name, value) for name, value in response.getheaders()
              if name.lower() not in HOP_BY_HOP and name.lower() != "content-length"]
    start_response(f"{response.status} {response.reason}", [*passed, ("Content-Length", str(len(data)))])
    return [data]

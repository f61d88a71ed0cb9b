"""A moto server in a process of its own, for a service the handlers call on every invocation.

The offline cloud runs moto, the Step Functions interpreter and the server that answers the
handlers in one Python process, so they all share one interpreter lock. The idempotency table is
called twice per processed file and by nobody else, so its DynamoDB runs here instead, on the
other core: over 1,000 files the offline cloud's own CPU time per file went from 15 to 9 ms.

    python -m pipeline.local.service_process   # prints its endpoint, serves until stdin closes
"""

from __future__ import annotations

import subprocess
import sys
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from typing import Any


class ServiceProcess:
    """Starts at once; the endpoint is read when first asked for, so start-up overlaps a deploy."""

    def __init__(self) -> None:
        self._process = subprocess.Popen(
            [sys.executable, "-m", "pipeline.local.service_process"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        )
        self._endpoint: str | None = None

    @property
    def pid(self) -> int:
        return self._process.pid

    @property
    def endpoint(self) -> str:
        if self._endpoint is None:
            assert self._process.stdout is not None
            line = self._process.stdout.readline().strip()
            if not line.startswith("http://"):
                raise RuntimeError(f"the service process did not start (exit status {self._process.poll()})")
            self._endpoint = line
        return self._endpoint

    def use_access_control(self, access: Any) -> None:
        """Hand the deployed stack's access rules to the process's gatekeeper."""
        import urllib.request

        from pipeline.local.gatekeeper import CONTROL_PATH

        request = urllib.request.Request(self.endpoint + CONTROL_PATH, data=access.to_json().encode("utf-8"),
                                         method="PUT")
        with urllib.request.urlopen(request, timeout=10) as response:
            response.read()

    def close(self) -> None:
        if self._process.stdin:
            self._process.stdin.close()  # the server stops when its stdin closes
        try:
            self._process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        if self._process.stdout:
            self._process.stdout.close()


class MotoApplication:
    """moto's server as a WSGI application: every service, dispatched by host and headers, as
    moto's own server runs it. See moto_hooks on why this module reaches into moto.

    Flask only routes a request to moto's handler for it: its request context, session and
    response hooks took about a seventh of a DynamoDB call's server time (py-spy). A request
    that Flask routes is handed to that handler here, as moto's view function would hand it;
    anything else (no route, a CORS request, moto's own API, a service that reads Flask's
    request) goes through Flask.
    """

    THROUGH_FLASK = frozenset({"moto_api", "iotdata", "instance_metadata"})

    def __init__(self) -> None:
        from moto.moto_server.werkzeug_app import DISABLE_GLOBAL_CORS, DomainDispatcherApplication, create_backend_app

        self.dispatcher = DomainDispatcherApplication(create_backend_app)
        self.cors = not DISABLE_GLOBAL_CORS
        # Which service a host names does not change; moto lists its package directory to
        # answer, for every request.
        self.dispatcher.get_backend_for_host = lru_cache(maxsize=256)(self.dispatcher.get_backend_for_host)
        self._endpoint = lru_cache(maxsize=4096)(self._route)

    @staticmethod
    def _route(app: Any, method: str, path: str) -> str | None:
        """The view Flask would route a request to; None where Flask would answer it itself.
        Routes depend on the method and path alone (moto's rules match no host)."""
        from werkzeug.exceptions import HTTPException

        try:
            endpoint, _ = app.url_map.bind("", "/").match(path, method)
        except HTTPException:
            return None
        return endpoint

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        from botocore.exceptions import ClientError
        from moto.moto_api import recorder

        app = self.dispatcher.get_application(environ)
        if app.service in self.THROUGH_FLASK or "HTTP_ORIGIN" in environ:
            return app(environ, start_response)
        # PATH_INFO as werkzeug reads it: latin-1 characters standing for UTF-8 bytes.
        path = environ.get("PATH_INFO", "").encode("latin-1").decode("utf-8", "replace")
        endpoint = self._endpoint(app, environ["REQUEST_METHOD"], path)
        if endpoint is None:
            return app(environ, start_response)  # Flask answers it (404, 405, redirect)
        handler = app.view_functions[endpoint].callback
        # What moto's view function (moto.core.utils.convert_to_flask_response) does with it:
        request = app.request_class(environ)
        try:
            recorder._record_request(request)
            result = handler(request, request.raw_url, dict(request.headers))
        except ClientError as exc:
            result = 400, {}, exc.response["Error"]["Message"]
        status, headers, content = result if len(result) == 3 else (200, {}, result)
        response = app.response_class(response=content, status=status, headers=headers)
        if request.method == "HEAD" and "content-length" in headers:
            response.headers["Content-Length"] = headers["content-length"]
        if self.cors and "Access-Control-Allow-Origin" not in response.headers:
            response.headers["Access-Control-Allow-Origin"] = "*"  # flask-cors's answer without an Origin
        return response(environ, start_response)


@contextmanager
def quick_dispatch() -> Iterator[None]:
    """Two of moto's per-request steps, cached for the length of the block (see moto_hooks on
    why they are here): the method names of a response class, which moto gathers with
    inspect.getmembers for every request, and the lexing of a DynamoDB condition expression,
    which depends on the expression alone (Powertools sends the same one with every write)."""
    from moto.core import responses
    from moto.dynamodb.comparisons import ConditionExpressionParser

    method_names = responses.method_names_from_class
    lex = ConditionExpressionParser._lex_condition_expression

    @lru_cache(maxsize=256)
    def cached_method_names(response_class: type) -> tuple[str, ...]:
        return tuple(method_names(response_class))

    @lru_cache(maxsize=256)
    def lexed(parser_class: type, expression: str) -> tuple[Any, ...]:
        parser = parser_class.__new__(parser_class)
        parser.condition_expression = expression
        return tuple(lex(parser))

    def cached_lex(self: ConditionExpressionParser) -> deque[Any]:
        # Nodes are tuples whose children lists the parser never changes, so parses can share them.
        return deque(lexed(type(self), self.condition_expression))

    responses.method_names_from_class = lambda response_class: list(cached_method_names(response_class))
    ConditionExpressionParser._lex_condition_expression = cached_lex  # type: ignore[method-assign]
    try:
        yield
    finally:
        responses.method_names_from_class = method_names
        ConditionExpressionParser._lex_condition_expression = lex  # type: ignore[method-assign]


def main() -> None:
    from moto import mock_aws

    from pipeline.local.gatekeeper import Gatekeeper
    from pipeline.local.http_server import KeepAliveServer

    mock_aws().start()  # moto's backends in this process, as its own server keeps them
    with quick_dispatch():
        server = KeepAliveServer(Gatekeeper(MotoApplication(), accept_rules=True))
        server.start()
        print(server.endpoint, flush=True)
        sys.stdin.read()  # until the offline cloud closes our stdin, or ends
        server.server_close()  # its threads are daemons: they end with the process


if __name__ == "__main__":
    main()

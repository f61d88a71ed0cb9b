"""moto's server application without Flask's per-request work, and two per-request caches.

Used by the offline cloud's process and by the DynamoDB process; this module imports none of
moto's internals at import time, so that the DynamoDB process starts quickly.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from typing import Any


class MotoApplication:
    """moto's server as a WSGI application: every service, dispatched by host and headers, as
    moto's own server runs it. 

    Flask only routes a request to moto's handler for it: its request context, session and
    response hooks took about a seventh of a DynamoDB call's server time (py-spy). A request
    that Flask routes is handed to that handler here, as moto's view function would hand it;
    anything else (no route, a CORS request, moto's own API, a service that reads Flask's
    request) goes through Flask.
    """

    THROUGH_FLASK = frozenset({"moto_api", "iotdata", "instance_metadata"})

    def __init__(self) -> None:
        from moto.moto_api import recorder
        from moto.moto_server.werkzeug_app import DISABLE_GLOBAL_CORS, DomainDispatcherApplication, create_backend_app

        from pipeline.local.patching import Private

        self._record_request = Private(recorder, "_record_request").of(recorder)
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
            self._record_request(request)
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
    """Three of moto's per-request steps, cached for the length of the block: the method names of
    a response class, which moto gathers with inspect.getmembers for every request; the lexing of
    a DynamoDB condition expression; and the parse of an update expression, which moto does twice
    for every UpdateItem. Both depend on the expression alone (Powertools sends the same ones with
    every write). And the copy of a parsed update expression that moto's Validator makes to
    validate: from the tree's pickle (the same objects, a sixth of deepcopy's time)."""
    import copy
    import pickle

    from moto.core import responses
    from moto.dynamodb.comparisons import ConditionExpressionParser
    from moto.dynamodb.parsing import validators
    from moto.dynamodb.parsing.expressions import UpdateExpressionParser

    from pipeline.local.patching import Patch, Private, applied

    method_names = responses.method_names_from_class
    lex = Private(ConditionExpressionParser, "_lex_condition_expression").of(ConditionExpressionParser)

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

    make = Patch(UpdateExpressionParser, "make", None).original().__func__
    made: dict[tuple[type, str], Any] = {}
    pickled: dict[int, tuple[Any, bytes | None]] = {}  # by id: the tree (kept alive), its pickle

    def cached_make(parser_class: type, expression: str) -> Any:
        # The tree is shared: moto only reads it (find_clauses) or validates a copy of it.
        tree = made.get((parser_class, expression))
        if tree is None:
            tree = make(parser_class, expression)
            try:
                state = pickle.dumps(tree, protocol=pickle.HIGHEST_PROTOCOL)
            except (pickle.PicklingError, TypeError, AttributeError, RecursionError):
                state = None
            if len(made) >= 256:
                made.clear()
                pickled.clear()
            made[parser_class, expression] = tree
            pickled[id(tree)] = (tree, state)
        return tree

    def tree_copy(value: Any, memo: Any = None) -> Any:
        # The Validator's deepcopy: a tree made above is unpickled, anything else deep-copied.
        held = pickled.get(id(value))
        if memo is None and held is not None and held[0] is value and held[1] is not None:
            return pickle.loads(held[1])
        return copy.deepcopy(value, memo)

    with applied([Patch(responses, "method_names_from_class",
                        lambda response_class: list(cached_method_names(response_class))),
                  Patch(ConditionExpressionParser, "_lex_condition_expression", cached_lex),
                  Patch(UpdateExpressionParser, "make", classmethod(cached_make)),
                  Patch(validators, "deepcopy", tree_copy)]):
        yield

"""A small threaded WSGI server that keeps connections open, for the handlers' AWS calls.

moto's own server (werkzeug's development server) closes the connection after every response,
so each boto3 call from a handler paid for a new TCP connection and a new server thread, on
both sides. Here a connection, and its thread, serve one execution environment's calls for as
long as it keeps the connection open (HTTP/1.1 keep-alive, as botocore does).
"""

from __future__ import annotations

import http.client
import io
import sys
import threading
import traceback
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Iterable
from urllib.parse import unquote, urlsplit

from pipeline.local.patching import Private

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]

# Set by the server per response; whatever the application says of them is not passed on.
HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length"}
MAX_LINE = 65536  # http.client's limits
MAX_HEADERS = 100


def read_headers(rfile: Any) -> http.client.HTTPMessage:
    """The header lines of a request, up to the blank line, as http.server gives them.

    http.server runs them through the email package's parser, which took a fifth of a
    DynamoDB call's server time; this reads the same lines into the same message type.
    """
    message = http.client.HTTPMessage()
    name = value = None
    for _ in range(MAX_HEADERS + 1):
        line = rfile.readline(MAX_LINE + 1)
        if len(line) > MAX_LINE:
            raise http.client.LineTooLong("header line")
        if line in (b"\r\n", b"\n", b""):
            if name is not None:
                message[name] = value
            return message
        text = line.decode("iso-8859-1").rstrip("\r\n")
        if text[:1] in (" ", "\t") and name is not None:  # a folded line continues the header
            value += " " + text.strip()
            continue
        if name is not None:
            message[name] = value
        name, colon, value = text.partition(":")
        if not colon or not name or name != name.strip():
            raise ValueError(f"Malformed header line {text!r}")
        value = value.strip()
    raise http.client.HTTPException(f"got more than {MAX_HEADERS} headers")


HEADERS_BUFFER = Private(BaseHTTPRequestHandler, "_headers_buffer", instance=True)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # With Nagle's algorithm and the client's delayed ACK, a response that leaves in two writes
    # (headers, then body) on a kept-open connection waits 40 ms for the second.
    disable_nagle_algorithm = True
    server: KeepAliveServer

    def parse_request(self) -> bool:
        """http.server's parse_request for HTTP/1.x, with read_headers for the headers."""
        self.command = None  # type: ignore[assignment]
        self.request_version = self.default_request_version
        self.close_connection = True
        self.requestline = str(self.raw_requestline, "iso-8859-1").rstrip("\r\n")
        words = self.requestline.split()
        if len(words) != 3 or words[2] not in ("HTTP/1.0", "HTTP/1.1"):
            self.send_error(HTTPStatus.BAD_REQUEST, f"Bad request line ({self.requestline!r})")
            return False
        self.command, self.path, self.request_version = words
        if self.path.startswith("//"):  # as http.server does, against open redirects
            self.path = "/" + self.path.lstrip("/")
        try:
            self.headers = read_headers(self.rfile)
        except http.client.HTTPException as error:  # a line too long, or too many lines
            self.send_error(HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE, str(error))
            return False
        except ValueError as error:
            self.send_error(HTTPStatus.BAD_REQUEST, str(error))
            return False
        connection = self.headers.get("Connection", "").lower()
        self.close_connection = connection == "close" or (
            self.request_version == "HTTP/1.0" and connection != "keep-alive")
        if self.headers.get("Expect", "").lower() == "100-continue" and self.request_version == "HTTP/1.1":
            return self.handle_expect_100()
        return True

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
        pass  # one line per request is noise here

    def _body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _environ(self, body: bytes) -> dict[str, Any]:
        url = urlsplit(self.path)
        host, port = self.server.server_address[:2]
        environ: dict[str, Any] = {
            "wsgi.version": (1, 0),
            "wsgi.url_scheme": "http",
            "wsgi.input": io.BytesIO(body),
            "wsgi.errors": sys.stderr,
            "wsgi.multithread": True,
            "wsgi.multiprocess": False,
            "wsgi.run_once": False,
            "SERVER_SOFTWARE": "pipeline-offline-cloud",
            "REQUEST_METHOD": self.command,
            "SCRIPT_NAME": "",
            # As werkzeug writes them: PEP 3333 strings are latin-1 views of the bytes.
            "PATH_INFO": unquote(url.path).encode("utf-8").decode("latin-1"),
            "QUERY_STRING": url.query.encode("utf-8").decode("latin-1"),
            "REQUEST_URI": self.path.encode("utf-8").decode("latin-1"),
            "RAW_URI": self.path.encode("utf-8").decode("latin-1"),
            "REMOTE_ADDR": self.client_address[0],
            "REMOTE_PORT": self.client_address[1],
            "SERVER_NAME": str(host),
            "SERVER_PORT": str(port),
            "SERVER_PROTOCOL": self.request_version,
            "CONTENT_LENGTH": str(len(body)),
        }
        for name, value in self.headers.items():
            key = name.upper().replace("-", "_")
            if key in ("CONTENT_LENGTH", "TRANSFER_ENCODING"):
                continue
            if key != "CONTENT_TYPE":
                key = f"HTTP_{key}"
            value = value.replace("\r\n", "")
            environ[key] = f"{environ[key]},{value}" if key in environ else value
        return environ

    def _serve(self) -> None:
        environ = self._environ(self._body())
        started: list[Any] = []

        def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Callable[[bytes], None]:
            started[:] = [status, headers]
            return lambda data: None  # the write() callable: this server collects the iterable

        try:
            result = self.server.app(environ, start_response)
            try:
                body = b"".join(result)
            finally:
                if hasattr(result, "close"):
                    result.close()
        except Exception:  # noqa: BLE001 - answered as werkzeug's server answers it, not by hanging up
            traceback.print_exc()
            started[:] = ["500 INTERNAL SERVER ERROR", [("Content-Type", "text/plain; charset=utf-8")]]
            body = b"Internal Server Error: the offline cloud failed on this request (its traceback is on stderr)"
        status, headers = started
        code, _, reason = status.partition(" ")
        self.send_response(int(code), reason)
        length = None
        for name, value in headers:
            if name.lower() == "content-length":
                length = value
            if name.lower() not in HOP_BY_HOP:
                self.send_header(name, value)
        if self.command == "HEAD":
            if length is not None:  # HeadObject's Content-Length is the object's size
                self.send_header("Content-Length", length)
            self.end_headers()
            return
        if int(code) in (204, 304) or 100 <= int(code) < 200:
            self.end_headers()
            return
        self.send_header("Content-Length", str(len(body)))
        HEADERS_BUFFER.of(self).append(b"\r\n" + body)  # headers and body in one write
        self.flush_headers()

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = do_PATCH = do_OPTIONS = _serve


class KeepAliveServer(ThreadingHTTPServer):
    """Serves a WSGI application on 127.0.0.1, one thread per open connection."""

    daemon_threads = True

    def __init__(self, app: WsgiApp, host: str = "127.0.0.1", port: int = 0):
        super().__init__((host, port), _Handler)
        self.app = app
        self._thread = threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="offline-cloud-http", daemon=True)

    @property
    def endpoint(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self.shutdown()
        self.server_close()

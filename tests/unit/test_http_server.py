"""The keep-alive WSGI server the handlers' AWS calls go through."""

import http.client
import json

import pytest

from pipeline.local.speed.keep_alive import KeepAliveServer


def echo(environ, start_response):
    body = environ["wsgi.input"].read()
    answer = json.dumps({
        "method": environ["REQUEST_METHOD"], "path": environ["PATH_INFO"], "raw": environ["RAW_URI"],
        "query": environ["QUERY_STRING"], "body": body.decode("latin-1"),
        "length": environ["CONTENT_LENGTH"], "target": environ.get("HTTP_X_AMZ_TARGET"),
    }).encode()
    start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", "12345"),
                              ("Connection", "close")])
    return [answer]


@pytest.fixture
def server():
    server = KeepAliveServer(echo)
    server.start()
    accepted = []
    original = server.process_request
    server.process_request = lambda request, address: (accepted.append(address), original(request, address))
    server.accepted = accepted
    yield server
    server.stop()


def connect(server):
    host, port = server.server_address[:2]
    return http.client.HTTPConnection(host, port, timeout=5)


def test_one_connection_serves_many_requests(server):
    connection = connect(server)
    for number in range(5):
        connection.request("POST", "/", body=json.dumps({"n": number}), headers={"X-Amz-Target": "DynamoDB.PutItem"})
        response = connection.getresponse()
        answer = json.loads(response.read())
        assert response.status == 200 and answer["body"] == json.dumps({"n": number})
        assert answer["target"] == "DynamoDB.PutItem"
        assert response.getheader("Content-Length") == str(len(json.dumps(answer)))  # the real length
        assert response.getheader("Connection") is None  # the application's "close" is not passed on
    assert len(server.accepted) == 1


def test_paths_reach_the_application_decoded_and_raw(server):
    connection = connect(server)
    connection.request("GET", "/bucket/a%20b%2Bc%C3%A9.csv?versionId=x%2By")
    answer = json.loads(connection.getresponse().read())
    assert answer["path"] == "/bucket/a b+cé.csv".encode("utf-8").decode("latin-1")
    assert answer["raw"] == "/bucket/a%20b%2Bc%C3%A9.csv?versionId=x%2By"
    assert answer["query"] == "versionId=x%2By"


def test_a_chunked_body_arrives_whole(server):
    connection = connect(server)
    connection.putrequest("PUT", "/bucket/key")
    connection.putheader("Transfer-Encoding", "chunked")
    connection.endheaders()
    for chunk in (b"id,value\n", b"1,a\n"):
        connection.send(b"%x\r\n%s\r\n" % (len(chunk), chunk))
    connection.send(b"0\r\n\r\n")
    answer = json.loads(connection.getresponse().read())
    assert answer["body"] == "id,value\n1,a\n" and answer["length"] == "13"


def test_head_keeps_the_applications_length_and_sends_no_body(server):
    connection = connect(server)
    connection.request("HEAD", "/bucket/key")
    response = connection.getresponse()
    assert response.getheader("Content-Length") == "12345" and response.read() == b""
    connection.request("GET", "/bucket/key")  # the connection is still in step
    assert json.loads(connection.getresponse().read())["method"] == "GET"


HEADER_BLOCKS = [
    b"Host: 127.0.0.1:1\r\nX-Amz-Target: DynamoDB_20120810.PutItem\r\nContent-Length: 2\r\n\r\n",
    b"Authorization: AWS4-HMAC-SHA256 Credential=offline/20261126/us-east-1/dynamodb/aws4_request,"
    b" SignedHeaders=host, Signature=ab\r\nAccept: */*\r\nAccept: text/plain\r\nX-Empty:\r\n\r\n",
    b"X-Folded: first\r\n  second\r\n\tthird\r\nUser-Agent: Boto3/1.40 md/Botocore#1.40 caf\xe9\r\n\r\n",
    b"Host: a\n\n",
    b"",
]


@pytest.mark.parametrize("block", HEADER_BLOCKS)
def test_headers_are_read_as_http_server_reads_them(block):
    import io

    from pipeline.local.speed.keep_alive import read_headers

    ours, theirs = read_headers(io.BytesIO(block)), http.client.parse_headers(io.BytesIO(block))
    assert [(name, " ".join(value.split())) for name, value in ours.items()] == [
        (name, " ".join(value.split())) for name, value in theirs.items()]
    assert ours.get_all("Accept") == theirs.get_all("Accept")


def raw_exchange(server, request: bytes) -> bytes:
    import socket

    host, port = server.server_address[:2]
    with socket.create_connection((host, port), timeout=5) as connection:
        connection.sendall(request)
        return connection.recv(65536)


def test_bad_request_lines_and_headers_get_http_errors(server):
    assert b"Error code: 400" in raw_exchange(server, b"GET / HTTP/2\r\n\r\n")  # no status line, as http.server
    assert raw_exchange(server, b"GET / HTTP/1.1\r\nno colon here\r\n\r\n").startswith(b"HTTP/1.1 400")
    too_many = b"".join(b"X-%d: v\r\n" % number for number in range(101))
    assert raw_exchange(server, b"GET / HTTP/1.1\r\n" + too_many + b"\r\n").startswith(b"HTTP/1.1 431")
    assert raw_exchange(server, b"GET / HTTP/1.1\r\nX-Long: " + b"v" * 70000 + b"\r\n\r\n").startswith(b"HTTP/1.1 431")


def test_an_application_error_is_a_500_on_a_connection_that_stays_open():
    def failing(environ, start_response):
        if environ["PATH_INFO"] == "/fail":
            raise RuntimeError("a bug in the offline cloud")
        return echo(environ, start_response)

    server = KeepAliveServer(failing)
    server.start()
    try:
        connection = connect(server)
        connection.request("GET", "/fail")
        response = connection.getresponse()
        assert response.status == 500 and b"Internal Server Error" in response.read()
        connection.request("GET", "/ok")
        assert json.loads(connection.getresponse().read())["path"] == "/ok"
    finally:
        server.stop()

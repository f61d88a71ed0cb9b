"""The keep-alive WSGI server the handlers' AWS calls go through."""

import http.client
import json

import pytest

from pipeline.local.http_server import KeepAliveServer


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

"""What IAM actions on which resources an API request is, read as botocore's models describe it."""

import json

import pytest

from pipeline.local.api_calls import api_call, read_call
from pipeline.local.service_actions import Access, why_not

ACCOUNT, REGION = "123456789012", "us-east-1"


def signed(service):
    return {"authorization": f"AWS4-HMAC-SHA256 Credential=ASIAEXAMPLE/20261126/{REGION}/{service}/aws4_request, x"}


def dynamodb(operation, **body):
    return read_call("POST", "/", "", {**signed("dynamodb"), "x-amz-target": f"DynamoDB_20120810.{operation}"},
                     json.dumps(body).encode(), REGION, ACCOUNT)


def test_a_query_of_an_index_is_on_the_index():
    table = f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/records"
    assert dynamodb("PutItem", TableName="records").resource == table
    assert dynamodb("Query", TableName="records", IndexName="by-key").resource == f"{table}/index/by-key"
    assert dynamodb("ListTables").accesses == (Access("dynamodb:ListTables", "*"),)


def test_a_transaction_is_each_items_own_action_on_its_table():
    call = dynamodb("TransactWriteItems", TransactItems=[
        {"Put": {"TableName": "a", "Item": {}}}, {"ConditionCheck": {"TableName": "b", "Key": {}}}])
    assert [access.action for access in call.accesses] == ["dynamodb:PutItem", "dynamodb:ConditionCheckItem"]


@pytest.mark.parametrize(("method", "path", "query", "headers", "accesses"), [
    ("GET", "/landing/a+b.csv", "", {}, [("s3:GetObject", "arn:aws:s3:::landing/a+b.csv")]),
    ("HEAD", "/landing/a+b.csv", "versionId=v1", {}, [("s3:GetObjectVersion", "arn:aws:s3:::landing/a+b.csv")]),
    ("PUT", "/landing/k.csv", "", {}, [("s3:PutObject", "arn:aws:s3:::landing/k.csv")]),
    ("GET", "/landing", "list-type=2&prefix=a", {}, [("s3:ListBucket", "arn:aws:s3:::landing")]),
    ("PUT", "/landing/k.csv", "tagging", {}, [("s3:PutObjectTagging", "arn:aws:s3:::landing/k.csv")]),
    ("POST", "/landing/big.csv", "uploads", {}, [("s3:PutObject", "arn:aws:s3:::landing/big.csv")]),
    ("PUT", "/landing/big.csv", "partNumber=1&uploadId=u", {}, [("s3:PutObject", "arn:aws:s3:::landing/big.csv")]),
    ("PUT", "/landing/copy.csv", "", {"x-amz-copy-source": "/landing/a%20b.csv?versionId=v2"},
     [("s3:GetObjectVersion", "arn:aws:s3:::landing/a b.csv"), ("s3:PutObject", "arn:aws:s3:::landing/copy.csv")]),
    ("GET", "/", "", {}, [("s3:ListAllMyBuckets", "*")]),
])
def test_s3_requests_are_read_as_iam_names_them(method, path, query, headers, accesses):
    call = read_call(method, path, query, {**signed("s3"), **headers}, b"", REGION, ACCOUNT)
    assert [(a.action, a.resource) for a in call.accesses] == accesses


def test_deleting_objects_is_deleting_each_key():
    body = b"<Delete><Object><Key>a.csv</Key></Object><Object><Key>b.csv</Key><VersionId>v</VersionId></Object></Delete>"
    call = read_call("POST", "/landing", "delete", signed("s3"), body, REGION, ACCOUNT)
    assert [(a.action, a.resource) for a in call.accesses] == [
        ("s3:DeleteObject", "arn:aws:s3:::landing/a.csv"), ("s3:DeleteObjectVersion", "arn:aws:s3:::landing/b.csv")]


def test_other_protocols_are_read_from_their_models():
    invoke = read_call("POST", "/2015-03-31/functions/worker/invocations", "Qualifier=live", signed("lambda"), b"{}",
                       REGION, ACCOUNT)
    assert invoke.accesses == (Access("lambda:InvokeFunction", f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:worker:live"),)
    topic = f"arn:aws:sns:{REGION}:{ACCOUNT}:alerts"
    publish = read_call("POST", "/", "", signed("sns"), f"Action=Publish&TopicArn={topic}&Message=hi".encode(),
                        REGION, ACCOUNT)
    assert publish.accesses == (Access("sns:Publish", topic),)
    send = read_call("POST", "/", "", {**signed("sqs"), "x-amz-target": "AmazonSQS.SendMessage"},
                     json.dumps({"QueueUrl": f"http://127.0.0.1/{ACCOUNT}/jobs", "MessageBody": "x"}).encode(),
                     REGION, ACCOUNT)
    assert send.accesses == (Access("sqs:SendMessage", f"arn:aws:sqs:{REGION}:{ACCOUNT}:jobs"),)


def test_an_event_is_put_on_the_bus_each_entry_names():
    call = api_call("events", "PutEvents", {"Entries": [{"Detail": "{}"}, {"EventBusName": "orders"}]}, REGION, ACCOUNT)
    assert [a.resource for a in call.accesses] == [f"arn:aws:events:{REGION}:{ACCOUNT}:event-bus/default",
                                                   f"arn:aws:events:{REGION}:{ACCOUNT}:event-bus/orders"]


def test_what_cannot_be_told_is_said_not_guessed():
    assert read_call("GET", "/nowhere", "", signed("nosuchservice"), b"", REGION, ACCOUNT).accesses == ()
    unknown = read_call("PATCH", "/landing/k", "", signed("s3"), b"", REGION, ACCOUNT)
    assert unknown.accesses == () and "no s3 operation" in unknown.why_not
    assert why_not("states", "StartExecution", ["stateMachineArn", "input"]) is None
    assert why_not("sqs", "GetQueueUrl", ["QueueName", "QueueOwnerAWSAccountId"]) is None
    assert "no action" in why_not("dynamodb", "NoSuchOperation", [])
    assert "cannot tell" in why_not("ec2", "RunInstances", ["ImageId", "SubnetId"])
    assert "cannot tell" in why_not("kms", "Decrypt", ["CiphertextBlob"])  # the key is inside the ciphertext


def test_an_object_body_never_decides_what_the_call_is():
    body = b"Action=GetObject&Bucket=other&Key=x"
    call = read_call("PUT", "/landing/k.csv", "", signed("s3"), body, REGION, ACCOUNT)
    assert call.accesses == (Access("s3:PutObject", "arn:aws:s3:::landing/k.csv"),)


def test_a_key_is_authorized_as_it_is_named_not_as_its_escapes_read():
    call = read_call("GET", "/landing/public/a%2F..%2Fsecret.csv", "", signed("s3"), b"", REGION, ACCOUNT)
    assert call.resource == "arn:aws:s3:::landing/public/a/../secret.csv"  # one decoding, as S3 names the key
    listed = read_call("GET", "/", "x-id=ListDirectoryBuckets", signed("s3"), b"", REGION, ACCOUNT)
    assert listed.operation == "ListDirectoryBuckets"


def test_requests_are_read_by_s3s_uris_as_defined_after_an_s3_client_has_sent_one():
    """botocore's S3 clients strip "/{Bucket}" from the URIs of the model their session's Loader
    keeps, and the offline cloud's sessions share one Loader (pipeline.local.botocore_data): the
    routes here are still read from S3's URIs as defined."""
    import boto3
    from botocore.stub import Stubber

    from pipeline.local import api_calls
    from pipeline.local.botocore_data import parse_once

    parse_once()
    client = boto3.session.Session(region_name=REGION, aws_access_key_id="a", aws_secret_access_key="b").client("s3")
    with Stubber(client) as stub:
        stub.add_response("put_object", {})
        client.put_object(Bucket="landing", Key="k.csv", Body=b"x")
    assert client.meta.service_model.operation_model("PutObject").http["requestUri"] == "/{Key+}"  # stripped
    api_calls._built_routes.clear()
    api_calls._models.clear()
    api_calls._botocore_session.cache_clear()
    call = read_call("PUT", "/landing/k.csv", "", signed("s3"), b"x", REGION, ACCOUNT)
    assert call.accesses == (Access("s3:PutObject", "arn:aws:s3:::landing/k.csv"),)

"""The speed layer (pipeline/local/speed) answers exactly as moto does, part by part.

Each test compares a part's answer with moto's own for the same request, errors included, on the
pinned moto; a moto release that changes what a part replaces fails here with the part's name.
"""

import json
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from types import SimpleNamespace

import pytest
from botocore.exceptions import ClientError

from pipeline.local.speed import direct_calls, moto_patches
from pipeline.local.speed.layer import SpeedLayer

ROOT = Path(__file__).resolve().parents[2]



@pytest.fixture(scope="module")
def cloud(deploy):
    return deploy(FailureRate=0, fast=True)  # the speed layer's quick paths, on whatever the environment says


def parsed_both_ways(call):
    """A client call's parsed response through the quick JSON writer, then through moto's."""
    from moto.core.responses import ActionResult

    quick = call()
    installed = ActionResult.execute_result
    ActionResult.execute_result = moto_patches._original_execute_result
    try:
        reference = call()
    finally:
        ActionResult.execute_result = installed
    for response in (quick, reference):
        response.pop("ResponseMetadata")
    return quick, reference


def test_step_functions_responses_parse_the_same_as_from_motos_serializer(cloud, files):
    from tests.offline import run_one

    assert moto_patches.ActionResult.execute_result is moto_patches.fast_execute_result
    ok = run_one(cloud, files, "hooks-ok.csv")
    failed = run_one(cloud, files, "hooks-bad.txt")
    sfn = cloud.clients.stepfunctions
    for result in (ok, failed):
        quick, reference = parsed_both_ways(lambda: sfn.get_execution_history(executionArn=result.execution_arn))
        assert quick == reference and len(quick["events"]) > 5
        quick, reference = parsed_both_ways(lambda: sfn.describe_execution(executionArn=result.execution_arn))
        assert quick == reference
    quick, reference = parsed_both_ways(lambda: sfn.list_executions(stateMachineArn=cloud.stack.state_machine_arn))
    assert quick == reference
    quick, reference = parsed_both_ways(lambda: sfn.describe_state_machine(stateMachineArn=cloud.stack.state_machine_arn))
    assert quick == reference


def lambda_task_client(region: str):
    from moto.stepfunctions.parser.asl.component.state.exec.state_task import lambda_eval_utils

    return lambda_eval_utils.boto_client_for(region=region, service="lambda")


def invoked(client, **parameters):
    try:
        response = client.invoke(**parameters)
    except ClientError as error:
        return {"Error": error.response["Error"], "HTTPStatusCode": error.response["ResponseMetadata"]["HTTPStatusCode"]}
    return {"StatusCode": response["StatusCode"], "FunctionError": response.get("FunctionError"),
            "Payload": json.loads(response["Payload"].read())}


def test_direct_lambda_invoke_answers_as_botocore_does_from_moto(cloud):
    from pipeline.local.faults import Fault

    direct = lambda_task_client(cloud.clients.region)
    assert isinstance(direct, direct_calls.DirectLambdaClient)
    function = cloud.runtime.function("CheckExtFunction").arn
    event = (ROOT / "events" / "eventbridge-csv.json").read_bytes()
    cases = [
        (dict(FunctionName=function, Payload=event), None),
        (dict(FunctionName=function, Payload=b'{"detail": 1}'), None),  # the handler's typed error
        (dict(FunctionName=function, Payload=event), "throttle:CheckExtFunction:1"),
        (dict(FunctionName=function, Payload=event), "service-error:CheckExtFunction:1"),
        (dict(FunctionName=function.replace("CheckExt", "NoSuch"), Payload=event), None),
    ]
    for parameters, fault in cases:
        answers = []
        for client in (direct, direct._client):
            if fault:
                cloud.faults.add(Fault.parse(fault))
            answers.append(invoked(client, **parameters))
        if "Payload" in answers[0] and answers[0]["FunctionError"]:
            for answer in answers:  # request ids differ between two invocations
                answer["Payload"].pop("requestId", None)
        assert answers[0] == answers[1], (parameters, fault)


def test_direct_start_execution_fails_as_the_api_does(cloud):
    sfn = cloud.clients.stepfunctions
    missing = cloud.stack.state_machine_arn + "-missing"
    for arn, execution_input in ((missing, "{}"), (cloud.stack.state_machine_arn, "not json")):
        with pytest.raises(ClientError) as direct:
            direct_calls.start_execution("123456789012", cloud.clients.region, arn, "hooks-direct", execution_input)
        with pytest.raises(ClientError) as api:
            sfn.start_execution(stateMachineArn=arn, name="hooks-api", input=execution_input)
        assert direct.value.response["Error"] == api.value.response["Error"]


def test_ended_executions_keep_their_history_and_let_the_interpreter_go(cloud, files):
    from moto.stepfunctions.parser.models import stepfunctions_parser_backends
    from moto.stepfunctions.parser.utils import TMP_THREADS

    from tests.offline import run_one

    result = run_one(cloud, files, "hooks-release.csv")
    execution = stepfunctions_parser_backends["123456789012"][cloud.clients.region].describe_execution(
        result.execution_arn)
    assert cloud.wait_for_report(result.execution_arn)  # the interpreter is let go once the end is reported
    assert isinstance(execution.exec_worker, moto_patches.EndedWorker)
    events = cloud.clients.stepfunctions.get_execution_history(executionArn=result.execution_arn)["events"]
    assert [event["type"] for event in events][0] == "ExecutionStarted"
    assert [event["type"] for event in events][-1] == "ExecutionSucceeded"
    assert not [thread for thread in TMP_THREADS if not thread.is_alive()][10:]  # ended threads are let go


VOLATILE_HEADERS = {"date", "x-amzn-requestid", "x-amz-request-id", "x-amz-id-2", "x-amz-crc32"}


def comparable(status, headers, body):
    import re

    headers = {name.lower(): value for name, value in dict(headers).items() if name.lower() not in VOLATILE_HEADERS}
    body = body if isinstance(body, bytes) else str(body).encode()
    return status, headers, re.sub(rb"<RequestId>[^<]*</RequestId>", b"", body)


def read_only_calls(cloud, s3, dynamodb, key):
    """Reads, so that answering each request twice changes nothing; errors included."""
    bucket = cloud.stack.bucket
    calls = [
        lambda: s3.get_object(Bucket=bucket, Key=key),
        lambda: s3.head_object(Bucket=bucket, Key=key),
        lambda: s3.list_objects_v2(Bucket=bucket),
        lambda: s3.get_object(Bucket=bucket, Key="no/such key.csv"),
        lambda: s3.head_object(Bucket=bucket + "-missing", Key=key),
        lambda: dynamodb.list_tables(),
        lambda: dynamodb.describe_table(TableName="no-such-table"),
    ]
    for call in calls:
        try:
            call()
        except ClientError:
            pass
    return len(calls)


def test_routed_requests_answer_as_motos_stubber_does(cloud, files):
    from moto.core.botocore_stubber import BotocoreStubber
    from moto.core.models import botocore_stubber

    from tests.offline import run_one

    assert BotocoreStubber.process_request is moto_patches.routed_request
    key = run_one(cloud, files, "hooks-routed.csv").key
    answers = []

    def both(request, **_):
        routed = moto_patches.routed_request(botocore_stubber, request)
        reference = moto_patches._original_process_request(botocore_stubber, request)
        answers.append((comparable(*routed), comparable(*reference)))

    s3, dynamodb = cloud.clients.s3, cloud.clients.session.client("dynamodb", region_name=cloud.clients.region)
    for client in (s3, dynamodb):
        client.meta.events.register_first("before-send", both)
    try:
        calls = read_only_calls(cloud, s3, dynamodb, key)
    finally:
        for client in (s3, dynamodb):
            client.meta.events.unregister("before-send", both)
    assert len(answers) == calls
    for routed, reference in answers:
        assert routed == reference
    assert {routed[0] for routed, _ in answers} >= {200, 400, 404}
    assert moto_patches.routed_request(botocore_stubber, type("Request", (), {"url": "http://localhost:1/x"})()) is None


def test_the_moto_application_answers_as_flask_does(cloud, files):
    import io

    import boto3
    from werkzeug.test import run_wsgi_app

    from pipeline.local.speed.keep_alive import KeepAliveServer
    from pipeline.local.speed.moto_application import MotoApplication

    from tests.offline import run_one

    key = run_one(cloud, files, "hooks-wsgi.csv").key
    application = MotoApplication()
    answers = []

    def both(environ, start_response):
        body = environ["wsgi.input"].read()
        outcomes = []
        for app in (application, application.dispatcher):  # quick path, then Flask's
            iterable, status, headers = run_wsgi_app(app, dict(environ, **{"wsgi.input": io.BytesIO(body)}),
                                                     buffered=True)
            outcomes.append(comparable(int(status.split()[0]), headers, b"".join(iterable)))
        answers.append(outcomes)
        start_response(status, list(headers.items()))
        return [outcomes[1][2]]

    server = KeepAliveServer(both)
    server.start()
    try:
        clients = [boto3.client(service, endpoint_url=server.endpoint, region_name=cloud.clients.region,
                                aws_access_key_id="offline", aws_secret_access_key="offline")
                   for service in ("s3", "dynamodb")]
        calls = read_only_calls(cloud, *clients, key)
    finally:
        server.stop()
    assert len(answers) == calls
    for quick, flask in answers:
        assert quick == flask, (quick[1].items() ^ flask[1].items())
    assert {quick[0] for quick, _ in answers} >= {200, 400, 404}


def test_quick_dispatch_lexes_and_names_as_moto_does():
    from moto.core import responses
    from moto.dynamodb.comparisons import ConditionExpressionParser
    from moto.dynamodb.responses import DynamoHandler
    from moto.s3.responses import S3Response

    from pipeline.local.speed.moto_application import quick_dispatch

    expressions = [
        "attribute_not_exists(#id) OR #expiry < :now OR (#status = :inprogress AND "
        "attribute_exists(in_progress_expiration) AND in_progress_expiration < :now_in_millis)",
        "a.b[1] <> :v AND size(#n) BETWEEN :lo AND :hi",
        "NOT begins_with(#k, :p) OR #k IN (:a, :b)",
    ]

    def lexed(expression):
        parser = ConditionExpressionParser(expression, {}, {})
        return list(parser._lex_condition_expression())

    def named():
        return [responses.method_names_from_class(cls) for cls in (DynamoHandler, S3Response)]

    reference = [lexed(expression) for expression in expressions], named()
    moto_lex = ConditionExpressionParser._lex_condition_expression
    with quick_dispatch():
        assert ConditionExpressionParser._lex_condition_expression is not moto_lex
        for _ in range(2):  # cached the second time round
            assert ([lexed(expression) for expression in expressions], named()) == reference
        first, second = lexed(expressions[0]), lexed(expressions[0])
        assert first == second and first is not second  # each parse gets a deque of its own
        with pytest.raises(Exception) as quick_error:
            lexed("#a = :v ;")
    with pytest.raises(Exception) as moto_error:
        lexed("#a = :v ;")
    assert type(quick_error.value) is type(moto_error.value)
    assert ConditionExpressionParser._lex_condition_expression is moto_lex
    assert ([lexed(expression) for expression in expressions], named()) == reference


def test_quick_dispatch_updates_items_as_moto_does():
    """An update expression parsed once serves every UpdateItem that sends it, each with its own
    values, and a malformed one fails as moto fails it."""
    from moto.dynamodb.models import dynamodb_backends
    from moto.dynamodb.parsing.expressions import UpdateExpressionParser

    from pipeline.local.speed.moto_application import quick_dispatch

    # Powertools' update of a processed record, then one with a function, a REMOVE and an ADD.
    updates = [("SET #response_data = :response_data, #expiry = :expiry, #status = :status",
                {"#response_data": "data", "#expiry": "expiration", "#status": "status"}),
               ("SET #n = if_not_exists(#n, :zero) + :one, tags = list_append(:t, :t) REMOVE gone ADD tally :one",
                {"#n": "count"})]

    def outcomes():
        # A backend of an account no cloud uses, called as DynamoHandler calls it.
        backend = dynamodb_backends["210987654321"]["eu-west-1"]
        backend.create_table("t", schema=[{"AttributeName": "id", "KeyType": "HASH"}], throughput=None,
                             attr=[{"AttributeName": "id", "AttributeType": "S"}], global_indexes=None, indexes=None,
                             streams=None, billing_mode="PAY_PER_REQUEST", sse_specification=None, tags=[],
                             deletion_protection_enabled=False, warm_throughput=None)
        seen = []
        try:
            for n in range(3):  # the same expressions again, with other values
                values = {":response_data": {"S": f"r{n}"}, ":expiry": {"N": str(n)}, ":status": {"S": "COMPLETED"},
                          ":zero": {"N": "0"}, ":one": {"N": str(n + 1)}, ":t": {"L": [{"S": f"t{n}"}]}}
                for expression, names in updates:
                    used = {name: value for name, value in values.items() if name in expression}
                    item = backend.update_item("t", {"id": {"S": f"k{n % 2}"}}, expression, names, used)
                    seen.append(item.to_json())
            try:
                backend.update_item("t", {"id": {"S": "k"}}, "SET = :v", {}, {":v": {"S": "x"}})
            except Exception as error:  # noqa: BLE001 - the error is the outcome compared
                seen.append((type(error), str(error)))
        finally:
            backend.delete_table("t")
        return seen

    import copy
    import pickle

    from moto.dynamodb.parsing import validators

    from pipeline.local.patching import Patch

    parse = Patch(UpdateExpressionParser, "make", None).original().__func__  # moto's own
    reference, before, copied_before = outcomes(), UpdateExpressionParser.__dict__["make"], validators.deepcopy
    with quick_dispatch():
        assert UpdateExpressionParser.__dict__["make"] is not before
        assert validators.deepcopy not in (copy.deepcopy, copied_before)  # the Validator's copy of a shared tree
        assert outcomes() == reference
        for expression, _ in updates:  # each shared tree as parsed: the Validator worked on copies
            shared = UpdateExpressionParser.make(expression)
            assert shared is UpdateExpressionParser.make(expression)
            assert pickle.dumps(shared) == pickle.dumps(parse(UpdateExpressionParser, expression))
    assert UpdateExpressionParser.__dict__["make"] is before and validators.deepcopy is copied_before


def test_executions_run_on_kept_threads_and_a_waiting_one_never_holds_up_another(monkeypatch):
    import threading

    reported = []
    monkeypatch.setattr(threading, "excepthook", reported.append)

    threads = moto_patches.ExecutionThreads(idle_s=0.2, name="test-execution")
    seen = []
    first = threads.start(lambda: seen.append(threading.get_ident()))
    first.join(5)
    assert not first.is_alive() and first.target is None  # what it ran is let go, as a thread lets it go
    time.sleep(0.05)  # its thread is idle again
    threads.start(lambda: seen.append(threading.get_ident())).join(5)
    assert seen[0] == seen[1]  # the kept thread ran the second one
    # A parent that waits for its child: the child gets a thread of its own, as it would from moto.
    child_ran = threading.Event()
    parent = threads.start(lambda: seen.append(threads.start(child_ran.set).join(5) or child_ran.is_set()))
    parent.join(5)
    assert seen[-1] is True
    failed = threads.start(lambda: 1 / 0)  # reported by threading's hook; the thread serves on
    failed.join(5)
    assert not failed.is_alive() and [type(args.exc_value) for args in reported] == [ZeroDivisionError]
    threads.start(lambda: seen.append("after")).join(5)
    assert seen[-1] == "after"
    assert [t for t in threading.enumerate() if t.name == "test-execution"]
    deadline = time.monotonic() + 5  # idle for idle_s, the kept threads end
    while [t for t in threading.enumerate() if t.name == "test-execution"] and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not [t for t in threading.enumerate() if t.name == "test-execution"]


def test_executions_are_found_as_motos_scan_finds_them(cloud, files):
    from moto.stepfunctions.models import StepFunctionBackend
    from moto.stepfunctions.parser.models import stepfunctions_parser_backends

    from tests.offline import run_one

    backend = stepfunctions_parser_backends["123456789012"][cloud.clients.region]
    ended = run_one(cloud, files, "hooks-index.csv").execution_arn
    assert StepFunctionBackend.describe_execution is moto_patches.describe_execution
    original_describe, original_existing = moto_patches._original_describe_execution, moto_patches._original_existing_execution

    def outcome(call):
        try:
            return call()
        except Exception as error:  # noqa: BLE001 - the error is the outcome compared
            return type(error), str(error)

    for arn in (ended, ended + "-missing", ended.replace(cloud.stack.state_machine_arn.rsplit(":", 1)[1], "NoSuchMachine")):
        assert outcome(lambda: backend.describe_execution(arn)) == outcome(lambda: original_describe(backend, arn))
    machine = backend.describe_state_machine(cloud.stack.state_machine_arn)
    execution = backend.describe_execution(ended)
    for name, execution_input in ((execution.name, execution.execution_input), (execution.name, "{}"), ("unused", "{}")):
        assert outcome(lambda: machine._handle_name_input_idempotency(name, execution_input)) == outcome(
            lambda: original_existing(machine, name, execution_input))
    from types import SimpleNamespace

    running = SimpleNamespace(name="n", execution_input="{}", status="RUNNING", execution_arn="arn:n",
                              start_date=datetime.now(timezone.utc))
    machine = SimpleNamespace(executions=[running])  # the same name and input while it runs
    assert moto_patches.existing_execution(machine, "n", "{}") is running is original_existing(machine, "n", "{}")


def test_an_execution_started_while_the_index_catches_up_is_found():
    """Another thread's StartExecution can append to the state machine's list while the index
    reads it: that execution is indexed on the next look, not skipped for good (a backfill's child
    would never find the execution it started, DescribeExecution answering it does not exist)."""
    from types import SimpleNamespace

    def execution(name):
        return SimpleNamespace(name=name, execution_input="{}", status="RUNNING", execution_arn=f"arn:{name}",
                               start_date=datetime.now(timezone.utc))

    class AppendedMeanwhile(list):
        """A list that another thread appends to just as the index slices it."""

        def __getitem__(self, item):
            taken = super().__getitem__(item)
            if isinstance(item, slice) and len(self) == 1:
                self.append(execution("meanwhile"))
            return taken

    machine = SimpleNamespace(executions=AppendedMeanwhile([execution("first")]))
    assert moto_patches.existing_execution(machine, "first", "{}").name == "first"
    assert len(machine.executions) == 2
    assert moto_patches.existing_execution(machine, "meanwhile", "{}").name == "meanwhile"


def test_executions_are_listed_as_motos_sort_lists_them():
    """The first page comes from the index kept in start order; moto sorts the whole list for
    every call. Same executions in the same order (ties by start date in the list's order, one
    appended late with an earlier start), same token, which moto's next page then accepts."""
    start = datetime(2026, 12, 5, tzinfo=timezone.utc)
    machine = SimpleNamespace(executions=[])
    backend = SimpleNamespace(describe_state_machine=lambda arn: machine)

    def started(name, seconds):
        machine.executions.append(SimpleNamespace(name=name, execution_arn=f"arn:{name}", status="RUNNING",
                                                  execution_input="{}", start_date=start + timedelta(seconds=seconds)))

    def listing(list_executions, **kwargs):
        pages, token = [], None
        while True:
            page, token = list_executions(backend, "arn:sm", **kwargs, next_token=token) if token else \
                list_executions(backend, "arn:sm", **kwargs)
            pages.append([execution.name for execution in page])
            if token is None:
                return pages
            list_executions = moto_patches._original_list_executions  # a next page is moto's

    for name, seconds in (("a", 1), ("b", 2), ("c", 2), ("d", 3), ("late", 1.5), ("e", 3), ("f", 4)):
        started(name, seconds)
        for kwargs in ({}, {"status_filter": None}, {"max_results": 1}, {"max_results": 2, "status_filter": None},
                       {"max_results": 3}, {"max_results": 0}, {"max_results": 100}):
            quick = listing(moto_patches.list_executions, **kwargs)
            assert quick == listing(moto_patches._original_list_executions, **kwargs), (name, kwargs)
    assert listing(moto_patches.list_executions, max_results=3) == [["f", "d", "e"], ["b", "c", "late"], ["a"]]
    for kwargs in ({"status_filter": "RUNNING"}, {"max_results": -1}):  # not the quick path: moto's answer
        assert listing(moto_patches.list_executions, **kwargs) == listing(moto_patches._original_list_executions,
                                                                          **kwargs)


def test_responses_without_an_xml_request_id_are_enriched_as_moto_does():
    from moto.core.responses import BaseResponse

    with SpeedLayer().installed():
        for body in ('{"events": [{"id": 1}]}', "<Error><RequestId>x</RequestId></Error>", b"bytes", ""):
            quick = BaseResponse._enrich_response({"status": 200}, body)
            reference = moto_patches._original_enrich_response({"status": 200}, body)
            for headers, _ in (quick, reference):
                assert len(headers.pop("x-amzn-requestid")) == 52  # a new request id each time
            assert quick[0] == reference[0] == {"status": "200"}
            assert (quick[1] == reference[1]) == ("<RequestId>" not in str(body))  # a new id in the XML, or none


def test_account_backends_are_the_ones_moto_returns():
    from moto.core.base_backend import BackendDict
    from moto.sqs.models import sqs_backends

    before = BackendDict.__getitem__
    with SpeedLayer().installed():
        assert BackendDict.__getitem__ is moto_patches.account_backends
        fresh = "210987654321"
        assert fresh not in dict.keys(sqs_backends)
        first = sqs_backends[fresh]  # created and registered by moto, then found directly
        assert sqs_backends[fresh] is first is moto_patches._original_account_backends(sqs_backends, fresh)
    assert BackendDict.__getitem__ is before


def test_direct_history_reads_as_botocore_parses_moto_s_answer(cloud, files):
    from tests.offline import run_one

    direct = cloud.clients.stepfunctions
    assert isinstance(direct, direct_calls.DirectReadsClient)
    assert all(direct._converters.values())  # answered without writing and parsing JSON
    client = direct._client
    arns = [run_one(cloud, files, name).execution_arn for name in ("hooks-history.csv", "hooks-history.txt")]
    for arn in arns:
        quick, reference = direct.get_execution_history(executionArn=arn), client.get_execution_history(executionArn=arn)
        for response in (quick, reference):
            assert response["ResponseMetadata"].pop("HTTPStatusCode") == 200
            response.pop("ResponseMetadata")
        assert quick == reference and len(quick["events"]) > 5
        assert repr(quick) == repr(reference)  # timestamps in the same zone as well
        pages = list(direct.get_paginator("get_execution_history").paginate(executionArn=arn))
        assert [page["events"] for page in pages] == [quick["events"]]
    missing = arns[0].rsplit(":", 1)[0] + ":no-such-execution"
    for arn in (missing, "not-an-arn"):
        with pytest.raises(ClientError) as quick_error:
            direct.get_execution_history(executionArn=arn)
        with pytest.raises(ClientError) as reference_error:
            client.get_execution_history(executionArn=arn)
        assert quick_error.value.response["Error"] == reference_error.value.response["Error"]
        assert str(quick_error.value) == str(reference_error.value)
    # A call moto would answer the same way but with parameters the direct path does not take:
    assert direct.get_execution_history(executionArn=arns[0], reverseOrder=True)["events"][0]["id"] == 1


def test_direct_listing_pages_as_botocore_parses_moto_s_answer(cloud, files):
    from tests.offline import run_one

    for name in ("hooks-list-1.csv", "hooks-list-2.txt", "hooks-list-3.csv"):
        run_one(cloud, files, name)
    direct = cloud.clients.stepfunctions
    client = direct._client
    arn = cloud.stack.state_machine_arn

    def pages(source, **config):
        listed = []
        for page in source.get_paginator("list_executions").paginate(stateMachineArn=arn, **config):
            page.pop("ResponseMetadata")
            listed.append(page)
        return listed

    for config in ({}, {"PaginationConfig": {"PageSize": 2}}, {"PaginationConfig": {"PageSize": 2, "MaxItems": 3}}):
        quick, reference = pages(direct, **config), pages(client, **config)
        assert quick == reference and quick[0]["executions"], config
        assert repr(quick) == repr(reference)
        assert {"startDate", "stopDate", "status"} <= set(quick[0]["executions"][0])
    assert len(pages(direct, PaginationConfig={"PageSize": 2})) > 1
    for arn_or_missing in (arn + "-missing", "not-an-arn"):
        with pytest.raises(ClientError) as quick_error:
            direct.list_executions(stateMachineArn=arn_or_missing)
        with pytest.raises(ClientError) as reference_error:
            client.list_executions(stateMachineArn=arn_or_missing)
        assert quick_error.value.response["Error"] == reference_error.value.response["Error"]




def probe_bucket(client, name: str) -> str:
    """A versioned bucket with KMS default encryption, outside the stack: its uploads start nothing."""
    client.create_bucket(Bucket=name)
    client.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
    client.put_bucket_encryption(Bucket=name, ServerSideEncryptionConfiguration={"Rules": [
        {"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms"}, "BucketKeyEnabled": True}]})
    return name


def test_direct_uploads_store_and_answer_as_moto_s_s3_does_for_botocore_s_request(cloud):
    direct = cloud.clients.s3
    assert isinstance(direct, direct_calls.DirectUploadsClient)
    client, body = direct._client, b"id,value\n1,2\n"
    bucket = probe_bucket(client, "direct-uploads-probe")
    quick = direct.put_object(Bucket=bucket, Key="direct/quick.csv", Body=body)
    reference = client.put_object(Bucket=bucket, Key="direct/reference.csv", Body=body)
    for response in (quick, reference):
        headers = response["ResponseMetadata"]["HTTPHeaders"]
        assert len(headers.pop("x-amzn-requestid")) == len(response["ResponseMetadata"].pop("RequestId")) == 52
        for varying in ("last-modified", "x-amz-version-id"):
            headers.pop(varying)
        assert response.pop("VersionId")
    assert quick == reference and quick["ChecksumCRC32"] and quick["ETag"] and quick["ServerSideEncryption"] == "aws:kms"

    def stored(key: str) -> list:
        head = client.head_object(Bucket=bucket, Key=key)
        attributes = client.get_object_attributes(Bucket=bucket, Key=key,
                                                  ObjectAttributes=["ETag", "Checksum", "ObjectSize", "StorageClass"])
        for answer in (head, attributes):
            for varying in ("ResponseMetadata", "LastModified", "VersionId"):
                answer.pop(varying, None)
        return [head, attributes, client.get_object_acl(Bucket=bucket, Key=key)["Grants"],
                client.get_object_tagging(Bucket=bucket, Key=key)["TagSet"]]

    assert stored("direct/quick.csv") == stored("direct/reference.csv")
    # An object overwritten in a bucket without versioning loses its tags (the same "null" version).
    bucket = "direct-uploads-unversioned"
    client.create_bucket(Bucket=bucket)
    for key in ("direct/quick.csv", "direct/reference.csv"):
        client.put_object(Bucket=bucket, Key=key, Body=body)
        client.put_object_tagging(Bucket=bucket, Key=key, Tagging={"TagSet": [{"Key": "old", "Value": "tag"}]})
    direct.put_object(Bucket=bucket, Key="direct/quick.csv", Body=body)
    client.put_object(Bucket=bucket, Key="direct/reference.csv", Body=body)
    assert stored("direct/quick.csv") == stored("direct/reference.csv")
    assert client.get_object_tagging(Bucket=bucket, Key="direct/quick.csv")["TagSet"] == []


def test_uploads_the_direct_path_does_not_take_go_through_the_real_client(cloud):
    direct = cloud.clients.s3
    bucket = probe_bucket(direct._client, "direct-uploads-typed")
    direct.put_object(Bucket=bucket, Key="direct/typed.csv", Body=b"a\n", ContentType="text/csv")
    assert direct.head_object(Bucket=bucket, Key="direct/typed.csv")["ContentType"] == "text/csv"
    with pytest.raises(ClientError) as quick_error:
        direct.put_object(Bucket="no-such-bucket-here", Key="k", Body=b"a")
    with pytest.raises(ClientError) as reference_error:
        direct._client.put_object(Bucket="no-such-bucket-here", Key="k", Body=b"a")
    assert quick_error.value.response["Error"] == reference_error.value.response["Error"]


def test_only_states_without_a_timeout_run_inline(monkeypatch):
    import threading
    from types import SimpleNamespace

    from moto.stepfunctions.parser.asl.component.common.timeouts.timeout import TimeoutSeconds, TimeoutSecondsPath
    from moto.stepfunctions.parser.asl.component.state.exec import execute_state

    made = []

    def evaluate(state, env):  # stands in for moto's: makes its thread as moto's does
        thread = execute_state.Thread(target=lambda: made.append(threading.current_thread()), daemon=True)
        thread.start()
        thread.join()
        if env == "fail":
            raise RuntimeError("the task failed")
        return type(thread)

    monkeypatch.setattr(moto_patches, "_original_evaluate_state", evaluate)
    monkeypatch.setattr(execute_state, "Thread", moto_patches.state_thread)
    default = SimpleNamespace(timeout=TimeoutSeconds(TimeoutSeconds.DEFAULT_TIMEOUT_SECONDS))
    assert moto_patches.evaluate_state(default, None) is moto_patches.InlineThread
    assert made[-1] is threading.current_thread()
    for timed in (TimeoutSeconds(30), TimeoutSecondsPath("$.timeout")):
        assert moto_patches.evaluate_state(SimpleNamespace(timeout=timed), None) is threading.Thread
        assert made[-1] is not threading.current_thread()
    with pytest.raises(RuntimeError):
        moto_patches.evaluate_state(default, "fail")
    assert moto_patches.state_thread(target=lambda: None).__class__ is threading.Thread  # flag restored


def test_only_programs_without_a_timeout_run_inline(monkeypatch):
    import threading
    from types import SimpleNamespace

    ran, reported = [], []

    def evaluate(program, env):
        ran.append((threading.current_thread(), env.next_state_name))
        if env.fail:
            raise RuntimeError("the interpreter failed")

    monkeypatch.setattr(moto_patches.EvalComponent, "eval", evaluate)
    monkeypatch.setattr(moto_patches, "_original_evaluate_program", lambda program, env: ran.append("moto's"))
    monkeypatch.setattr(threading, "excepthook", lambda args: reported.append(args.exc_value))
    untimed = SimpleNamespace(timeout_seconds=None, start_at=SimpleNamespace(start_at_name="Check"))
    assert moto_patches.evaluate_program(untimed, SimpleNamespace(next_state_name=None, fail=False)) is None
    assert ran == [(threading.current_thread(), "Check")]
    assert moto_patches.evaluate_program(untimed, SimpleNamespace(next_state_name=None, fail=True)) is None
    assert [str(error) for error in reported] == ["the interpreter failed"]  # reported as a thread's would be
    moto_patches.evaluate_program(SimpleNamespace(timeout_seconds=object()), None)
    assert ran[-1] == "moto's"

"""Fails loudly when the pinned moto changes under pipeline/local/moto_hooks.py.

Each hook replaces or reads something private to moto; each test here pins one of those
assumptions, so an upgrade breaks here, with a name, before it breaks a pipeline run.
"""

import inspect
import json
import time
from pathlib import Path

import boto3
import moto
import pytest
from moto import mock_aws
from moto.awslambda.models import LambdaFunction
from moto.events.models import EventPattern, EventsBackend
from moto.events.responses import EventsHandler
from moto.s3 import notifications
from moto.sns.models import SNSBackend
from moto.stepfunctions import models as stepfunctions_models
from moto.stepfunctions.parser.asl.component.common.retry import retrier_decl
from moto.stepfunctions.parser.asl.jsonata import jsonata as moto_jsonata
from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser

from pipeline.local import moto_hooks

ROOT = Path(__file__).resolve().parents[2]


def parameters(function) -> list[str]:
    return list(inspect.signature(function).parameters)


def test_moto_is_the_pinned_version():
    assert moto.__version__ == moto_hooks.PINNED_MOTO


def test_lambda_invoke_keeps_its_signature():
    assert parameters(LambdaFunction.invoke) == ["self", "body", "request_headers", "response_headers"]


def test_s3_notifications_go_through_one_module_function():
    assert parameters(notifications.send_event) == ["account_id", "event_name", "bucket", "key"]
    assert notifications.S3NotificationEvent.OBJECT_CREATED_PUT_EVENT.value == "s3:ObjectCreated:Put"


def test_jsonata_evaluation_is_still_a_stub_behind_a_module_global():
    assert moto_jsonata._eval_jsonata is None
    assert "_eval_jsonata" in inspect.getsource(moto_jsonata.eval_jsonata_expression)


def test_retry_waits_use_the_retrier_modules_time():
    assert retrier_decl.time is time
    assert "time.sleep(interval_seconds)" in inspect.getsource(retrier_decl)


def test_definitions_are_parsed_by_a_static_method():
    assert isinstance(inspect.getattr_static(AmazonStateLanguageParser, "parse"), staticmethod)


def test_test_event_pattern_is_still_unimplemented_and_the_matcher_exists():
    assert "NotImplementedError" in inspect.getsource(EventsBackend.test_event_pattern)
    assert callable(EventsHandler.test_event_pattern)
    assert parameters(EventPattern.matches_event) == ["self", "event"]
    with mock_aws():
        events = boto3.client("events", region_name="us-east-1")
        events.put_rule(Name="r", EventPattern=json.dumps({"source": ["aws.s3"]}), State="DISABLED")
        events.put_targets(Rule="r", Targets=[{"Id": "t", "Arn": "arn:aws:sqs:us-east-1:123456789012:q"}])
        (rule,) = moto_hooks.rules_of_default_bus("123456789012", "us-east-1")
        assert (rule.name, rule.state, [t["Id"] for t in rule.targets]) == ("r", "DISABLED", ["t"])
        assert rule.event_pattern.matches_event({"source": "aws.s3"})


def test_cloudformation_state_machines_use_the_non_executing_backend():
    source = inspect.getsource(stepfunctions_models.StateMachine.create_from_cloudformation_json)
    assert "stepfunctions_backends[account_id][region_name]" in source


def test_sns_publish_keeps_its_signature():
    assert parameters(SNSBackend.publish)[:3] == ["self", "message", "arn"]


def test_hooks_are_removed_on_exit():
    original = LambdaFunction.invoke
    with moto_hooks.installed(invoke=lambda *_: ("{}", False), on_object_write=lambda *_: False,
                              clock=moto_hooks.ScaledClock(0), before_publish=lambda _: None,
                              on_execution_end=lambda *_: None, authorize_task=lambda *_: None):
        assert LambdaFunction.invoke is not original
    assert LambdaFunction.invoke is original
    assert retrier_decl.time is time


def test_task_clients_come_from_one_module_function():
    for module in moto_hooks.TASK_CLIENT_MODULES:
        assert module.boto_client_for.__module__ == "moto.stepfunctions.parser.asl.utils.boto_client"
    assert parameters(moto_hooks.moto_boto_client.boto_client_for) == ["region", "service", "state_credentials"]


def test_executions_report_their_end_through_one_method():
    from moto.stepfunctions.parser.backend.execution import BaseExecutionWorkerCommunication

    assert parameters(BaseExecutionWorkerCommunication.terminated) == ["self"]
    assert "_reflect_execution_status" in inspect.getsource(BaseExecutionWorkerCommunication.terminated)


def test_json_paths_are_parsed_through_module_globals():
    from jsonpath_ng import parse as plain_parse
    from jsonpath_ng.ext import parse as extended_parse
    from moto.stepfunctions.parser.asl.component.common.path import result_path

    assert moto_hooks.moto_json_path.parse is extended_parse
    assert "parse(path)" in inspect.getsource(moto_hooks.moto_json_path.extract_json)
    assert result_path.parse is plain_parse
    assert "parse(self.result_path_src)" in inspect.getsource(result_path.ResultPath._eval_body)


def test_action_results_are_serialized_through_one_method():
    from moto.core.responses import ActionResult, BaseResponse

    assert parameters(ActionResult.execute_result) == ["self", "context"]
    assert "execute_result(context)" in inspect.getsource(BaseResponse.serialized)


def test_start_execution_and_metrics_keep_their_backend_signatures():
    from moto.cloudwatch.models import CloudWatchBackend
    from moto.stepfunctions.parser.models import StepFunctionsParserBackend

    assert parameters(StepFunctionsParserBackend.start_execution)[:4] == [
        "self", "state_machine_arn", "name", "execution_input"]
    assert parameters(CloudWatchBackend.put_metric_data) == ["self", "namespace", "metric_data"]


def test_the_wsgi_application_is_the_one_motos_own_server_runs():
    from moto.core.utils import convert_to_flask_response
    from moto.moto_server import threaded_moto_server
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication

    source = inspect.getsource(threaded_moto_server.ThreadedMotoServer._server_entry)
    assert "DomainDispatcherApplication(create_backend_app)" in source
    # MotoApplication does what moto's view function does with a request Flask has routed...
    view = inspect.getsource(convert_to_flask_response.__call__)
    assert "result = self.callback(request, request.raw_url, dict(request.headers))" in view
    assert "Response(response=content, status=status, headers=headers)" in view
    # Routes depend on method and path alone, so MotoApplication caches them.
    from moto.moto_server.werkzeug_app import create_backend_app

    for service in ("s3", "dynamodb"):
        url_map = create_backend_app(service).url_map
        assert not url_map.host_matching and all(not rule.subdomain and not rule.host for rule in url_map.iter_rules())
    # ...and caches which service a host names, which moto works out from its package directory.
    assert parameters(DomainDispatcherApplication.get_backend_for_host) == ["self", "host"]
    assert "list_of_moto_modules()" in inspect.getsource(DomainDispatcherApplication.get_backend_for_host)


def test_in_process_requests_are_routed_as_motos_stubber_routes_them():
    from moto.core.botocore_stubber import BotocoreStubber

    source = inspect.getsource(BotocoreStubber.process_request)
    for step in ("backend_index.backend_url_patterns", "passthrough_service(service)", "service_whitelisted(service)",
                 "for url, method_to_execute in backend.urls.items():", "normalize_request(request)",
                 "recorder._record_request(normalized_request)", "except HTTPException as e:", "Not yet implemented"):
        assert step in source, step
    assert parameters(BotocoreStubber.process_request) == ["self", "request"]


def test_quick_dispatch_caches_what_depends_on_its_key_alone():
    from moto.core.responses import BaseResponse
    from moto.dynamodb.comparisons import ConditionExpressionParser

    assert "method_names_from_class(self.__class__)" in inspect.getsource(BaseResponse.call_action)
    import re

    from moto.dynamodb import comparisons

    lex = inspect.getsource(ConditionExpressionParser._lex_condition_expression)
    assert "self.condition_expression" in lex and "self._lex_one_node" in lex
    assert ConditionExpressionParser.Node.__bases__ == (tuple,)  # lexed nodes can be shared, as the
    assert not re.search(r"children\.(append|extend|insert|pop|remove|clear)\(|children\[[^\]]*\]\s*=",
                         inspect.getsource(comparisons))  # parser never changes a node's children
    assert "self._lex_condition_expression()" in inspect.getsource(ConditionExpressionParser.parse)


# -- the quick paths answer exactly as moto's own --------------------------------------------


@pytest.fixture(scope="module")
def cloud(deploy):
    return deploy(FailureRate=0, optimized=True)  # the speed layer's quick paths, on whatever the environment says


def parsed_both_ways(call):
    """A client call's parsed response through the quick JSON writer, then through moto's."""
    from moto.core.responses import ActionResult

    quick = call()
    installed = ActionResult.execute_result
    ActionResult.execute_result = moto_hooks._original_execute_result
    try:
        reference = call()
    finally:
        ActionResult.execute_result = installed
    for response in (quick, reference):
        response.pop("ResponseMetadata")
    return quick, reference


def test_step_functions_responses_parse_the_same_as_from_motos_serializer(cloud, files):
    from tests.offline import run_one

    assert moto_hooks.ActionResult.execute_result is moto_hooks.fast_execute_result
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
    except moto_hooks.ClientError as error:
        return {"Error": error.response["Error"], "HTTPStatusCode": error.response["ResponseMetadata"]["HTTPStatusCode"]}
    return {"StatusCode": response["StatusCode"], "FunctionError": response.get("FunctionError"),
            "Payload": json.loads(response["Payload"].read())}


def test_direct_lambda_invoke_answers_as_botocore_does_from_moto(cloud):
    from pipeline.local.faults import Fault

    direct = lambda_task_client(cloud.clients.region)
    assert isinstance(direct, moto_hooks.DirectLambdaClient)
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
        with pytest.raises(moto_hooks.ClientError) as direct:
            moto_hooks.start_execution("123456789012", cloud.clients.region, arn, "hooks-direct", execution_input)
        with pytest.raises(moto_hooks.ClientError) as api:
            sfn.start_execution(stateMachineArn=arn, name="hooks-api", input=execution_input)
        assert direct.value.response["Error"] == api.value.response["Error"]


def test_ended_executions_keep_their_history_and_let_the_interpreter_go(cloud, files):
    from moto.stepfunctions.parser.backend.execution import Execution
    from moto.stepfunctions.parser.models import stepfunctions_parser_backends
    from moto.stepfunctions.parser.utils import TMP_THREADS

    from tests.offline import run_one

    from moto.stepfunctions.parser.asl.eval.event.event_manager import EventManager

    source = inspect.getsource(Execution.to_history_output)
    assert "self.exec_worker.env" in source and "env.event_manager.get_event_history()" in source
    history = inspect.getsource(EventManager.get_event_history)
    assert "with self._mutex:" in history and "copy.deepcopy(self._history_event_list)" in history
    assert isinstance(TMP_THREADS, list)
    result = run_one(cloud, files, "hooks-release.csv")
    execution = stepfunctions_parser_backends["123456789012"][cloud.clients.region].describe_execution(
        result.execution_arn)
    deadline = time.monotonic() + 5
    while not isinstance(execution.exec_worker, moto_hooks.EndedWorker) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert isinstance(execution.exec_worker, moto_hooks.EndedWorker)
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
        except moto_hooks.ClientError:
            pass
    return len(calls)


def test_routed_requests_answer_as_motos_stubber_does(cloud, files):
    from moto.core.botocore_stubber import BotocoreStubber
    from moto.core.models import botocore_stubber

    from tests.offline import run_one

    assert BotocoreStubber.process_request is moto_hooks.routed_request
    key = run_one(cloud, files, "hooks-routed.csv").key
    answers = []

    def both(request, **_):
        routed = moto_hooks.routed_request(botocore_stubber, request)
        reference = moto_hooks._original_process_request(botocore_stubber, request)
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
    assert moto_hooks.routed_request(botocore_stubber, type("Request", (), {"url": "http://localhost:1/x"})()) is None


def test_the_moto_application_answers_as_flask_does(cloud, files):
    import io

    import boto3
    from werkzeug.test import run_wsgi_app

    from pipeline.local.http_server import KeepAliveServer
    from pipeline.local.service_process import MotoApplication

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

    from pipeline.local.service_process import quick_dispatch

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


def test_executions_are_only_ever_appended_and_looked_up_by_a_scan():
    import re

    from moto.stepfunctions import models as plain_models
    from moto.stepfunctions.parser import models as parser_models

    for module in (plain_models, parser_models):
        source = inspect.getsource(module)  # the attribute is set once, empty, then appended to
        assert not re.search(r"\.executions\s*(=[^=]|\[[^\]]*\]\s*=)|\.executions\.(remove|pop|insert|clear|extend|sort)\(",
                             source)
        assert source.count(".executions.append(") == 1
    # (the originals: a module-scoped offline cloud may have the hooks installed)
    assert "x.execution_arn == execution_arn" in inspect.getsource(moto_hooks._original_describe_execution)
    assert "self.describe_execution(execution_arn=execution_arn)" in inspect.getsource(
        parser_models.StepFunctionsParserBackend.get_execution_history)
    assert "for execution in self.executions:" in inspect.getsource(moto_hooks._original_existing_execution)
    assert "describe_execution" not in parser_models.StepFunctionsParserBackend.__dict__
    enrich = inspect.getsource(moto_hooks._original_enrich_response)
    assert "gen_amzn_requestid_long(headers)" in enrich and '(?<=<RequestId>).*(?=<\\/RequestId>)' in enrich


def test_executions_are_found_as_motos_scan_finds_them(cloud, files):
    from moto.stepfunctions.models import StepFunctionBackend
    from moto.stepfunctions.parser.models import stepfunctions_parser_backends

    from tests.offline import run_one

    backend = stepfunctions_parser_backends["123456789012"][cloud.clients.region]
    ended = run_one(cloud, files, "hooks-index.csv").execution_arn
    assert StepFunctionBackend.describe_execution is moto_hooks.describe_execution
    original_describe, original_existing = moto_hooks._original_describe_execution, moto_hooks._original_existing_execution

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

    running = SimpleNamespace(name="n", execution_input="{}", status="RUNNING", execution_arn="arn:n")
    machine = SimpleNamespace(executions=[running])  # the same name and input while it runs
    assert moto_hooks.existing_execution(machine, "n", "{}") is running is original_existing(machine, "n", "{}")


def test_responses_without_an_xml_request_id_are_enriched_as_moto_does():
    from moto.core.responses import BaseResponse

    with moto_hooks.installed(invoke=lambda *_: ("{}", False), on_object_write=lambda *_: False,
                              clock=moto_hooks.ScaledClock(0), before_publish=lambda _: None,
                              on_execution_end=lambda *_: None, authorize_task=lambda *_: None):
        for body in ('{"events": [{"id": 1}]}', "<Error><RequestId>x</RequestId></Error>", b"bytes", ""):
            quick = BaseResponse._enrich_response({"status": 200}, body)
            reference = moto_hooks._original_enrich_response({"status": 200}, body)
            for headers, _ in (quick, reference):
                assert len(headers.pop("x-amzn-requestid")) == 52  # a new request id each time
            assert quick[0] == reference[0] == {"status": "200"}
            assert (quick[1] == reference[1]) == ("<RequestId>" not in str(body))  # a new id in the XML, or none


def test_account_backends_are_registered_and_reset_together():
    from moto.core.base_backend import BackendDict

    getitem = inspect.getsource(moto_hooks._original_account_backends)
    assert "self._create_account_specific_backend(account_id)" in getitem
    create = inspect.getsource(BackendDict._create_account_specific_backend)
    assert "if account_id not in list(self.keys()):" in create and "BackendDict._instances.append(self)" in create
    reset = inspect.getsource(BackendDict.reset)
    assert "backend.clear()" in reset and "BackendDict._instances.clear()" in reset


def test_account_backends_are_the_ones_moto_returns():
    from moto.core.base_backend import BackendDict
    from moto.sqs.models import sqs_backends

    with moto_hooks.installed(invoke=lambda *_: ("{}", False), on_object_write=lambda *_: False,
                              clock=moto_hooks.ScaledClock(0), before_publish=lambda _: None,
                              on_execution_end=lambda *_: None, authorize_task=lambda *_: None):
        assert BackendDict.__getitem__ is moto_hooks.account_backends
        fresh = "210987654321"
        assert fresh not in dict.keys(sqs_backends)
        first = sqs_backends[fresh]  # created and registered by moto, then found directly
        assert sqs_backends in BackendDict._instances
        assert sqs_backends[fresh] is first is moto_hooks._original_account_backends(sqs_backends, fresh)
    assert BackendDict.__getitem__ is moto_hooks._original_account_backends


def test_direct_history_reads_as_botocore_parses_moto_s_answer(cloud, files):
    from tests.offline import run_one

    direct = cloud.clients.stepfunctions
    assert isinstance(direct, moto_hooks.DirectReadsClient)
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
        with pytest.raises(moto_hooks.ClientError) as quick_error:
            direct.get_execution_history(executionArn=arn)
        with pytest.raises(moto_hooks.ClientError) as reference_error:
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
        with pytest.raises(moto_hooks.ClientError) as quick_error:
            direct.list_executions(stateMachineArn=arn_or_missing)
        with pytest.raises(moto_hooks.ClientError) as reference_error:
            client.list_executions(stateMachineArn=arn_or_missing)
        assert quick_error.value.response["Error"] == reference_error.value.response["Error"]


def test_the_direct_listing_is_what_motos_response_class_builds():
    from moto.stepfunctions.responses import StepFunctionResponse

    source = inspect.getsource(StepFunctionResponse.list_executions)
    for line in ('"executionArn": execution.execution_arn', '"name": execution.name',
                 '"startDate": execution.start_date', '"stateMachineArn": state_machine.arn',
                 '"status": execution.status', 'result["stopDate"] = execution.stop_date',
                 "ExecutionStatus.SUCCEEDED", "ExecutionStatus.FAILED", "ExecutionStatus.ABORTED",
                 'response = {"executions": executions, "nextToken": next_token}'):
        assert line in source, line
    assert source.count("ExecutionStatus.") == 3


def test_task_states_are_evaluated_in_a_thread_that_is_only_waited_for():
    from moto.stepfunctions.parser.asl.component.common.timeouts.timeout import TimeoutSeconds
    from moto.stepfunctions.parser.asl.component.state.exec import execute_state

    source = inspect.getsource(moto_hooks._original_evaluate_state)
    for step in ("thread = Thread(target=_exec_and_notify, daemon=True)", "thread.start()",
                 "finished_on_time: bool = terminated_event.wait(timeout_seconds)", "TMP_THREADS.append(thread)"):
        assert step in source, step
    assert inspect.getsource(execute_state).count("Thread(") == 1  # that one, and nothing else here
    assert TimeoutSeconds(TimeoutSeconds.DEFAULT_TIMEOUT_SECONDS).is_default_value()
    assert not TimeoutSeconds(30).is_default_value()


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

    monkeypatch.setattr(moto_hooks, "_original_evaluate_state", evaluate)
    monkeypatch.setattr(execute_state, "Thread", moto_hooks._state_thread)
    default = SimpleNamespace(timeout=TimeoutSeconds(TimeoutSeconds.DEFAULT_TIMEOUT_SECONDS))
    assert moto_hooks.evaluate_state(default, None) is moto_hooks.InlineThread
    assert made[-1] is threading.current_thread()
    for timed in (TimeoutSeconds(30), TimeoutSecondsPath("$.timeout")):
        assert moto_hooks.evaluate_state(SimpleNamespace(timeout=timed), None) is threading.Thread
        assert made[-1] is not threading.current_thread()
    with pytest.raises(RuntimeError):
        moto_hooks.evaluate_state(default, "fail")
    assert moto_hooks._state_thread(target=lambda: None).__class__ is threading.Thread  # flag restored


def test_a_program_is_evaluated_in_a_thread_that_is_only_joined():
    from moto.stepfunctions.parser.asl.component.program.program import Program

    source = inspect.getsource(moto_hooks._original_evaluate_program)
    for step in ("timeout = self.timeout_seconds.timeout_seconds if self.timeout_seconds else None",
                 "env.next_state_name = self.start_at.start_at_name",
                 "worker_thread = threading.Thread(target=super().eval, args=(env,), daemon=True)",
                 "worker_thread.join(timeout=timeout)", "env.set_timed_out()"):
        assert step in source, step
    assert Program.__bases__ == (moto_hooks.EvalComponent,)  # super().eval is EvalComponent.eval


def test_only_programs_without_a_timeout_run_inline(monkeypatch):
    import threading
    from types import SimpleNamespace

    ran, reported = [], []

    def evaluate(program, env):
        ran.append((threading.current_thread(), env.next_state_name))
        if env.fail:
            raise RuntimeError("the interpreter failed")

    monkeypatch.setattr(moto_hooks.EvalComponent, "eval", evaluate)
    monkeypatch.setattr(moto_hooks, "_original_evaluate_program", lambda program, env: ran.append("moto's"))
    monkeypatch.setattr(threading, "excepthook", lambda args: reported.append(args.exc_value))
    untimed = SimpleNamespace(timeout_seconds=None, start_at=SimpleNamespace(start_at_name="Check"))
    assert moto_hooks.evaluate_program(untimed, SimpleNamespace(next_state_name=None, fail=False)) is None
    assert ran == [(threading.current_thread(), "Check")]
    assert moto_hooks.evaluate_program(untimed, SimpleNamespace(next_state_name=None, fail=True)) is None
    assert [str(error) for error in reported] == ["the interpreter failed"]  # reported as a thread's would be
    moto_hooks.evaluate_program(SimpleNamespace(timeout_seconds=object()), None)
    assert ran[-1] == "moto's"


def test_a_table_created_by_cloudformation_takes_its_template_encryption():
    """moto's CloudFormation keeps SSESpecification as the template writes it (SSEEnabled), which
    its DescribeTable does not read; set_table_encryption gives it the API's form."""
    import boto3
    from moto import mock_aws

    with mock_aws():
        dynamodb = boto3.client("dynamodb", region_name="us-east-1")
        dynamodb.create_table(TableName="records", KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
                              AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
                              BillingMode="PAY_PER_REQUEST")
        assert "SSEDescription" not in dynamodb.describe_table(TableName="records")["Table"]
        moto_hooks.set_table_encryption("123456789012", "us-east-1", "records",
                                        {"Enabled": True, "SSEType": "KMS", "KMSMasterKeyId": "key-id"})
        described = dynamodb.describe_table(TableName="records")["Table"]["SSEDescription"]
        assert (described["Status"], described["SSEType"], described["KMSMasterKeyArn"]) == ("ENABLED", "KMS", "key-id")

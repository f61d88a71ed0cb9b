"""Fails loudly when the pinned moto changes under pipeline/local/moto_hooks.py.

Each hook replaces or reads something private to moto; each test here pins one of those
assumptions, so an upgrade breaks here, with a name, before it breaks a pipeline run.
"""

import inspect
import json
import time
from pathlib import Path

import moto
import pytest
from moto.awslambda.models import LambdaFunction
from moto.events.models import EventPattern, EventsBackend, Rule
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
    assert {"state", "event_pattern", "targets"} <= set(parameters(Rule.__init__)) | {"targets"}


def test_cloudformation_state_machines_use_the_non_executing_backend():
    source = inspect.getsource(stepfunctions_models.StateMachine.create_from_cloudformation_json)
    assert "stepfunctions_backends[account_id][region_name]" in source


def test_sns_publish_keeps_its_signature():
    assert parameters(SNSBackend.publish)[:3] == ["self", "message", "arn"]


def test_hooks_are_removed_on_exit():
    original = LambdaFunction.invoke
    with moto_hooks.installed(invoke=lambda *_: ("{}", False), on_object_write=lambda *_: False,
                              clock=moto_hooks.ScaledClock(0), before_publish=lambda _: None,
                              on_execution_end=lambda *_: None):
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
    from moto.moto_server import threaded_moto_server

    source = inspect.getsource(threaded_moto_server.ThreadedMotoServer._server_entry)
    assert "DomainDispatcherApplication(create_backend_app)" in source
    from pipeline.local.service_process import moto_wsgi_app

    assert callable(moto_wsgi_app())


# -- the quick paths answer exactly as moto's own --------------------------------------------


@pytest.fixture(scope="module")
def cloud(deploy):
    return deploy(FailureRate=0)


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
    from tests.conftest import run_one

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

    from tests.conftest import run_one

    source = inspect.getsource(Execution.to_history_output)
    assert "self.exec_worker.env" in source and "env.event_manager.get_event_history()" in source
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

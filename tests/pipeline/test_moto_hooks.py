"""Fails loudly when the pinned moto changes under pipeline/local/moto_hooks.py.

Each hook replaces or reads something private to moto; each test here pins one of those
assumptions, so an upgrade breaks here, with a name, before it breaks a pipeline run.
"""

import inspect
import time

import moto
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

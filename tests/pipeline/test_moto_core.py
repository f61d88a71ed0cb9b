"""What each core hook does, against the pinned moto (pipeline/local/moto_core.py).

Each test runs moto with the hooks installed and checks the behaviour the offline cloud relies
on; where the hook exists because moto lacks something, the test also shows moto lacking it, so
that a moto release that closes the gap fails here and the hook can go. What happens on another
moto (the speed layer off, or one clear line) is tested at the end.
"""

from __future__ import annotations

import io
import json
import logging
import sys
from pathlib import Path

import boto3
import moto
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from moto import mock_aws

from pipeline.local import moto_version, speed
from pipeline.local.moto_version import PINNED_MOTO
from tests.pipeline.moto_engine import ACCOUNT_ID, REGION, engine, lambda_task

ROOT = Path(__file__).resolve().parents[2]
PASS_MACHINE = {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}}


def test_moto_is_the_version_pyproject_pins():
    assert moto.__version__ == moto_version.PINNED_MOTO
    assert f"==={moto_version.PINNED_MOTO}"[1:] in (ROOT / "pyproject.toml").read_text(encoding="utf-8")


def test_a_lambda_task_runs_in_our_runtime_as_the_state_machine_role():
    with engine() as run:
        described = run.run({"StartAt": "T", "States": {"T": lambda_task(run.function_arn)}}, '{"file": "a.csv"}')
        assert (described["status"], json.loads(described["output"])) == ("SUCCEEDED", {"file": "a.csv"})
        assert len(run.invocations) == 1
        assert run.authorized == [(run.role_arn, "lambda", "Invoke")]
        assert run.ended == [(described["stateMachineArn"], "SUCCEEDED")]


def test_a_handler_error_is_retried_on_the_scaled_clock_and_fails_the_execution():
    with engine() as run:
        run.respond = lambda event: ('{"errorType": "CsvError", "errorMessage": "bad row"}', True)
        retry = [{"ErrorEquals": ["States.ALL"], "IntervalSeconds": 100, "MaxAttempts": 2, "BackoffRate": 2}]
        described = run.run({"StartAt": "T", "States": {"T": lambda_task(run.function_arn, Retry=retry)}})
        assert (described["status"], described["error"]) == ("FAILED", "CsvError")
        assert run.clock.waits == [100.0, 200.0]  # the waits asked for, none of them waited (scale 0)
        assert len(run.invocations) == 3
        assert run.ended[-1][1] == "FAILED"


def test_a_refused_lambda_call_is_named_as_step_functions_names_it():
    """AccessDeniedException is not in Lambda's model: Step Functions reports it as
    Lambda.AWSLambdaException (Step Functions Developer Guide, "Error handling"); moto would
    report Lambda.AccessDeniedException."""
    with engine() as run:
        run.refuse_tasks = True
        described = run.run({"StartAt": "T", "States": {"T": lambda_task(run.function_arn)}})
        assert (described["status"], described["error"]) == ("FAILED", "Lambda.AWSLambdaException")
        assert "may not Invoke" in described["cause"] and run.invocations == []


def test_jsonata_is_evaluated_where_moto_has_a_stub():
    from moto.stepfunctions.parser.asl.jsonata import jsonata as moto_jsonata

    assert moto_jsonata._eval_jsonata is None  # moto's hook for an evaluator, unset
    definition = {"QueryLanguage": "JSONata", "StartAt": "P",
                  "States": {"P": {"Type": "Pass", "Output": "{% $states.input.n + 2 %}", "End": True}}}
    with engine() as run:
        described = run.run(definition, '{"n": 1}')
        assert (described["status"], described["output"]) == ("SUCCEEDED", "3")


def test_test_event_pattern_answers_where_moto_does_not():
    event = json.dumps({"id": "1", "source": "aws.s3", "detail-type": "Object Created", "account": "123456789012",
                        "time": "2026-11-26T00:00:00Z", "region": REGION, "resources": [], "detail": {}})
    with mock_aws():
        assert "Result" not in boto3.client("events", region_name=REGION).test_event_pattern(
            EventPattern='{"source": ["aws.s3"]}', Event=event)
    with engine() as run:
        events = run.client("events")
        assert events.test_event_pattern(EventPattern='{"source": ["aws.s3"]}', Event=event)["Result"] is True
        assert events.test_event_pattern(EventPattern='{"source": ["aws.sqs"]}', Event=event)["Result"] is False


def test_disabled_rules_do_not_fire_although_moto_matches_them():
    with engine() as run:
        from pipeline.local import moto_eventbridge

        events = run.client("events")
        events.put_rule(Name="r", EventPattern=json.dumps({"source": ["aws.s3"]}), State="DISABLED")
        events.put_targets(Rule="r", Targets=[{"Id": "t", "Arn": "arn:aws:sqs:us-east-1:123456789012:q"}])
        (rule,) = moto_eventbridge.rules_of_default_bus("123456789012", REGION)
        assert rule.event_pattern.matches_event({"source": "aws.s3"})
        assert not moto_eventbridge.rule_fires(rule, {"source": "aws.s3"})
        events.enable_rule(Name="r")
        (rule,) = moto_eventbridge.rules_of_default_bus("123456789012", REGION)
        assert moto_eventbridge.rule_fires(rule, {"source": "aws.s3"})


def test_object_writes_are_announced_to_the_offline_event_bus():
    with engine() as run:
        s3 = run.client("s3")
        s3.create_bucket(Bucket="landing")
        s3.put_object(Bucket="landing", Key="daily/a b.csv", Body=b"x")
        assert ("123456789012", "s3:ObjectCreated:Put", "landing/daily/a b.csv") == run.writes[0]


def test_a_multipart_upload_is_announced_once_where_moto_announces_it_twice(monkeypatch):
    from boto3.s3.transfer import TransferConfig
    from moto.s3 import notifications

    def upload(s3) -> None:
        s3.create_bucket(Bucket="landing")
        s3.upload_fileobj(io.BytesIO(b"x" * 6 * 1024 * 1024), "landing", "big.csv",
                          Config=TransferConfig(multipart_threshold=5 * 1024 * 1024))

    announced = []
    with mock_aws():
        monkeypatch.setattr(notifications, "send_event", lambda account, name, bucket, key: announced.append(name.value))
        upload(boto3.client("s3", region_name=REGION))
    assert [name for name in announced if "ObjectCreated" in name] == [
        "s3:ObjectCreated:Put", "s3:ObjectCreated:CompleteMultipartUpload"]  # moto alone
    monkeypatch.undo()
    with engine() as run:
        upload(run.client("s3"))
        assert [write[1] for write in run.writes if "ObjectCreated" in write[1]] == [
            "s3:ObjectCreated:CompleteMultipartUpload"]


def test_a_publish_can_be_made_to_fail_as_sns_fails():
    with engine() as run:
        sns = boto3.client("sns", region_name=REGION, config=Config(retries={"total_max_attempts": 1}))
        topic = sns.create_topic(Name="failures")["TopicArn"]
        sns.publish(TopicArn=topic, Message="one")
        run.fail_publish = True
        with pytest.raises(ClientError) as failed:
            sns.publish(TopicArn=topic, Message="two")
        assert failed.value.response["Error"]["Code"] == "InternalError"
        assert run.published == [topic, topic]


def test_state_machines_cloudformation_creates_can_be_executed():
    template = json.dumps({"Resources": {"Machine": {"Type": "AWS::StepFunctions::StateMachine", "Properties": {
        "DefinitionString": json.dumps(PASS_MACHINE), "RoleArn": "arn:aws:iam::123456789012:role/x"}}}})

    def start(cloudformation, sfn):
        cloudformation.create_stack(StackName="s", TemplateBody=template)
        arn = cloudformation.describe_stack_resources(StackName="s")["StackResources"][0]["PhysicalResourceId"]
        return sfn.start_execution(stateMachineArn=arn)["executionArn"]

    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):
        with pytest.raises(ClientError) as plain:
            start(boto3.client("cloudformation", region_name=REGION), boto3.client("stepfunctions", region_name=REGION))
        assert plain.value.response["Error"]["Code"] == "StateMachineDoesNotExist"
    with engine() as run:
        execution = start(run.client("cloudformation"), run.client("stepfunctions"))
        assert run.follow(execution)["status"] == "SUCCEEDED"


def test_a_json_template_body_is_read_as_json_and_a_yaml_one_as_moto_reads_it():
    """A JSON number such as 1e-05 is a string to YAML 1.1, which moto reads every body as."""
    from moto.cloudformation.models import Stack

    body = json.dumps({"Resources": {}, "Metadata": {"Ratio": 1e-05, "Name": "a\u00e9"}})
    assert Stack.parse_template(body)["Metadata"]["Ratio"] == "1e-05"
    with engine() as run:
        assert Stack.parse_template(body)["Metadata"] == {"Ratio": 1e-05, "Name": "a\u00e9"}
        assert Stack.parse_template("Resources: {}\nMetadata: {Ratio: 0.5}\n")["Metadata"]["Ratio"] == 0.5
        template = json.dumps({"Resources": {"Queue": {"Type": "AWS::SQS::Queue"}}})
        cloudformation = run.client("cloudformation")
        cloudformation.create_stack(StackName="json-body", TemplateBody=template)
        cloudformation.create_change_set(StackName="json-body", ChangeSetName="again", TemplateBody=template)
        assert cloudformation.describe_stack_resources(StackName="json-body")["StackResources"][0]["LogicalResourceId"] == "Queue"


def test_a_definition_parsed_while_another_is_parsed_keeps_its_own_query_language():
    """moto keeps the preprocessor's QueryLanguage scopes in a list shared by every parse: one
    execution's definition, parsed while another's is, inherits (or is refused by) the other's
    QueryLanguage; and when the other's scope closes between a check and a read, the parsing
    thread dies with an IndexError and its execution never ends."""
    from antlr4 import CommonTokenStream, InputStream
    from moto.stepfunctions.parser.asl.antlr.runtime.ASLLexer import ASLLexer
    from moto.stepfunctions.parser.asl.antlr.runtime.ASLParser import ASLParser
    from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser
    from moto.stepfunctions.parser.asl.parse.preprocessor import Preprocessor

    def machine(language: str) -> str:
        return json.dumps({"QueryLanguage": language, "StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}})

    def parse_while_another_is_parsed() -> None:
        other = Preprocessor()
        other._open_query_language_scope(
            ASLParser(CommonTokenStream(ASLLexer(InputStream(machine("JSONata"))))).state_machine().program_decl())
        try:
            AmazonStateLanguageParser.parse(machine("JSONPath"))
        finally:
            other._close_query_language_scope()

    with pytest.raises(ValueError, match="Cannot downgrade from JSONata context to a JSONPath context"):
        parse_while_another_is_parsed()  # moto as it is
    with engine():
        parse_while_another_is_parsed()


def test_hooks_are_removed_on_exit():
    from moto.awslambda.models import LambdaFunction
    from moto.s3 import notifications

    originals = LambdaFunction.invoke, notifications.send_event
    with engine():
        assert (LambdaFunction.invoke, notifications.send_event) != originals
    assert (LambdaFunction.invoke, notifications.send_event) == originals


def test_a_table_created_by_cloudformation_takes_its_template_encryption():
    """moto's CloudFormation keeps SSESpecification as the template writes it (SSEEnabled), which
    its DescribeTable does not read; set_table_encryption gives it the API's form."""
    core = moto_version.load_core()
    with mock_aws():
        dynamodb = boto3.client("dynamodb", region_name=REGION)
        dynamodb.create_table(TableName="records", KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
                              AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
                              BillingMode="PAY_PER_REQUEST")
        assert "SSEDescription" not in dynamodb.describe_table(TableName="records")["Table"]
        core.set_table_encryption("123456789012", REGION, "records",
                                  {"Enabled": True, "SSEType": "KMS", "KMSMasterKeyId": "key-id"})
        described = dynamodb.describe_table(TableName="records")["Table"]["SSEDescription"]
        assert (described["Status"], described["SSEType"], described["KMSMasterKeyArn"]) == ("ENABLED", "KMS", "key-id")


def test_a_history_ends_with_the_end_of_its_execution_though_an_iteration_still_runs():
    """A Map's first refused task fails the execution while other iterations still run: AWS's
    history ends with ExecutionFailed; moto went on recording those iterations after it (in about
    three executions out of five), and a reader waiting for the end event saw none last."""
    with engine() as run:
        run.refuse_tasks = True
        task = {k: v for k, v in lambda_task(run.function_arn).items() if k != "OutputPath"}
        definition = {"StartAt": "Each", "States": {"Each": {"Type": "Map", "ItemsPath": "$.items", "End": True,
                                                              "ItemProcessor": {"StartAt": "T", "States": {"T": task}}}}}
        ended = [run.run(definition, '{"items": [1, 2, 3]}')["executionArn"] for _ in range(5)]
        run.core.stop_executions(ACCOUNT_ID, REGION, timeout_s=10)  # every iteration's thread has ended
        assert [run.history(arn)[-1]["type"] for arn in ended] == ["ExecutionFailed"] * 5


def test_every_client_moto_makes_for_a_task_is_bound_to_the_role():
    """Each module of moto's interpreter imports boto_client_for for itself: a module missing from
    TASK_CLIENT_MODULES would make its calls unchecked, with no identity."""
    core = moto_version.load_core()
    parser = Path(moto.__file__).parent / "stepfunctions" / "parser"
    importing = {str(path.relative_to(parser.parent.parent.parent)).removesuffix(".py").replace("/", ".")
                 for path in parser.rglob("*.py") if "import boto_client_for" in path.read_text(encoding="utf-8")}
    assert importing == {module.__name__ for module in core.TASK_CLIENT_MODULES}


def test_a_dynamodb_task_calls_as_the_role_and_a_refusal_is_named_as_step_functions_names_it():
    """moto names an unmodelled DynamoDB error DynamoDB.AccessDeniedException; Step Functions,
    after the AWS SDK for Java, DynamoDB.AmazonDynamoDBException (LocalStack's AWS-recorded
    test_task_service_dynamodb snapshot)."""
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_dynamodb import (
        StateTaskServiceDynamoDB,
    )

    refused = ClientError({"Error": {"Code": "AccessDeniedException", "Message": "no"},
                           "ResponseMetadata": {"HTTPStatusCode": 400, "RequestId": "r"}}, "PutItem")
    assert StateTaskServiceDynamoDB._error_cause_from_client_error(refused)[0] == "DynamoDB.AccessDeniedException"
    task = {"Type": "Task", "Resource": "arn:aws:states:::dynamodb:putItem", "End": True,
            "Parameters": {"TableName": "records", "Item": {"id": {"S": "a"}}}}
    with engine() as run:
        run.client("dynamodb").create_table(TableName="records", BillingMode="PAY_PER_REQUEST",
                                            KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
                                            AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}])
        assert run.run({"StartAt": "T", "States": {"T": task}})["status"] == "SUCCEEDED"
        assert run.authorized == [(run.role_arn, "dynamodb", "PutItem")]
        run.refuse_tasks = True
        described = run.run({"StartAt": "T", "States": {"T": task}})
        assert described["error"] == "DynamoDB.AmazonDynamoDBException"
        assert described["cause"].endswith("(Service: AmazonDynamoDBv2; Status Code: 403; Error Code: "
                                           f"AccessDeniedException; Request ID: {described['cause'].split('Request ID: ')[1]}")


def test_a_child_execution_started_as_step_functions_names_its_parameters_runs():
    """Step Functions' guide names the parameters StateMachineArn and Input, and the output
    ExecutionArn and StartDate; moto passes them to boto3 unchanged (its base class leaves them
    as they are, where the LocalStack interpreter it ports maps them to the API's names)."""
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_sfn import (
        StateTaskServiceSfn,
    )

    parameters = {"StateMachineArn": "arn", "Input": "{}"}
    StateTaskServiceSfn()._normalise_parameters(parameters, service_action_name="start_execution")
    assert parameters == {"StateMachineArn": "arn", "Input": "{}"}  # moto alone: not the API's stateMachineArn
    with engine() as run:
        sfn = run.client("stepfunctions")
        child = sfn.create_state_machine(name="child", roleArn=run.role_arn, definition=json.dumps(
            {"StartAt": "P", "States": {"P": {"Type": "Pass", "Result": {"done": True}, "End": True}}}))["stateMachineArn"]
        described = run.run({"StartAt": "T", "States": {"T": {
            "Type": "Task", "Resource": "arn:aws:states:::states:startExecution.sync:2", "End": True,
            "Parameters": {"StateMachineArn": child, "Input": {"a": 1}}}}})
        output = json.loads(described["output"])
        assert described["status"] == "SUCCEEDED" and output["Output"] == {"done": True}
        assert output["ExecutionArn"].startswith(child.replace(":stateMachine:", ":execution:"))
        assert isinstance(output["StartDate"], int)


def test_executions_started_without_a_name_are_each_named_with_a_uuid():
    """moto names an unnamed execution None: the second unnamed start of a state machine was
    refused as ExecutionAlreadyExists (AWS names each with a UUID)."""
    import uuid

    with engine() as run:
        sfn = run.client("stepfunctions")
        machine = sfn.create_state_machine(name="unnamed", roleArn=run.role_arn, definition=json.dumps(
            {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}}))["stateMachineArn"]
        arns = [sfn.start_execution(stateMachineArn=machine, input="{}")["executionArn"] for _ in range(2)]
    names = [arn.rsplit(":", 1)[1] for arn in arns]
    assert names[0] != names[1] and all(str(uuid.UUID(name)) == name for name in names)


# -- on a moto other than the pinned one -----------------------------------------------------


def test_another_moto_turns_the_speed_layer_off_with_one_warning(monkeypatch, caplog):
    from pipeline.local.plain_layer import PlainLayer
    from pipeline.local.speed.layer import SpeedLayer

    assert type(speed.select_layer(True)) is SpeedLayer
    monkeypatch.setattr(moto, "__version__", "9.9.9")
    monkeypatch.setattr(speed, "_warned", set())
    with caplog.at_level(logging.WARNING, logger="pipeline.local"):
        layers = [speed.select_layer(True), speed.select_layer(None)]
    assert all(type(layer) is PlainLayer for layer in layers)
    assert [record.getMessage() for record in caplog.records] == [
        f"moto 9.9.9 is installed, not the pinned {PINNED_MOTO}: the offline cloud's speed layer is off "
        "(runs are slower, results the same)"]


def test_the_environment_switches_the_speed_layer_off(monkeypatch):
    from pipeline.local.plain_layer import PlainLayer
    from pipeline.local.speed.layer import SpeedLayer

    monkeypatch.setenv("PIPELINE_OFFLINE_FAST", "0")
    assert type(speed.select_layer()) is PlainLayer
    monkeypatch.setenv("PIPELINE_OFFLINE_FAST", "1")
    assert type(speed.select_layer()) is SpeedLayer


def test_a_core_hook_that_cannot_apply_stops_the_cloud_with_one_line(monkeypatch, capsys, tmp_path):
    from moto.s3 import notifications

    from pipeline import cli

    monkeypatch.delattr(notifications, "send_event")
    sample = tmp_path / "a.csv"
    sample.write_text("id\n1\n", encoding="utf-8")
    code = cli.main(["run", str(sample), "--template", str(ROOT / "template.yaml")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert err[-1].endswith(f"the offline cloud needs moto {PINNED_MOTO} (pip install 'moto=={PINNED_MOTO}'); "
                            f"moto {PINNED_MOTO} is installed and moto.s3.notifications.send_event is gone")


def test_a_core_import_that_fails_is_one_line(monkeypatch):
    for module in [name for name in sys.modules if name.startswith("pipeline.local.moto_")]:
        monkeypatch.delitem(sys.modules, module)  # imported again: each imports moto's internals
    monkeypatch.setitem(sys.modules, "moto.events.utils", None)  # as if moto no longer had it
    monkeypatch.setattr(moto, "__version__", "9.9.9")
    with pytest.raises(moto_version.MotoUnsupported) as error:
        moto_version.load_core()
    assert str(error.value).startswith(f"the offline cloud needs moto {PINNED_MOTO} (pip install "
                                       f"'moto=={PINNED_MOTO}'); moto 9.9.9 is installed and ")
    assert "moto.events.utils" in str(error.value) and "\n" not in str(error.value)


# -- what moto's CloudFormation leaves out of a stack (pipeline/local/moto_stacks.py) ------------

def _state_machine_definition(cloudformation, stack: str) -> str:
    """As moto's CloudFormation created it, in the backend it creates state machines in (whichever
    backend the Step Functions API reads, as moto is configured)."""
    from moto.stepfunctions.models import stepfunctions_backends

    arn = cloudformation.describe_stack_resources(StackName=stack)["StackResources"][0]["PhysicalResourceId"]
    return stepfunctions_backends[ACCOUNT_ID][REGION].describe_state_machine(arn).definition


def test_moto_cloudformation_leaves_out_what_moto_stacks_does_around_it():
    from pipeline.local.moto_stacks import generated_name

    definition = json.dumps({"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True, "Parameters": {
        "id.$": "$$.Execution.Id", "topic": "${Topic}"}}}})
    with mock_aws():
        cloudformation = boto3.client("cloudformation", region_name=REGION)
        role = boto3.client("iam", region_name=REGION).create_role(
            RoleName="machine", AssumeRolePolicyDocument="{}")["Role"]["Arn"]

        def create(stack: str, resources: dict) -> dict[str, str]:
            cloudformation.create_stack(StackName=stack, TemplateBody=json.dumps({"Resources": resources}))
            return {row["LogicalResourceId"]: row["PhysicalResourceId"]
                    for row in cloudformation.describe_stack_resources(StackName=stack)["StackResources"]}

        # DefinitionSubstitutions are not applied (apply_substitutions does it after)...
        create("substituted", {"M": {"Type": "AWS::StepFunctions::StateMachine", "Properties": {
            "RoleArn": role, "DefinitionString": definition, "DefinitionSubstitutions": {"Topic": "arn:topic"}}}})
        assert '"topic": "${Topic}"' in _state_machine_definition(cloudformation, "substituted")
        # ... and Fn::Sub, which could, turns the context object's "$$" into "$".
        create("subbed", {"M": {"Type": "AWS::StepFunctions::StateMachine", "Properties": {
            "RoleArn": role, "DefinitionString": {"Fn::Sub": [definition, {"Topic": "arn:topic"}]}}}})
        assert '"id.$": "$.Execution.Id"' in _state_machine_definition(cloudformation, "subbed")

        # Bucket and table settings are ignored (complete_buckets, complete_tables).
        made = create("settings", {
            "B": {"Type": "AWS::S3::Bucket", "Properties": {
                "VersioningConfiguration": {"Status": "Enabled"},
                "PublicAccessBlockConfiguration": {"BlockPublicAcls": True},
                "NotificationConfiguration": {"EventBridgeConfiguration": {"EventBridgeEnabled": True}}}},
            "T": {"Type": "AWS::DynamoDB::Table", "Properties": {
                "BillingMode": "PAY_PER_REQUEST", "KeySchema": [{"AttributeName": "id", "KeyType": "HASH"}],
                "AttributeDefinitions": [{"AttributeName": "id", "AttributeType": "S"}],
                "TimeToLiveSpecification": {"Enabled": True, "AttributeName": "expires"},
                "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": True}}}})
        s3, dynamodb = boto3.client("s3", region_name=REGION), boto3.client("dynamodb", region_name=REGION)
        assert "Status" not in s3.get_bucket_versioning(Bucket=made["B"])
        with pytest.raises(ClientError, match="NoSuchPublicAccessBlockConfiguration"):
            s3.get_public_access_block(Bucket=made["B"])
        assert "EventBridgeConfiguration" not in s3.get_bucket_notification_configuration(Bucket=made["B"])
        assert dynamodb.describe_time_to_live(TableName=made["T"])["TimeToLiveDescription"]["TimeToLiveStatus"] == (
            "DISABLED")
        assert dynamodb.describe_continuous_backups(TableName=made["T"])["ContinuousBackupsDescription"][
            "PointInTimeRecoveryDescription"]["PointInTimeRecoveryStatus"] == "DISABLED"

        # A name it generates is not shortened to the resource's limit (generated_name is).
        long_stack = "s" * 100
        with pytest.raises(Exception, match="length less than or equal to 80"):
            create(long_stack, {"Machine": {"Type": "AWS::StepFunctions::StateMachine", "Properties": {
                "RoleArn": role, "DefinitionString": definition}}})
    assert len(generated_name(long_stack, "Machine", 80)) <= 80


def test_stopping_waits_for_a_thread_moto_registered_before_starting_it():
    """moto appends an execution's thread to TMP_THREADS a moment before it starts it; stopping
    the cloud then must wait for it, not fail with "cannot join thread before it is started"."""
    import threading

    from moto.stepfunctions.parser.utils import TMP_THREADS

    core = moto_version.load_core()
    ran = threading.Event()
    late = threading.Thread(target=ran.set)
    with mock_aws():
        TMP_THREADS.append(late)
        try:
            threading.Timer(0.2, late.start).start()
            assert core.stop_executions(ACCOUNT_ID, REGION, timeout_s=0) == []  # does not wait for it
            assert not ran.is_set()
            assert core.stop_executions(ACCOUNT_ID, REGION, timeout_s=5) == []
            assert ran.is_set() and not late.is_alive()
        finally:
            TMP_THREADS.remove(late)

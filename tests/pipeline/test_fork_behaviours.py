"""Forks that ask AWS to do something by itself: what the offline cloud does as AWS does (a
function's reserved concurrency throttles, a state reads the context object and a substituted
value), and what it cannot do, refused at deploy in one line rather than deployed to sit there
(an event source mapping, a schedule, a subscription)."""

from __future__ import annotations

import json
import time

import pytest
from botocore.exceptions import ClientError

from pipeline.local.cloud import DeployRefused
from pipeline.offline import OfflineCloud
from tests.forks import STATE_MACHINE, Fork, source_folder
from tests.offline import run_one


def test_a_function_with_no_reserved_concurrency_is_throttled_and_the_file_is_notified(tmp_path):
    """ReservedConcurrentExecutions 0 stops every invocation (Lambda Developer Guide, "Configuring
    reserved concurrency"): Lambda answers 429, Step Functions retries it, then catches it."""
    fork = Fork()
    fork.properties("RandomFailureFunction")["ReservedConcurrentExecutions"] = 0
    with OfflineCloud.deploy(fork.write(tmp_path), ["FailureRate=0"], time_scale=0) as cloud:
        result = run_one(cloud, tmp_path, "sales.csv")
    assert result.status == "FAILED" and result.notification is not None
    assert result.error == "Lambda.TooManyRequestsException"
    assert next(visit for visit in result.visits if visit.name == "Process CSV").attempts == 4


QUEUE = {"Type": "AWS::SQS::Queue", "Properties": {"SqsManagedSseEnabled": True}}


@pytest.mark.parametrize(("change", "says"), [
    (lambda fork: fork.add_resource("Jobs", QUEUE).add_resource("JobsToProcessor", {
        "Type": "AWS::Lambda::EventSourceMapping", "Properties": {
            "EventSourceArn": {"Fn::GetAtt": ["Jobs", "Arn"]}, "FunctionName": {"Ref": "CheckExtFunction"}}}),
     "JobsToProcessor (AWS::Lambda::EventSourceMapping): NotSupportedOffline: the offline cloud does not poll"),
    (lambda fork: fork.properties("CheckExtFunction").update(
        {"Events": {"Nightly": {"Type": "Schedule", "Properties": {"Schedule": "rate(1 day)"}}}}),
     "NotSupportedOffline: scheduled rules do not fire offline"),
    (lambda fork: fork.add_resource("Jobs", QUEUE).add_resource("FailuresToJobs", {
        "Type": "AWS::SNS::Subscription", "Properties": {
            "TopicArn": {"Ref": "NotificationTopic"}, "Protocol": "sqs", "Endpoint": {"Fn::GetAtt": ["Jobs", "Arn"]}}}),
     "FailuresToJobs (AWS::SNS::Subscription): NotSupportedOffline: a sqs subscription"),
])
def test_what_the_offline_cloud_would_not_do_is_refused_at_deploy(tmp_path, change, says):
    fork = Fork()
    change(fork)
    with pytest.raises(DeployRefused) as refused:
        with OfflineCloud.deploy(fork.write(tmp_path), time_scale=0):
            pass
    assert says in str(refused.value) and "\n" not in str(refused.value)


def test_a_response_over_lambdas_limit_is_the_error_lambda_gives(tmp_path):
    """Lambda returns a synchronous invocation's response of at most 6 MB ("Lambda quotas"); past
    it, the invocation fails with Function.ResponseSizeTooLarge."""
    fork = Fork().add_resource("ReportFunction", {"Type": "AWS::Serverless::Function", "Properties": {
        "CodeUri": str(source_folder(tmp_path / "report", {
            "app.py": "def lambda_handler(event, context):\n    return 'x' * 7_000_000\n"})),
        "Handler": "app.lambda_handler"}})
    fork.substitute("ReportArn", {"Fn::GetAtt": ["ReportFunction", "Arn"]})
    fork.properties(STATE_MACHINE)["Policies"].append({"LambdaInvokePolicy": {"FunctionName": {"Ref": "ReportFunction"}}})
    fork.insert_state_after("Process CSV", "Report", {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke",
                                                      "Parameters": {"FunctionName": "${ReportArn}"}})
    with OfflineCloud.deploy(fork.write(tmp_path), ["FailureRate=0"], time_scale=0) as cloud:
        result = run_one(cloud, tmp_path, "sales.csv")
    assert (result.status, result.error) == ("FAILED", "Function.ResponseSizeTooLarge")
    assert "6291556 bytes" in result.cause


def test_a_state_reading_the_context_object_and_a_substitution_gets_both_as_aws_gives_them(tmp_path):
    """"$$.Execution.Id" is the execution's ARN (Step Functions Developer Guide, "Accessing the
    Context object") and ${NotificationTopicArn} is substituted from DefinitionSubstitutions, as
    CloudFormation does; moto's own Fn::Sub would have turned "$$" into "$" (test_moto_core)."""
    fork = Fork().insert_state_after("Process CSV", "Stamp", {
        "Type": "Pass", "ResultPath": "$.stamp",
        "Parameters": {"execution.$": "$$.Execution.Id", "topic": "${NotificationTopicArn}"}})
    assert "NotificationTopicArn" in fork.properties(STATE_MACHINE)["DefinitionSubstitutions"]
    with OfflineCloud.deploy(fork.write(tmp_path), ["FailureRate=0"], time_scale=0) as cloud:
        result = run_one(cloud, tmp_path, "sales.csv")
        events = cloud.clients.stepfunctions.get_execution_history(executionArn=result.execution_arn)["events"]
        topic = cloud.stack.topic_arn
    assert result.status == "SUCCEEDED" and "Stamp" in result.states
    (exited,) = [event["stateExitedEventDetails"] for event in events
                 if event["type"] == "PassStateExited" and event["stateExitedEventDetails"]["name"] == "Stamp"]
    assert json.loads(exited["output"])["stamp"] == {"execution": result.execution_arn, "topic": topic}


def _fork_with_function(tmp_path, module: str, environment: dict[str, str] | None = None) -> Fork:
    """The template with a Setup function (this module as app.py) invoked after Process CSV."""
    fork = Fork().add_resource("SetupFunction", {"Type": "AWS::Serverless::Function", "Properties": {
        "CodeUri": str(source_folder(tmp_path / "setup", {"app.py": module})),
        "Handler": "app.lambda_handler", **({"Environment": {"Variables": environment}} if environment else {})}})
    fork.substitute("SetupArn", {"Fn::GetAtt": ["SetupFunction", "Arn"]})
    fork.properties(STATE_MACHINE)["Policies"].append({"LambdaInvokePolicy": {"FunctionName": {"Ref": "SetupFunction"}}})
    fork.insert_state_after("Process CSV", "Setup", {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke",
                                                     "Parameters": {"FunctionName": "${SetupArn}"}})
    return fork


def test_a_function_initializes_as_it_is_deployed_before_any_invocation(tmp_path):
    """Lambda may initialize an execution environment before any invocation: "for functions using
    unreserved (on-demand) concurrency, Lambda occasionally pre-initializes execution environments"
    (Lambda Developer Guide, "Understanding the Lambda execution environment lifecycle"). Offline
    each function's first environment starts as the function is deployed: its module is imported
    with no invocation, the first invocation uses that environment, and its REPORT still gives the
    Init Duration. A function with reserved concurrency 0 never runs, and gets none."""
    marker = tmp_path / "initialized"
    fork = _fork_with_function(tmp_path, (
        "import os\n"
        "with open(os.environ['MARKER'], 'a') as marker:\n    marker.write(str(os.getpid()) + '\\n')\n"
        "def lambda_handler(event, context):\n    return os.getpid()\n"), {"MARKER": str(marker)})
    fork.properties("RandomFailureFunction")["ReservedConcurrentExecutions"] = 0
    with OfflineCloud.deploy(fork.write(tmp_path), ["FailureRate=0"], time_scale=0) as cloud:
        deadline = time.monotonic() + 30
        while not marker.exists() and time.monotonic() < deadline:
            time.sleep(0.02)
        before = cloud.runtime.environment_pids()
        assert marker.read_text().split() == [str(before["SetupFunction"][0])]  # imported, not yet invoked
        assert cloud.runtime.reports == []
        assert "RandomFailureFunction" not in before
        answer = cloud.clients.lambda_.invoke(FunctionName=cloud.runtime.function("SetupFunction").name)
        assert json.loads(answer["Payload"].read()) == before["SetupFunction"][0]
        assert cloud.runtime.environment_pids() == before
    (report,) = cloud.runtime.reports
    assert report.init_ms is not None and "Init Duration" in report.report_line()


def test_a_function_gets_the_event_it_was_sent_however_the_json_is_laid_out(tmp_path):
    """The runtime hands each environment its request on one line, the event's JSON inside it as
    it came: an event written over several lines (a file from events/) must arrive whole."""
    fork = _fork_with_function(tmp_path, "def lambda_handler(event, context):\n    return event\n",
                               {"PYTHONIOENCODING": "latin-1"})  # the function's own variables: not the runtime's
    event = {"detail": {"object": {"key": "a b/\u00e9t\u00e9.csv", "size": 3}, "note": "line\nbreak"}, "n": [1, 2.5, None]}
    payloads = [json.dumps(event).encode(), json.dumps(event, indent=2).encode(),
                json.dumps(event, indent=2).replace("\n", "\r\n").encode(), json.dumps(event, ensure_ascii=False).encode()]
    with OfflineCloud.deploy(fork.write(tmp_path), ["FailureRate=0"], time_scale=0) as cloud:
        name = cloud.runtime.function("SetupFunction").name
        for payload in payloads:
            answer = cloud.clients.lambda_.invoke(FunctionName=name, Payload=payload)
            assert "FunctionError" not in answer and json.loads(answer["Payload"].read()) == event, payload
        with pytest.raises(ClientError) as refused:  # Lambda API Reference, Invoke, Errors
            cloud.clients.lambda_.invoke(FunctionName=name, Payload=b'{"not": json}')
        assert refused.value.response["Error"]["Code"] == "InvalidRequestContentException"
        assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
        answer = cloud.clients.lambda_.invoke(FunctionName=name, Payload=json.dumps(event).encode())
        assert json.loads(answer["Payload"].read()) == event  # and the function still answers


def test_a_function_whose_module_does_not_import_fails_as_lambda_reports_it(tmp_path):
    """The Init phase's error, as the Python runtime reports it: Runtime.ImportModuleError,
    "Unable to import module 'app': ...". An environment whose Init failed ends; the next
    invocation gets a fresh one, whose Init is tried again."""
    fork = _fork_with_function(tmp_path, "import no_such_module\n\ndef lambda_handler(event, context):\n    return 1\n")
    with OfflineCloud.deploy(fork.write(tmp_path), ["FailureRate=0"], time_scale=0) as cloud:
        result = run_one(cloud, tmp_path, "sales.csv")
        again = cloud.clients.lambda_.invoke(FunctionName=cloud.runtime.function("SetupFunction").name)
        environments = cloud.runtime.environment_pids()["SetupFunction"]
    assert (result.status, result.error) == ("FAILED", "Runtime.ImportModuleError")
    assert result.cause and "Unable to import module 'app': No module named 'no_such_module'" in result.cause
    assert again["FunctionError"] == "Unhandled"
    assert json.loads(again["Payload"].read())["errorType"] == "Runtime.ImportModuleError"
    assert len(environments) == 2  # the one started at deploy, then a fresh one


def test_an_init_that_failed_before_the_first_invocation_is_tried_again_at_it(tmp_path):
    """Lambda retries an Init that did not complete at the first invocation (Lambda Developer
    Guide, "Init phase"): a module that could not import as the function was deployed (what it
    needs was not there yet) imports at the first invocation, in the same environment."""
    tries, ready = tmp_path / "tries", tmp_path / "ready"
    fork = _fork_with_function(tmp_path, (
        "import os\n"
        "with open(os.environ['TRIES'], 'a') as tries:\n    tries.write(str(os.getpid()) + '\\n')\n"
        "if not os.path.exists(os.environ['READY']):\n    raise RuntimeError('not ready')\n"
        "def lambda_handler(event, context):\n    return os.getpid()\n"), {"TRIES": str(tries), "READY": str(ready)})
    with OfflineCloud.deploy(fork.write(tmp_path), ["FailureRate=0"], time_scale=0) as cloud:
        deadline = time.monotonic() + 30
        while not tries.exists() and time.monotonic() < deadline:
            time.sleep(0.02)
        ready.write_text("now", encoding="utf-8")
        answer = cloud.clients.lambda_.invoke(FunctionName=cloud.runtime.function("SetupFunction").name)
        payload = json.loads(answer["Payload"].read())
        environments = cloud.runtime.environment_pids()["SetupFunction"]
    assert "FunctionError" not in answer, payload
    assert tries.read_text().split() == [str(payload)] * 2 and environments == [payload]
    (report,) = [report for report in cloud.runtime.reports if report.function == "SetupFunction"]
    assert report.init_ms is not None


def test_a_module_that_reads_its_table_at_import_finds_it_and_is_allowed_as_in_aws(tmp_path):
    """An Init phase that calls AWS, now that it runs as the function is deployed: the environment
    has the function's credentials and endpoints, the table is there, and the role's grants decide
    (the table's KMS key's too)."""
    fork = _fork_with_function(tmp_path, (
        "import os, boto3\n"
        "FOUND = boto3.client('dynamodb').get_item(TableName=os.environ['TABLE'], Key={'id': {'S': 'nothing'}})\n"
        "def lambda_handler(event, context):\n    return 'Item' in FOUND\n"), {"TABLE": {"Ref": "IdempotencyTable"}})
    fork.properties("SetupFunction")["Policies"] = [{"Statement": [
        {"Effect": "Allow", "Action": "dynamodb:GetItem", "Resource": {"Fn::GetAtt": ["IdempotencyTable", "Arn"]}},
        {"Effect": "Allow", "Action": "kms:Decrypt", "Resource": {"Fn::GetAtt": ["PipelineKey", "Arn"]}}]}]
    with OfflineCloud.deploy(fork.write(tmp_path), ["FailureRate=0"], time_scale=0) as cloud:
        answer = cloud.clients.lambda_.invoke(FunctionName=cloud.runtime.function("SetupFunction").name)
    payload = json.loads(answer["Payload"].read())
    assert "FunctionError" not in answer, payload
    assert payload is False


def test_an_init_longer_than_the_function_timeout_is_not_cut_short_by_it(tmp_path):
    """The Init phase has its own limit, 10 seconds, not the function's timeout (Lambda Developer
    Guide, "Init phase"): a module that takes 2.5 s to import serves a function whose timeout is
    1 s, and its REPORT gives the Init Duration."""
    fork = Fork().add_resource("SlowFunction", {"Type": "AWS::Serverless::Function", "Properties": {
        "CodeUri": str(source_folder(tmp_path / "slow", {
            "app.py": "import time\ntime.sleep(2.5)\n\ndef lambda_handler(event, context):\n    return 'ok'\n"})),
        "Handler": "app.lambda_handler", "Timeout": 1}})
    with OfflineCloud.deploy(fork.write(tmp_path), ["FailureRate=0"], time_scale=0) as cloud:
        answer = cloud.clients.lambda_.invoke(FunctionName=cloud.runtime.function("SlowFunction").name)
        payload = json.loads(answer["Payload"].read())
    assert "FunctionError" not in answer, payload
    assert payload == "ok"
    (report,) = [report for report in cloud.runtime.reports if report.function == "SlowFunction"]
    assert report.init_ms is not None and report.init_ms >= 2400

"""`pipeline run`: the JSON contract for hostile names in both trigger modes, and exit statuses."""

import json

import pytest

from pipeline.cli import main
from tests.conftest import SAMPLES

HOSTILE_NAMES = [
    "my file.csv", "a+b.csv", "100%.csv", "émigré-ü.csv", "#hash.csv", "k=v.csv", "quote'd\".csv",
    "README", ".hidden", "archive.csv.gz", "DATA.CSV", "trailing.",
]
CONTRACT = {"file", "bucket", "key", "status", "states", "error", "cause", "notification", "execution_arn", "duration_ms"}


def run_json(capsys, *argv: str) -> tuple[int, list[dict]]:
    code = main(["run", "--json", "--time-scale", "0", *argv])
    lines = capsys.readouterr().out.splitlines()
    return code, [json.loads(line) for line in lines]


@pytest.mark.parametrize("trigger", ["EventBridge", "CloudTrail"])
def test_json_lines_follow_the_contract_for_hostile_names(tmp_path, capsys, trigger):
    paths = []
    for name in HOSTILE_NAMES:
        path = tmp_path / name
        path.write_bytes(b"id,v\n1,2\n")
        paths.append(str(path))
    deep = "/".join(f"level{n}" for n in range(60)) + "/"
    code, records = run_json(capsys, *paths, "--prefix", deep, "--parameter-overrides", "FailureRate=0",
                             f"TriggerSource={trigger}")
    assert code == 0
    assert [record["key"] for record in records] == [deep + name for name in HOSTILE_NAMES]
    for record in records:
        assert CONTRACT <= set(record)
        csv = record["key"].lower().endswith(".csv")
        assert record["status"] == ("SUCCEEDED" if csv else "FAILED"), record
        if not csv:
            assert record["error"] == "InvalidFileExtension"
            assert record["notification"]["subject"].startswith("[file pipeline] Failed: ")
            assert f"Key:        {record['key']}\n" in record["notification"]["message"]


def test_the_samples_are_all_accounted_for(capsys):
    """The samples folder stands for its files, sorted, as samples/* does."""
    code, records = run_json(capsys, str(SAMPLES), "--parameter-overrides", "FailureSeed=demo")
    assert [record["file"] for record in records] == sorted(str(p) for p in SAMPLES.iterdir())
    assert code == 0
    outcomes = {record["key"]: (record["status"], record["error"]) for record in records}
    assert outcomes == {  # FailureSeed=demo makes each file's outcome depend on its key alone
        "Q3 customers+leads.CSV": ("SUCCEEDED", None), "inventory.csv": ("FAILED", "SimulatedProcessingError"),
        "notes.txt": ("FAILED", "InvalidFileExtension"), "returns.csv": ("SUCCEEDED", None),
        "sales.csv": ("SUCCEEDED", None)}
    assert all(record["notification"] for record in records if record["status"] == "FAILED")


def test_an_ignored_file_says_why_and_counts_as_accounted_for(tmp_path, capsys):
    path = tmp_path / "sales.csv"
    path.write_text("a\n1\n")
    code, (record,) = run_json(capsys, str(path), "--prefix", "other/", "--parameter-overrides", "KeyPrefix=incoming/")
    assert code == 0
    assert record["status"] == "IGNORED" and "no rule matches" in record["reason"]


def test_an_unnotified_failure_exits_1(tmp_path, capsys):
    path = tmp_path / "sales.csv"
    path.write_text("a\n1\n")
    code, (record,) = run_json(capsys, str(path), "--parameter-overrides", "FailureRate=1", "--inject", "sns-failure:4")
    assert code == 1
    assert record["status"] == "FAILED" and record["notification"] is None


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["run", "missing.csv"], "no such file: missing.csv"),
        (["run", "samples/sales.csv", "--parameter-overrides", "FailureRate"], "Key=Value"),
        (["run", "samples/sales.csv", "--parameter-overrides", "Nope=1"], "unknown parameter"),
        (["run", "samples/sales.csv", "--template", "nowhere.yaml"], "template not found"),
        (["run", "samples/sales.csv", "--inject", "explode"], "unknown fault"),
        (["run", "samples/sales.csv", "--stack", "s", "--inject", "start-failure"], "offline cloud"),
    ],
)
def test_usage_errors_print_one_line_and_exit_2(monkeypatch, capsys, argv, message):
    monkeypatch.chdir(SAMPLES.parent)
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0]


def test_an_unknown_stack_is_a_usage_error(monkeypatch, capsys):
    from moto import mock_aws

    monkeypatch.chdir(SAMPLES.parent)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    with mock_aws():
        assert main(["run", "samples/sales.csv", "--stack", "no-such-stack"]) == 2
    assert "stack 'no-such-stack' not found" in capsys.readouterr().err


def test_a_template_aws_would_refuse_exits_2_with_one_line_naming_resource_and_rule(tmp_path, capsys):
    from tests.forks import Fork

    refused = Fork().set_property("LandingWritesTrail", "IsMultiRegionTrail", True).write(tmp_path)
    code = main(["run", str(SAMPLES / "sales.csv"), "--template", str(refused),
                 "--parameter-overrides", "TriggerSource=CloudTrail"])
    assert code == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line == (f"pipeline: error: AWS would refuse to deploy {refused.name}: LandingWritesTrail "
                    "(AWS::CloudTrail::Trail): InvalidParameterCombinationException: "
                    "Multi-Region trail must include global service events.")


def test_files_may_follow_the_parameter_overrides(capsys):
    code, records = run_json(capsys, "--parameter-overrides", "FailureRate=0", str(SAMPLES / "sales.csv"))
    assert code == 0
    assert [(r["key"], r["status"]) for r in records] == [("sales.csv", "SUCCEEDED")]


def test_a_run_without_files_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as exited:
        main(["run", "--parameter-overrides", "FailureRate=0"])
    assert exited.value.code == 2
    assert "the following arguments are required: FILE" in capsys.readouterr().err


NOT_A_PIPELINE = """
AWSTemplateFormatVersion: "2010-09-09"
Transform: AWS::Serverless-2016-10-31
Resources:
  Bucket:
    Type: AWS::S3::Bucket
  Machine:
    Type: AWS::Serverless::StateMachine
    Properties:
      Definition: {StartAt: Done, States: {Done: {Type: Succeed}}}
      Policies: []
Outputs:
  BucketName:
    Value: !Ref Bucket
"""


def test_a_template_that_is_not_a_file_pipeline_gets_one_line_naming_what_is_missing(tmp_path, capsys):
    template = tmp_path / "other.yaml"
    template.write_text(NOT_A_PIPELINE, encoding="utf-8")
    assert main(["run", str(SAMPLES / "sales.csv"), "--template", str(template)]) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line == ("pipeline: error: other.yaml deploys, but stack 'file-pipeline' is not a file pipeline stack "
                    "(no output DeadLetterQueueUrl, LandingBucketName, NotificationTopicArn, StateMachineArn)")


def test_a_fault_for_a_function_the_template_lacks_is_refused_naming_those_it_has(capsys):
    code = main(["run", str(SAMPLES / "sales.csv"), "--inject", "throttle:NoSuchFunction:2"])
    assert code == 2
    assert capsys.readouterr().err == ("pipeline: error: --inject: the template has no function NoSuchFunction; "
                                       "its functions: CheckExtFunction, RandomFailureFunction\n")

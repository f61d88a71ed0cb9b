"""Ctrl-C while `pipeline replay` is starting executions: those already started are in flight,
and the command says how to follow them (they go on in the stack)."""

from types import SimpleNamespace

from pipeline import cli, cli_stack, replay
from pipeline.ledger import FileRecord
from pipeline.results import FileResult


def test_an_interrupt_between_two_starts_counts_the_first_as_in_flight(monkeypatch, capsys):
    stack = SimpleNamespace(name="file-pipeline", state_machine_arn="arn:aws:states:us-east-1:1:stateMachine:m")
    monkeypatch.setattr(cli_stack, "_window", lambda args: (None, stack, None))
    files = [FileRecord(FileResult(file=key, bucket="landing", key=key, status="FAILED"), "{}")
             for key in ("a.csv", "b.csv")]
    monkeypatch.setattr(replay, "plan", lambda *args, **kwargs: replay.ReplayPlan(failed=files))

    def start(clients, stack, chosen, started):
        started.append(FileResult(file="a.csv", bucket="landing", key="a.csv", status="RUNNING",
                                  execution_arn="arn:aws:states:us-east-1:1:execution:m:replay-1"))
        raise KeyboardInterrupt  # before the second start

    monkeypatch.setattr(replay, "start", start)
    assert cli.main(["replay", "--stack", "file-pipeline"]) == 130
    err = capsys.readouterr().err
    assert "Interrupted: 0 of 1 files finished, 1 in flight, 0 not started." in err, err
    assert "Their executions go on in the stack: pipeline status --stack file-pipeline --since 1h follows them" in err

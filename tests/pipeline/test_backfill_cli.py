"""`pipeline backfill` as a user runs it: the samples as `make demo` runs them, a dry run, and
what cannot be done as asked. (Each command starts its own offline cloud: no module-wide deploy
here.)"""

from __future__ import annotations

import json

import pytest

from pipeline.cli import main
from tests.conftest import SAMPLES


def json_lines(capsys, argv: list[str]) -> tuple[int, dict[str, dict]]:
    code = main(argv)
    return code, {record["key"]: record for record in map(json.loads, capsys.readouterr().out.splitlines())}


def test_backfilling_the_samples_ends_each_as_make_demo_runs_it(capsys):
    common = ["--json", "--time-scale", "0", "--parameter-overrides", "FailureSeed=demo"]
    samples = sorted(str(path) for path in SAMPLES.iterdir())
    run_code, ran = json_lines(capsys, ["run", *samples, *common])
    backfill_code, backfilled = json_lines(capsys, ["backfill", *samples, *common])
    assert (backfill_code, sorted(backfilled)) == (run_code, sorted(ran))
    for key, record in ran.items():
        again = backfilled[key]
        assert (again["status"], again["error"], again["states"]) == (record["status"], record["error"], record["states"])
        assert (again["notification"] is None) == (record["notification"] is None)
    assert any(record["status"] == "FAILED" for record in backfilled.values())


def test_a_dry_run_lists_what_would_be_processed_and_starts_nothing(tmp_path, capsys):
    (tmp_path / "a.csv").write_bytes(b"id\n1\n")
    (tmp_path / "b.txt").write_bytes(b"x")
    code = main(["backfill", str(tmp_path / "a.csv"), str(tmp_path / "b.txt"), "--dry-run", "--json"])
    out, err = capsys.readouterr()
    assert code == 0, err
    lines = [json.loads(line) for line in out.splitlines()]
    assert [(line["key"], line["action"]) for line in lines] == [("a.csv", "process"), ("b.txt", "process")]


@pytest.mark.parametrize(("argv", "message"), [
    (["backfill", "--stack", "s", "x.csv"], "FILEs are placed in the offline cloud's bucket"),
    (["backfill"], "offline, give the FILEs"),
    (["backfill", "x.csv", "--max-concurrency", "-1"], "--max-concurrency must be"),
])
def test_what_cannot_be_done_as_asked_is_one_line(argv, message, capsys):
    assert main(argv) == 2
    assert message in capsys.readouterr().err



def test_a_sweep_processes_files_no_event_announced_and_is_refused_without_seen_records(tmp_path, capsys):
    (tmp_path / "lost.csv").write_bytes(b"id\n1\n")
    common = [str(tmp_path / "lost.csv"), "--sweep", "--json", "--time-scale", "0"]
    code, swept = json_lines(capsys, ["backfill", *common, "--parameter-overrides", "FailureRate=0",
                                      "SweepEveryHours=24"])
    assert (code, swept["lost.csv"]["status"]) == (0, "SUCCEEDED")
    assert main(["backfill", *common]) == 2
    assert "records no seen files (SweepEveryHours is 0)" in capsys.readouterr().err

"""How the driver paces uploads and looks (pipeline.driver.run_files), against a scripted cloud."""

from pathlib import Path

import pytest

from pipeline import driver
from pipeline.results import FileResult
from pipeline.stack import PipelineStack


class ScriptedCloud:
    """Each look at the executions finds the oldest running file ended; records what happened when."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch):
        self.log: list[str] = []
        self.running: list[str] = []
        self.ended: set[str] = set()
        self.matching_no_rule: set[str] = set()  # uploads that start no execution
        self.strays = 0  # executions seen running that no upload of the run started, and never end
        cloud = self

        class Follower:
            def __init__(self, *args, **kwargs):
                pass

            def refresh(self):
                cloud.log.append("look")
                if cloud.running:
                    cloud.ended.add(cloud.running.pop(0))

            @property
            def running_count(self):
                return len(cloud.running) + cloud.strays

            def has_ended(self, result):
                return result.key in cloud.ended

            def settle(self, result):
                if result.key in cloud.ended:
                    result.status = "SUCCEEDED"
                    return True
                return False

        class Watcher:
            def __init__(self, *args, **kwargs):
                pass

            def refresh(self, waiting):
                pass

            def mark_lost(self, waiting):
                pass

        def upload(clients, stack, path, result):
            cloud.log.append(f"upload {result.key}")
            if result.key not in cloud.matching_no_rule:
                cloud.running.append(result.key)
            return 1

        def why_no_rule_fires(clients, stack, key, size):
            cloud.log.append(f"ask {key}")
            return "no rule matches" if key in cloud.matching_no_rule else None

        monkeypatch.setattr(driver, "ExecutionFollower", Follower)
        monkeypatch.setattr(driver, "DeadLetterWatcher", Watcher)
        monkeypatch.setattr(driver, "_upload", upload)
        monkeypatch.setattr(driver, "_why_no_rule_fires", why_no_rule_fires)
        monkeypatch.setattr(driver.time, "sleep", lambda seconds: cloud.log.append("sleep"))

    def run(self, count: int, **options) -> list[FileResult]:
        stack = PipelineStack("s", "bucket", "arn:sm", "arn:topic", "https://queue", (), {})
        return driver.run_files(None, stack, [Path(f"f{n}.csv") for n in range(count)], **options)


def test_a_finished_files_slot_is_refilled_before_the_next_look(monkeypatch):
    cloud = ScriptedCloud(monkeypatch)
    results = cloud.run(4, window=2, eager=True)
    assert [result.status for result in results] == ["SUCCEEDED"] * 4
    assert cloud.log == ["upload f0.csv", "upload f1.csv", "look", "upload f2.csv", "look", "upload f3.csv",
                         "look", "look"]  # no waiting while files keep finishing


def test_without_eager_every_look_but_the_last_is_followed_by_a_wait(monkeypatch):
    cloud = ScriptedCloud(monkeypatch)
    cloud.run(3, window=2)
    assert cloud.log == ["upload f0.csv", "upload f1.csv", "look", "upload f2.csv", "sleep", "look", "sleep",
                         "look"]


def test_the_window_is_never_exceeded(monkeypatch):
    cloud = ScriptedCloud(monkeypatch)
    in_flight = []
    original = driver._upload

    def counting(clients, stack, path, result):
        in_flight.append(len(cloud.running) + 1)
        return original(clients, stack, path, result)

    monkeypatch.setattr(driver, "_upload", counting)
    cloud.run(20, window=3, eager=True)
    assert max(in_flight) == 3


def test_no_upload_is_asked_about_early_while_each_may_have_started_an_execution_seen_running(monkeypatch):
    cloud = ScriptedCloud(monkeypatch)
    results = cloud.run(6, window=4, ask_after_s=0.05)
    assert [result.status for result in results] == ["SUCCEEDED"] * 6
    assert not [entry for entry in cloud.log if entry.startswith("ask")]
    cloud = ScriptedCloud(monkeypatch)
    cloud.matching_no_rule = {"f1.csv"}
    results = cloud.run(6, window=4, ask_after_s=0)  # one upload fewer than executions: asked
    assert [result.status for result in results] == ["SUCCEEDED", "IGNORED"] + ["SUCCEEDED"] * 4
    assert "ask f1.csv" in cloud.log


def test_an_upload_is_asked_about_in_the_end_whatever_runs(monkeypatch):
    """Executions seen running may be someone else's (or a timed-out file's): an upload that
    started none is asked about after ASK_ANYWAY times ask_after_s all the same."""
    cloud = ScriptedCloud(monkeypatch)
    cloud.matching_no_rule = {"f0.csv"}
    cloud.strays = 3
    clock = iter(range(1_000_000))
    monkeypatch.setattr(driver.time, "monotonic", lambda: next(clock) * 0.01)
    results = cloud.run(1, ask_after_s=0.05, timeout_s=60)
    assert [result.status for result in results] == ["IGNORED"]
    assert cloud.log.count("look") > 2  # not at the first looks: after ASK_ANYWAY times ask_after_s

"""What the offline cloud keeps between runs (pipeline.local.run_cache): the same input gives the
kept result without the work; any other input, a damaged entry or a cache turned off does the work."""

from __future__ import annotations

import datetime
from pathlib import Path

from pipeline.local import run_cache
from pipeline.local import packaging
from pipeline.local.packaging import package


def _counting(result):
    calls = []

    def make():
        calls.append(1)
        return result

    return make, calls


def test_the_same_input_is_worked_out_once_and_another_input_again(tmp_path, monkeypatch):
    monkeypatch.setenv("PIPELINE_CACHE_DIR", str(tmp_path))
    make, calls = _counting({"Resources": {"A": [1, 2]}})
    assert run_cache.kept("kind", ["template", {"P": "1"}], make) == {"Resources": {"A": [1, 2]}}
    assert run_cache.kept("kind", ["template", {"P": "1"}], make) == {"Resources": {"A": [1, 2]}}
    assert len(calls) == 1
    run_cache.kept("kind", ["template", {"P": "2"}], make)
    assert len(calls) == 2


def test_a_damaged_entry_is_made_again_and_replaced(tmp_path, monkeypatch):
    monkeypatch.setenv("PIPELINE_CACHE_DIR", str(tmp_path))
    make, calls = _counting({"ok": True})
    run_cache.kept("kind", "input", make)
    (entry,) = (tmp_path / "kind").iterdir()
    entry.write_text('{"ok": tr', encoding="utf-8")  # cut short
    assert run_cache.kept("kind", "input", make) == {"ok": True} and len(calls) == 2
    assert run_cache.kept("kind", "input", make) == {"ok": True} and len(calls) == 2


def test_off_unwritable_or_not_json_does_the_work_each_time(tmp_path, monkeypatch):
    make, calls = _counting({"ok": True})
    monkeypatch.setenv("PIPELINE_CACHE_DIR", "off")
    run_cache.kept("kind", "input", make)
    run_cache.kept("kind", "input", make)
    blocked = tmp_path / "a-file"
    blocked.write_text("not a folder", encoding="utf-8")
    monkeypatch.setenv("PIPELINE_CACHE_DIR", str(blocked))
    assert run_cache.kept("kind", "input", make) == {"ok": True}
    monkeypatch.setenv("PIPELINE_CACHE_DIR", str(tmp_path / "cache"))
    run_cache.kept("kind", {"when": datetime.date(2026, 12, 4)}, make)
    run_cache.kept("kind", {"when": datetime.date(2026, 12, 4)}, make)
    assert len(calls) == 5 and not (tmp_path / "cache").exists()


def test_a_kept_transform_is_the_transform(tmp_path, monkeypatch):
    """template.yaml packaged with an empty cache, then from it: the same CloudFormation."""
    monkeypatch.setenv("PIPELINE_CACHE_DIR", str(tmp_path))
    template = Path(__file__).resolve().parents[2] / "template.yaml"
    made = package(template, {"FailureRate": "0"}, "code-bucket", "us-east-1").cloudformation
    assert len(list((tmp_path / "sam-transform").iterdir())) == 1

    def not_again(*args):
        raise AssertionError("translated again")

    with monkeypatch.context() as patched:
        patched.setattr(packaging, "_translate", not_again)
        kept = package(template, {"FailureRate": "0"}, "code-bucket", "us-east-1").cloudformation
    assert kept == made and "AWS::Serverless::Function" not in str(kept)
    other = package(template, {"FailureRate": "1"}, "code-bucket", "us-east-1").cloudformation
    assert len(list((tmp_path / "sam-transform").iterdir())) == 2 and other["Resources"].keys() == made["Resources"].keys()


def test_only_the_newest_entries_of_a_kind_are_kept(tmp_path, monkeypatch):
    monkeypatch.setenv("PIPELINE_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(run_cache, "KEPT", 3)
    for number in range(5):
        run_cache.kept("kind", number, lambda: number)
    assert len(list((tmp_path / "kind").glob("*.json"))) == 3

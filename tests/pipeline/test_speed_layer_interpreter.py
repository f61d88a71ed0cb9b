"""The speed layer's parts in moto's own interpreter, with no offline cloud deployed (a deployed
cloud would have the layer installed already): which state gets a thread of its own, and that
timeouts still end what they time."""

import json
import time
from pathlib import Path

import pytest

from pipeline.local.speed.layer import PARTS, SpeedLayer
from tests.pipeline.moto_engine import engine, lambda_task

ROOT = Path(__file__).resolve().parents[2]


def thread_of(invocation: str) -> str:
    """What ran a task: moto's thread for a state, for a program, or the execution's own (moto's,
    or the speed layer's kept thread)."""
    if invocation == "offline-execution":
        return "execution thread"
    for target, meaning in (("(_exec_and_notify)", "state thread"), ("(eval)", "program thread"),
                            ("(_execution_logic)", "execution thread")):
        if invocation.endswith(target):
            return meaning
    return invocation


def slow(event: str) -> tuple[str, bool]:
    time.sleep(1.5)
    return event, False


@pytest.mark.parametrize("layer", [None, SpeedLayer()], ids=["moto alone", "speed layer"])
def test_only_what_has_a_timeout_gets_a_thread_and_timeouts_still_end_it(layer):
    with engine(layer) as run:
        machines = {
            "untimed": {"StartAt": "T", "States": {"T": lambda_task(run.function_arn)}},
            "timed state": {"StartAt": "T", "States": {"T": lambda_task(run.function_arn, TimeoutSeconds=1)}},
            "timed program": {"TimeoutSeconds": 1, "StartAt": "T", "States": {"T": lambda_task(run.function_arn)}},
        }
        ran = {name: (run.run(machine)["status"], thread_of(run.invocations[-1])) for name, machine in machines.items()}
        run.respond = slow
        ended = {name: run.run(machine) for name, machine in machines.items() if name != "untimed"}
    if layer is None:  # moto starts a thread per state and per program, timeout or not
        assert ran == {"untimed": ("SUCCEEDED", "state thread"), "timed state": ("SUCCEEDED", "state thread"),
                       "timed program": ("SUCCEEDED", "state thread")}
    else:
        assert ran == {"untimed": ("SUCCEEDED", "execution thread"), "timed state": ("SUCCEEDED", "state thread"),
                       "timed program": ("SUCCEEDED", "program thread")}
    assert (ended["timed state"]["status"], ended["timed state"].get("error")) == ("FAILED", "States.Timeout")
    assert ended["timed program"]["status"] == "TIMED_OUT"


def test_every_part_of_the_speed_layer_can_be_left_out():
    assert SpeedLayer(skip=set(PARTS)).parts == ()
    assert "inline-states" not in SpeedLayer(skip={"inline-states"})
    with pytest.raises(ValueError, match="no speed part named warp-drive"):
        SpeedLayer(skip={"warp-drive"})
    with engine(SpeedLayer(skip=set(PARTS))) as run:  # everything off: moto's own threads again
        assert run.run({"StartAt": "T", "States": {"T": lambda_task(run.function_arn)}})["status"] == "SUCCEEDED"
        assert thread_of(run.invocations[-1]) == "state thread"


def test_json_copies_copy_as_deepcopy_does():
    """A state value is JSON: copied by type, equal to deepcopy's copy type for type, and sharing
    no container with what it copies; anything else is deepcopy's."""
    import copy
    from collections import OrderedDict
    from datetime import datetime, timezone
    from enum import IntEnum

    from pipeline.local.speed.moto_patches import json_copy

    class Level(IntEnum):
        HIGH = 2

    def same(a, b):
        assert type(a) is type(b) and a == b
        if isinstance(a, dict):
            assert a is not b and list(a) == list(b)
            for key in a:
                same(a[key], b[key])
        elif isinstance(a, (list, tuple)):
            for x, y in zip(a, b):
                same(x, y)

    event = json.loads((ROOT / "events" / "eventbridge-csv.json").read_text())
    values = [event, [event, [1, 2.5, True, None, "s"]], {"n": {"d": {}}, "l": []}, "text", 3, 0.5, False, None,
              {"when": datetime(2026, 12, 5, tzinfo=timezone.utc), "pair": (1, [2]), "ordered": OrderedDict(a=[1]),
               "level": Level.HIGH, "object": Level}]
    for value in values:
        copied = json_copy(value)
        same(copied, copy.deepcopy(value))
        if isinstance(value, dict) and value.get("pair"):
            assert copied["pair"][1] is not value["pair"][1]  # deepcopy's copy, beyond JSON
    copied = json_copy(event)
    copied["detail"]["object"]["key"] = "changed"
    assert event["detail"]["object"]["key"] != "changed"
    memo = {}
    assert json_copy(event, memo) == event and memo  # with a memo: deepcopy itself


def test_paths_parameters_and_intrinsics_give_moto_s_own_values():
    """A definition that reads, rebuilds and merges its input (paths, Parameters, ResultSelector,
    intrinsic functions, Map and Parallel) ends with the same output, and the same state inputs
    and outputs, in moto alone, with the speed layer, and with it less json-copies."""
    task = {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke",
            "Parameters": {"FunctionName": "FUNCTION", "Payload.$": "$"}, "ResultSelector": {"got.$": "$.Payload"},
            "End": True}
    definition = {"StartAt": "Shape", "States": {
        "Shape": {"Type": "Pass", "Parameters": {
            "key.$": "$.detail.object.key", "again.$": "$.detail.object",
            "both.$": "States.Array($.detail.object, $.n)",
            "merged.$": "States.JsonMerge($.detail.object, $.extra, false)", "parsed.$": "States.StringToJson($.text)",
            "label.$": "States.Format('{} of {}', $.detail.object.key, $.detail.bucket.name)"},
            "ResultPath": "$.shaped", "Next": "Each"},
        "Each": {"Type": "Map", "ItemsPath": "$.items", "ItemSelector": {"item.$": "$$.Map.Item.Value", "all.$": "$.extra"},
                 "ItemProcessor": {"ProcessorConfig": {"Mode": "INLINE"}, "StartAt": "Echo", "States": {"Echo": task}},
                 "ResultPath": "$.each", "Next": "Both"},
        "Both": {"Type": "Parallel", "ResultPath": "$.both", "Next": "Done", "Branches": [
            {"StartAt": "A", "States": {"A": {"Type": "Pass", "InputPath": "$.shaped", "End": True}}},
            {"StartAt": "B", "States": {"B": {"Type": "Pass", "Result": {"fixed": [1, 2]}, "ResultPath": "$.r",
                                              "OutputPath": "$.r", "End": True}}}]},
        "Done": {"Type": "Pass", "End": True}}}
    event = json.loads((ROOT / "events" / "eventbridge-csv.json").read_text())
    event.update(n=[1, {"x": None}], extra={"size": 9, "tags": ["a"]}, text='{"k": [true, 1.5]}', items=[{"i": 1}, {"i": 2}])
    outcomes = []
    for layer in (None, SpeedLayer(), SpeedLayer(skip={"json-copies"})):
        with engine(layer) as run:
            machine = json.loads(json.dumps(definition).replace('"FUNCTION"', json.dumps(run.function_arn)))
            ended = run.run(machine, json.dumps(event))
            assert ended["status"] == "SUCCEEDED", ended
            details = [(e["type"], (e.get("stateEnteredEventDetails") or {}).get("input"),
                        (e.get("stateExitedEventDetails") or {}).get("output"))
                       for e in run.history(ended["executionArn"])]
        outcomes.append((json.loads(ended["output"]), details))
    assert outcomes[0][0]["both"][0]["merged"]["size"] == 9 and len(outcomes[0][0]["each"]) == 2
    for other in outcomes[1:]:  # Map iterations and Parallel branches interleave as they run
        assert other[0] == outcomes[0][0]
        assert sorted(other[1], key=repr) == sorted(outcomes[0][1], key=repr)

"""The speed layer's parts in moto's own interpreter, with no offline cloud deployed (a deployed
cloud would have the layer installed already): which state gets a thread of its own, and that
timeouts still end what they time."""

import time

import pytest

from pipeline.local.speed.layer import PARTS, SpeedLayer
from tests.pipeline.moto_engine import engine, lambda_task


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

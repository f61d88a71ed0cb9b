"""The speed layer in moto's own interpreter, with no offline cloud deployed (a deployed cloud
would have the layer installed already): timeouts still end what they time, and every part can
be left out."""

import time

import pytest

from pipeline.local.speed.layer import PARTS, SpeedLayer
from tests.pipeline.moto_engine import engine, lambda_task


def slow(event: str) -> tuple[str, bool]:
    time.sleep(1.5)
    return event, False


@pytest.mark.parametrize("layer", [None, SpeedLayer()], ids=["moto alone", "speed layer"])
def test_a_timed_state_and_a_timed_program_time_out_with_or_without_the_speed_layer(layer):
    with engine(layer) as run:
        run.respond = slow
        state = run.run({"StartAt": "T", "States": {"T": lambda_task(run.function_arn, TimeoutSeconds=1)}})
        program = run.run({"TimeoutSeconds": 1, "StartAt": "T", "States": {"T": lambda_task(run.function_arn)}})
    assert (state["status"], state.get("error")) == ("FAILED", "States.Timeout")
    assert program["status"] == "TIMED_OUT"


def test_every_part_of_the_speed_layer_can_be_left_out():
    assert SpeedLayer(skip=set(PARTS)).parts == ()
    assert "parsed-definitions" not in SpeedLayer(skip={"parsed-definitions"})
    with pytest.raises(ValueError, match="no speed part named warp-drive"):
        SpeedLayer(skip={"warp-drive"})
    with engine(SpeedLayer(skip=set(PARTS))) as run:
        assert run.run({"StartAt": "T", "States": {"T": lambda_task(run.function_arn)}})["status"] == "SUCCEEDED"

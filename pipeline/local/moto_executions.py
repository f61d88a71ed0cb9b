"""Ended executions put back into moto's Step Functions, for `pipeline serve --state DIR`.

Step Functions has no API that creates an ended execution, so a kept one goes back into the
backend's list beside the executions moto runs. It answers ListExecutions, DescribeExecution and
GetExecutionHistory as it did before the restart, and holds nothing a running execution holds:
no callback waits on it, it has no Map Run.
"""

from __future__ import annotations

from datetime import datetime
from types import SimpleNamespace
from typing import Any

from moto.stepfunctions.parser.api import ExecutionStatus
from moto.stepfunctions.parser.models import StepFunctionsParserBackend, stepfunctions_parser_backends

from pipeline.local.patching import MotoChanged

# What moto's responses and its backend read of an execution (moto/stepfunctions/responses.py,
# parser/models.py); checked against moto's own Execution before any is put back.
READ_BY_MOTO = ("execution_arn", "exec_arn", "name", "start_date", "stop_date", "status", "state_machine_arn",
                "execution_input", "output", "output_details", "error", "cause", "exec_worker")


class _NothingWaiting:
    """The callback pool and Map Run pool of an execution that has ended long ago."""

    def notify(self, *args: Any, **kwargs: Any) -> bool:
        return False

    def heartbeat(self, *args: Any, **kwargs: Any) -> bool:
        return False

    def get(self, *args: Any, **kwargs: Any) -> None:
        return None

    def get_all(self) -> list[Any]:
        return []


class KeptExecution:
    """An ended execution as DescribeExecution and GetExecutionHistory described it."""

    def __init__(self, described: dict[str, Any], events: list[dict[str, Any]]):
        self.execution_arn = self.exec_arn = described["executionArn"]
        self.name: str = described["name"]
        self.state_machine_arn: str = described["stateMachineArn"]
        self.start_date: datetime = described["startDate"]
        self.stop_date: datetime | None = described.get("stopDate")
        self.exec_status = ExecutionStatus(described["status"])
        self.execution_input: str = described.get("input", "{}")
        self.output: str | None = described.get("output")
        self.output_details: dict[str, Any] = described.get("outputDetails", {"included": True})
        self.error: str | None = described.get("error")
        self.cause: str | None = described.get("cause")
        nothing = _NothingWaiting()
        self.exec_worker = SimpleNamespace(env=SimpleNamespace(callback_pool_manager=nothing,
                                                               map_run_record_pool_manager=nothing))
        self._events = events

    @property
    def status(self) -> str:
        return self.exec_status.value

    def to_history_output(self) -> dict[str, Any]:
        return {"events": self._events}


def _check() -> None:
    from moto.stepfunctions.parser.backend.execution import Execution

    source = Execution.__init__.__code__.co_names + tuple(vars(Execution))
    missing = [name for name in READ_BY_MOTO if name not in source]
    if missing or not hasattr(StepFunctionsParserBackend, "describe_state_machine"):
        raise MotoChanged(f"moto's Step Functions executions no longer hold {', '.join(missing) or 'a state machine'}")


def put_back(account_id: str, region: str, described: dict[str, Any], events: list[dict[str, Any]]) -> bool:
    """Add an ended execution to its state machine; False when the state machine is not there
    (or already has an execution of that name)."""
    _check()
    backend = stepfunctions_parser_backends[account_id][region]
    try:
        state_machine = backend.describe_state_machine(described["stateMachineArn"])
    except Exception:  # noqa: BLE001 - moto's StateMachineDoesNotExist, or an ARN of another region
        return False
    if ExecutionStatus(described["status"]) == ExecutionStatus.RUNNING:
        return False
    if any(execution.name == described["name"] for execution in state_machine.executions):
        return False
    state_machine.executions.append(KeptExecution(described, events))
    return True

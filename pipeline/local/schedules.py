"""EventBridge Scheduler schedules of a stack, run by the offline cloud.

A schedule (`AWS::Scheduler::Schedule`) whose target is a Step Functions state machine and whose
expression is `rate(N minutes|hours|days)` fires at deploy (as AWS fires a rate schedule without a
StartDate), then every period on the cloud's scaled clock
(`--time-scale`: 1 is real time; with 0, which makes every wait nothing, schedules do not fire on
their own). Each firing starts an execution as the schedule's role, which must be allowed
`states:StartExecution` on the state machine (EventBridge Scheduler User Guide, "Set up the
execution role"), with the target's Input and its context attributes filled in
(`<aws.scheduler.scheduled-time>`, `<aws.scheduler.execution-id>`, `<aws.scheduler.schedule-arn>`,
`<aws.scheduler.attempt-number>`: the guide's "Adding context attributes"). A refused start is
recorded as a failed firing (Scheduler retries, then drops it or sends it to the schedule's
dead-letter queue; offline it is recorded once). What the offline cloud cannot run is refused at
deploy (pipeline.local.validation): another expression, another target, a DISABLED schedule runs
nothing.
"""

from __future__ import annotations

import re
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

RATE = re.compile(r"rate\((?P<value>[1-9]\d*) (?P<unit>minute|minutes|hour|hours|day|days)\)")
UNIT_SECONDS = {"minute": 60, "hour": 3600, "day": 86400}


@dataclass(frozen=True)
class Schedule:
    logical_id: str
    name: str
    group: str
    arn: str
    expression: str
    period_s: float
    target_arn: str
    role_arn: str
    input: str
    enabled: bool
    flexible_window: dict[str, Any]

    def create_request(self) -> dict[str, Any]:
        """CreateSchedule as CloudFormation calls it: what GetSchedule and ListSchedules then answer."""
        return {"Name": self.name, "GroupName": self.group, "ScheduleExpression": self.expression,
                "FlexibleTimeWindow": self.flexible_window, "State": "ENABLED" if self.enabled else "DISABLED",
                "Target": {"Arn": self.target_arn, "RoleArn": self.role_arn, "Input": self.input}}


@dataclass(frozen=True)
class Firing:
    """One time a schedule fired: the execution it started, or why it could not."""

    schedule: str
    scheduled_time: str
    execution_arn: str | None = None
    error: str | None = None


def period_of(expression: Any) -> float | None:
    """Seconds between firings of a rate expression; None for any other expression."""
    matched = RATE.fullmatch(expression) if isinstance(expression, str) else None
    if matched is None:
        return None
    return int(matched["value"]) * UNIT_SECONDS[matched["unit"].rstrip("s")]


# What would move a schedule's firings in time: offline a schedule fires from deploy, forever.
UNRUN_PROPERTIES = frozenset({"StartDate", "EndDate", "ScheduleExpressionTimezone"})


def why_not_run(expression: Any, starts_a_state_machine: bool, target: Any, unrun: list[str] = ()) -> str | None:
    """Why the offline cloud cannot run a schedule, or None."""
    if period_of(expression) is None:
        return f"schedule expression {expression!r}: the offline cloud runs rate(...) schedules only"
    if not starts_a_state_machine:
        return f"target {target}: the offline cloud's schedules start Step Functions state machines only"
    if unrun:
        return (f"{', '.join(unrun)}: the offline cloud's schedules fire from the deploy on, every period, and never "
                "end")
    return None


def schedules_of(resources: dict[str, dict[str, Any]], resolver: Any, region: str, account: str,
                 name_of: Callable[[str], str]) -> list[Schedule]:
    """The template's schedules whose condition holds, resolved."""
    found = []
    for logical_id, resource in resources.items():
        if resource.get("Type") != "AWS::Scheduler::Schedule" or not resolver.condition(resource.get("Condition")):
            continue
        properties = resolver.resolve(resource.get("Properties", {}))
        target = properties.get("Target") or {}
        name = properties.get("Name") or name_of(logical_id)
        group = properties.get("GroupName") or "default"
        expression = str(properties.get("ScheduleExpression", ""))
        found.append(Schedule(
            logical_id=logical_id, name=name, group=group,
            arn=f"arn:aws:scheduler:{region}:{account}:schedule/{group}/{name}", expression=expression,
            period_s=period_of(expression) or 0.0, target_arn=target.get("Arn", ""),
            role_arn=target.get("RoleArn", ""), input=str(target.get("Input", "{}")),
            enabled=properties.get("State", "ENABLED") == "ENABLED",
            flexible_window=properties.get("FlexibleTimeWindow") or {"Mode": "OFF"}))
    return found


def filled(schedule: Schedule, scheduled: datetime) -> str:
    """The target's Input with the schedule's context attributes."""
    values = {"scheduled-time": scheduled.strftime("%Y-%m-%dT%H:%M:%SZ"), "execution-id": str(uuid.uuid4()),
              "schedule-arn": schedule.arn, "attempt-number": "1"}
    text = schedule.input
    for name, value in values.items():
        text = text.replace(f"<aws.scheduler.{name}>", value)
    return text


class Scheduler:
    """Fires the stack's schedules every period times scale seconds until stopped."""

    def __init__(self, schedules: list[Schedule], scale: float, fire: Callable[[Schedule, datetime], Firing]):
        self._schedules = list(schedules)
        self._firing = [schedule for schedule in schedules if schedule.enabled and schedule.period_s > 0]
        self._scale = scale
        self._fire = fire
        self._stopped = threading.Event()
        self._thread: threading.Thread | None = None
        self.firings: list[Firing] = []

    @property
    def schedules(self) -> list[Schedule]:
        return list(self._schedules)

    def fire(self, logical_id: str) -> Firing:
        """Fire a schedule now, as if its time had come (what a test or `pipeline` needs without
        waiting for the scaled clock; AWS has no such call)."""
        (schedule,) = [schedule for schedule in self._schedules if schedule.logical_id == logical_id]
        firing = self._fire(schedule, datetime.now(timezone.utc))
        self.firings.append(firing)
        return firing

    def start(self) -> None:
        if self._firing and self._scale > 0:
            self._thread = threading.Thread(target=self._run, name="offline-scheduler", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stopped.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def _run(self) -> None:
        # A rate schedule without a StartDate "starts invoking the target immediately" (Scheduler
        # User Guide, "Rate-based schedules"): its first firing is at deploy.
        started = datetime.now(timezone.utc).timestamp()
        due = {schedule.arn: started for schedule in self._firing}
        while not self._stopped.is_set():
            now = datetime.now(timezone.utc).timestamp()
            for schedule in self._firing:
                if due[schedule.arn] <= now:
                    due[schedule.arn] += schedule.period_s * self._scale
                    self.firings.append(self._fire(schedule, datetime.now(timezone.utc)))
            self._stopped.wait(max(0.0, min(due.values()) - datetime.now(timezone.utc).timestamp()))

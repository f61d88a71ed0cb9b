"""What happened to one uploaded file, as the driver, the ledger and the reports tell it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

TERMINAL = {"SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED", "DEAD_LETTERED", "LOST"}


@dataclass(frozen=True)
class Notification:
    subject: str | None
    message: str


@dataclass(frozen=True)
class StateVisit:
    """One state the execution entered, with the task attempts and waits it took."""

    name: str
    attempts: int = 0
    errors: tuple[str, ...] = ()
    outcome: str = "entered"
    waits_s: tuple[float, ...] = ()
    payload_digests: tuple[str, ...] = ()


@dataclass
class FileResult:
    """What happened to one uploaded file."""

    file: str
    bucket: str
    key: str
    status: str = "PENDING"
    states: list[str] = field(default_factory=list)
    error: str | None = None
    cause: str | None = None
    notification: Notification | None = None
    execution_arn: str | None = None
    duration_ms: float | None = None
    reason: str | None = None
    version_id: str | None = None
    latency_ms: float | None = None
    uploaded_at: float | None = None
    visits: list[StateVisit] = field(default_factory=list)
    history: list[dict[str, Any]] | None = None

    @property
    def accounted_for(self) -> bool:
        """SUCCEEDED, FAILED with a notification, or IGNORED with a reason."""
        return (
            self.status == "SUCCEEDED"
            or (self.status == "FAILED" and self.notification is not None)
            or (self.status == "IGNORED" and bool(self.reason))
        )

    @property
    def retries(self) -> int:
        """Task attempts beyond the first, over every state (Retry at work)."""
        return sum(max(visit.attempts - 1, 0) for visit in self.visits)

    def to_json(self) -> dict[str, Any]:
        record = asdict(self)
        record.pop("visits")
        record.pop("history")
        record.pop("uploaded_at")
        record["retries"] = self.retries
        return record


Progress = Callable[[FileResult, int, int], None]

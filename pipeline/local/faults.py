"""Faults injected into the offline cloud, to watch retries, catches and dead letters happen.

Syntax (for `pipeline run --inject`, repeatable): KIND[:TARGET][:COUNT]

    throttle:RandomFailureFunction:2   Lambda answers 429 TooManyRequestsException twice
    service-error:CheckExtFunction     Lambda answers 500 ServiceException once
    timeout:RandomFailureFunction      the invocation runs past the function's Timeout
    sns-failure:4                      SNS Publish fails 4 times (InternalErrorException)
    start-failure                      EventBridge cannot start the execution once (-> DLQ)

Each fault is used once per count, by the next matching call, whatever file it belongs to.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

LAMBDA_FAULTS = ("throttle", "service-error", "timeout")
SERVICE_FAULTS = ("sns-failure", "start-failure")


class FaultSyntaxError(ValueError):
    """An --inject value that does not follow KIND[:TARGET][:COUNT]."""


@dataclass(frozen=True)
class Fault:
    kind: str
    target: str | None
    count: int

    @classmethod
    def parse(cls, text: str) -> Fault:
        parts = text.split(":")
        kind = parts[0]
        if kind in LAMBDA_FAULTS:
            if len(parts) not in (2, 3) or not parts[1]:
                raise FaultSyntaxError(f"{text!r}: {kind} needs a function, as {kind}:FunctionLogicalId[:COUNT]")
            target, count = parts[1], parts[2] if len(parts) == 3 else "1"
        elif kind in SERVICE_FAULTS:
            if len(parts) > 2:
                raise FaultSyntaxError(f"{text!r}: {kind} takes only a count, as {kind}[:COUNT]")
            target, count = None, parts[1] if len(parts) == 2 else "1"
        else:
            raise FaultSyntaxError(
                f"{text!r}: unknown fault {kind!r}; known: {', '.join(LAMBDA_FAULTS + SERVICE_FAULTS)}"
            )
        if not count.isdigit() or int(count) < 1:
            raise FaultSyntaxError(f"{text!r}: COUNT must be a positive whole number")
        return cls(kind, target, int(count))


class FaultPlan:
    """Faults still to be injected, taken one by one by the calls they match."""

    def __init__(self, faults: list[Fault] | None = None):
        self._remaining: Counter[tuple[str, str | None]] = Counter()
        self._lock = threading.Lock()
        self._spared = threading.local()
        self.injected: list[tuple[str, str | None]] = []
        for fault in faults or []:
            self.add(fault)

    def add(self, fault: Fault) -> None:
        with self._lock:
            self._remaining[(fault.kind, fault.target)] += fault.count

    @contextmanager
    def spared(self) -> Iterator[None]:
        """Calls made in this thread within the block take no fault (an alarm's publish, say)."""
        self._spared.active = True
        try:
            yield
        finally:
            self._spared.active = False

    def take(self, kind: str, target: str | None = None) -> bool:
        """True (and one fewer left) if a fault of this kind is pending for this target."""
        if getattr(self._spared, "active", False):
            return False
        with self._lock:
            if self._remaining[(kind, target)] > 0:
                self._remaining[(kind, target)] -= 1
                self.injected.append((kind, target))
                return True
            return False

    def take_lambda_fault(self, function_logical_id: str) -> str | None:
        for kind in LAMBDA_FAULTS:
            if self.take(kind, function_logical_id):
                return kind
        return None

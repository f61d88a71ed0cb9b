"""Decides whether the simulated processing step fails, at the configured rate."""

from __future__ import annotations

import random
from dataclasses import dataclass


class SimulatedProcessingError(Exception):
    """The processing step failed on purpose, standing in for a real ETL failure."""


class InvalidFailureRateError(ValueError):
    """FAILURE_RATE is not a number between 0 and 1."""


@dataclass(frozen=True)
class FailurePolicy:
    rate: float
    seed: str | None = None

    @classmethod
    def from_environment(cls, rate: str | None, seed: str | None) -> FailurePolicy:
        try:
            value = float(rate if rate not in (None, "") else 0)
        except ValueError:
            raise InvalidFailureRateError(f"FAILURE_RATE must be a number from 0 to 1, got {rate!r}") from None
        if not 0 <= value <= 1:
            raise InvalidFailureRateError(f"FAILURE_RATE must be from 0 to 1, got {value}")
        return cls(rate=value, seed=seed or None)

    def fails(self, key: str) -> bool:
        """With a seed, the outcome depends only on the seed and the key, not on call order."""
        if self.rate == 0:
            return False
        draw = (
            random.Random(f"{self.seed}\0{key}").random()
            if self.seed is not None
            else random.random()
        )
        return draw < self.rate

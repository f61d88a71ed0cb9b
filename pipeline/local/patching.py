"""Replacing an attribute of moto for the length of a block, and saying clearly when moto changed.

Every reach into moto's internals is a Patch; applying one checks that the attribute it
replaces exists, so a moto release that renamed or removed it fails with the attribute's name
instead of a patch that silently never runs.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any


class MotoChanged(RuntimeError):
    """moto no longer has what a patch replaces."""


@dataclass(frozen=True)
class Patch:
    owner: Any  # a module or a class
    name: str
    replacement: Any
    adds: bool = False  # the owner lacks the attribute: moto does not implement it yet

    @property
    def target(self) -> str:
        owner = getattr(self.owner, "__qualname__", None)
        module = getattr(self.owner, "__module__", None) if owner else None
        return f"{module}.{owner}.{self.name}" if owner else f"{self.owner.__name__}.{self.name}"

    def original(self) -> Any:
        """The attribute as the owner holds it (a class's staticmethod stays one); for an addition,
        that the owner still lacks it (once moto has it, the addition must go)."""
        held = vars(self.owner)
        if self.adds:
            if hasattr(self.owner, self.name):
                raise MotoChanged(f"{self.target} exists now: the offline cloud's own can go")
            return None
        if self.name in held:
            return held[self.name]
        if hasattr(self.owner, self.name):  # inherited
            return getattr(self.owner, self.name)
        raise MotoChanged(f"{self.target} is gone")


@contextmanager
def applied(patches: Sequence[Patch]) -> Iterator[None]:
    """Apply every patch (after checking each target exists), restore them all on exit."""
    originals = [(patch, patch.original()) for patch in patches]
    inherited = {patch for patch, _ in originals if patch.name not in vars(patch.owner)}  # additions too
    try:
        for patch, _ in originals:
            setattr(patch.owner, patch.name, patch.replacement)
        yield
    finally:
        for patch, original in reversed(originals):
            if patch in inherited:
                delattr(patch.owner, patch.name)
            else:
                setattr(patch.owner, patch.name, original)

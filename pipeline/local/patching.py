"""The one gate into libraries' internals (moto's, and botocore's and the standard library's
HTTP server's once each), which says clearly when a library changed.

Every reach into them goes through here: a Patch replaces a member for the length of a block,
and applying it checks that the member exists, so a release that renamed or removed it fails
with the member's name instead of a patch that silently never runs; a Private reads, calls or
sets a private member, and is checked when declared (or, for a member only instances have, at
each use). tests/unit/test_moto_gate.py finds any private member touched another way.
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


def installed_for_good(patch: Patch) -> None:
    """Apply a patch for the rest of the process (idempotent): for a cache that every later user
    of the library shares, where restoring the original would only make the next one parse again."""
    if getattr(patch.owner, patch.name, None) is not patch.replacement:
        patch.original()
        setattr(patch.owner, patch.name, patch.replacement)


@dataclass(frozen=True)
class Private:
    """A private member of a library's class or module that the offline cloud reads, calls or
    sets. Declared at module level beside its use, it is checked then (the declaring module's
    import: MotoChanged names it); one that only instances hold (instance=True, set in their
    __init__) is checked at each use."""

    owner: Any  # the class or module that defines it
    name: str
    instance: bool = False

    def __post_init__(self) -> None:
        if not self.instance and not hasattr(self.owner, self.name):
            raise MotoChanged(f"{self.target} is gone")

    @property
    def target(self) -> str:
        return Patch(self.owner, self.name, None).target

    def of(self, holder: Any) -> Any:
        """The member as holder (the owner, or an instance of it) has it."""
        try:
            return getattr(holder, self.name)
        except AttributeError:
            raise MotoChanged(f"{self.target} is gone") from None

    def __call__(self, holder: Any, *args: Any, **kwargs: Any) -> Any:
        """Call the method on holder."""
        return self.of(holder)(*args, **kwargs)

    def set(self, holder: Any, value: Any) -> None:
        self.of(holder)  # only a member the library has: a renamed one would be set in vain
        setattr(holder, self.name, value)

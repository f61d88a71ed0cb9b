"""The moto release the offline cloud is written against, checked before any of moto's internals
are imported.

The core (pipeline.local.moto_core) cannot run without its hooks: on another moto it is tried,
and if a hook cannot apply, the cloud stops with one line saying so. The speed layer
(pipeline.local.speed) only makes the cloud faster: on another moto it is switched off, with one
warning, and the cloud runs without it.
"""

from __future__ import annotations

import importlib
import logging
import os
from collections.abc import Collection
from types import ModuleType
from typing import TYPE_CHECKING

import moto

if TYPE_CHECKING:
    from pipeline.local.plain_layer import PlainLayer

PINNED_MOTO = "5.2.5"  # also pinned in pyproject.toml

log = logging.getLogger("pipeline.local")


class MotoUnsupported(RuntimeError):
    """The installed moto lacks what the offline cloud's core needs."""


def installed_version() -> str:
    return moto.__version__


def load_core() -> ModuleType:
    """pipeline.local.moto_core, or MotoUnsupported with one line naming what moto lacks."""
    try:
        return importlib.import_module("pipeline.local.moto_core")
    except (ImportError, AttributeError) as error:
        raise MotoUnsupported(_unsupported(error)) from None


def unsupported(error: Exception) -> MotoUnsupported:
    """The error for a core hook that could not apply."""
    return MotoUnsupported(_unsupported(error))


def _unsupported(error: Exception) -> str:
    return (f"the offline cloud needs moto {PINNED_MOTO} (pip install 'moto=={PINNED_MOTO}'); "
            f"moto {installed_version()} is installed and {error}")


def fast_requested() -> bool:
    """The speed layer is on unless the environment has PIPELINE_OFFLINE_FAST=0."""
    return os.environ.get("PIPELINE_OFFLINE_FAST", "1") != "0"


_warned: set[str] = set()


def select_layer(fast: bool | None = None, skip: Collection[str] = ()) -> PlainLayer:
    """The speed layer if asked for (fast=None: as the environment says) and moto is the pinned
    release; otherwise the plain layer. skip names speed parts to leave out (for make bench)."""
    from pipeline.local.plain_layer import PlainLayer

    if fast is None:
        fast = fast_requested()
    if not fast:
        return PlainLayer()
    version = installed_version()
    if version != PINNED_MOTO:
        if version not in _warned:
            _warned.add(version)
            log.warning("moto %s is installed, not the pinned %s: the offline cloud's speed layer is off "
                        "(runs are slower, results the same)", version, PINNED_MOTO)
        return PlainLayer()
    from pipeline.local.speed.layer import SpeedLayer

    return SpeedLayer(skip=skip)

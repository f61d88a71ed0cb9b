"""The moto release the offline cloud is written against, checked before any of moto's internals
are imported.

The core (pipeline.local.moto_core) cannot run without its hooks: on another moto it is tried,
and if a hook cannot apply, the cloud stops with one line saying so. The speed layer
(pipeline.local.speed) only makes the cloud faster: on another moto pipeline.local.speed.select_layer
switches it off, with one warning, and the cloud runs without it.
"""

from __future__ import annotations

import importlib
from types import ModuleType

import moto

from pipeline.local.patching import MotoChanged

PINNED_MOTO = "5.2.5"  # also pinned in pyproject.toml


class MotoUnsupported(RuntimeError):
    """The installed moto lacks what the offline cloud's core needs."""


def installed_version() -> str:
    return moto.__version__


def load_core() -> ModuleType:
    """pipeline.local.moto_core, or MotoUnsupported with one line naming what moto lacks."""
    try:
        return importlib.import_module("pipeline.local.moto_core")
    except (ImportError, AttributeError, MotoChanged) as error:
        raise MotoUnsupported(_unsupported(error)) from None


def unsupported(error: Exception) -> MotoUnsupported:
    """The error for a core hook that could not apply."""
    return MotoUnsupported(_unsupported(error))


def _unsupported(error: Exception) -> str:
    return (f"the offline cloud needs moto {PINNED_MOTO} (pip install 'moto=={PINNED_MOTO}'); "
            f"moto {installed_version()} is installed and {error}")

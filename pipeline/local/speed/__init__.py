"""The offline cloud's speed layer: everything that only makes it faster, on or off as a whole.

It is on by default and off with PIPELINE_OFFLINE_FAST=0, or when the installed moto is not the
pinned release (select_layer says so once). The suite passes either way; with it off, the cloud
is the plain layer (pipeline.local.plain_layer) and the core. Enforcement of permissions is in
the core and runs the same with or without this layer. The core never imports this package:
whoever starts the cloud picks its layer here (pipeline.offline.OfflineCloud, make bench).

Each part is named; `python -m pipeline.bench --ablate PART` leaves parts out and measures what
they pay, and a part stays only if it pays (docs/performance.md has the figures). The layer
itself is speed.layer.SpeedLayer, imported only once moto's version is checked, before any of
moto's internals are imported.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Collection

from pipeline.local.plain_layer import PlainLayer

log = logging.getLogger("pipeline.local")


def fast_requested() -> bool:
    """The speed layer is on unless the environment has PIPELINE_OFFLINE_FAST=0."""
    return os.environ.get("PIPELINE_OFFLINE_FAST", "1") != "0"


_warned: set[str] = set()


def select_layer(fast: bool | None = None, skip: Collection[str] = ()) -> PlainLayer:
    """The speed layer if asked for (fast=None: as the environment says) and moto is the pinned
    release; otherwise the plain layer. skip names speed parts to leave out (for make bench)."""
    from pipeline.local.moto_version import PINNED_MOTO, installed_version  # imports moto

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

"""The offline cloud's heap and Python's cyclic garbage collector.

Starting the cloud imports moto and deploys a stack: about a million long-lived objects, and
almost no garbage. With the collector's default thresholds the heap's growth alone triggers full
collections, each walking all of it: 8 of them took 0.77 s of a 2.6 s deploy (measured with
gc.callbacks). So collections wait while the cloud starts, and what survives the start is frozen
(gc.freeze): later collections, and the interpreter's last ones at exit, skip it.
"""

from __future__ import annotations

import atexit
import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def long_lived() -> Iterator[None]:
    """No collections during the block; if it ends well, what exists then is kept out of later
    ones (until thawed: a stopped cloud calls thaw). Nested blocks leave it all to the outermost.
    A start that fails freezes nothing: what it made is collected as usual."""
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    except BaseException:
        gc.enable()
        raise
    gc.freeze()
    gc.enable()


def thaw() -> None:
    """Back into the collector's sight: what a stopped cloud froze is garbage now, in a process
    that goes on (the tests, the bench, `pipeline serve` after a stack is replaced)."""
    gc.unfreeze()


def freeze_at_exit() -> None:
    """When the process ends, skip its last collections: they would walk the whole heap (0.7 s
    after `pipeline run`) to free memory that the process gives back as it exits anyway."""
    global _freezing_at_exit
    if not _freezing_at_exit:
        atexit.register(gc.freeze)
        _freezing_at_exit = True


_freezing_at_exit = False

"""What the offline cloud works out the same way every time from the same input, kept between
runs: the SAM transform of a template took 0.2 s of every `pipeline run` (importing the
translator, then translating), for the same template each time.

Entries are JSON files named by a digest of everything the result depends on, in
$PIPELINE_CACHE_DIR, else $XDG_CACHE_HOME/file-pipeline, else ~/.cache/file-pipeline.
PIPELINE_CACHE_DIR=off keeps nothing. A cache that cannot be read or written is passed by.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

FORM = 1  # raise when what is kept changes
KEPT = 64  # entries of a kind: the oldest go beyond that


def folder() -> Path | None:
    chosen = os.environ.get("PIPELINE_CACHE_DIR")
    if chosen == "off":
        return None
    if chosen:
        return Path(chosen)
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "file-pipeline"


def kept(kind: str, depends_on: Any, make: Callable[[], Any]) -> Any:
    """make()'s JSON result, from the cache when depends_on (JSON) is what it was made from."""
    base = folder()
    try:
        # Keys in their order: a result may follow the order of its input's keys.
        digest = hashlib.sha256(json.dumps([FORM, kind, depends_on]).encode("utf-8")).hexdigest()
    except (TypeError, ValueError):  # not JSON (a YAML date, say): made each time
        return make()
    path = base / kind / f"{digest}.json" if base else None
    if path is not None:
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            pass
    result = make()
    if path is not None:
        _write(path, result)
    return result


def _write(path: Path, result: Any) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile("w", encoding="utf-8", dir=path.parent, delete=False,
                                         suffix=".tmp") as temporary:
            json.dump(result, temporary)
        os.replace(temporary.name, path)  # whole or not at all, also with two runs at once
        entries = sorted(path.parent.glob("*.json"), key=lambda entry: entry.stat().st_mtime)
        for entry in entries[:-KEPT]:
            entry.unlink(missing_ok=True)
    except (OSError, TypeError, ValueError):
        try:
            os.unlink(temporary.name)
        except (OSError, NameError):
            pass

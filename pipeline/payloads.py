"""A short fingerprint of a Lambda payload, to match an invocation to the task state that sent it.

The driver reads payloads from the execution history, the offline runtime from its invocations;
both fingerprint them here, so that the report can put each invocation under its task.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any


def payload_digest(payload: Any) -> str:
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    # surrogatepass: JSON may escape a lone surrogate ("\ud800"), which UTF-8 cannot encode
    return hashlib.sha1(canonical.encode("utf-8", "surrogatepass")).hexdigest()[:16]

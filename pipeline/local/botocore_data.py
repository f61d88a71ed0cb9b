"""botocore's data files (endpoints.json, the service models), parsed once per process.

Each botocore session makes a Loader of its own, which parses endpoints.json (1.2 MB) and every
service model its clients use again. The offline cloud's process makes eight sessions: its
clients, the SAM transform's, moto's backends' and, as moto's EC2 module is imported, three more
that are dropped at once. Sessions made with the same AWS_DATA_PATH share one Loader here, as the
clients of one session share theirs in botocore: the same files parsed once for all of them
(three Loaders in all: this one, moto's, and api_calls' own, below), and no dropped
session's models left as garbage (115,000 dicts of a start's 147,000 garbage objects were).
Shared models are shared in whatever state their users leave them: botocore's S3 clients strip
"/{Bucket}" from the operations' URIs in place (the same way in every session), so what reads
S3's URIs as defined (pipeline.local.api_calls) keeps a Loader of its own.
moto makes a Loader of its own for each service model it reads (with moto's extras merged in),
each listing botocore's 400 data folders again: those share one too, apart from botocore's.
"""

from __future__ import annotations

import functools

import botocore.loaders
import botocore.session

from pipeline.local.patching import MotoChanged, Patch, installed_for_good


@functools.cache
def _shared_loader(search_path_string: str | None = None) -> botocore.loaders.Loader:
    return botocore.loaders.create_loader(search_path_string)


SHARED_LOADER = Patch(botocore.session, "create_loader", _shared_loader)


def parse_once() -> None:
    """From now on, botocore sessions share their Loader, and moto's service models theirs
    (idempotent). Imports moto.core, as the offline cloud's start does next anyway. Only a cost
    saved: on a botocore or moto that no longer has the member, each reads as it always did (the
    core's own check, moto_version.load_core, says what else a changed moto lacks)."""
    import moto.core.utils

    for patch in (SHARED_LOADER, Patch(moto.core.utils, "create_loader", _shared_moto_loader)):
        try:
            installed_for_good(patch)
        except MotoChanged:
            pass


@functools.cache
def _shared_moto_loader() -> botocore.loaders.Loader:
    from moto.core.loaders import create_loader

    return create_loader()

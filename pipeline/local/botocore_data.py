"""botocore's data files (endpoints.json, the service models), parsed once per process.

Each botocore session makes a Loader of its own, which parses endpoints.json (1.2 MB) and every
service model its clients use again. The offline cloud's process makes eight sessions: its
clients, the SAM transform's, moto's backends' and, as moto's EC2 module is imported, three more
that are dropped at once. Sessions made with the same AWS_DATA_PATH share one Loader here, as the
clients of one session share theirs in botocore: the same files, parsed once, and no dropped
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

from pipeline.local.patching import Patch, installed_for_good


@functools.cache
def _shared_loader(search_path_string: str | None = None) -> botocore.loaders.Loader:
    return botocore.loaders.create_loader(search_path_string)


SHARED_LOADER = Patch(botocore.session, "create_loader", _shared_loader)


def parse_once() -> None:
    """From now on, botocore sessions share their Loader, and moto's service models theirs
    (idempotent). Imports moto.core, as the offline cloud's start does next anyway."""
    import moto.core.utils

    installed_for_good(SHARED_LOADER)
    installed_for_good(Patch(moto.core.utils, "create_loader", _shared_moto_loader))


@functools.cache
def _shared_moto_loader() -> botocore.loaders.Loader:
    from moto.core.loaders import create_loader

    return create_loader()

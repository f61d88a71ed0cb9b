"""The offline cloud put together, as the pipeline command, make bench and the tests use it:

    with OfflineCloud.deploy("template.yaml") as cloud:
        result = cloud.run(["samples/sales.csv"])[0]
        result.status, result.states, result.notification

The core (pipeline.local.cloud.LocalCloud) runs a stack with whichever layer it is given and
knows nothing of the speed layer or the driver; here the layer is picked (pipeline.local.speed)
and files are run through the stack by the same driver that runs them in AWS.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

from pipeline.driver import run_files
from pipeline.results import FileResult
from pipeline.local.botocore_data import parse_once
from pipeline.local.cloud import LocalCloud
from pipeline.local.heap import long_lived
from pipeline.local.moto_version import load_core
from pipeline.local.plain_layer import PlainLayer
from pipeline.local.speed import select_layer


class OfflineCloud(LocalCloud):
    """LocalCloud with the speed layer on unless asked otherwise, and files run through it."""

    @classmethod
    def start(cls, *, fast: bool | None = None, layer: PlainLayer | None = None,
              **options: Any) -> AbstractContextManager[OfflineCloud]:  # type: ignore[override]
        """LocalCloud.start with the layer select_layer(fast) picks: fast=None as the environment
        says (PIPELINE_OFFLINE_FAST=0 turns the speed layer off), False the core alone; layer gives
        one outright. The core is loaded first: on a moto it cannot run on, one line says so before
        the speed layer (which builds on the core) is imported."""
        with long_lived():
            parse_once()
            load_core()
            layer = layer or select_layer(fast)
        return super().start(layer=layer, **options)  # type: ignore[return-value]

    def run(self, files: Sequence[str | Path], prefix: str = "", **options: Any) -> list[FileResult]:
        """Upload files and follow each to its end (options: those of pipeline.driver.run_files)."""
        if self.stack is None:
            raise RuntimeError("no pipeline stack is deployed in the offline cloud")
        options.setdefault("poll_s", 0.02)  # offline, polling costs next to nothing
        options.setdefault("eager", True)
        return run_files(self.clients, self.stack, [Path(f) for f in files], prefix=prefix, **options)

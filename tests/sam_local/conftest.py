"""Fixtures for tests/sam_local: the SAM CLI with Docker and a Lambda base image, one `sam build`
per session, and a local AWS endpoint per test."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import pytest

from pipeline.template import load_template
from tests.conftest import ROOT, SAMPLES, TEMPLATE
from tests.sam_local.aws_endpoint import AwsEndpoint, Landing, StoredObject
from tests.sam_local.sam_cli import AWS_IMAGE, SamLocal, Toolchain, found_or_skip

FIXTURE_BUCKET = "file-pipeline-landing-example"
FIXTURE_VERSION_ID = "IYV3p45BT0ac8hjHg1houSdS1a.Mro8e"
FIXTURE_BODY = b"hello\n"
"""Its MD5 is the ETag the fixtures announce (b1946ac9...), which check_ext compares."""
IDEMPOTENCY_TABLE = "IdempotencyTable"
"""`sam local` resolves !Ref IdempotencyTable to the logical ID."""


@pytest.fixture(scope="session")
def sam_local() -> SamLocal:
    """Skips every test here when Docker, the SAM CLI, python3.13 or a Lambda base image is missing;
    fails instead under SAM_LOCAL_REQUIRED=1 (CI and `make local-invoke`, where all must be there)."""
    toolchain = found_or_skip(lambda: Toolchain.find(ROOT), "SAM_LOCAL_REQUIRED", "sam local invoke")
    sam = SamLocal(toolchain, ROOT)
    started = time.monotonic()
    sam.build()
    CHECKED.append(f"sam build: {time.monotonic() - started:.0f} s; base image: {toolchain.invoke_image or AWS_IMAGE}")
    return sam


CHECKED: list[str] = []
"""One line per check that passed, printed at the end of the run, so that CI's log shows what ran
and what came back."""


@pytest.fixture
def checked() -> Callable[[str], None]:
    return CHECKED.append


def pytest_terminal_summary(terminalreporter) -> None:
    if CHECKED:
        terminalreporter.section("sam local invoke: what ran and what came back")
        for line in CHECKED:
            terminalreporter.write_line(line)


def idempotency_table() -> dict:
    """The template's IdempotencyTable, as create_table arguments."""
    properties = load_template(TEMPLATE)["Resources"][IDEMPOTENCY_TABLE]["Properties"]
    return {"TableName": IDEMPOTENCY_TABLE, "BillingMode": properties["BillingMode"],
            "AttributeDefinitions": properties["AttributeDefinitions"], "KeySchema": properties["KeySchema"]}


LANDING = Landing(
    bucket=FIXTURE_BUCKET,
    objects=(
        StoredObject("daily/sales.csv", (SAMPLES / "sales.csv").read_bytes()),  # events/process-csv.json
        # events/eventbridge-encoded-key.json announces "daily/my+file.CSV" at this version and ETag.
        StoredObject("daily/my file.CSV", FIXTURE_BODY, version_id=FIXTURE_VERSION_ID),
    ),
    tables=(idempotency_table(),),
)


@pytest.fixture
def endpoint(sam_local, tmp_path) -> Iterator[AwsEndpoint]:
    """A fresh endpoint holding what the fixtures announce, for one test."""
    with AwsEndpoint(sam_local.toolchain.host_address, LANDING, tmp_path / "moto.log", ROOT) as started:
        yield started

"""The offline cloud's start: no collections while it runs, what it made frozen after; botocore's
data files parsed once per process."""

from __future__ import annotations

import gc
from pathlib import Path

import boto3
import botocore.session
import pytest

from pipeline.local.botocore_data import parse_once
from pipeline.local.heap import long_lived

TEMPLATE = Path(__file__).resolve().parents[2] / "template.yaml"


def test_no_collection_runs_in_a_start_and_what_it_made_is_frozen_after():
    frozen = gc.get_freeze_count()
    collections: list[int] = []
    gc.callbacks.append(record := lambda phase, info: collections.append(info["generation"]) if phase == "start" else None)
    try:
        with long_lived():
            with long_lived():  # nested: the outer block decides
                assert not gc.isenabled()
            assert not gc.isenabled()
            kept = [[index] for index in range(200_000)]  # past every threshold
        assert gc.isenabled() and collections == []
        assert gc.get_freeze_count() >= frozen + len(kept)
    finally:
        gc.callbacks.remove(record)
        gc.unfreeze()


def test_a_start_that_fails_freezes_nothing_and_collections_resume():
    gc.unfreeze()
    with pytest.raises(RuntimeError):
        with long_lived():
            assert not gc.isenabled()
            raise RuntimeError("deploy refused")
    assert gc.isenabled() and gc.get_freeze_count() == 0


def test_a_stopped_cloud_leaves_nothing_frozen():
    """What a start froze is collected once its cloud is gone (the plain layer: nothing else thaws)."""
    from pipeline.offline import OfflineCloud

    gc.unfreeze()
    with OfflineCloud.deploy(TEMPLATE, ["FailureRate=0"], time_scale=0, fast=False):
        assert gc.get_freeze_count() > 100_000
    assert gc.get_freeze_count() == 0


def test_sessions_share_one_loader_and_their_clients_work_as_before():
    parse_once()
    parse_once()  # idempotent
    first, second = botocore.session.Session(), botocore.session.Session()
    assert first.get_component("data_loader") is second.get_component("data_loader")
    client = boto3.session.Session(botocore_session=second, region_name="eu-west-1").client("s3")
    assert client.meta.service_model.service_name == "s3" and client.meta.region_name == "eu-west-1"


def test_moto_reads_its_service_models_with_one_loader_and_its_extras_still_merged():
    import moto.core.utils

    parse_once()
    assert moto.core.utils.create_loader() is moto.core.utils.create_loader()
    # moto's extras add an operation botocore's S3 model lacks
    assert "BucketCORSPreflightCheck" in moto.core.utils.get_service_model("s3").operation_names
    assert "BucketCORSPreflightCheck" not in botocore.session.Session().get_service_model("s3").operation_names

"""make bench's baseline, plain moto with the same handlers, reaches the same outcomes."""

from pipeline.offline import OfflineCloud
from tests.conftest import TEMPLATE, write_files


def test_plain_moto_runs_the_same_paths(files):
    paths = write_files(files, {"plain.csv": b"id,value\n1,a\n", "plain.txt": b"not csv\n"})
    with OfflineCloud.deploy(TEMPLATE, {"FailureRate": "0"}, time_scale=0, fast=False) as cloud:
        assert cloud.services == {} and "dynamodb" not in cloud.clients.endpoints
        csv, txt = cloud.run(paths, timeout_s=60)
    assert (csv.status, csv.states[-1]) == ("SUCCEEDED", "Processed")
    assert (txt.status, txt.states[-1]) == ("FAILED", "Pipeline Failed")
    assert txt.notification is not None and "plain.txt" in txt.notification.message

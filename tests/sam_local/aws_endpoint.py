"""A local AWS endpoint for the functions that `sam local invoke` runs: a moto server, in a process
of its own, holding the landing bucket's objects and the idempotency table.

The functions run in containers on Docker's bridge, so the server listens on the bridge's address
on the host, and each function reaches it through AWS_ENDPOINT_URL. It runs in its own process so
that nothing the rest of the suite does to moto in-process (the offline cloud's hooks) can change
what it answers. `python -m tests.sam_local.aws_endpoint HOST SPEC` is that process: it seeds the
state SPEC describes, prints its port, and serves until its stdin closes.
"""

from __future__ import annotations

import base64
import json
import select
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3

REGION = "us-east-1"
CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}


@dataclass(frozen=True)
class StoredObject:
    key: str
    body: bytes
    version_id: str | None = None
    """S3 assigns version IDs; set this to store the object under the one an event announces."""


@dataclass(frozen=True)
class Landing:
    """What the endpoint holds: one versioned bucket with its objects, and DynamoDB tables."""

    bucket: str
    objects: tuple[StoredObject, ...] = ()
    tables: tuple[dict[str, Any], ...] = field(default=())
    """create_table arguments, each."""

    def to_json(self) -> str:
        return json.dumps({
            "bucket": self.bucket,
            "objects": [{"key": o.key, "body": base64.b64encode(o.body).decode(), "version_id": o.version_id}
                        for o in self.objects],
            "tables": list(self.tables),
        })


class AwsEndpoint:
    """The moto server process. Use as a context manager; url is what AWS_ENDPOINT_URL gets."""

    def __init__(self, host: str, landing: Landing, log: Path, cwd: Path):
        self.host, self.landing, self.log, self._cwd = host, landing, log, cwd
        self.url = ""
        self._process: subprocess.Popen | None = None

    def __enter__(self) -> AwsEndpoint:
        with self.log.open("wb") as log:
            self._process = subprocess.Popen(
                [sys.executable, "-m", "tests.sam_local.aws_endpoint", self.host, self.landing.to_json()],
                cwd=self._cwd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log,
            )
        ready, _, _ = select.select([self._process.stdout], [], [], 60)
        port = self._process.stdout.readline().decode().strip() if ready else ""
        if not port.isdigit():
            self.__exit__(None, None, None)
            raise RuntimeError(f"the moto server did not start on {self.host}:\n{self.log.read_text()[-3000:]}")
        self.url = f"http://{self.host}:{port}"
        return self

    def __exit__(self, *exc: object) -> None:
        if self._process is not None:
            self._process.stdin.close()  # the server's cue to stop
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
            self._process.stdout.close()
            self._process = None

    def client(self, service: str) -> Any:
        return boto3.client(service, endpoint_url=self.url, region_name=REGION, **CREDENTIALS)

    def requests(self) -> list[str]:
        """The requests the server has answered, as its log shows them ("HEAD /bucket/key?... HTTP/1.1")."""
        return [line.split('"')[1] for line in self.log.read_text(errors="replace").splitlines()
                if line.count('"') >= 2 and " HTTP/" in line]


def _seed(url: str, spec: dict[str, Any]) -> None:
    s3 = boto3.client("s3", endpoint_url=url, region_name=REGION, **CREDENTIALS)
    bucket = spec["bucket"]
    s3.create_bucket(Bucket=bucket)
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    for stored in spec["objects"]:
        s3.put_object(Bucket=bucket, Key=stored["key"], Body=base64.b64decode(stored["body"]))
        if stored["version_id"]:
            _assign_version_id(bucket, stored["key"], stored["version_id"])
            head = s3.head_object(Bucket=bucket, Key=stored["key"], VersionId=stored["version_id"])
            assert head["VersionId"] == stored["version_id"], head
    dynamodb = boto3.client("dynamodb", endpoint_url=url, region_name=REGION, **CREDENTIALS)
    for table in spec["tables"]:
        dynamodb.create_table(**table)


def _assign_version_id(bucket: str, key: str, version_id: str) -> None:
    """Give the latest version of key the ID an event fixture announces.

    moto has no API for choosing a version ID (S3 has none either), and the fixtures carry a fixed
    one, so this sets it on moto's stored key: private to the pinned moto (pyproject.toml), and
    checked by a HeadObject of that version right after, which fails loudly if moto changes."""
    from moto.backends import get_backend
    from moto.core import DEFAULT_ACCOUNT_ID

    stored = get_backend("s3")[DEFAULT_ACCOUNT_ID]["aws"].buckets[bucket].keys.getlist(key)[-1]
    stored._version_id = version_id


def main(host: str, spec: str) -> None:
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address=host, port=0, verbose=False)
    server.start()
    url = "http://{}:{}".format(*server.get_host_and_port())
    _seed(url, json.loads(spec))
    print(server.get_host_and_port()[1], flush=True)
    sys.stdin.read()
    server.stop()


if __name__ == "__main__":
    main(*sys.argv[1:3])

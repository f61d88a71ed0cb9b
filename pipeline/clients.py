"""boto3 clients for one account and region: the offline cloud's or a real one."""

from __future__ import annotations

from datetime import datetime, timezone
from functools import cached_property
from typing import Any

import boto3
import botocore.session
from botocore import UNSIGNED
from botocore.config import Config
from botocore.utils import parse_timestamp


class Clients:
    """Lazily created clients, named after the services they reach."""

    def __init__(self, session: boto3.session.Session, *, unsigned: frozenset[str] = frozenset()):
        self.session = session
        self.region = session.region_name
        self._config = Config(retries={"max_attempts": 8, "mode": "standard"}, max_pool_connections=32)
        self._unsigned = unsigned  # services whose requests need no signature
        self.endpoints: dict[str, str] = {}  # service -> endpoint URL, for services served elsewhere

    @classmethod
    def offline(cls, region: str) -> Clients:
        core = botocore.session.Session()
        # JSON services send epoch seconds; botocore's default parser turns each into a datetime
        # in the local zone through dateutil, which took a twentieth of an offline run.
        core.get_component("response_parser_factory").set_parser_defaults(timestamp_parser=quick_timestamp)
        # Only S3 tells signed from anonymous requests offline; signing the others' requests took
        # a twentieth of the driver's time.
        return cls(boto3.session.Session(
            aws_access_key_id="offline", aws_secret_access_key="offline", region_name=region,
            botocore_session=core,
        ), unsigned=frozenset({"stepfunctions", "events", "sqs", "cloudwatch", "sns", "lambda", "cloudformation"}))

    @classmethod
    def aws(cls, region: str | None = None, profile: str | None = None) -> Clients:
        """Your AWS configuration's; boto3 also honours AWS_ENDPOINT_URL (`pipeline serve` prints it)."""
        return cls(boto3.session.Session(region_name=region, profile_name=profile))

    @classmethod
    def at(cls, endpoint: str, region: str | None = None) -> Clients:
        """Every service at one endpoint (`pipeline serve`), with its stand-in credentials."""
        clients = cls(boto3.session.Session(aws_access_key_id="offline", aws_secret_access_key="offline",
                                            region_name=region or "us-east-1"))
        clients.endpoints = {service: endpoint for service in (
            "s3", "stepfunctions", "events", "sns", "sqs", "cloudformation", "lambda", "cloudwatch", "dynamodb",
            "scheduler")}
        return clients

    def _client(self, service: str) -> Any:
        config = self._config.merge(Config(signature_version=UNSIGNED)) if service in self._unsigned else self._config
        return self.session.client(service, config=config, endpoint_url=self.endpoints.get(service))

    @cached_property
    def s3(self) -> Any:
        return self._client("s3")

    @cached_property
    def stepfunctions(self) -> Any:
        return self._client("stepfunctions")

    @cached_property
    def events(self) -> Any:
        return self._client("events")

    @cached_property
    def sns(self) -> Any:
        return self._client("sns")

    @cached_property
    def sqs(self) -> Any:
        return self._client("sqs")

    @cached_property
    def cloudformation(self) -> Any:
        return self._client("cloudformation")

    @cached_property
    def lambda_(self) -> Any:
        return self._client("lambda")

    @cached_property
    def cloudwatch(self) -> Any:
        return self._client("cloudwatch")

    @cached_property
    def dynamodb(self) -> Any:
        return self._client("dynamodb")

    @cached_property
    def scheduler(self) -> Any:
        return self._client("scheduler")


def quick_timestamp(value: Any) -> datetime:
    """Epoch seconds as an aware UTC datetime; any other form as botocore parses it."""
    if isinstance(value, (int, float)):
        return datetime.fromtimestamp(value, timezone.utc)
    return parse_timestamp(value)

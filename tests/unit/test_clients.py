"""Clients for the offline cloud and for AWS."""

from botocore import UNSIGNED

from pipeline.clients import Clients


def test_offline_clients_sign_only_what_the_offline_cloud_checks():
    clients = Clients.offline("eu-west-1")
    # moto answers an anonymous S3 request by the bucket's ACL and policy, as S3 does.
    assert clients.s3.meta.config.signature_version is not UNSIGNED
    for client in (clients.stepfunctions, clients.events, clients.cloudwatch, clients.sqs):
        assert client.meta.config.signature_version is UNSIGNED
        assert client.meta.region_name == "eu-west-1"


def test_aws_clients_sign_every_request():
    clients = Clients.aws("eu-west-1")
    for client in (clients.s3, clients.stepfunctions, clients.events):
        assert client.meta.config.signature_version is not UNSIGNED

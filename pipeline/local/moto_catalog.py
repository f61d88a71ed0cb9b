"""What moto ships that the offline cloud reads: which operations it answers, and its copy of the
AWS managed policies. Nothing of moto is imported until asked."""

from __future__ import annotations

import json
import re
from functools import lru_cache
from typing import Any


def implements(service: str, operation: str) -> bool:
    """Whether moto answers an operation of a service (botocore's names): its response class has
    the method moto dispatches the operation to. S3, whose REST routes moto reads itself, is
    taken as implemented."""
    import importlib

    from moto.backends import ALT_SERVICE_NAMES
    from moto.core.utils import camelcase_to_underscores

    if service == "s3":
        return True
    module = ALT_SERVICE_NAMES.get(service, service.replace("-", ""))
    try:
        url_paths = importlib.import_module(f"moto.{module}.urls").url_paths
    except ImportError:
        return False
    handlers = {getattr(dispatch, "__self__", None) for dispatch in url_paths.values()} - {None}
    return any(hasattr(handler, camelcase_to_underscores(operation)) for handler in handlers)


@lru_cache(maxsize=64)
def aws_managed_policy(policy_arn: str) -> dict[str, Any]:
    """The document of an AWS managed policy, from the copy moto ships (one JSON object of about
    1,600 policies: only the one asked for is decoded, which takes microseconds, not half a second)."""
    from moto.iam.aws_managed_policies import aws_managed_policies_data

    name = policy_arn.rsplit("/", 1)[-1]
    found = re.search(rf'\n "{re.escape(name)}":\s*{{', aws_managed_policies_data)
    if not policy_arn.startswith("arn:aws:iam::aws:policy/") or found is None:
        raise KeyError(f"no AWS managed policy {policy_arn} in moto's copy")
    policy, _ = json.JSONDecoder().raw_decode(aws_managed_policies_data, found.end() - 1)
    return policy["Document"]

"""The IAM policy language, evaluated as AWS evaluates it within one account.

Pure data in, a decision out: no moto, no boto3. pipeline.local.access decides which policies
apply to a call (the caller's identity policies, the resource's policy, a KMS key's policy);
this module says what they allow.

Grounded in the IAM User Guide: "Policy evaluation logic" (an explicit Deny wins; within one
account an Allow in an identity-based OR a resource-based policy suffices), "Grammar of the IAM
JSON policy language", "IAM JSON policy elements: Condition operators" (a negated operator is
true when the key is absent; `...IfExists` is true when it is absent; `ForAnyValue`/`ForAllValues`
for multivalued keys), and the AWS KMS Developer Guide, "Key policies": a KMS key is reached only
through its key policy, and IAM policies count only where the key policy allows the account
(``arn:aws:iam::ACCOUNT:root``).
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Iterable, Mapping


class UnsupportedPolicyError(ValueError):
    """A policy uses a part of the language this evaluator does not implement (it never guesses)."""


@dataclass(frozen=True)
class Principal:
    """Who makes a call: an IAM role's session, an AWS service, or the account's administrator."""

    arn: str  # as AWS names it in errors: arn:aws:sts::ACCOUNT:assumed-role/ROLE/SESSION
    account: str
    role_arn: str | None = None  # the role behind an assumed-role session
    service: str | None = None  # events.amazonaws.com, for a service principal

    @classmethod
    def role_session(cls, role_arn: str, session: str) -> Principal:
        account = role_arn.split(":")[4]
        role_name = role_arn.rsplit("/", 1)[-1]
        return cls(f"arn:aws:sts::{account}:assumed-role/{role_name}/{session}", account, role_arn=role_arn)

    @classmethod
    def of_service(cls, service: str) -> Principal:
        return cls(service, "", service=service)

    @property
    def is_service(self) -> bool:
        return self.service is not None


@dataclass(frozen=True)
class Request:
    """One authorization question: may principal do action on resource, in this context?"""

    principal: Principal
    action: str  # service:Action
    resource: str  # an ARN
    context: Mapping[str, str | tuple[str, ...]] = field(default_factory=dict)


@dataclass(frozen=True)
class Decision:
    allowed: bool
    reason: str  # the tail of AWS's message: "because no identity-based policy allows the X action"

    def message(self, request: Request) -> str:
        """AWS's access-denied message (IAM User Guide, "Troubleshoot access denied error messages")."""
        return (f"User: {request.principal.arn} is not authorized to perform: {request.action} "
                f"on resource: {request.resource} {self.reason}")


def _statements(policy: Mapping[str, Any] | None) -> list[Mapping[str, Any]]:
    if not policy:
        return []
    statements = policy.get("Statement", [])
    return [statements] if isinstance(statements, Mapping) else list(statements)


def _as_list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, (list, tuple)) else [value]


@lru_cache(maxsize=4096)
def _wildcard(pattern: str, case_sensitive: bool) -> re.Pattern[str]:
    """IAM wildcards: * is any run of characters (including none), ? is one character."""
    flags = 0 if case_sensitive else re.IGNORECASE
    return re.compile(fnmatch.translate(pattern), flags)


def _matches(pattern: str, value: str, case_sensitive: bool = True) -> bool:
    if "*" not in pattern and "?" not in pattern:
        return pattern == value if case_sensitive else pattern.lower() == value.lower()
    if "[" in pattern:  # fnmatch would read [..] as a class; IAM has none
        pattern = pattern.replace("[", "[[]")
    return _wildcard(pattern, case_sensitive).fullmatch(value) is not None


def _action_applies(statement: Mapping[str, Any], action: str) -> bool:
    if "Action" in statement:
        return any(_matches(p, action, case_sensitive=False) for p in _as_list(statement["Action"]))
    if "NotAction" in statement:
        return not any(_matches(p, action, case_sensitive=False) for p in _as_list(statement["NotAction"]))
    raise UnsupportedPolicyError("a statement without Action or NotAction")


def _resource_applies(statement: Mapping[str, Any], resource: str, resource_policy: bool) -> bool:
    if "Resource" in statement:
        return any(_matches(p, resource) for p in _as_list(statement["Resource"]))
    if "NotResource" in statement:
        return not any(_matches(p, resource) for p in _as_list(statement["NotResource"]))
    # A resource-based policy may leave it out: the resource is the one it is on. IAM refuses an
    # identity policy without one ("Policy statement must contain resources."): it allows nothing.
    return resource_policy


def _account_of(principal_value: str) -> str | None:
    """The account an "AWS" principal names as a whole: 123456789012 or arn:aws:iam::123456789012:root."""
    if re.fullmatch(r"\d{12}", principal_value):
        return principal_value
    found = re.fullmatch(r"arn:aws[\w-]*:iam::(\d{12}):root", principal_value)
    return found.group(1) if found else None


def principal_match(statement: Mapping[str, Any], principal: Principal) -> str | None:
    """How a resource policy statement names the principal: "direct", "account" (the account as a
    whole, which hands the decision to IAM policies), or None."""
    if "NotPrincipal" in statement:
        raise UnsupportedPolicyError("NotPrincipal")
    named = statement.get("Principal")
    if named is None:
        return None
    if named == "*":
        return "direct"
    if not isinstance(named, Mapping):
        raise UnsupportedPolicyError(f"Principal {named!r}")
    if principal.is_service:
        return "direct" if principal.service in _as_list(named.get("Service", [])) else None
    found = None
    for value in _as_list(named.get("AWS", [])):
        if value == "*" or value in (principal.role_arn, principal.arn):
            return "direct"
        if _account_of(value) == principal.account:
            found = "account"
    return found


def _condition_holds(conditions: Mapping[str, Any] | None, context: Mapping[str, Any]) -> bool:
    for operator, tests in (conditions or {}).items():
        for key, expected in tests.items():
            if not _test(operator, key, _as_list(expected), context):
                return False
    return True


_NEGATED = {"StringNotEquals", "StringNotEqualsIgnoreCase", "StringNotLike", "ArnNotEquals", "ArnNotLike"}
_POSITIVE = {
    "StringEquals": lambda e, v: e == v,
    "StringEqualsIgnoreCase": lambda e, v: e.lower() == v.lower(),
    "StringLike": lambda e, v: _matches(e, v),
    "ArnEquals": lambda e, v: _matches(e, v),  # both ARN operators take wildcards
    "ArnLike": lambda e, v: _matches(e, v),
    "Bool": lambda e, v: e.lower() == v.lower(),
}


def operator_parts(operator: str) -> tuple[str, str, bool]:
    """(qualifier, operator without IfExists, if_exists); raises for what is not implemented."""
    qualifier, _, name = operator.rpartition(":")
    if_exists = name.endswith("IfExists")
    name = name.removesuffix("IfExists")
    if qualifier not in ("", "ForAnyValue", "ForAllValues"):
        raise UnsupportedPolicyError(f"condition qualifier {qualifier}")
    if name != "Null" and name not in _POSITIVE and name.replace("Not", "", 1) not in _POSITIVE:
        raise UnsupportedPolicyError(f"condition operator {name}")
    return qualifier, name, if_exists


def _test(operator: str, key: str, expected: list[Any], context: Mapping[str, Any]) -> bool:
    """One condition, as the IAM User Guide's "Condition operators" and "Multivalued context keys"
    define it: a negated operator holds for a value that matches none of the expected ones;
    ForAnyValue needs one value that holds, ForAllValues every value (and holds with none)."""
    qualifier, name, if_exists = operator_parts(operator)
    actual = _lookup(context, key)
    if name == "Null":
        return (actual is None) == (str(expected[0]).lower() == "true")
    negated = name in _NEGATED
    compare = _POSITIVE[name.replace("Not", "", 1) if negated else name]

    def holds(value: Any) -> bool:
        matched = any(compare(str(e), str(value)) for e in expected)
        return not matched if negated else matched

    values = [] if actual is None else list(actual) if isinstance(actual, (list, tuple)) else [actual]
    if qualifier == "ForAllValues":
        return all(holds(v) for v in values)
    if qualifier == "ForAnyValue":
        return any(holds(v) for v in values)
    if actual is None:
        return if_exists or negated
    return all(holds(v) for v in values) if negated else any(holds(v) for v in values)


def _lookup(context: Mapping[str, Any], key: str) -> Any:
    """Condition keys are case-insensitive (IAM User Guide, "Condition element")."""
    if key in context:
        return context[key]
    lowered = key.lower()
    for name, value in context.items():
        if name.lower() == lowered:
            return value
    return None


def _verdicts(policies: Iterable[Mapping[str, Any] | None], request: Request,
              principal_required: bool) -> tuple[bool, bool, bool]:
    """(explicit deny, direct allow, allow through the account) over the policies' statements."""
    denied = allowed = through_account = False
    for policy in policies:
        for statement in _statements(policy):
            how = "direct"
            if principal_required:
                how = principal_match(statement, request.principal)
                if how is None:
                    continue
            if not (_action_applies(statement, request.action)
                    and _resource_applies(statement, request.resource, principal_required)
                    and _condition_holds(statement.get("Condition"), request.context)):
                continue
            if statement.get("Effect") == "Deny":
                denied = True
            elif how == "direct":
                allowed = True
            else:
                through_account = True
    return denied, allowed, through_account


# The condition keys the offline cloud puts in a request's context; a policy that tests any other
# is refused at deploy rather than evaluated as if the key were absent.
SUPPLIED_KEYS = ("aws:securetransport", "aws:principalaccount", "aws:principalarn", "aws:sourcearn",
                 "aws:sourceaccount", "kms:viaservice", "kms:calleraccount", "kms:encryptioncontext:",
                 "s3:x-amz-acl")


def validate(policy: Mapping[str, Any]) -> None:
    """Raise UnsupportedPolicyError for a policy AWS would reject (an Effect other than Allow or
    Deny, no Action) or that this evaluator could only guess at (an operator it does not
    implement, a condition key the offline cloud does not supply, a policy variable)."""
    for statement in _statements(policy):
        sid = statement.get("Sid", "a statement without a Sid")
        if statement.get("Effect") not in ("Allow", "Deny"):
            raise UnsupportedPolicyError(f"{sid}: Effect must be Allow or Deny, not {statement.get('Effect')!r}")
        if "Action" not in statement and "NotAction" not in statement:
            raise UnsupportedPolicyError(f"{sid}: no Action or NotAction")
        if "${" in repr({k: v for k, v in statement.items() if k in ("Resource", "NotResource", "Condition")}):
            raise UnsupportedPolicyError(f"{sid}: policy variables (${{...}}) are not evaluated offline")
        for operator, tests in (statement.get("Condition") or {}).items():
            operator_parts(operator)
            for key in tests:
                lowered = key.lower()
                if not any(lowered == k or (k.endswith(":") and lowered.startswith(k)) for k in SUPPLIED_KEYS):
                    raise UnsupportedPolicyError(f"{sid}: condition key {key} is not known to the offline cloud")


def evaluate(request: Request, identity_policies: Iterable[Mapping[str, Any]] = (),
             resource_policy: Mapping[str, Any] | None = None, *, key_policy: bool = False) -> Decision:
    """Decide one same-account request.

    key_policy=True applies the rule of KMS keys: the key policy must allow the call, either by
    naming the principal or by allowing the account, in which case an identity policy must too.
    """
    identity = [] if request.principal.is_service else list(identity_policies)
    id_denied, id_allowed, _ = _verdicts(identity, request, principal_required=False)
    res_denied, res_allowed, res_account = _verdicts([resource_policy], request, principal_required=True)
    action = request.action
    if id_denied:
        return Decision(False, "with an explicit deny in an identity-based policy")
    if res_denied:
        return Decision(False, "with an explicit deny in a resource-based policy")
    if key_policy:
        if res_allowed or (res_account and id_allowed):
            return Decision(True, "")
        if res_account:
            return Decision(False, f"because no identity-based policy allows the {action} action")
        return Decision(False, f"because no resource-based policy allows the {action} action")
    if res_allowed or id_allowed:
        return Decision(True, "")
    if request.principal.is_service or resource_policy is not None and not identity:
        return Decision(False, f"because no resource-based policy allows the {action} action")
    return Decision(False, f"because no identity-based policy allows the {action} action")

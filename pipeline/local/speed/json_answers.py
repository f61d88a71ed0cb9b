"""moto's JSON answers, written directly: what moto's serializer writes for a result, without
walking the service model member by member for every value."""

from __future__ import annotations

import calendar
import enum
from datetime import datetime
from typing import Any


def epoch(value: datetime) -> int | float:
    """A timestamp as moto's JSON serializer writes it: epoch seconds, truncated to the ms."""
    seconds = calendar.timegm(value.timetuple())
    return seconds + (value.microsecond // 1000) / 1000.0 if value.microsecond else seconds


def json_value(value: Any, timestamps: frozenset[str], key: str = "") -> Any:
    """What moto's JSON serializer writes for a value: timestamps (datetimes, and ISO strings
    in timestamp members) as epoch seconds, enums by value, nothing for None."""
    if isinstance(value, dict):
        return {name: json_value(item, timestamps, name) for name, item in value.items() if item is not None}
    if isinstance(value, (list, tuple)):
        return [json_value(item, timestamps) for item in value]
    if isinstance(value, datetime):
        return epoch(value)
    if isinstance(value, str) and key in timestamps:
        return epoch(datetime.fromisoformat(value))
    if isinstance(value, enum.Enum):
        return value.value
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    raise TypeError(type(value).__name__)


_TIMESTAMP_MEMBERS: dict[tuple[str, str], frozenset[str] | None] = {}


def timestamp_members(service: str, operation: str, output_shape: Any) -> frozenset[str] | None:
    """Names of the output's timestamp members; None if a name is a timestamp in one place and
    something else in another (then only moto's serializer, which follows the shapes, is right)."""
    if (service, operation) not in _TIMESTAMP_MEMBERS:
        _TIMESTAMP_MEMBERS[service, operation] = find_timestamp_members(output_shape)
    return _TIMESTAMP_MEMBERS[service, operation]


def find_timestamp_members(output_shape: Any) -> frozenset[str] | None:
    kinds: dict[str, set[bool]] = {}
    seen: set[str] = set()

    def walk(shape: Any) -> None:
        if shape is None or shape.name in seen:
            return
        seen.add(shape.name)
        if shape.type_name == "structure":
            for name, member in shape.members.items():
                kinds.setdefault(name, set()).add(member.type_name == "timestamp")
                walk(member)
        elif shape.type_name == "list":
            walk(shape.member)
        elif shape.type_name == "map":
            walk(shape.value)

    walk(output_shape)
    if any(len(kind) > 1 for kind in kinds.values()):
        return None
    return frozenset(name for name, kind in kinds.items() if True in kind)

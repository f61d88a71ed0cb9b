"""moto's JSON answers, written directly: what moto's serializer writes for a result, without
walking the service model member by member for every value."""

from __future__ import annotations

import enum
from collections.abc import Callable
from datetime import datetime
from typing import Any

_EPOCH = datetime(1970, 1, 1)


def epoch(value: datetime) -> int | float:
    """A timestamp as moto's JSON serializer writes it: epoch seconds, truncated to the ms (its
    calendar.timegm(value.timetuple()): the wall time read as UTC, whatever the zone)."""
    since = value.replace(tzinfo=None) - _EPOCH
    seconds = since.days * 86400 + since.seconds
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


class ParsedAnswer:
    """What a botocore client's JSON parser makes of moto's JSON answer, made straight from moto's
    result: no JSON written and read back (nor json_value's pass over it first), no walk of the
    shape for every value, but one converter per shape, compiled once. A value converts as
    json_value writes it and the parser reads it back: members in shape order under their JSON
    names, None left out, enums by value, timestamps (datetimes, ISO strings or epoch seconds) as
    json_value's epoch through the parser's timestamp function, blobs through its blob function.
    A shape the compiler does not know (a tagged union, a document) makes compiled() None, and
    the caller writes and parses the JSON as botocore would."""

    def __init__(self, timestamp_parser: Any, blob_parser: Any):
        self._timestamp = timestamp_parser
        self._blob = blob_parser
        self._compiled: dict[str, Any] = {}

    def compiled(self, shape: Any) -> Any:
        try:
            return self._compile(shape)
        except _Unknown:
            return None

    def _compile(self, shape: Any) -> Any:
        key = f"{shape.type_name}:{shape.name}"
        if key in self._compiled:
            return self._compiled[key]
        kind = shape.type_name
        if kind == "structure":
            if shape.is_document_type or shape.is_tagged_union:
                raise _Unknown(shape.name)
            members: list[tuple[str, str, Any]] = []
            self._compiled[key] = convert = _structure(members)  # first: a shape may contain itself
            for name, member in shape.members.items():
                members.append((name, member.serialization.get("name", name), self._compile(member)))
            return convert
        if kind == "list":
            member = self._compile(shape.member)
            convert = lambda value: [member(item) for item in value]  # noqa: E731
        elif kind == "map":
            keys, values = self._compile(shape.key), self._compile(shape.value)
            convert = lambda value: {keys(k): values(v) for k, v in value.items()}  # noqa: E731
        elif kind == "timestamp":
            convert = _Timestamps(self._timestamp)
        elif kind == "blob":
            convert = self._blob
        elif kind in ("string", "integer", "long", "boolean", "float", "double"):
            convert = _same
        else:
            raise _Unknown(shape.name)
        self._compiled[key] = convert
        return convert


class _Unknown(Exception):
    pass


def _same(value: Any) -> Any:
    return value.value if isinstance(value, enum.Enum) else value


def _epoch_of(value: Any) -> Any:
    """A timestamp member's value as json_value writes it."""
    if isinstance(value, datetime):
        return epoch(value)
    if isinstance(value, str):
        return epoch(datetime.fromisoformat(value))
    return value


class _Timestamps:
    """A timestamp member's value as the parser reads json_value's epoch back, each datetime
    converted once: the driver lists each execution's start and stop dates again and again. A
    datetime is immutable, and so is what the parser makes of it. The key is the wall time, all
    that the epoch reads: two equal datetimes in different zones write different epochs."""

    LIMIT = 8192

    def __init__(self, parse: Callable[[Any], Any]):
        self._parse = parse
        self._seen: dict[datetime, Any] = {}

    def __call__(self, value: Any) -> Any:
        if type(value) is not datetime:
            return self._parse(_epoch_of(value))
        key = value.replace(tzinfo=None)  # the epoch is the wall time's (and every zone hashes so)
        parsed = self._seen.get(key)
        if parsed is None:
            if len(self._seen) >= self.LIMIT:
                self._seen.clear()
            parsed = self._seen[key] = self._parse(epoch(value))
        return parsed


def _structure(members: list[tuple[str, str, Any]]) -> Any:
    def convert(value: Any) -> Any:
        if value is None:
            return None
        return {name: parse(value[json_name]) for name, json_name, parse in members
                if value.get(json_name) is not None}
    return convert

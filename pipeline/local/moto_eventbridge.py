"""EventBridge's rules and targets as moto holds them, read for the offline cloud's delivery
(pipeline.local.delivery), and TestEventPattern, which moto leaves unimplemented (a core hook)."""

from __future__ import annotations

import json
from typing import Any

from moto.events.models import EventPattern, EventPatternParser, EventsBackend, events_backends
from moto.events.responses import EventsHandler
from moto.events.utils import EventTemplateParser

from pipeline.local.patching import Private

PARAM = Private(EventsHandler, "_get_param")


def event_pattern_matches(pattern: str, event: dict[str, Any]) -> bool:
    """EventBridge pattern matching, with moto's matcher (agrees with AWS on this pipeline's rules)."""
    return EventPattern(pattern, EventPatternParser(pattern).parse()).matches_event(event)


def rule_fires(rule: Any, event: dict[str, Any]) -> bool:
    """An ENABLED rule with a pattern that matches the event (moto fires DISABLED rules too)."""
    return rule.state == "ENABLED" and bool(rule.event_pattern.dump()) and rule.event_pattern.matches_event(event)


def transform_input(target: dict[str, Any], event: dict[str, Any]) -> str:
    """What an EventBridge target receives: Input, InputPath, InputTransformer, or the event."""
    if "Input" in target:
        return target["Input"]
    if "InputPath" in target:
        value: Any = event
        for part in target["InputPath"].lstrip("$").strip(".").split("."):
            if part:
                value = value.get(part) if isinstance(value, dict) else None
        return json.dumps(value)
    if "InputTransformer" in target:
        transformer = target["InputTransformer"]
        result = EventTemplateParser.parse(
            input_template=transformer.get("InputTemplate"),
            input_paths_map=transformer.get("InputPathsMap", {}),
            event=event,
        )
        return result if isinstance(result, str) else json.dumps(result)
    return json.dumps(event)


def rules_of_default_bus(account_id: str, region: str) -> list[Any]:
    backend: EventsBackend = events_backends[account_id][region]
    return list(backend.event_buses["default"].rules.values())


def test_event_pattern(self: EventsHandler) -> str:
    pattern = PARAM(self, "EventPattern")
    event = json.loads(PARAM(self, "Event"))
    return json.dumps({"Result": event_pattern_matches(pattern, event)})

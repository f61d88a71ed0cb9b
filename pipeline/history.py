"""An execution's history read as the pipeline reads it: which object it announced, how it
ended, which states ran with their attempts and waits, and the notification it published.
Only what GetExecutionHistory returns, so the same reading serves the offline cloud and AWS."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import unquote_plus

from pipeline.payloads import payload_digest
from pipeline.results import FileResult, Notification, StateVisit

def announced_objects(execution_input: str) -> list[tuple[str, str, str | None]]:
    """(bucket, key, version) of the object an execution's input announces. An S3 EventBridge
    event gives two candidates when its key reads differently form-decoded and as sent: AWS does
    not document which S3 sends, and the version tells them apart."""
    announced = _announced_object(execution_input)
    if announced is None:
        return []
    bucket, key, version, sent = announced
    return [(bucket, key, version)] + ([(bucket, sent, version)] if sent != key else [])


def _announced_object(execution_input: str) -> tuple[str, str, str | None, str] | None:
    try:
        event = json.loads(execution_input)
    except (TypeError, json.JSONDecodeError):
        return None
    if not isinstance(event, dict) or not isinstance(event.get("detail"), dict):
        return None
    detail = event["detail"]
    if event.get("detail-type") == "Object Created":
        obj = detail.get("object") or {}
        bucket = (detail.get("bucket") or {}).get("name")
        if isinstance(obj.get("key"), str) and bucket:
            return bucket, unquote_plus(obj["key"]), obj.get("version-id"), obj["key"]
    if event.get("detail-type") == "Object Listed":  # a backfill's listing: the key is raw, no version
        obj = detail.get("object") or {}
        bucket = (detail.get("bucket") or {}).get("name")
        if isinstance(obj.get("key"), str) and bucket:
            return bucket, obj["key"], None, obj["key"]
    if event.get("detail-type") == "AWS API Call via CloudTrail":
        params = detail.get("requestParameters") or {}
        response = detail.get("responseElements") or {}
        if isinstance(params.get("key"), str) and params.get("bucketName"):
            return params["bucketName"], params["key"], response.get("x-amz-version-id"), params["key"]
    return None


EXECUTION_END_EVENTS = {
    "ExecutionSucceeded": ("SUCCEEDED", None),
    "ExecutionFailed": ("FAILED", "executionFailedEventDetails"),
    "ExecutionTimedOut": ("TIMED_OUT", "executionTimedOutEventDetails"),
    "ExecutionAborted": ("ABORTED", "executionAbortedEventDetails"),
}


ENDED = {status for status, _ in EXECUTION_END_EVENTS.values()}


def read_ending(result: FileResult, listed: dict[str, Any], history: list[dict[str, Any]],
                keep_history: bool = False) -> None:
    """Fill in how an ended execution went: status, error and cause, duration, states, notification."""
    result.status, details = EXECUTION_END_EVENTS[history[-1]["type"]]
    failure = history[-1].get(details, {}) if details else {}
    result.error = failure.get("error")
    result.cause = failure.get("cause")
    started_at = listed.get("startDate") or history[0]["timestamp"]
    stopped_at = listed.get("stopDate") or history[-1]["timestamp"]
    result.duration_ms = round((stopped_at - started_at).total_seconds() * 1000, 1)
    if result.uploaded_at is not None:  # upload to terminal state
        result.latency_ms = round((stopped_at.timestamp() - result.uploaded_at) * 1000, 1)
    result.visits = visits_from_history(history)
    result.states = [visit.name for visit in result.visits]
    result.notification = notification_from_history(history)
    if keep_history:
        result.history = history


def execution_input(history: list[dict[str, Any]]) -> str:
    """The input an execution started with, from its ExecutionStarted event."""
    for event in history:
        if event["type"] == "ExecutionStarted":
            return event.get("executionStartedEventDetails", {}).get("input", "")
    return ""


def visits_from_history(history: list[dict[str, Any]]) -> list[StateVisit]:
    """The states entered, in order, with task attempts, the errors of failed attempts, and the
    waits between attempts (the Retry backoff, as it happened)."""
    visits: list[dict[str, Any]] = []
    failed_at = None
    for event in history:
        kind = event["type"]
        if kind.endswith("StateEntered"):
            visits.append({"name": event["stateEnteredEventDetails"]["name"], "attempts": 0, "errors": [],
                           "outcome": "entered", "waits": [], "digests": []})
            failed_at = None
        elif not visits:
            continue
        elif kind == "TaskScheduled":
            visits[-1]["attempts"] += 1
            if failed_at is not None:
                visits[-1]["waits"].append(round((event["timestamp"] - failed_at).total_seconds(), 3))
            parameters = json.loads(event["taskScheduledEventDetails"].get("parameters") or "{}")
            if "Payload" in parameters:
                visits[-1]["digests"].append(payload_digest(parameters["Payload"]))
        elif kind in ("TaskFailed", "TaskTimedOut"):
            details = event.get("taskFailedEventDetails") or event.get("taskTimedOutEventDetails") or {}
            visits[-1]["errors"].append(details.get("error", kind))
            failed_at = event["timestamp"]
        elif kind.endswith("StateExited"):
            visits[-1]["outcome"] = "exited"
        elif kind == "ExecutionFailed":
            visits[-1]["outcome"] = "failed"
        elif kind == "ExecutionSucceeded":
            visits[-1]["outcome"] = "succeeded"
    return [StateVisit(v["name"], v["attempts"], tuple(v["errors"]), v["outcome"], tuple(v["waits"]),
                       tuple(v["digests"])) for v in visits]


def notification_from_history(history: list[dict[str, Any]]) -> Notification | None:
    """The SNS message the execution published (a TaskScheduled for sns:publish that succeeded)."""
    scheduled: dict[str, Any] | None = None
    for event in history:
        if event["type"] == "TaskScheduled":
            details = event["taskScheduledEventDetails"]
            if details.get("resourceType") == "sns" and details.get("resource") == "publish":
                scheduled = json.loads(details["parameters"])
            else:
                scheduled = None
        elif event["type"] == "TaskSucceeded" and scheduled is not None:
            message = scheduled.get("Message", "")  # a definition may publish JSON: SNS sends it as text
            text = message if isinstance(message, str) else json.dumps(message, indent=2, ensure_ascii=False)
            return Notification(subject=scheduled.get("Subject"), message=text)
    return None

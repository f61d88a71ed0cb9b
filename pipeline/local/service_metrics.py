"""The metrics AWS services publish about themselves, which the template's alarms watch."""

from __future__ import annotations

from typing import Any

EXECUTION_METRICS = {
    "SUCCEEDED": "ExecutionsSucceeded", "FAILED": "ExecutionsFailed",
    "TIMED_OUT": "ExecutionsTimedOut", "ABORTED": "ExecutionsAborted",
}


def execution_metrics(state_machine_arn: str, status: str, duration_ms: float) -> list[dict[str, Any]]:
    """The AWS/States metrics Step Functions publishes for every finished execution."""
    dimensions = [{"Name": "StateMachineArn", "Value": state_machine_arn}]
    return [
        {"MetricName": EXECUTION_METRICS.get(status, "ExecutionsFailed"), "Dimensions": dimensions,
         "Value": 1.0, "Unit": "Count"},
        {"MetricName": "ExecutionTime", "Dimensions": dimensions, "Value": float(duration_ms), "Unit": "Milliseconds"},
    ]


def lost_event_metric(rule_name: str) -> list[dict[str, Any]]:
    """The metric EventBridge publishes for an event it could send neither to its target nor to
    the target's dead-letter queue (EventBridge User Guide, "Monitoring Amazon EventBridge")."""
    return [{"MetricName": "InvocationsFailedToBeSentToDlq", "Dimensions": [{"Name": "RuleName", "Value": rule_name}],
             "Value": 1.0, "Unit": "Count"}]

"""CloudWatch alarms of the template, evaluated as their metrics arrive, acting as AWS acts.

An alarm acts only when its state changes (CloudWatch User Guide, "Using Amazon CloudWatch
alarms": actions are invoked for state changes, not for every period the alarm stays in a state).
Its SNS action is published by cloudwatch.amazonaws.com, so the topic policy must allow that
service, and, for an encrypted topic, the key policy must let it use the key through SNS ("Amazon
SNS: Key management", the statement for CloudWatch alarms). A refused action is recorded in the
alarm's history, and no notification goes out.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pipeline.local.access import AccessControl
from pipeline.local.policy import Principal

CLOUDWATCH = Principal.of_service("cloudwatch.amazonaws.com")
COMPARISONS: dict[str, Callable[[float, float], bool]] = {
    "GreaterThanOrEqualToThreshold": lambda value, threshold: value >= threshold,
    "GreaterThanThreshold": lambda value, threshold: value > threshold,
    "LessThanThreshold": lambda value, threshold: value < threshold,
    "LessThanOrEqualToThreshold": lambda value, threshold: value <= threshold,
}


@dataclass(frozen=True)
class HistoryItem:
    """One item of an alarm's history, as DescribeAlarmHistory gives it."""

    alarm: str
    timestamp: float
    kind: str  # StateUpdate or Action
    summary: str
    data: dict[str, Any]

    def to_api(self) -> dict[str, Any]:
        from datetime import datetime, timezone

        return {"AlarmName": self.alarm, "AlarmType": "MetricAlarm", "HistoryItemType": self.kind,
                "Timestamp": datetime.fromtimestamp(self.timestamp, timezone.utc), "HistorySummary": self.summary,
                "HistoryData": json.dumps(self.data)}


@dataclass(frozen=True)
class AlarmAction:
    """One action an alarm took on a state change: published, or refused and why."""

    alarm: str
    state: str
    topic_arn: str
    published: bool
    reason: str = ""


StateListener = Callable[["Alarm", str], None]  # (alarm after its change, the reason for it)


@dataclass
class Alarm:
    logical_id: str
    name: str
    arn: str
    namespace: str
    metric: str
    dimensions: dict[str, str]
    period_s: int
    threshold: float
    comparison: str
    actions: list[str]
    properties: dict[str, Any] = field(default_factory=dict)  # as the template gives them (PutMetricAlarm's)
    state: str = "OK"  # TreatMissingData notBreaching: no data reads as OK
    datapoints: list[tuple[float, float]] = field(default_factory=list)

    def watches(self, namespace: str, metric: str, dimensions: dict[str, str]) -> bool:
        return (namespace, metric) == (self.namespace, self.metric) and dimensions == self.dimensions

    def breaching(self, now: float) -> bool:
        """Sum over the current period, against the threshold (one evaluation period)."""
        window = [value for at, value in self.datapoints if now - at < self.period_s]
        return bool(window) and COMPARISONS[self.comparison](sum(window), self.threshold)


Publisher = Callable[[str, str, str], None]  # (topic ARN, subject, message)


# The reasons CloudWatch gives a state change (as alarm histories recorded from AWS show them).
COMPARISON_WORDS = {
    "GreaterThanOrEqualToThreshold": "greater than or equal to", "GreaterThanThreshold": "greater than",
    "LessThanThreshold": "less than", "LessThanOrEqualToThreshold": "less than or equal to",
}


def reason_for(alarm: Alarm, now: float) -> str:
    if alarm.state == "ALARM":
        total = sum(value for at, value in alarm.datapoints if now - at < alarm.period_s)
        stamp = time.strftime("%d/%m/%y %H:%M:%S", time.gmtime(now))
        return (f"Threshold Crossed: 1 datapoint [{total} ({stamp})] was {COMPARISON_WORDS[alarm.comparison]} "
                f"the threshold ({alarm.threshold}).")
    return ("Threshold Crossed: no datapoints were received for 1 period and 1 missing datapoint was treated as "
            "[NonBreaching].")


class Alarms:
    def __init__(self, alarms: list[Alarm], access: AccessControl, publish: Publisher,
                 on_state: StateListener | None = None):
        self.alarms = alarms
        self._access = access
        self._publish = publish
        self._on_state = on_state or (lambda alarm, reason: None)
        self._lock = threading.Lock()
        self.history: list[AlarmAction] = []
        self.items: list[HistoryItem] = []  # state changes and actions, oldest first (DescribeAlarmHistory)

    def on_metric(self, namespace: str, metric: str, dimensions: dict[str, str], value: float) -> None:
        now = time.time()
        with self._lock:
            changed = []
            for alarm in self.alarms:
                if not alarm.watches(namespace, metric, dimensions):
                    continue
                # A quiet period has passed since the last datapoint: AWS would have evaluated the
                # alarm back to OK (missing data is not breaching), with no action of ours to run.
                alarm.datapoints = [(at, v) for at, v in alarm.datapoints if now - at < alarm.period_s]
                if not alarm.datapoints and alarm.state != "OK":
                    self._change(alarm, "OK", now)
                alarm.datapoints.append((now, value))
                state = "ALARM" if alarm.breaching(now) else "OK"
                if state != alarm.state:
                    self._change(alarm, state, now)
                    changed.append(alarm)
        for alarm in changed:
            if alarm.state == "ALARM":
                for topic_arn in alarm.actions:
                    self._act(alarm, topic_arn)

    def _change(self, alarm: Alarm, state: str, now: float) -> None:
        """A state change, as CloudWatch records it (HistorySummary "Alarm updated from OK to ALARM")."""
        old, alarm.state = alarm.state, state
        reason = reason_for(alarm, now)
        self.items.append(HistoryItem(alarm.name, now, "StateUpdate", f"Alarm updated from {old} to {state}", {
            "version": "1.0", "oldState": {"stateValue": old}, "newState": {"stateValue": state, "stateReason": reason}}))
        self._on_state(alarm, reason)

    def _act(self, alarm: Alarm, topic_arn: str) -> None:
        context = {"aws:SourceArn": alarm.arn, "aws:SourceAccount": self._access.account}
        decision, request = self._access.decide(CLOUDWATCH, "sns:Publish", topic_arn, context)
        refused = None if decision.allowed else decision.message(request)
        if refused is None:
            # Which source keys reach KMS on this path is not documented: none are assumed.
            kms = self._access.kms_on_behalf(CLOUDWATCH, "sns", topic_arn, {"aws:sns:topicArn": topic_arn})
            refused = kms[0].message(kms[1]) if kms else None
        if refused is None:
            subject = f'ALARM: "{alarm.name}" in {self._access.region}'
            try:
                self._publish(topic_arn, subject[:100], json.dumps({
                    "AlarmName": alarm.name, "NewStateValue": "ALARM", "AlarmArn": alarm.arn,
                    "NewStateReason": f"Threshold Crossed: the {alarm.metric} sum of the last {alarm.period_s} s "
                                      f"was {alarm.comparison} {alarm.threshold}",
                }))
            except Exception as error:  # noqa: BLE001 - recorded as CloudWatch records a failed action
                refused = f"Failed to execute action {topic_arn}: {error}"
        self.history.append(AlarmAction(alarm.name, alarm.state, topic_arn, refused is None, refused or ""))
        summary = f"Successfully executed action {topic_arn}" if refused is None else f"Failed to execute action {topic_arn}"
        self.items.append(HistoryItem(alarm.name, time.time(), "Action", summary, {
            "actionState": "Succeeded" if refused is None else "Failed", "notificationResource": topic_arn,
            **({"error": refused} if refused else {})}))


def from_template(cloudformation: dict[str, Any], resolver: Any, access: AccessControl,
                  publish: Publisher, name_alarm: Callable[[str], str], on_state: StateListener | None = None) -> Alarms:
    """The template's alarms of the one shape evaluated here: the Sum of one metric over one
    evaluation period, against a threshold, with SNS actions (the others are reported not emulated)."""
    alarms = []
    for logical_id, resource in cloudformation["Resources"].items():
        if resource["Type"] != "AWS::CloudWatch::Alarm" or not resolver.condition(resource.get("Condition")):
            continue
        props = resolver.resolve(resource.get("Properties", {}))
        if not emulated(props):
            continue
        name = props.get("AlarmName") or name_alarm(logical_id)
        alarms.append(Alarm(
            logical_id=logical_id,
            name=name,
            arn=f"arn:aws:cloudwatch:{access.region}:{access.account}:alarm:{name}",
            namespace=props["Namespace"], metric=props["MetricName"],
            dimensions={d["Name"]: d["Value"] for d in props.get("Dimensions", [])},
            period_s=int(props["Period"]), threshold=float(props["Threshold"]),
            comparison=props["ComparisonOperator"],
            actions=[arn for arn in props.get("AlarmActions", []) if ":sns:" in arn],
            properties=props,
        ))
    return Alarms(alarms, access, publish, on_state)


def emulated(properties: dict[str, Any]) -> bool:
    return (properties.get("Statistic") == "Sum" and int(properties.get("EvaluationPeriods", 1)) == 1
            and properties.get("ComparisonOperator") in COMPARISONS and "Metrics" not in properties
            and properties.get("TreatMissingData", "missing") == "notBreaching")


def put_metric_alarm(alarm: Alarm) -> dict[str, Any]:
    """PutMetricAlarm's parameters for an alarm of the template (CloudFormation passes numbers as
    text), with which the cloud creates it as CloudFormation does: visible to DescribeAlarms."""
    properties = alarm.properties
    found: dict[str, Any] = {"AlarmName": alarm.name, "Namespace": alarm.namespace, "MetricName": alarm.metric,
                             "Dimensions": [{"Name": k, "Value": v} for k, v in alarm.dimensions.items()],
                             "Statistic": properties.get("Statistic", "Sum"), "Period": alarm.period_s,
                             "EvaluationPeriods": int(properties.get("EvaluationPeriods", 1)),
                             "Threshold": alarm.threshold, "ComparisonOperator": alarm.comparison}
    for name in ("AlarmDescription", "TreatMissingData", "AlarmActions", "OKActions", "InsufficientDataActions",
                 "Unit"):
        if properties.get(name):
            found[name] = properties[name]
    if "ActionsEnabled" in properties:
        found["ActionsEnabled"] = str(properties["ActionsEnabled"]).lower() == "true"
    return found

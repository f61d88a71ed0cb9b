"""The metrics a function's log carries in CloudWatch's embedded metric format, as CloudWatch Logs
extracts them (CloudWatch User Guide, "Specification: Embedded metric format"): a JSON line with an
`_aws` member whose CloudWatchMetrics directives name, for a namespace, the dimension sets and the
metrics, their values being the line's members of those names. Powertools' Metrics writes them."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any


def metrics_in(lines: tuple[str, ...] | list[str]) -> dict[str, list[dict[str, Any]]]:
    """PutMetricData's MetricData for each namespace the lines' EMF documents name."""
    found: dict[str, list[dict[str, Any]]] = {}
    for line in lines:
        if '"_aws"' not in line:
            continue
        try:
            document = json.loads(line[line.index("{"):])
        except ValueError:
            continue
        meta = document.get("_aws") if isinstance(document, dict) else None
        if not isinstance(meta, dict):
            continue
        timestamp = datetime.fromtimestamp(meta.get("Timestamp", 0) / 1000, timezone.utc) if meta.get("Timestamp") else None
        for directive in meta.get("CloudWatchMetrics") or []:
            namespace = directive.get("Namespace")
            if not isinstance(namespace, str):
                continue
            for dimension_set in directive.get("Dimensions") or [[]]:
                dimensions = [{"Name": name, "Value": str(document[name])} for name in dimension_set if name in document]
                for metric in directive.get("Metrics") or []:
                    name = metric.get("Name")
                    values = document.get(name)
                    for value in values if isinstance(values, list) else [values]:
                        if isinstance(value, (int, float)):
                            datum = {"MetricName": name, "Dimensions": dimensions, "Value": float(value),
                                     "Unit": metric.get("Unit", "None")}
                            if timestamp:
                                datum["Timestamp"] = timestamp
                            found.setdefault(namespace, []).append(datum)
    return found

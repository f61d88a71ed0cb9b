"""`pipeline cost`: what a million files cost on AWS, from the state machine's own paths.

Every path from the start state to an end is enumerated from the ASL (through the template),
its state transitions counted, and the paths weighed by a mix of files (share of .csv files,
failure rate). Prices are AWS list prices for us-east-1, stated with the date they were read;
check https://aws.amazon.com/step-functions/pricing/ and the Lambda and SNS pricing pages for
your region.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pipeline.graph import StateGraph
from pipeline.local.template import load_template

PRICES_AS_OF = "2026-11-26"
PRICES = {
    "standard_per_transition": 0.025 / 1000,
    "express_per_request": 1.00 / 1_000_000,
    "express_per_gb_second": 0.00001667,
    "lambda_per_request": 0.20 / 1_000_000,
    "lambda_arm64_per_gb_second": 0.0000133334,
    "sns_per_email": 2.00 / 100_000,
    "sns_per_publish": 0.50 / 1_000_000,
}


@dataclass(frozen=True)
class Path_:
    states: tuple[str, ...]

    @property
    def transitions(self) -> int:
        return len(self.states)

    @property
    def outcome(self) -> str:
        if "Skip Folder Marker" in self.states:
            return "folder marker"
        if "Describe Unreadable Event" in self.states:
            return "unreadable event"
        if "Invalid Extension" in self.states:
            return "invalid extension"
        if self.states[-1] == "Processed":
            return "csv processed"
        return "csv failed"


@dataclass(frozen=True)
class Mix:
    """What the files are: the share of .csv files, and how often processing fails."""

    csv_share: float = 0.9
    failure_rate: float = 0.33
    lambda_ms: tuple[float, float] = (5.0, 120.0)  # billed duration of check_ext, random_failure
    express_seconds: float = 0.3  # duration of one execution, rounded up to 100 ms
    express_memory_mb: int = 64


def paths(graph: StateGraph) -> list[Path_]:
    """Every path from the start to a state with no way out (the graph has no cycles)."""
    found: list[Path_] = []
    outgoing: dict[str, list[str]] = {}
    for edge in graph.edges:
        outgoing.setdefault(edge.source, []).append(edge.target)

    def walk(state: str, trail: tuple[str, ...]) -> None:
        trail = trail + (state,)
        if not outgoing.get(state):
            found.append(Path_(trail))
            return
        for target in dict.fromkeys(outgoing[state]):
            if target not in trail:
                walk(target, trail)

    walk(graph.start, ())
    return found


def lambda_memory(template_path: Path) -> dict[str, int]:
    template = load_template(template_path)
    default = int(template.get("Globals", {}).get("Function", {}).get("MemorySize", 128))
    return {
        logical_id: int(resource["Properties"].get("MemorySize", default))
        for logical_id, resource in template["Resources"].items()
        if resource.get("Type") == "AWS::Serverless::Function"
    }


@dataclass(frozen=True)
class Estimate:
    per_million_standard: float
    per_million_express: float
    per_million_lambda: float
    per_million_sns: float
    transitions_per_file: float


def estimate(all_paths: list[Path_], memory: dict[str, int], mix: Mix) -> Estimate:
    by_outcome: dict[str, int] = {}
    for path in all_paths:
        if path.outcome == "unreadable event" and "Read Error Message" not in path.states:
            continue  # a service error's path; unreadable events come from the function
        if path.outcome == "csv failed" and "Read Error Message" not in path.states:
            continue
        by_outcome.setdefault(path.outcome, path.transitions)
    weights = {
        "csv processed": mix.csv_share * (1 - mix.failure_rate),
        "csv failed": mix.csv_share * mix.failure_rate,
        "invalid extension": 1 - mix.csv_share,
    }
    transitions = sum(weights[o] * by_outcome[o] for o in weights)
    failures = weights["csv failed"] + weights["invalid extension"]
    million = 1_000_000
    check_gb_s = memory.get("CheckExtFunction", 128) / 1024 * mix.lambda_ms[0] / 1000
    process_gb_s = memory.get("RandomFailureFunction", 128) / 1024 * mix.lambda_ms[1] / 1000
    lambda_cost = million * (
        PRICES["lambda_per_request"] * (1 + mix.csv_share)
        + PRICES["lambda_arm64_per_gb_second"] * (check_gb_s + mix.csv_share * process_gb_s)
    )
    express_gb_s = mix.express_memory_mb / 1024 * max(0.1, round(mix.express_seconds + 0.0499, 1))
    return Estimate(
        per_million_standard=million * transitions * PRICES["standard_per_transition"],
        per_million_express=million * (PRICES["express_per_request"] + express_gb_s * PRICES["express_per_gb_second"]),
        per_million_lambda=lambda_cost,
        per_million_sns=million * failures * (PRICES["sns_per_email"] + PRICES["sns_per_publish"]),
        transitions_per_file=transitions,
    )


def report(template_path: Path, mix: Mix) -> str:
    graph = StateGraph.from_template(template_path)
    all_paths = paths(graph)
    result = estimate(all_paths, lambda_memory(template_path), mix)
    lines = ["Paths through the state machine (state transitions, retries excluded: each retry adds one):"]
    for path in sorted(all_paths, key=lambda p: (p.outcome, p.transitions)):
        lines.append(f"  {path.transitions:2d}  {path.outcome:18s} {' > '.join(path.states)}")
    lines += [
        "",
        f"Mix: {mix.csv_share:.0%} .csv files, failure rate {mix.failure_rate:.0%}; "
        f"Lambda billed {mix.lambda_ms[0]:.0f} ms + {mix.lambda_ms[1]:.0f} ms; "
        f"an EXPRESS execution {mix.express_seconds:.1f} s at {mix.express_memory_mb} MB",
        f"Transitions per file: {result.transitions_per_file:.2f}",
        "",
        f"Cost per million files (us-east-1 list prices read {PRICES_AS_OF}):",
        f"  Step Functions STANDARD  ${result.per_million_standard:10.2f}   ($0.025 per 1,000 transitions)",
        f"  Step Functions EXPRESS   ${result.per_million_express:10.2f}   ($1.00 per million + $0.00001667 per GB-s)",
        f"  Lambda (arm64)           ${result.per_million_lambda:10.2f}   ($0.20 per million + $0.0000133334 per GB-s)",
        f"  SNS email                ${result.per_million_sns:10.2f}   ($2.00 per 100,000 emails, one per failure)",
        f"  Total with STANDARD      ${result.per_million_standard + result.per_million_lambda + result.per_million_sns:10.2f}",
        f"  Total with EXPRESS       ${result.per_million_express + result.per_million_lambda + result.per_million_sns:10.2f}",
        "",
        "Not counted: S3 storage and requests, CloudTrail data events ($0.10 per 100,000, CloudTrail mode only),",
        "the KMS key ($1 a month), CloudWatch Logs ingestion, DynamoDB on-demand writes (about $1.25 per million).",
    ]
    return "\n".join(lines) + "\n"

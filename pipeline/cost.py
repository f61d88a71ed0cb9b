"""`pipeline cost`: what a million files cost on AWS, from the state machine's own paths.

Every path from the start state to an end is enumerated from the ASL (through the template), and
its outcome, state transitions, Lambda invocations and SNS publishes read from the states it
passes, so any definition is priced, not only this pipeline's. The paths are weighed by a mix of
files, stated in the definition's terms (see Mix). Prices are AWS list prices for us-east-1, stated with the date they were read;
check https://aws.amazon.com/step-functions/pricing/ and the Lambda and SNS pricing pages for
your region.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from typing import Any

from pipeline.graph import Edge, StateGraph
from pipeline.template import TemplateError, function_memory, load_template, state_machine_definition

PRICES_AS_OF = "2026-11-26"
PRICES = {
    "standard_per_transition": 0.025 / 1000,
    "express_per_request": 1.00 / 1_000_000,
    "express_per_gb_second": 0.00001667,
    "lambda_per_request": 0.20 / 1_000_000,
    "lambda_arm64_per_gb_second": 0.0000133334,
    "sns_per_email": 2.00 / 100_000,
    "sns_per_publish": 0.50 / 1_000_000,
    "s3_list_per_request": 0.005 / 1000,  # ListObjectsV2, 1,000 keys a page
    "s3_head_per_request": 0.0004 / 1000,  # HeadObject (GET class): check_ext's look-up of the current version
}


@dataclass(frozen=True)
class Path_:
    """One way through the state machine, from the start to a state with no way out."""

    states: tuple[str, ...]
    end_kind: str  # the last state's type: Succeed, Fail, or the type of a state with End
    weight: float  # the share of files that take it, under the mix
    lambdas: tuple[str, ...] = ()  # the functions its Lambda tasks invoke (logical IDs)
    publishes: int = 0  # its SNS Publish tasks

    @property
    def transitions(self) -> int:
        return len(self.states)

    @property
    def outcome(self) -> str:
        """Read from the definition: how the execution ends, and where."""
        return f"{'fails' if self.end_kind == 'Fail' else 'succeeds'} at {self.states[-1]}"


@dataclass(frozen=True)
class Mix:
    """What the files are, in the definition's terms.

    csv_share is the share of files that take a Choice rule comparing with ".csv" (the rest take
    its Default; a Choice without such a rule takes its first rule). failure_rate is how often a
    Task with a Catch that a Choice rule leads to fails into its Catch (other tasks succeed)."""

    csv_share: float = 0.9
    failure_rate: float = 0.33
    lambda_ms: float = 60.0  # billed duration of one invocation
    express_seconds: float = 0.3  # duration of one execution, rounded up to 100 ms
    express_memory_mb: int = 64


def paths(graph: StateGraph, mix: Mix = Mix()) -> list[Path_]:
    """Every path from the start to a state with no way out (the graph has no cycles), weighed."""
    found: list[Path_] = []
    outgoing: dict[str, list[Edge]] = {}
    for edge in graph.edges:
        outgoing.setdefault(edge.source, []).append(edge)
    chosen = {edge.target for edge in graph.edges if edge.kind == "choice"}

    def share(edge: Edge) -> float:
        siblings = outgoing[edge.source]
        node = graph.nodes[edge.source]
        if node.kind == "Choice":
            csv_rules = [e for e in siblings if e.kind == "choice" and ".csv" in e.label]
            if csv_rules:
                if edge in csv_rules:
                    return mix.csv_share / len(csv_rules)
                return 1 - mix.csv_share if edge.kind == "default" else 0.0
            return 1.0 if edge == next(e for e in siblings if e.kind in ("choice", "default")) else 0.0
        fails = mix.failure_rate if node.kind == "Task" and edge.source in chosen else 0.0
        catches = [e for e in siblings if e.kind == "catch"]
        if edge.kind == "catch":
            return fails if edge == catches[0] else 0.0
        return 1 - fails if catches else 1.0

    def walk(state: str, trail: tuple[str, ...], weight: float) -> None:
        trail = trail + (state,)
        if not outgoing.get(state):
            nodes = [graph.nodes[name] for name in trail]
            found.append(Path_(
                trail, graph.nodes[state].kind, weight,
                lambdas=tuple(n.detail.split(" ", 1)[1] for n in nodes if n.detail.startswith("Lambda ")),
                publishes=sum(n.detail == "SNS Publish" for n in nodes),
            ))
            return
        for edge in outgoing[state]:
            if edge.target not in trail:
                walk(edge.target, trail, weight * share(edge))

    walk(graph.start, (), 1.0)
    return found


def lambda_memory(template_path: Path) -> dict[str, int]:
    return function_memory(load_template(template_path))


@dataclass(frozen=True)
class Estimate:
    per_million_standard: float
    per_million_express: float
    per_million_lambda: float
    per_million_sns: float
    transitions_per_file: float


def estimate(all_paths: list[Path_], memory: dict[str, int], mix: Mix) -> Estimate:
    """Price a million files: each path's transitions, invocations and publishes, by its weight."""
    million = 1_000_000
    transitions = sum(p.weight * p.transitions for p in all_paths)
    invocations = sum(p.weight * len(p.lambdas) for p in all_paths)
    gb_seconds = sum(p.weight * sum(memory.get(f, 128) / 1024 * mix.lambda_ms / 1000 for f in p.lambdas)
                     for p in all_paths)
    publishes = sum(p.weight * p.publishes for p in all_paths)
    express_gb_s = mix.express_memory_mb / 1024 * max(0.1, round(mix.express_seconds + 0.0499, 1))
    return Estimate(
        per_million_standard=million * transitions * PRICES["standard_per_transition"],
        per_million_express=million * (PRICES["express_per_request"] + express_gb_s * PRICES["express_per_gb_second"]),
        per_million_lambda=million * (invocations * PRICES["lambda_per_request"]
                                      + gb_seconds * PRICES["lambda_arm64_per_gb_second"]),
        per_million_sns=million * publishes * (PRICES["sns_per_email"] + PRICES["sns_per_publish"]),
        transitions_per_file=transitions,
    )


def report(template_path: Path, mix: Mix) -> str:
    graph = StateGraph.from_template(template_path)
    all_paths = paths(graph, mix)
    result = estimate(all_paths, lambda_memory(template_path), mix)
    lines = ["Paths through the state machine: share of files, state transitions (each retry adds one), path:"]
    width = max(len(path.outcome) for path in all_paths)
    for path in sorted(all_paths, key=lambda p: (-p.weight, p.transitions)):
        lines.append(f"  {path.weight:6.1%} {path.transitions:3d}  {path.outcome:{width}s}  {' > '.join(path.states)}")
    lines += [
        "",
        f"Mix: {mix.csv_share:.0%} .csv files, failure rate {mix.failure_rate:.0%}; "
        f"each Lambda invocation billed {mix.lambda_ms:.0f} ms; "
        f"an EXPRESS execution {mix.express_seconds:.1f} s at {mix.express_memory_mb} MB",
        f"Transitions per file: {result.transitions_per_file:.2f}",
        "",
        f"Cost per million files (us-east-1 list prices read {PRICES_AS_OF}):",
        f"  Step Functions STANDARD  ${result.per_million_standard:10.2f}   ($0.025 per 1,000 transitions)",
        f"  Step Functions EXPRESS   ${result.per_million_express:10.2f}   ($1.00 per million + $0.00001667 per GB-s)",
        f"  Lambda (arm64)           ${result.per_million_lambda:10.2f}   ($0.20 per million + $0.0000133334 per GB-s)",
        f"  SNS email                ${result.per_million_sns:10.2f}   ($2.00 per 100,000 emails, one per publish)",
        f"  Total with STANDARD      ${result.per_million_standard + result.per_million_lambda + result.per_million_sns:10.2f}",
        f"  Total with EXPRESS       ${result.per_million_express + result.per_million_lambda + result.per_million_sns:10.2f}",
        "",
        "Not counted: S3 storage and requests, CloudTrail data events ($0.10 per 100,000, CloudTrail mode only),",
        "the KMS key ($1 a month), CloudWatch Logs ingestion, DynamoDB on-demand writes ($0.625 per million; a seen record per file with a sweep).",
    ]
    return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class BackfillEstimate:
    """A backfill of N objects: its own child workflows, and each object's file-processing run."""

    objects: int
    child_transitions: int  # per object: the Distributed Map's item processor, for a file
    parent_transitions: int  # once: the backfill execution's own states
    children: float  # $ for the child workflows' transitions
    listing: float  # $ for ListObjectsV2 pages and one HeadObject per object


def _distributed_map(definition: dict[str, Any]) -> dict[str, Any] | None:
    for state in (definition.get("States") or {}).values():
        processor = state.get("ItemProcessor") or {}
        if state.get("Type") == "Map" and (processor.get("ProcessorConfig") or {}).get("Mode") == "DISTRIBUTED":
            return state
    return None


def _main_path(definition: dict[str, Any]) -> int:
    """States entered from the start to an end, a Choice taking its Default (a file, not a
    folder marker) or, without one, its first rule."""
    states, name, count = definition["States"], definition["StartAt"], 0
    while name is not None and count <= len(states):
        state = states[name]
        count += 1
        if state.get("Type") == "Choice":
            name = state.get("Default") or state["Choices"][0]["Next"]
        else:
            name = None if state.get("End") or state.get("Type") in ("Succeed", "Fail") else state.get("Next")
    return count


def backfill_machine(template_path: Path) -> tuple[str, dict[str, Any]] | None:
    """(logical ID, definition) of the template's state machine with a Distributed Map, if any."""
    template = load_template(template_path)
    for logical_id, resource in template["Resources"].items():
        if resource.get("Type") != "AWS::Serverless::StateMachine":
            continue
        try:
            definition = state_machine_definition(template_path, logical_id)
        except (TemplateError, OSError, ValueError):
            continue
        if _distributed_map(definition) is not None:
            return logical_id, definition
    return None


def estimate_backfill(definition: dict[str, Any], objects: int) -> BackfillEstimate:
    mapped = _distributed_map(definition)
    assert mapped is not None
    child = _main_path(mapped["ItemProcessor"])
    parent = _main_path(definition)
    pages = -(-objects // 1000)
    return BackfillEstimate(
        objects=objects, child_transitions=child, parent_transitions=parent,
        children=(objects * child + parent) * PRICES["standard_per_transition"],
        listing=pages * PRICES["s3_list_per_request"] + objects * PRICES["s3_head_per_request"],
    )


def backfill_report(template_path: Path, mix: Mix, objects: int) -> str:
    """What backfilling N objects costs: its child workflows, the listing, and each object's run
    through the file-processing state machine (priced as report() prices a file)."""
    found = backfill_machine(template_path)
    if found is None:
        return ""
    logical_id, definition = found
    backfill = estimate_backfill(definition, objects)
    per_file = estimate(paths(StateGraph.from_template(template_path), mix), lambda_memory(template_path), mix)
    files = objects / 1_000_000 * (per_file.per_million_standard + per_file.per_million_lambda
                                   + per_file.per_million_sns)
    lines = [
        "",
        f"Backfill of {objects:,} objects ({logical_id}; each object runs the file-processing state machine, STANDARD):",
        f"  Child workflows          ${backfill.children:10.2f}   ({backfill.child_transitions} transitions per object, "
        f"{backfill.parent_transitions} once)",
        f"  Processing the files     ${files:10.2f}   (as above: Step Functions STANDARD, Lambda, SNS)",
        f"  S3 listing and look-ups  ${backfill.listing:10.2f}   (ListObjectsV2 $0.005 per 1,000 pages of 1,000 keys, "
        "HeadObject $0.0004 per 1,000)",
        f"  Total                    ${backfill.children + files + backfill.listing:10.2f}",
        "How long it takes, and what to tune: docs/backfill.md.",
    ]
    return "\n".join(lines) + "\n"

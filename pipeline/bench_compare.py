"""`make bench-compare REF=...`: this tree against another commit, in alternating whole runs.

    python -m pipeline.bench_compare 9a7a4f9 [--rounds 3] [--files 400] [--commands 5]

REF is checked out into a worktree under .bench/ with a venv of its own, made once and kept
(its own pins: the comparison is of the code as it was, dependencies included). Each round runs
both benches in turn, the order swapped every round (this machine drifts 5-10% between runs, so
only pairs taken together compare): `python -m pipeline.bench --files N --skip-baseline --runs 1
--deploys 1`, the whole process, with the speed layer as each tree's default. Then the one-file
command as a user feels it, start to exit: `python -m pipeline.cli run samples/sales.csv`, in
alternating pairs too. It prints each pair as it comes, then the median ratio (this / REF: above
1 is faster here) and the CPU per file of each process; the last line is JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
CHECKOUTS = ROOT / ".bench"


@dataclass(frozen=True)
class Tree:
    """A tree of the project and the Python that runs it."""

    label: str
    folder: Path
    python: Path


@dataclass
class Pair:
    """One round: the same measurement of both trees, taken together."""

    reference: float
    this: float
    cpu: dict[str, tuple[float, float]] = field(default_factory=dict)  # role -> (reference, this) ms per file

    @property
    def ratio(self) -> float:
        return self.this / self.reference if self.reference else float("inf")


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def checkout(ref: str) -> Tree:
    """REF's tree under .bench/, with its own venv (made on first use)."""
    sha = subprocess.run(["git", "rev-parse", "--verify", f"{ref}^{{commit}}"], cwd=ROOT, capture_output=True,
                         text=True)
    if sha.returncode != 0:
        raise SystemExit(f"bench-compare: no commit {ref!r} in this repository")
    folder = CHECKOUTS / sha.stdout.strip()[:12]
    python = folder / ".venv" / "bin" / "python"
    if not (folder / ".venv" / ".installed").exists():
        log(f"preparing {ref} in {folder.relative_to(ROOT)} (once: a worktree and a venv with its pins)")
        if not folder.exists():
            subprocess.run(["git", "worktree", "add", "--detach", str(folder), sha.stdout.strip()], cwd=ROOT,
                           check=True, capture_output=True)
        subprocess.run([sys.executable, "-m", "venv", str(folder / ".venv")], check=True)
        installed = subprocess.run([str(python), "-m", "pip", "install", "--quiet", "-e", str(folder)],
                                   capture_output=True, text=True, env={**os.environ, "PYTHONWARNINGS": "ignore"})
        if installed.returncode != 0:
            raise SystemExit(f"bench-compare: installing {ref} failed:\n{installed.stderr[-2000:]}")
        (folder / ".venv" / ".installed").touch()
    return Tree(ref, folder, python)


def bench(tree: Tree, files: int) -> dict[str, Any]:
    """One whole bench run of the tree: its last line, the JSON summary."""
    done = subprocess.run([str(tree.python), "-m", "pipeline.bench", "--files", str(files), "--skip-baseline",
                           "--runs", "1", "--deploys", "1"], cwd=tree.folder, capture_output=True, text=True,
                          env=_environment())
    if done.returncode != 0:
        raise SystemExit(f"bench-compare: the bench of {tree.label} failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def one_file(tree: Tree) -> float:
    """Seconds from start to exit of `pipeline run samples/sales.csv` in the tree."""
    started = time.perf_counter()
    done = subprocess.run([str(tree.python), "-m", "pipeline.cli", "run", "samples/sales.csv",
                           "--parameter-overrides", "FailureRate=0"], cwd=tree.folder, capture_output=True, text=True,
                          env=_environment())
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"bench-compare: `pipeline run samples/sales.csv` failed in {tree.label}:\n"
                         f"{done.stderr[-2000:]}")
    return elapsed


def _environment() -> dict[str, str]:
    """As a user's shell has it: the speed layer as each tree's default; no backfill measured (a
    tree from before the backfill has none to compare with)."""
    return {**{name: value for name, value in os.environ.items() if name != "PIPELINE_OFFLINE_FAST"},
            "PIPELINE_BENCH_BACKFILL": "0"}


def alternate(reference: Tree, this: Tree, rounds: int, measure: Any) -> list[tuple[Any, Any]]:
    """rounds pairs of measure(tree), the tree that goes first swapped every round."""
    pairs = []
    for number in range(rounds):
        first, second = (reference, this) if number % 2 == 0 else (this, reference)
        results = {first.label: measure(first), second.label: measure(second)}
        pairs.append((results[reference.label], results[this.label]))
    return pairs


def throughput_pair(reference: dict[str, Any], this: dict[str, Any]) -> Pair:
    old, new = reference.get("cpu_ms_per_file", {}), this.get("cpu_ms_per_file", {})
    return Pair(reference["files_per_s"], this["files_per_s"],
                {role: (old.get(role, 0.0), new.get(role, 0.0)) for role in sorted(set(old) | set(new))})


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pipeline.bench_compare", description=__doc__.split("\n\n")[0])
    parser.add_argument("ref", help="the commit to compare with (a hash, a tag, a branch)")
    parser.add_argument("--rounds", type=int, default=3, help="alternating pairs of bench runs (0: none)")
    parser.add_argument("--files", type=int, default=400, help="files per bench run")
    parser.add_argument("--commands", type=int, default=5, help="alternating pairs of the one-file command (0: none)")
    args = parser.parse_args(argv)

    reference = checkout(args.ref)
    this = Tree("this tree", ROOT, Path(sys.executable))
    log(f"{args.rounds} alternating pairs of `pipeline.bench --files {args.files}`: {args.ref} against this tree")
    pairs = []
    for ref_figures, this_figures in alternate(reference, this, args.rounds, lambda tree: bench(tree, args.files)):
        pair = throughput_pair(ref_figures, this_figures)
        pairs.append(pair)
        cpu = ", ".join(f"{role} {old} -> {new}" for role, (old, new) in pair.cpu.items())
        log(f"  {pair.reference:.1f} / {pair.this:.1f} files/s (this / {args.ref}: {pair.ratio:.2f}); "
            f"CPU ms per file: {cpu}")
    commands = [Pair(old, new) for old, new in alternate(reference, this, args.commands, one_file)]
    for pair in commands:
        log(f"  pipeline run samples/sales.csv: {pair.reference:.2f} s / {pair.this:.2f} s")
    roles = sorted({role for pair in pairs for role in pair.cpu})
    summary = {
        "reference": args.ref,
        "files": args.files,
        "pairs": [[pair.reference, pair.this] for pair in pairs],
        "median_ratio": round(statistics.median(pair.ratio for pair in pairs), 3) if pairs else None,
        "cpu_ms_per_file": {role: [round(statistics.median(pair.cpu.get(role, (0.0, 0.0))[0] for pair in pairs), 2),
                                   round(statistics.median(pair.cpu.get(role, (0.0, 0.0))[1] for pair in pairs), 2)]
                            for role in roles},
    }
    if commands:
        summary["one_file_s"] = [round(statistics.median(pair.reference for pair in commands), 2),
                                 round(statistics.median(pair.this for pair in commands), 2)]
    log(f"median ratio (this / {args.ref}): {summary['median_ratio']}; CPU ms per file (median, {args.ref} -> this): "
        + ", ".join(f"{role} {old} -> {new}" for role, (old, new) in summary["cpu_ms_per_file"].items())
        + (f"; pipeline run samples/sales.csv: {summary['one_file_s'][0]} s -> {summary['one_file_s'][1]} s"
           if commands else ""))
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""What the `pipeline` command prints, and the exit status it ends with: one place for `run`,
`status` and `replay` alike."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from typing import TextIO

from pipeline.results import TERMINAL, FileResult

EXIT_OK, EXIT_UNACCOUNTED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130  # 130: 128 + SIGINT, as shells report it


class UsageError(Exception):
    """Something the user asked for cannot be done as asked: one clear line, exit status 2."""


def print_results(results: Sequence[FileResult], as_json: bool) -> int:
    """The results as a table and the notifications, or as JSON lines; the exit status."""
    if as_json:
        for result in results:
            print(json.dumps(result.to_json(), ensure_ascii=False, default=str))
    else:
        print_table(results, sys.stdout)
        print_notifications(results, sys.stdout)
    return exit_status(results)


def exit_status(results: Sequence[FileResult]) -> int:
    """0 when every file is accounted for, 1 when any is not."""
    return EXIT_OK if all(result.accounted_for for result in results) else EXIT_UNACCOUNTED


def print_progress(result: FileResult, done: int, total: int) -> None:
    print(f"  [{done}/{total}] {result.key}: {result.status}", file=sys.stderr, flush=True)


def print_table(results: Sequence[FileResult], out: TextIO, errors: bool = False) -> None:
    """One row per file; the path of states goes last, as it is the longest. errors: show the
    error and its cause instead of the path (pipeline status)."""
    rows = [("FILE", "OUTCOME", "DURATION", "RETRIES", "NOTIFICATION", "ERROR AND CAUSE" if errors else "PATH")]
    for result in results:
        duration = f"{result.duration_ms:.0f} ms" if result.duration_ms is not None else "-"
        subject = notification_title(result)
        path = " > ".join(result.states) if result.states else (result.reason or "")
        if errors:
            path = f"{result.error}: {(result.cause or '').splitlines()[0] if result.cause else ''}" if result.error else "-"
        rows.append((result.key, result.status, duration, str(result.retries), subject or "-", path))
    widths = [max(len(row[i]) for row in rows) for i in range(5)]
    print(file=out)
    for row in rows:
        print("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row[:5])) + "  " + row[5], file=out)
    counts: dict[str, int] = {}
    for result in results:
        counts[result.status] = counts.get(result.status, 0) + 1
    unaccounted = sum(not result.accounted_for for result in results)
    summary = ", ".join(f"{count} {status.lower()}" for status, count in sorted(counts.items()))
    print(f"\n{len(results)} files: {summary}; {unaccounted} unaccounted for" if results else "\nNo files.", file=out)


def notification_title(result: FileResult) -> str:
    """The subject, or for a message sent without one, its first line."""
    if result.notification is None:
        return "-"
    if result.notification.subject:
        return result.notification.subject
    first = (result.notification.message.strip().splitlines() or [""])[0]
    return f"(no subject) {first[:40]}{'...' if len(first) > 40 else ''}"


def print_notifications(results: Sequence[FileResult], out: TextIO) -> None:
    sent = [result for result in results if result.notification]
    if not sent:
        return
    print(f"\nNotifications that would have been emailed ({len(sent)}):", file=out)
    for result in sent:
        assert result.notification is not None
        print(f"\n--- Subject: {result.notification.subject or '(none)'}", file=out)
        print(result.notification.message.rstrip(), file=out)


def interrupted(results: Sequence[FileResult], next_step: str, as_json: bool, out: TextIO | None = None) -> int:
    """Ctrl-C or SIGTERM: the files that finished, as usual, then one short account of the rest
    and what to do about them (next_step: a line), on out (standard error as it is when called);
    exit status 130."""
    out = out or sys.stderr
    finished = [result for result in results if result.status in TERMINAL or result.status == "IGNORED"]
    if finished:
        print_results(finished, as_json)
    in_flight = [result for result in results if result not in finished and result.status != "PENDING"]
    waiting = [result for result in results if result.status == "PENDING"]
    counts = ", ".join(f"{sum(r.status == s for r in finished)} {s.lower()}" for s in sorted({r.status for r in finished}))
    print(f"\nInterrupted: {len(finished)} of {len(results)} files finished" + (f" ({counts})" if counts else "")
          + f", {len(in_flight)} in flight, {len(waiting)} not started.", file=out)
    if in_flight or waiting:
        print(f"Not finished: {', '.join(result.key for result in [*in_flight, *waiting])}", file=out)
        print(next_step, file=out)
    return EXIT_INTERRUPTED

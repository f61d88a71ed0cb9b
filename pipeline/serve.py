"""`pipeline serve`: the offline cloud kept running for AWS clients, with template.yaml deployed
into it, or (--empty) none until `sam deploy` deploys one.

The cloud's endpoint answers the AWS CLI and boto3 as AWS would (every service on one port); an
upload through it starts the pipeline exactly as `pipeline run` does. Each file's outcome, and
its notification, is printed as it happens, and the endpoint's root serves a live page of the
run. Ctrl-C (or SIGTERM) shuts the cloud down with every process and the port released.
"""

from __future__ import annotations

import signal
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, TextIO

from botocore.exceptions import BotoCoreError, ClientError

from pipeline.results import FileResult
from pipeline.ledger import FileRecord, dead_letters, executions
from pipeline.output import EXIT_INTERRUPTED, UsageError
from pipeline.stack import PipelineStack

CREDENTIALS = ("offline", "offline")  # any will do: calls from outside the functions act as the account's administrator


class Watcher:
    """Finds each execution that has ended since the server started, and each event that reached
    the dead-letter queue, once; keeps them in order for the live page."""

    def __init__(self, clients: Any, stack: Callable[[], PipelineStack | None], on_file: Callable[[FileResult], None],
                 dead_letter_every_s: float = 1.0):
        self._clients = clients
        self._stack = stack
        self._on_file = on_file
        self._since = datetime.now(timezone.utc)
        self._reported: set[str] = set()
        self._dead_letter_every_s = dead_letter_every_s
        self._last_dead_letter_look = 0.0
        self._lock = threading.Lock()
        self.results: list[FileResult] = []
        self.version = 0

    def poll(self) -> None:
        stack = self._stack()  # the stack deployed now: `sam deploy` may create, update or delete it
        if stack is None:
            return
        found: list[FileRecord] = [seen for seen in executions(self._clients, stack, self._since, skip=self._reported)
                             if seen.result.status != "RUNNING"]
        if time.monotonic() - self._last_dead_letter_look >= self._dead_letter_every_s:
            self._last_dead_letter_look = time.monotonic()
            # Not those sent before it started (put back by --state, for one): they are not news.
            found += [letter for letter in dead_letters(self._clients, stack)
                      if f"dead-letter:{letter.message_id}" not in self._reported
                      and (letter.started is None or letter.started >= self._since)]
        for seen in reversed(found):  # oldest first
            self._reported.add(seen.result.execution_arn or f"dead-letter:{seen.message_id}")
            with self._lock:
                self.results.append(seen.result)
                self.version += 1
            self._on_file(seen.result)

    def snapshot(self) -> tuple[int, list[FileResult]]:
        with self._lock:
            return self.version, list(self.results)

    def in_flight(self) -> list[FileResult]:
        """The files whose executions are still running."""
        stack = self._stack()
        if stack is None:
            return []
        return [seen.result for seen in executions(self._clients, stack, self._since, skip=self._reported)
                if seen.result.status == "RUNNING"]


class SitePages:
    """The endpoint's own pages, in front of the AWS services: `/` (the live page) and
    `/_pipeline/version` answer a browser's unsigned GET; everything else goes to the cloud."""

    def __init__(self) -> None:
        self.app: Any = None
        self.page: Callable[[], str] | None = None
        self.version: Callable[[], int] | None = None

    def wrap(self, app: Any) -> SitePages:
        self.app = app
        return self

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        signed = "HTTP_AUTHORIZATION" in environ or "X-Amz-Signature" in environ.get("QUERY_STRING", "")
        if environ["REQUEST_METHOD"] == "GET" and not signed and self.page is not None and self.version is not None:
            if path == "/" and "text/html" in environ.get("HTTP_ACCEPT", ""):
                return _answer(start_response, "text/html; charset=utf-8", self.page())
            if path == "/_pipeline/version":
                return _answer(start_response, "text/plain", str(self.version()))
        return self.app(environ, start_response)


def _answer(start_response: Callable[..., Any], content_type: str, text: str) -> list[bytes]:
    body = text.encode("utf-8")
    start_response("200 OK", [("Content-Type", content_type), ("Content-Length", str(len(body))),
                              ("Cache-Control", "no-store")])
    return [body]


def banner(endpoint: str, stack: PipelineStack | None, region: str) -> str:
    key, secret = CREDENTIALS
    lines = [f"Offline cloud: stack {stack.name} is running at {endpoint}" if stack
             else f"Offline cloud: running at {endpoint}, with no stack yet"]
    if stack:
        lines.append(f"  landing bucket: {stack.bucket}")
    lines += [
        f"  live page:      {endpoint}/",
        "Point the AWS CLI, boto3 and the SAM CLI at it (in another shell):",
        f"  export AWS_ENDPOINT_URL={endpoint}",
        f"  export AWS_ACCESS_KEY_ID={key} AWS_SECRET_ACCESS_KEY={secret} AWS_DEFAULT_REGION={region}",
    ]
    if stack:
        lines += [f"  aws s3 cp samples/sales.csv s3://{stack.bucket}/daily/sales.csv",
                  f"  .venv/bin/pipeline status --stack {stack.name}",
                  "Files are shown below as they finish. Ctrl-C stops the cloud."]
    else:
        lines += ["  sam build && sam deploy --guided",
                  "Stacks and files are shown below as they are deployed and as they finish. Ctrl-C stops the cloud."]
    return "\n".join(lines)


def stack_line(stack: PipelineStack | None, previous: PipelineStack | None) -> str:
    """What serve prints when CloudFormation has created, updated or deleted the pipeline stack."""
    at = datetime.now().strftime("%H:%M:%S")
    if stack is None:
        return f"[{at}] stack {previous.name if previous else '?'} deleted: the pipeline no longer runs"
    verb = "updated" if previous is not None and previous.name == stack.name else "deployed"
    return (f"[{at}] stack {stack.name} {verb}: upload to s3://{stack.bucket}/ "
            f"(aws s3 cp samples/sales.csv s3://{stack.bucket}/daily/sales.csv)")


def describe(result: FileResult, out: TextIO) -> None:
    """One line per file, as it ends, and the email its notification would send."""
    at = datetime.now().strftime("%H:%M:%S")
    path = " > ".join(result.states) if result.states else (result.reason or "")
    print(f"[{at}] s3://{result.bucket}/{result.key}: {result.status}  {path}", file=out, flush=True)
    if result.notification:
        print(f"--- Subject: {result.notification.subject or '(none)'}", file=out)
        print(result.notification.message.rstrip() + "\n", file=out, flush=True)


def stopped_line(watcher: Watcher) -> str:
    """What the offline cloud leaves unfinished as it stops: the files in flight stop with it."""
    _, finished = watcher.snapshot()
    try:
        running = watcher.in_flight()
    except (BotoCoreError, ClientError):
        running = []
    line = f"{len(finished)} file(s) finished while it ran"
    if running:
        keys = ", ".join(result.key for result in running)
        line += f"; {len(running)} in flight stop with it ({keys}): upload them again to run them"
    return line


@contextmanager
def state_kept(cloud: Any, directory: Path | None, out: TextIO | None = None) -> Iterator[None]:
    """`--state DIR`: what DIR holds put back into the cloud (an OfflineCloud) as it starts, and the
    cloud's state saved there as it stops. A state that could not be put back whole is not
    overwritten."""
    out = out or sys.stdout
    if directory is None:
        yield
        return
    from pipeline.local import persistence

    if persistence.has_state(directory):
        try:
            kept = persistence.restore(cloud, directory)
        except persistence.StateError as error:
            raise UsageError(f"--state: {error}") from None
        print(f"Offline cloud: put back from {directory}: {kept.line()}", file=out, flush=True)
        for line in kept.not_kept:
            print(f"  not put back: {line}", file=out, flush=True)
    else:
        print(f"Offline cloud: {directory} holds no state yet; the cloud's is kept there when it stops",
              file=out, flush=True)
    try:
        yield
    finally:
        cloud.stop_running()  # the executions still running end first: an execution is kept once ended
        try:
            kept = persistence.save(cloud, directory)
        except (BotoCoreError, ClientError, OSError) as error:
            print(f"Offline cloud: could not keep its state in {directory} ({error}); "
                  "the state kept before is unchanged", file=out, flush=True)
        else:
            print(f"Offline cloud: kept in {directory}: {kept.line()}", file=out, flush=True)
            for line in kept.not_kept:
                print(f"  not kept: {line}", file=out, flush=True)


def serve(deploy: Callable[[SitePages], Any], template: str, out: TextIO | None = None, poll_s: float = 0.25) -> int:
    """Deploy (deploy(pages) gives the OfflineCloud context), print how to reach it, and follow the
    pipeline until interrupted."""
    from pipeline.graph import StateGraph
    from pipeline.report import render_report

    out = out or sys.stdout
    pages = SitePages()

    def interrupted(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    # SIGINT too: a shell starts a background job with SIGINT ignored, and Python keeps it so.
    previous = {signum: signal.signal(signum, interrupted) for signum in (signal.SIGINT, signal.SIGTERM)}
    try:
        with deploy(pages) as cloud:
            watcher = Watcher(cloud.clients, lambda: cloud.stack, lambda result: describe(result, out))
            drawn: list[Any] = [None, None]  # the deployed template, and its state machine's graph

            def page() -> str:
                seen, results = watcher.snapshot()
                if cloud.packaged is not drawn[0]:
                    drawn[:] = [cloud.packaged, cloud.packaged and StateGraph.from_template(cloud.packaged.source)]
                return render_report(results, drawn[1], source=f"pipeline serve, {template}, at {cloud.endpoint}",
                                     invocations=cloud.runtime.reports, live_version=seen + cloud.stack_changes)

            # The page reloads when a file ends or CloudFormation changes the stack.
            pages.page, pages.version = page, lambda: watcher.snapshot()[0] + cloud.stack_changes
            print(banner(cloud.endpoint, cloud.stack, cloud.clients.region), file=out, flush=True)
            shown, shown_changes = cloud.stack, cloud.stack_changes
            try:
                while True:
                    if cloud.stack_changes != shown_changes:
                        print(stack_line(cloud.stack, shown), file=out, flush=True)
                        shown, shown_changes = cloud.stack, cloud.stack_changes
                    try:
                        watcher.poll()
                    except (BotoCoreError, ClientError) as error:  # the cloud is still up: say so, go on
                        print(f"Offline cloud: could not read the pipeline's executions: {error}", file=out, flush=True)
                    time.sleep(poll_s)
            except KeyboardInterrupt:
                print("\nStopping the offline cloud...", file=out, flush=True)
                print(stopped_line(watcher), file=out, flush=True)
    except KeyboardInterrupt:  # during the deploy
        pass
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    print("Offline cloud stopped.", file=out, flush=True)
    return EXIT_INTERRUPTED  # it runs until interrupted, and says so as a shell reports an interruption

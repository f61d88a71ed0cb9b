"""`pipeline status` and `pipeline replay`: what a stack saw in a window, and running failed files
again. The stack is a deployed one (--stack, with boto3's configuration, AWS_ENDPOINT_URL
included) or `pipeline serve`'s (--endpoint)."""

from __future__ import annotations

import argparse
import json
import sys

from pipeline.output import EXIT_OK, UsageError, interrupted, print_progress, print_results, print_table
from pipeline.stack import StackNotFoundError


def _window(args: argparse.Namespace):  # noqa: ANN202 - (Clients, PipelineStack, since)
    from datetime import datetime, timezone

    from botocore.exceptions import BotoCoreError, ClientError

    from pipeline.clients import Clients
    from pipeline.ledger import parse_duration
    from pipeline.stack import PipelineStack

    try:
        since = datetime.now(timezone.utc) - parse_duration(args.since)
    except ValueError as error:
        raise UsageError(f"--since {error}") from None
    clients = Clients.at(args.endpoint, args.region) if args.endpoint else Clients.aws(region=args.region)
    name = args.stack or "file-pipeline"
    try:
        return clients, PipelineStack.discover(clients, name), since
    except StackNotFoundError as error:
        raise UsageError(str(error)) from None
    except (BotoCoreError, ClientError) as error:
        raise UsageError(f"cannot reach stack {name!r}: {error}") from None


def status(args: argparse.Namespace) -> int:
    from botocore.exceptions import BotoCoreError, ClientError

    from pipeline.ledger import files_seen

    clients, stack, since = _window(args)
    try:
        seen = files_seen(clients, stack, since)
    except (BotoCoreError, ClientError) as error:
        raise UsageError(f"cannot read stack {stack.name!r}: {error}") from None
    results = [item.result for item in seen]
    if args.json:
        for result in results:
            print(json.dumps(result.to_json(), ensure_ascii=False, default=str))
        return EXIT_OK
    print(f"Stack {stack.name}, since {since:%Y-%m-%d %H:%M:%S} UTC:", file=sys.stderr)
    print_table(results, sys.stdout, errors=True)
    return EXIT_OK


def replay(args: argparse.Namespace) -> int:
    from botocore.exceptions import BotoCoreError, ClientError

    from pipeline.driver import RunInterrupted, follow_started, interruptible
    from pipeline.results import FileResult
    from pipeline.replay import ReplayError, plan, start

    clients, stack, since = _window(args)
    try:
        chosen = plan(clients, stack, since, key=args.key, key_prefix=args.key_prefix,
                      include_dead_letters=args.dead_letters, dry_run=args.dry_run)
        if args.dry_run or not chosen.files:
            for item in chosen.files:
                if args.json:  # the file as `status --json` gives it, and where its replay starts from
                    print(json.dumps({**item.result.to_json(), "replay_from": "dead letter" if item.dead_lettered
                                      else "execution"}, ensure_ascii=False, default=str))
                    continue
                kind = "dead-lettered event" if item.dead_lettered else f"execution {item.result.execution_arn}"
                print(f"would replay s3://{item.result.bucket}/{item.result.key} ({item.result.status}: "
                      f"{item.result.error or '-'}; {kind})")
            print(f"{len(chosen.files)} file(s) to replay{' (dry run: nothing changed)' if args.dry_run else ''}",
                  file=sys.stderr)
            return EXIT_OK
    except ReplayError as error:
        raise UsageError(str(error)) from None
    except (BotoCoreError, ClientError) as error:
        raise UsageError(f"cannot replay on stack {stack.name!r}: {error}") from None
    progress = None if args.json else print_progress
    started: list[FileResult] = []
    try:
        with interruptible(started):  # from the first start on, an interrupt leaves those started in flight
            try:
                start(clients, stack, chosen, started)
            except ReplayError as error:
                raise UsageError(str(error)) from None
            except (BotoCoreError, ClientError) as error:
                raise UsageError(f"cannot replay on stack {stack.name!r}: {error}") from None
            print(f"Stack {stack.name}: replaying {len(started)} file(s)", file=sys.stderr)
            results = follow_started(clients, stack, started, timeout_s=args.timeout, on_result=progress,
                                     poll_s=0.05 if args.endpoint else 1.0)
    except RunInterrupted as stopped:  # the replayed executions go on: status follows them
        where = f"--endpoint {args.endpoint}" if args.endpoint else f"--stack {args.stack}"
        return interrupted(stopped.results, f"Their executions go on in the stack: pipeline status {where} --since 1h "
                           "follows them", args.json)
    return print_results(results, args.json)

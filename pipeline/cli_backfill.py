"""`pipeline backfill`: files already in the landing bucket through the pipeline, by the stack's
backfill state machine. Offline, the files given are placed in the bucket first without
announcing them (as if they had landed before the stack existed); against a stack (--stack, or
`pipeline serve`'s with --endpoint) what is already in the bucket is backfilled."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from pipeline.output import EXIT_OK, EXIT_UNACCOUNTED, UsageError, interrupted, print_progress, print_results


def add_parser(commands: Any, add_offline_options: Any) -> None:
    backfill = commands.add_parser(
        "backfill",
        help="process files already in the bucket, through the stack's backfill (a Distributed Map)",
        description="Start the stack's backfill state machine over a prefix of the landing bucket and follow every "
        "object it lists to its end, as `pipeline run` follows an upload. Offline, each FILE is first placed in the "
        "bucket (key = prefix + base name) without triggering the rule, as if it had landed before the stack. With "
        "--stack or --endpoint, what is already in the bucket is backfilled.",
    )
    backfill.add_argument("files", nargs="*", metavar="FILE", help="offline only: files to place in the bucket first")
    where = backfill.add_mutually_exclusive_group()
    where.add_argument("--stack", help="a deployed stack's name (or `pipeline serve`'s, with AWS_ENDPOINT_URL set)")
    where.add_argument("--endpoint", metavar="URL", help="a `pipeline serve` endpoint (its stack: file-pipeline)")
    backfill.add_argument("--region", help="AWS region of --stack (default: your AWS configuration's)")
    backfill.add_argument("--prefix", default=None,
                          help="backfill the keys under this prefix (default: the stack's KeyPrefix, all it triggers on)")
    backfill.add_argument("--max-concurrency", type=int, metavar="N",
                          help="objects processed at once (default: the stack's BackfillMaxConcurrency; 0: no limit, "
                          "up to 10,000 in AWS and 40 offline)")
    backfill.add_argument("--tolerated-failure-percentage", type=float, metavar="P",
                          help="stop once more than P%% of the objects failed (default: the stack's "
                          "BackfillToleratedFailurePercentage)")
    backfill.add_argument("--sweep", action="store_true",
                          help="process only the objects the pipeline never saw (what the scheduled reconciliation "
                          "sweep runs); needs a stack deployed with SweepEveryHours set")
    backfill.add_argument("--dry-run", action="store_true", help="list what would be processed; start nothing")
    backfill.add_argument("--timeout", type=float, default=3600.0, metavar="SECONDS",
                          help="stop following after this long (default 3600); the backfill goes on")
    backfill.add_argument("--json", action="store_true", help="print one JSON object per object, in key order")
    add_offline_options(backfill)


def backfill(args: argparse.Namespace) -> int:
    from pipeline.cli_run import files_to_upload

    online = bool(args.stack or args.endpoint)
    if args.max_concurrency is not None and not 0 <= args.max_concurrency <= 10000:
        raise UsageError("--max-concurrency must be between 0 and 10000")
    if args.tolerated_failure_percentage is not None and not 0 <= args.tolerated_failure_percentage <= 100:
        raise UsageError("--tolerated-failure-percentage must be between 0 and 100")
    if online:
        if args.files:
            raise UsageError("FILEs are placed in the offline cloud's bucket; against a stack, the backfill processes "
                             "what is already in its bucket (upload with `aws s3 cp` first)")
        if args.parameter_overrides or args.inject:
            raise UsageError("--parameter-overrides and --inject apply to the offline cloud, not to a deployed stack")
        return _on_stack(args)
    if not args.files:
        raise UsageError("offline, give the FILEs to place in the bucket (or --stack NAME to backfill a stack)")
    return _offline(args, files_to_upload(args.files))


def _offline(args: argparse.Namespace, files: list[Path]) -> int:
    from pipeline import cli_run
    from pipeline.driver import object_key

    keys = [object_key(path, args.prefix or "") for path in files]
    twice = sorted({key for key in keys if keys.count(key) > 1})
    if twice:
        raise UsageError(f"two files would be placed at the same key: {', '.join(twice)}")
    deployment = cli_run.offline_deployment(args)
    cloud = cli_run.entered(deployment)
    try:
        prefix = _prefix(args, cloud.clients, cloud.stack)
        with cloud.bus.silenced():  # landed before the stack: no event announces them
            for path in files:
                cloud.clients.s3.put_object(Bucket=cloud.stack.bucket, Key=object_key(path, prefix),
                                            Body=path.read_bytes())
        if not args.json:
            print(f"Offline cloud: deployed {args.template} as stack {cloud.stack.name}; placed {len(files)} file(s) "
                  f"in s3://{cloud.stack.bucket}/{prefix} without announcing them", file=sys.stderr)
        return _run(args, cloud.clients, cloud.stack, prefix, poll_s=0.05, rerun=None)
    finally:
        deployment.__exit__(None, None, None)


def _on_stack(args: argparse.Namespace) -> int:
    from botocore.exceptions import BotoCoreError, ClientError

    from pipeline.clients import Clients
    from pipeline.stack import PipelineStack, StackNotFoundError

    clients = Clients.at(args.endpoint, args.region) if args.endpoint else Clients.aws(region=args.region)
    name = args.stack or "file-pipeline"
    try:
        stack = PipelineStack.discover(clients, name)
        prefix = _prefix(args, clients, stack)
    except StackNotFoundError as error:
        raise UsageError(str(error)) from None
    except (BotoCoreError, ClientError) as error:
        raise UsageError(f"cannot reach stack {name!r}: {error}") from None
    where = f"--endpoint {args.endpoint}" if args.endpoint else f"--stack {args.stack}"
    return _run(args, clients, stack, prefix, poll_s=0.1 if args.endpoint else 1.0,
                rerun=f"pipeline status {where} --since 1h follows them")


def _prefix(args: argparse.Namespace, clients: Any, stack: Any) -> str:
    """--prefix, or the stack's KeyPrefix; checked against the KeyPrefix either way."""
    from pipeline.backfill import BackfillError, check_prefix

    described = clients.cloudformation.describe_stacks(StackName=stack.name)["Stacks"][0]
    parameters = {p["ParameterKey"]: p.get("ParameterValue", "") for p in described.get("Parameters", [])}
    if args.sweep and parameters.get("SweepEveryHours", "0") == "0":
        raise UsageError(f"stack {stack.name!r} records no seen files (SweepEveryHours is 0), so a sweep cannot tell "
                         "what to skip: deploy it with SweepEveryHours set (offline: --parameter-overrides SweepEveryHours=24), or run "
                         "a plain backfill")
    key_prefix = parameters.get("KeyPrefix", "")
    prefix = key_prefix if args.prefix is None else args.prefix
    try:
        check_prefix(stack, prefix, key_prefix)
    except BackfillError as error:
        raise UsageError(str(error)) from None
    return prefix


def _run(args: argparse.Namespace, clients: Any, stack: Any, prefix: str, *, poll_s: float, rerun: str | None) -> int:
    from botocore.exceptions import BotoCoreError, ClientError

    from pipeline import backfill as backfills
    from pipeline.driver import ExecutionFollower, RunInterrupted

    if args.dry_run:
        return _dry_run(args, list(backfills.listed_objects(clients, stack.bucket, prefix)), stack.bucket)
    follower = ExecutionFollower(clients, stack.state_machine_arn, page_size=1000)
    try:
        run = backfills.start(clients, stack, prefix, max_concurrency=args.max_concurrency,
                              tolerated_failure_percentage=args.tolerated_failure_percentage, sweep=args.sweep)
    except (BotoCoreError, ClientError) as error:
        raise UsageError(f"cannot start the backfill of stack {stack.name!r}: {error}") from None
    quiet = args.json
    if not quiet:
        markers = sum(item.folder_marker for item in run.listed)
        print(f"{'Sweep' if args.sweep else 'Backfill'} of s3://{stack.bucket}/{prefix}: "
              f"{len(run.listed) - markers} object(s)"
              f"{f' and {markers} folder marker(s)' if markers else ''}; execution {run.execution_arn}",
              file=sys.stderr, flush=True)
    goes_on = (f"The backfill goes on in the stack ({run.execution_arn}): {rerun}" if rerun else
               "The backfill went with the offline cloud: run the command again")
    try:
        results, ended = backfills.follow(
            clients, stack, run, follower=follower, timeout_s=args.timeout, poll_s=poll_s,
            on_result=None if quiet else print_progress, on_progress=None if quiet else _print_counts)
    except RunInterrupted as stopped:
        return interrupted(stopped.results, goes_on, args.json)
    except (BotoCoreError, ClientError) as error:
        raise UsageError(f"cannot follow the backfill of stack {stack.name!r}: {error}. {goes_on}") from None
    status = print_results(results, args.json)
    if not quiet:
        _print_ending(ended, args.timeout, goes_on)
    return status if ended.get("status") == "SUCCEEDED" else EXIT_UNACCOUNTED


def _dry_run(args: argparse.Namespace, listed: list[Any], bucket: str) -> int:
    for item in listed:
        action = "skip" if item.folder_marker else "process"
        if args.json:
            print(json.dumps({"bucket": bucket, "key": item.key, "size": item.size, "etag": item.etag,
                              "action": action}, ensure_ascii=False))
        else:
            print(f"would {action} s3://{bucket}/{item.key} ({item.size} bytes"
                  f"{', a folder marker' if item.folder_marker else ''})")
    processed = sum(not item.folder_marker for item in listed)
    print(f"{processed} object(s) to backfill, {len(listed) - processed} folder marker(s) to skip "
          f"{'(a sweep also skips each object the pipeline saw) ' if args.sweep else ''}(dry run: nothing started)",
          file=sys.stderr)
    return EXIT_OK


def _print_counts(counts: dict[str, int]) -> None:
    if counts:
        print("  map run: " + ", ".join(f"{counts.get(name, 0)} {name}" for name in
                                         ("succeeded", "failed", "running", "pending", "total")),
              file=sys.stderr, flush=True)


def _print_ending(ended: dict[str, Any], timeout_s: float, goes_on: str) -> None:
    if ended.get("status") == "RUNNING":
        print(f"Backfill still RUNNING after {timeout_s:.0f} s (--timeout). {goes_on}", file=sys.stderr)
        return
    if ended.get("status") == "SUCCEEDED":
        try:
            details = json.loads(ended.get("output") or "{}").get("ResultWriterDetails") or {}
        except ValueError:
            details = {}
        if details:
            print(f"Backfill SUCCEEDED; map run results: s3://{details.get('Bucket')}/{details.get('Key')}",
                  file=sys.stderr)
        return
    print(f"Backfill {ended.get('status')}: {ended.get('error') or '-'}: {ended.get('cause') or ''}", file=sys.stderr)


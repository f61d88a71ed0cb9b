"""The `pipeline` command: run files through the pipeline, offline or on a deployed stack."""

from __future__ import annotations

import argparse
import re
import signal
import sys
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from pipeline.local.heap import freeze_at_exit
from pipeline.output import EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE, UsageError

def add_template_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--template", default="template.yaml", help="the SAM template (default: template.yaml)")


def add_offline_options(parser: argparse.ArgumentParser) -> None:
    add_template_option(parser)
    parser.add_argument("--parameter-overrides", nargs="+", default=[], metavar="KEY=VALUE",
                        help="offline only: template parameters, as for `sam deploy --parameter-overrides`")
    parser.add_argument("--time-scale", type=float, default=1.0, metavar="FACTOR",
                        help="offline only: multiply Retry waits by FACTOR (0 = no waiting; default 1, real time)")
    parser.add_argument("--inject", action="append", default=[], metavar="KIND[:TARGET][:COUNT]",
                        help="offline only: inject a fault (repeatable), e.g. throttle:RandomFailureFunction:2, "
                        "service-error:CheckExtFunction, timeout:RandomFailureFunction, sns-failure:4, start-failure")
    parser.add_argument("--key-form", choices=("form", "raw"), default="form",
                        help="offline only: how S3 EventBridge events carry the key, form-encoded (default) or raw "
                        "(AWS does not document which; the pipeline handles both)")


def add_window_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--since", default="24h", metavar="DURATION",
                        help="how far back to look, e.g. 30m, 24h, 7d (default 24h)")
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--stack", help="the stack's name: a deployed stack, or `pipeline serve`'s (file-pipeline) "
                       "with AWS_ENDPOINT_URL set as it prints")
    where.add_argument("--endpoint", metavar="URL", help="a `pipeline serve` endpoint (its stack: file-pipeline)")
    parser.add_argument("--region", help="AWS region of --stack (default: your AWS configuration's)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pipeline",
        description="Run files through the event-driven file pipeline: offline (no AWS account, no Docker) or on a deployed stack.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser(
        "run",
        help="upload files and follow each execution to its end",
        description="Upload each FILE (key = prefix + base name) and follow the execution it triggers. "
        "Without --stack, template.yaml is deployed into an offline cloud first.",
    )
    run.add_argument("files", nargs="*", metavar="FILE", help="files to upload")
    run.add_argument("--stack", help="name of a deployed stack to use instead of the offline cloud")
    run.add_argument("--region", help="AWS region of --stack (default: your AWS configuration's)")
    run.add_argument("--prefix", default="", help="key prefix to upload under (default: none)")
    add_offline_options(run)
    run.add_argument("--timeout", type=float, default=300.0, metavar="SECONDS",
                     help="give up on a file after this long (default 300)")
    run.add_argument("--json", action="store_true", help="print one JSON object per file, in input order")
    run.add_argument("--report", metavar="FILE.html", help="also write a self-contained HTML report of the run")
    serve = commands.add_parser(
        "serve",
        help="run the pipeline offline as a service that AWS clients talk to, until Ctrl-C",
        description="Deploy the template into the offline cloud (or, with --empty, nothing: `sam deploy` deploys "
        "it) and keep it running on a local port: upload with the AWS CLI or boto3 and watch each file's outcome "
        "here and on the live page at the endpoint's root.",
    )
    serve.add_argument("--port", type=int, default=4599, help="port to listen on (default 4599; 0 takes a free one)")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    serve.add_argument("--empty", action="store_true",
                       help="start with no stack, for `sam deploy` to create one (see the README's rehearsal)")
    serve.add_argument("--state", metavar="DIR", type=Path,
                       help="keep the stacks, objects, table items, queued messages and execution history in DIR "
                       "when the cloud stops, and put them back when it starts again")
    add_offline_options(serve)
    status = commands.add_parser(
        "status",
        help="every file the pipeline saw in a window, with its outcome",
        description="List every execution started in the window (SUCCEEDED, FAILED with error and cause, RUNNING) "
        "and every event waiting in the trigger's dead-letter queue.",
    )
    add_window_options(status)
    status.add_argument("--json", action="store_true", help="one JSON object per file, as `pipeline run --json`")
    replay = commands.add_parser(
        "replay",
        help="run failed files again, once their cause is fixed",
        description="Start a new execution, with its original event, for each file whose latest execution in the "
        "window failed (and with --dead-letters, for each event in the dead-letter queue, deleted from it once "
        "its execution has started), then follow them to the end as `pipeline run` does.",
    )
    add_window_options(replay)
    replay.add_argument("--key", help="replay only the file with exactly this key")
    replay.add_argument("--key-prefix", default="", metavar="PREFIX", help="replay only files whose key starts so")
    replay.add_argument("--dead-letters", action="store_true",
                        help="also replay the events waiting in the trigger's dead-letter queue")
    replay.add_argument("--dry-run", action="store_true", help="list what would be replayed; change nothing")
    replay.add_argument("--timeout", type=float, default=300.0, metavar="SECONDS",
                        help="give up on a file after this long (default 300)")
    replay.add_argument("--json", action="store_true", help="print one JSON object per file, in order")
    from pipeline.cli_backfill import add_parser as add_backfill

    add_backfill(commands, add_offline_options)
    graph = commands.add_parser(
        "graph",
        help="draw the state machine (Mermaid or SVG)",
        description="Render the state machine of the template (its ASL file with the substitutions) as Mermaid text or SVG.",
    )
    add_template_option(graph)
    graph.add_argument("--format", choices=("mermaid", "svg"), default="mermaid")
    graph.add_argument("--output", "-o", help="write to this file instead of standard output")
    graph.add_argument("--update-doc", "--update-readme", dest="update_readme", metavar="FILE",
                       help="rewrite the generated diagram block of this Markdown file (docs/how-it-works.md)")
    cost = commands.add_parser(
        "cost",
        help="what a million files cost on AWS, STANDARD against EXPRESS",
        description="Count the state transitions of every path of the state machine and price a million files.",
    )
    add_template_option(cost)
    cost.add_argument("--csv-share", type=float, default=0.9, help="share of uploads that are .csv files (default 0.9)")
    cost.add_argument("--failure-rate", type=float, default=0.33, help="share of .csv files that fail (default 0.33)")
    cost.add_argument("--lambda-ms", type=float, default=60.0, help="billed duration of one Lambda invocation (default 60)")
    cost.add_argument("--express-seconds", type=float, default=0.3, help="duration of one EXPRESS execution (default 0.3)")
    cost.add_argument("--backfill-objects", type=int, default=1_000_000, metavar="N",
                      help="price a backfill of N objects already in the bucket (default 1000000)")
    delete = commands.add_parser(
        "delete-buckets",
        help="delete buckets a deleted stack kept, with every object version and delete marker",
        description="Empty each bucket (every version and delete marker) and delete it. `sam delete` keeps the "
        "stack's buckets (DeletionPolicy: Retain); this removes them.",
    )
    delete.add_argument("buckets", nargs="+", metavar="BUCKET")
    delete.add_argument("--region", help="AWS region (default: your AWS configuration's)")
    return parser


OVERRIDE = re.compile(r"[A-Za-z0-9]+=")


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Options and files in any order: `--parameter-overrides K=V FILE` leaves the files that
    follow it to be uploaded (a word that is neither Key=Value nor a file stays a bad override)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command in ("run", "serve", "backfill"):
        args.files = getattr(args, "files", [])
        files = [word for word in args.parameter_overrides if not OVERRIDE.match(word) and Path(word).exists()]
        args.files += files
        args.parameter_overrides = [word for word in args.parameter_overrides if word not in files]
        if args.command == "serve" and args.files:
            parser.error(f"unrecognized arguments: {' '.join(args.files)}")
        if args.command == "serve" and args.empty and args.parameter_overrides:
            parser.error("--empty starts with no stack: give the parameters to `sam deploy --parameter-overrides`")
        if args.command == "run" and not args.files:
            parser.error("the following arguments are required: FILE")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    freeze_at_exit()
    try:
        with interrupts_raised():
            if args.command == "backfill":
                from pipeline.cli_backfill import backfill

                return backfill(args)
            if args.command in ("status", "replay"):
                from pipeline import cli_stack

                return cli_stack.status(args) if args.command == "status" else cli_stack.replay(args)
            return {"graph": _graph, "cost": _cost, "delete-buckets": _delete_buckets,
                    "serve": _serve}.get(args.command, _run)(args)
    except UsageError as error:
        print(f"pipeline: error: {error}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:  # before any file was on its way
        print("\nInterrupted: nothing was started.", file=sys.stderr)
        return EXIT_INTERRUPTED


@contextmanager
def interrupts_raised() -> Iterator[None]:
    """Ctrl-C and SIGTERM end the command the same way, as a KeyboardInterrupt in its main thread;
    SIGINT too, which a shell gives a background job ignored (and Python keeps so)."""
    def interrupted(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {signum: signal.signal(signum, interrupted) for signum in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _graph(args: argparse.Namespace) -> int:
    from pipeline.graph import StateGraph, update_readme
    from pipeline.template import TemplateError

    try:
        graph = StateGraph.from_template(Path(args.template))
    except (TemplateError, OSError, KeyError, ValueError) as error:
        raise UsageError(f"cannot read the state machine of {args.template}: {error}") from None
    if args.update_readme:
        try:
            changed = update_readme(Path(args.update_readme), graph)
        except (OSError, ValueError) as error:
            raise UsageError(str(error)) from None
        print(f"{args.update_readme}: {'updated' if changed else 'already up to date'}", file=sys.stderr)
        return EXIT_OK
    text = graph.svg() if args.format == "svg" else graph.mermaid()
    if args.output:
        Path(args.output).write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    return EXIT_OK


def _cost(args: argparse.Namespace) -> int:
    from pipeline.cost import Mix, backfill_report, report
    from pipeline.template import TemplateError

    if args.backfill_objects < 0:
        raise UsageError("--backfill-objects must be 0 or more")
    for name in ("csv_share", "failure_rate"):
        if not 0 <= getattr(args, name) <= 1:
            raise UsageError(f"--{name.replace('_', '-')} must be between 0 and 1")
    try:
        mix = Mix(args.csv_share, args.failure_rate, lambda_ms=args.lambda_ms, express_seconds=args.express_seconds)
        sys.stdout.write(report(Path(args.template), mix))
        sys.stdout.write(backfill_report(Path(args.template), mix, args.backfill_objects))
    except (TemplateError, OSError, KeyError, ValueError) as error:
        raise UsageError(f"cannot read the state machine of {args.template}: {error}") from None
    return EXIT_OK


def _run(args: argparse.Namespace) -> int:
    from pipeline import cli_run

    return cli_run.run(args)


def _serve(args: argparse.Namespace) -> int:
    from contextlib import contextmanager

    from pipeline import cli_run
    from pipeline.serve import serve, state_kept

    @contextmanager
    def deployed(pages):  # noqa: ANN001, ANN202 - serve's SitePages; an OfflineCloud
        deployment = cli_run.offline_deployment(args, host=args.host, port=args.port, front=pages.wrap)
        cloud = cli_run.entered(deployment)
        try:
            with state_kept(cloud, args.state):
                yield cloud
        finally:
            deployment.__exit__(None, None, None)

    return serve(deployed, args.template)


def _delete_buckets(args: argparse.Namespace, clients: object | None = None) -> int:
    from botocore.exceptions import BotoCoreError, ClientError

    from pipeline.buckets import delete_bucket
    from pipeline.clients import Clients

    s3 = (clients or Clients.aws(args.region)).s3  # type: ignore[attr-defined]
    for bucket in args.buckets:
        try:
            deleted = delete_bucket(s3, bucket, lambda name, count: print(
                f"  s3://{name}: {count} versions and delete markers deleted", file=sys.stderr, flush=True))
        except (ClientError, BotoCoreError, RuntimeError) as error:
            raise UsageError(f"s3://{bucket}: {error}") from None
        print(f"Deleted s3://{bucket} ({deleted.versions} versions, {deleted.delete_markers} delete markers)")
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())

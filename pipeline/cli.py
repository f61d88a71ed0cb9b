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

from pipeline.driver import RunInterrupted, run_files
from pipeline.results import FileResult
from pipeline.output import (
    EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE, UsageError, interrupted, print_progress, print_results,
)
from pipeline.stack import StackNotFoundError

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
    if args.command in ("run", "serve"):
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
    try:
        with interrupts_raised():
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
    from pipeline.cost import Mix, report
    from pipeline.template import TemplateError

    for name in ("csv_share", "failure_rate"):
        if not 0 <= getattr(args, name) <= 1:
            raise UsageError(f"--{name.replace('_', '-')} must be between 0 and 1")
    try:
        sys.stdout.write(report(Path(args.template), Mix(args.csv_share, args.failure_rate, lambda_ms=args.lambda_ms,
                                                         express_seconds=args.express_seconds)))
    except (TemplateError, OSError, KeyError, ValueError) as error:
        raise UsageError(f"cannot read the state machine of {args.template}: {error}") from None
    return EXIT_OK


def _run(args: argparse.Namespace) -> int:
    files = files_to_upload(args.files)
    progress = None if args.json else print_progress
    if args.stack and (args.parameter_overrides or args.inject):
        raise UsageError("--parameter-overrides and --inject apply to the offline cloud, not to a deployed stack")
    try:
        results = _run_on_stack(args, files, progress) if args.stack else _run_offline(args, files, progress)
    except RunInterrupted as stopped:
        return interrupted(stopped.results, f"Run them again: {_rerun(args, stopped.results)}", args.json)
    if args.report:
        print(f"Report: {args.report}", file=sys.stderr)
    return print_results(results, args.json)


def files_to_upload(names: Sequence[str]) -> list[Path]:
    """The files named, a folder standing for the files in it, sorted (as `folder/*` does in a
    shell: not its subfolders, not its hidden files)."""
    files, missing = [], []
    for name in names:
        path = Path(name)
        if path.is_dir():
            inside = sorted(child for child in path.iterdir() if child.is_file() and not child.name.startswith("."))
            if not inside:
                raise UsageError(f"no files in folder {name}")
            files += inside
        elif path.is_file():
            files.append(path)
        else:
            missing.append(name)
    if missing:
        raise UsageError(f"no such file: {', '.join(missing)}")
    return files


def _rerun(args: argparse.Namespace, results: Sequence[FileResult]) -> str:
    """The command that runs the files a run left unfinished: offline, they went with the cloud;
    on a stack, those in flight go on in AWS, and `pipeline status` follows them."""
    import shlex

    unfinished = [result for result in results if result.status in ("PENDING", "UPLOADED", "RUNNING")]
    if args.stack:
        running = [result for result in unfinished if result.status != "PENDING"]
        waiting = [result.file for result in unfinished if result.status == "PENDING"]
        commands = [f"pipeline status --stack {shlex.quote(args.stack)} --since 1h"] if running else []
        if waiting:
            commands.append(shlex.join(["pipeline", "run", *waiting, "--stack", args.stack,
                                        *(["--prefix", args.prefix] if args.prefix else [])]))
        return " ; ".join(commands) + (" (the files in flight go on in AWS)" if running else "")
    return shlex.join(["pipeline", "run", *(result.file for result in unfinished),
                       *(["--prefix", args.prefix] if args.prefix else []),
                       *(["--template", args.template] if args.template != "template.yaml" else []),
                       *(["--parameter-overrides", *args.parameter_overrides] if args.parameter_overrides else [])])


def _serve(args: argparse.Namespace) -> int:
    from contextlib import contextmanager

    from pipeline.serve import serve, state_kept

    @contextmanager
    def deployed(pages):  # noqa: ANN001, ANN202 - serve's SitePages; an OfflineCloud
        deployment = _offline_deployment(args, host=args.host, port=args.port, front=pages.wrap)
        cloud = _entered(deployment)
        try:
            with state_kept(cloud, args.state):
                yield cloud
        finally:
            deployment.__exit__(None, None, None)

    return serve(deployed, args.template)


def _run_on_stack(args: argparse.Namespace, files: list[Path], progress) -> list[FileResult]:
    from botocore.exceptions import BotoCoreError, ClientError

    from pipeline.clients import Clients
    from pipeline.stack import PipelineStack

    try:
        clients = Clients.aws(region=args.region)
        stack = PipelineStack.discover(clients, args.stack)
    except StackNotFoundError as error:
        raise UsageError(str(error)) from None
    except (BotoCoreError, ClientError) as error:
        raise UsageError(f"cannot reach stack {args.stack!r}: {error}") from None
    if progress:
        print(f"Stack {stack.name}: uploading to s3://{stack.bucket}/{args.prefix}", file=sys.stderr)
    # One ListExecutions a second: executions take seconds in AWS, and the API's quota is low.
    results = run_files(clients, stack, files, prefix=args.prefix, timeout_s=args.timeout, on_result=progress,
                        keep_history=bool(args.report), poll_s=1.0)
    if args.report:
        _write_report(args, results, f"stack {stack.name} (s3://{stack.bucket})", [])
    return results


def _offline_deployment(args: argparse.Namespace, **options: object):  # noqa: ANN202 - OfflineCloud.deploy's
    """OfflineCloud.deploy with the command's offline options (not yet entered)."""
    from pipeline.offline import OfflineCloud
    from pipeline.local.faults import Fault, FaultSyntaxError

    if args.time_scale < 0:
        raise UsageError("--time-scale must be 0 or more")
    try:
        faults = [Fault.parse(text) for text in args.inject]
    except FaultSyntaxError as error:
        raise UsageError(f"--inject {error}") from None
    targets = {fault.target for fault in faults if fault.target}
    if targets and not getattr(args, "empty", False):
        functions = template_functions(Path(args.template))
        unknown = sorted(targets - set(functions))
        if unknown:
            raise UsageError(f"--inject: the template has no function {', '.join(unknown)}; "
                             f"its functions: {', '.join(functions) or 'none'}")
    if getattr(args, "empty", False):
        return OfflineCloud.start(time_scale=args.time_scale, faults=faults, eventbridge_key_form=args.key_form,
                                  **options)
    return OfflineCloud.deploy(args.template, args.parameter_overrides, time_scale=args.time_scale, faults=faults,
                             eventbridge_key_form=args.key_form, **options)


def template_functions(template: Path) -> list[str]:
    """The logical IDs of the template's functions (what --inject names)."""
    from pipeline.template import TemplateError, load_template

    try:
        resources = load_template(template).get("Resources", {})
    except TemplateError as error:
        raise UsageError(str(error)) from None
    return [logical_id for logical_id, resource in resources.items()
            if resource.get("Type") in ("AWS::Serverless::Function", "AWS::Lambda::Function")]


def _entered(deployment):  # noqa: ANN001, ANN202 - an OfflineCloud deployment
    from pipeline.local.moto_version import MotoUnsupported
    from pipeline.template import TemplateError

    try:
        return deployment.__enter__()
    except (TemplateError, MotoUnsupported) as error:
        raise UsageError(str(error)) from None


def _run_offline(args: argparse.Namespace, files: list[Path], progress) -> list[FileResult]:
    deployment = _offline_deployment(args)
    cloud = _entered(deployment)
    try:
        if progress:
            print(f"Offline cloud: deployed {args.template} as stack {cloud.stack.name} "
                  f"(bucket {cloud.stack.bucket})", file=sys.stderr)
            if cloud.not_emulated:
                listed = ", ".join(f"{item.logical_id} ({item.resource_type})" for item in cloud.not_emulated)
                print(f"Offline cloud: not emulated: {listed}", file=sys.stderr)
        results = cloud.run(files, prefix=args.prefix, timeout_s=args.timeout, on_result=progress,
                            keep_history=bool(args.report))
        if progress:
            _print_alarm_actions(cloud, results)
        if args.report:
            _write_report(args, results, f"offline cloud, {args.template}", cloud.runtime.reports)
        return results
    finally:
        deployment.__exit__(None, None, None)


def _print_alarm_actions(cloud, results: Sequence[FileResult]) -> None:  # noqa: ANN001 - an OfflineCloud
    """The alarm's emails too: in AWS they reach the same subscribers as the files' notifications.
    The alarm acts a moment after an execution's end is reported, so give it that moment."""
    import time

    deadline = time.monotonic() + 2
    while any(r.status == "FAILED" for r in results) and not cloud.alarms.history and time.monotonic() < deadline:
        time.sleep(0.01)
    for action in cloud.alarms.history:
        outcome = "emailed the topic" if action.published else f"could not email the topic: {action.reason}"
        print(f"Offline cloud: alarm {action.alarm} went to {action.state} and {outcome} "
              "(once per burst of failures)", file=sys.stderr)


def _write_report(args: argparse.Namespace, results: list[FileResult], source: str, invocations: list) -> None:
    from pipeline.graph import StateGraph
    from pipeline.report import write_report

    try:
        graph = StateGraph.from_template(Path(args.template))
    except (OSError, KeyError, ValueError) as error:
        raise UsageError(f"cannot draw the state machine of {args.template} for the report: {error}") from None
    write_report(Path(args.report), results, graph, source=source, invocations=invocations)


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

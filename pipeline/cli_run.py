"""`pipeline run`: files through the pipeline, in the offline cloud or on a deployed stack; and the
offline cloud as the command's options make it (run and serve)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from pipeline.driver import RunInterrupted, run_files
from pipeline.output import UsageError, interrupted, print_progress, print_results
from pipeline.results import FileResult
from pipeline.stack import StackNotFoundError


def run(args: argparse.Namespace) -> int:
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


def offline_deployment(args: argparse.Namespace, **options: object):  # noqa: ANN202 - OfflineCloud.deploy's
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


def entered(deployment):  # noqa: ANN001, ANN202 - an OfflineCloud deployment
    from pipeline.local.moto_version import MotoUnsupported
    from pipeline.template import TemplateError

    try:
        return deployment.__enter__()
    except (TemplateError, MotoUnsupported) as error:
        raise UsageError(str(error)) from None


def _run_offline(args: argparse.Namespace, files: list[Path], progress) -> list[FileResult]:
    deployment = offline_deployment(args)
    cloud = entered(deployment)
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
    for result in results:
        if result.status == "FAILED" and result.execution_arn:
            cloud.wait_for_report(result.execution_arn, timeout_s=2)
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

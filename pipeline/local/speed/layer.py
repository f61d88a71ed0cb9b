"""SpeedLayer: the speed layer's parts, by name, and how the offline cloud uses each.

Importing this module imports moto's internals: go through pipeline.local.speed.select_layer, which
checks the pinned version first."""

from __future__ import annotations

import gc
import importlib
from collections.abc import Collection, Iterator
from contextlib import ExitStack, contextmanager
from typing import TYPE_CHECKING, Any

from moto.stepfunctions.parser.asl.component.common.path import result_path as moto_result_path
from moto.stepfunctions.parser.asl.component.state.exec import execute_state
from moto.stepfunctions.parser.asl.utils import json_path as moto_json_path

from pipeline.local.patching import Patch, applied
from pipeline.local.plain_layer import PlainLayer
from pipeline.local.speed import direct_calls, moto_patches
from pipeline.local.speed.moto_application import MotoApplication, quick_dispatch

if TYPE_CHECKING:
    from pipeline.clients import Clients
    from pipeline.local.moto_core import LambdaInvoker, TaskClientFactory
    from pipeline.local.plain_layer import ServiceProcess

PARTS = {
    "dynamodb-process": "DynamoDB in a moto server of its own, on the other core",
    "keep-alive": "the handlers' calls served over kept-open connections",
    "server-application": "moto's server application without Flask's per-request routing",
    "quick-dispatch": "response method names and DynamoDB condition and update expressions cached",
    "json-responses": "Step Functions responses written straight to JSON",
    "routed-requests": "in-process requests routed by URL rules compiled once",
    "enriched-responses": "JSON responses not searched for an XML RequestId",
    "account-backends": "a service's backends for an account found without a lock and a scan",
    "parsed-definitions": "state machine definitions parsed once",
    "parsed-paths": "JSONPath expressions parsed once",
    "execution-index": "executions found by ARN and name in an index, not a scan, and listed newest first from it",
    "inline-states": "a task state without TimeoutSeconds evaluated without a thread of its own",
    "inline-programs": "a state machine without TimeoutSeconds run in its execution's thread",
    "execution-threads": "an execution's interpreter run on a kept thread, not a new one",
    "json-copies": "moto's interpreter copies state values (JSON) by type, not with deepcopy",
    "released-interpreters": "an ended execution keeps its history and lets its interpreter go",
    "task-clients": "one boto3 client per region and service for the tasks",
    "direct-lambda": "Lambda tasks call the runtime directly",
    "direct-starts": "EventBridge starts executions in the Step Functions backend",
    "direct-reads": "the driver's ListExecutions and GetExecutionHistory read from the backend",
    "direct-uploads": "the driver's uploads put straight into the S3 backend",
    "direct-metrics": "AWS/States metrics put straight into the CloudWatch backend",
    "fewer-collections": "the deployed cloud frozen out of the garbage collector's sight",
}


def _patches(part: str) -> list[Patch]:
    """The patches into moto that make up a part (none for the parts that are not patches)."""
    p = moto_patches
    by_part = {
        "json-responses": [Patch(p.ActionResult, "execute_result", p.fast_execute_result)],
        "routed-requests": [Patch(p.BotocoreStubber, "process_request", p.routed_request)],
        "enriched-responses": [Patch(p.BaseResponse, "_enrich_response", staticmethod(p.enrich_response))],
        "account-backends": [Patch(p.BackendDict, "__getitem__", p.account_backends)],
        "parsed-definitions": [Patch(p.AmazonStateLanguageParser, "parse", staticmethod(p.cached_parse))],
        "parsed-paths": [Patch(moto_json_path, "parse", p.cached_json_path),
                         Patch(moto_result_path, "parse", p.cached_result_path)],
        "execution-index": [Patch(p.StepFunctionBackend, "describe_execution", p.describe_execution),
                            Patch(p.StepFunctionBackend, "list_executions", p.list_executions),
                            Patch(p.StateMachine, "_handle_name_input_idempotency", p.existing_execution)],
        "inline-states": [Patch(p.ExecutionState, "_evaluate_with_timeout", p.evaluate_state),
                          Patch(execute_state, "Thread", p.state_thread)],
        "inline-programs": [Patch(p.Program, "eval", p.evaluate_program)],
        "execution-threads": [Patch(p.ExecutionWorker, "start", p.start_execution_worker)],
        "json-copies": [Patch(importlib.import_module(module), "copy", p.JSON_COPIES)
                        for module in p.INTERPRETER_COPIES],
    }
    return by_part.get(part, [])


class SpeedLayer(PlainLayer):
    """Every part of PARTS, less the ones named in skip."""

    name = "speed"

    def __init__(self, skip: Collection[str] = ()):
        unknown = set(skip) - set(PARTS)
        if unknown:
            raise ValueError(f"no speed part named {', '.join(sorted(unknown))}; the parts: {', '.join(PARTS)}")
        self.parts = tuple(part for part in PARTS if part not in skip)

    def __contains__(self, part: str) -> bool:
        return part in self.parts

    def services(self) -> dict[str, ServiceProcess]:
        if "dynamodb-process" not in self:
            return {}
        from pipeline.local.speed.dynamodb_process import DynamoDBProcess

        return {"dynamodb": DynamoDBProcess()}

    def application(self) -> Any:
        return MotoApplication() if "server-application" in self else super().application()

    @contextmanager
    def serve(self, app: Any, host: str = "127.0.0.1", port: int = 0) -> Iterator[str]:
        if "keep-alive" not in self:
            with super().serve(app, host, port) as endpoint:
                yield endpoint
            return
        from pipeline.local.speed.keep_alive import KeepAliveServer

        server = KeepAliveServer(app, host, port)
        server.start()
        try:
            yield server.endpoint
        finally:
            server.stop()

    def clients(self, clients: Clients, account_id: str, region: str) -> Clients:
        if "direct-reads" in self:
            clients.stepfunctions = direct_calls.DirectReadsClient(clients.stepfunctions, account_id, region)
        if "direct-uploads" in self:
            clients.s3 = direct_calls.DirectUploadsClient(clients.s3, account_id)
        return clients

    def starter(self, account_id: str, region: str) -> Any:
        if "direct-starts" not in self:
            return None

        def start(state_machine_arn: str, name: str, execution_input: str) -> str:
            return direct_calls.start_execution(account_id, region, state_machine_arn, name, execution_input)

        return start

    def publish_metrics(self, clients: Clients, account_id: str, region: str, namespace: str,
                        metrics: list[dict[str, Any]]) -> None:
        if "direct-metrics" in self:
            direct_calls.put_metric_data(account_id, region, namespace, metrics)
        else:
            super().publish_metrics(clients, account_id, region, namespace, metrics)

    def task_client(self, invoke: LambdaInvoker) -> TaskClientFactory | None:
        if "task-clients" not in self and "direct-lambda" not in self:
            return None
        direct: dict[str, direct_calls.DirectLambdaClient] = {}

        def client(region: str, service: str) -> Any:
            made = (moto_patches.cached_task_client(region, service) if "task-clients" in self
                    else moto_patches.moto_boto_client.boto_client_for(region=region, service=service))
            if service != "lambda" or "direct-lambda" not in self:
                return made
            if region not in direct:
                direct[region] = direct_calls.DirectLambdaClient(made, region, invoke)
            return direct[region]

        return client

    def after_execution_end(self, execution: Any) -> None:
        if "released-interpreters" in self:
            moto_patches.release_interpreter(execution)

    @contextmanager
    def installed(self) -> Iterator[None]:
        patches = [patch for part in self.parts for patch in _patches(part)]
        with ExitStack() as stack:
            stack.enter_context(applied(patches))
            if "quick-dispatch" in self:
                stack.enter_context(quick_dispatch())
            stack.callback(moto_patches.clear_caches)
            yield

    @contextmanager
    def running(self) -> Iterator[None]:
        if "fewer-collections" not in self:
            yield
            return
        # Each execution allocates many short-lived objects, and every full collection would walk
        # the whole of moto: over 1,000 files, collections took 0.58 s with the default
        # thresholds and 0.24 s with these. No collection first: the cloud has just started
        # (pipeline.local.heap), and one would walk the whole heap for a start's little garbage.
        thresholds = gc.get_threshold()
        gc.freeze()
        gc.set_threshold(20_000, 50, 100)
        try:
            yield
        finally:
            gc.set_threshold(*thresholds)
            gc.unfreeze()

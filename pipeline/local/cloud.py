"""LocalCloud: deploy template.yaml into an offline AWS and use it like the real one.

    with LocalCloud.deploy("template.yaml") as cloud:
        result = cloud.run(["samples/sales.csv"])[0]
        result.status, result.states, result.notification

moto provides the services; the real SAM transform turns the template into CloudFormation and
moto's CloudFormation creates the stack; pipeline.local adds what moto lacks (see moto_hooks).
The driver and the handlers reach everything through ordinary boto3 clients, the same that drive
a deployed stack. Inside the cloud, services call each other directly, as they do in AWS.
"""

from __future__ import annotations

import copy
import gc
import json
import os
import logging
import warnings
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipeline.clients import Clients
from pipeline.local import moto_hooks
from pipeline.local.delivery import EventBus, Trail
from pipeline.local.faults import Fault, FaultPlan
from pipeline.local.http_server import KeepAliveServer
from pipeline.local.runtime import FunctionSpec, LambdaRuntime
from pipeline.local.resolver import TemplateResolver
from pipeline.local.service_process import MotoApplication, ServiceProcess
from pipeline.local.template import PackagedTemplate, TemplateError, package, parse_parameter_overrides
from pipeline.stack import PipelineStack

ACCOUNT_ID = "123456789012"
CODE_BUCKET = "offline-cloud-deployment-artifacts"


@dataclass(frozen=True)
class NotEmulated:
    """A template resource the offline cloud does not create, and what that means."""

    logical_id: str
    resource_type: str


class LocalCloud:
    """A deployed stack in the offline cloud, with boto3 clients that reach it."""

    def __init__(self, clients: Clients, stack: PipelineStack, packaged: PackagedTemplate,
                 runtime: LambdaRuntime, bus: EventBus, clock: moto_hooks.ScaledClock,
                 not_emulated: list[NotEmulated], faults: FaultPlan, services: dict[str, ServiceProcess]):
        self.clients = clients
        self.stack = stack
        self.packaged = packaged
        self.runtime = runtime
        self.bus = bus
        self.clock = clock
        self.not_emulated = not_emulated
        self.faults = faults
        self.services = services

    def processes(self) -> dict[str, list[int]]:
        """The offline cloud's processes by role: its own, its service processes, and the
        execution environments of each function (for profiling)."""
        roles: dict[str, list[int]] = {"offline cloud": [os.getpid()]}
        for service, process in self.services.items():
            roles[service] = [process.pid]
        for logical_id, pids in self.runtime.environment_pids().items():
            roles[logical_id] = pids
        return roles

    @classmethod
    @contextmanager
    def deploy(
        cls,
        template: str | Path = "template.yaml",
        parameter_overrides: dict[str, str] | Sequence[str] = (),
        *,
        stack_name: str = "file-pipeline",
        time_scale: float = 1.0,
        region: str = "us-east-1",
        max_environments: int = 4,
        faults: Sequence[Fault] = (),
        optimized: bool = True,
    ) -> Iterator[LocalCloud]:
        """Deploy the template offline, for the length of the block.

        optimized=False leaves out everything pipeline.local adds for speed (caches, direct calls
        between services, the DynamoDB process, kept-open connections): plain moto with the same
        handlers, the baseline of `make bench`.
        """
        from moto import mock_aws

        overrides = (
            dict(parameter_overrides) if isinstance(parameter_overrides, dict)
            else parse_parameter_overrides(list(parameter_overrides))
        )
        with ExitStack() as stack:
            # DynamoDB in a process of its own (see service_process); plain moto keeps it here.
            dynamodb = ServiceProcess() if optimized else None
            if dynamodb is not None:
                stack.callback(dynamodb.close)
            packaged = package(Path(template), overrides, CODE_BUCKET, region)
            stack.enter_context(warnings.catch_warnings())
            warnings.filterwarnings("ignore", message="Tried to parse", category=UserWarning)
            stack.enter_context(mock_aws(config={"stepfunctions": {"execute_state_machine": True}}))
            endpoint = stack.enter_context(_handler_endpoint(optimized))
            clients = Clients.offline(region)
            if optimized:
                clients.stepfunctions = moto_hooks.DirectReadsClient(clients.stepfunctions, ACCOUNT_ID, region)
            runtime = LambdaRuntime(endpoint, region, max_environments)
            stack.callback(runtime.close)
            plan = FaultPlan(list(faults))
            def start_in_backend(state_machine_arn: str, name: str, execution_input: str) -> str:
                return moto_hooks.start_execution(ACCOUNT_ID, region, state_machine_arn, name, execution_input)

            bus = EventBus(ACCOUNT_ID, region, clients, [], plan, start_in_backend if optimized else None)
            clock = moto_hooks.ScaledClock(time_scale)

            def invoke(function_arn: str, event: str) -> tuple[str, bool]:
                fault = plan.take_lambda_fault(runtime.function(function_arn).logical_id)
                if fault == "throttle":
                    raise moto_hooks.TooManyRequestsException("Rate Exceeded.")
                if fault == "service-error":
                    raise moto_hooks.ServiceException("Injected fault: Lambda service error")
                invocation = runtime.invoke(function_arn, event, no_time=fault == "timeout")
                return invocation.payload, invocation.errored

            def before_publish(topic_arn: str) -> None:
                if plan.take("sns-failure"):
                    raise moto_hooks.sns_internal_error()

            def on_execution_end(state_machine_arn: str, status: str, duration_ms: float) -> None:
                metrics = execution_metrics(state_machine_arn, status, duration_ms)
                if optimized:
                    moto_hooks.put_metric_data(ACCOUNT_ID, region, "AWS/States", metrics)
                else:
                    clients.cloudwatch.put_metric_data(Namespace="AWS/States", MetricData=metrics)

            stack.enter_context(moto_hooks.installed(
                invoke=invoke, on_object_write=bus.on_object_write, clock=clock, before_publish=before_publish,
                on_execution_end=on_execution_end, optimized=optimized,
            ))
            skipped_types = _create_stack(clients, packaged, stack_name, overrides)
            deployed = PipelineStack.discover(clients, stack_name)
            resolver = TemplateResolver(packaged.cloudformation, packaged.parameters, deployed.resources,
                                        region, ACCOUNT_ID, stack_name)
            not_emulated = [
                NotEmulated(logical_id, resource["Type"])
                for logical_id, resource in packaged.cloudformation["Resources"].items()
                if resource["Type"] in skipped_types and resolver.condition(resource.get("Condition"))
            ]
            _complete_buckets(clients, packaged, resolver)
            _apply_substitutions(clients, packaged, resolver)
            if dynamodb is not None:
                clients.endpoints["dynamodb"] = dynamodb.endpoint
                _move_tables(clients, dynamodb.endpoint, packaged, resolver)
                runtime.use_endpoint("dynamodb", dynamodb.endpoint)
            bus.trails.extend(_trails(packaged, resolver))
            for spec in _function_specs(clients, packaged, deployed):
                runtime.register(spec)
            if optimized:
                stack.enter_context(_fewer_collections())
            services = {"dynamodb": dynamodb} if dynamodb is not None else {}
            yield cls(clients, deployed, packaged, runtime, bus, clock, not_emulated, plan, services)

    def run(self, files: Sequence[str | Path], prefix: str = "", **options: Any) -> list[Any]:
        """Upload files and follow each to its end (see pipeline.driver.run_files)."""
        from pipeline.driver import run_files

        options.setdefault("poll_s", 0.02)  # offline, polling costs next to nothing
        options.setdefault("eager", True)
        return run_files(self.clients, self.stack, [Path(f) for f in files], prefix=prefix, **options)


EXECUTION_METRICS = {
    "SUCCEEDED": "ExecutionsSucceeded", "FAILED": "ExecutionsFailed",
    "TIMED_OUT": "ExecutionsTimedOut", "ABORTED": "ExecutionsAborted",
}


def execution_metrics(state_machine_arn: str, status: str, duration_ms: float) -> list[dict[str, Any]]:
    """The AWS/States metrics Step Functions publishes for every finished execution."""
    dimensions = [{"Name": "StateMachineArn", "Value": state_machine_arn}]
    return [
        {"MetricName": EXECUTION_METRICS.get(status, "ExecutionsFailed"), "Dimensions": dimensions,
         "Value": 1.0, "Unit": "Count"},
        {"MetricName": "ExecutionTime", "Dimensions": dimensions, "Value": float(duration_ms), "Unit": "Milliseconds"},
    ]


@contextmanager
def _handler_endpoint(optimized: bool) -> Iterator[str]:
    """An HTTP endpoint for the handlers' AWS calls, served by this process's moto."""
    if optimized:  # connections kept open (see http_server)
        server = KeepAliveServer(MotoApplication())
        server.start()
        try:
            yield server.endpoint
        finally:
            server.stop()
        return
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one line per handler request
    plain = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    plain.start()
    host, port = plain.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        plain.stop()


@contextmanager
def _fewer_collections() -> Iterator[None]:
    """Run with the deployed cloud out of the garbage collector's sight, and collect less often.

    Each execution allocates many short-lived objects, and every full collection would walk the
    whole of moto: over 1,000 files, collections took 0.58 s with the default thresholds and
    0.24 s with these."""
    thresholds = gc.get_threshold()
    gc.collect()
    gc.freeze()
    gc.set_threshold(20_000, 50, 100)
    try:
        yield
    finally:
        gc.set_threshold(*thresholds)
        gc.unfreeze()


def _create_stack(clients: Clients, packaged: PackagedTemplate, stack_name: str,
                  overrides: dict[str, str]) -> set[str]:
    """Create the stack in moto's CloudFormation; returns the resource types it skipped."""
    clients.s3.create_bucket(Bucket=CODE_BUCKET)
    for function in packaged.functions.values():
        clients.s3.put_object(Bucket=CODE_BUCKET, Key=function.zip_key, Body=function.zip_bytes)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        clients.cloudformation.create_stack(
            StackName=stack_name,
            TemplateBody=json.dumps(_for_moto(packaged.cloudformation)),
            Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in overrides.items()],
            Capabilities=["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM", "CAPABILITY_AUTO_EXPAND"],
        )
    status = clients.cloudformation.describe_stacks(StackName=stack_name)["Stacks"][0]["StackStatus"]
    if status != "CREATE_COMPLETE":
        raise TemplateError(f"offline deploy of {packaged.source.name} ended in {status}")
    return {
        str(warning.message).split("Tried to parse ", 1)[1].split(" but", 1)[0]
        for warning in caught
        if "Tried to parse" in str(warning.message)
    }


def _for_moto(cloudformation: dict[str, Any]) -> dict[str, Any]:
    """moto's Fn::Sub mangles "$$" (it is string.Template, applied once per variable), so state
    machines are created without DefinitionSubstitutions; _apply_substitutions sets them after."""
    adapted = copy.deepcopy(cloudformation)
    for resource in adapted["Resources"].values():
        if resource["Type"] == "AWS::StepFunctions::StateMachine":
            resource.get("Properties", {}).pop("DefinitionSubstitutions", None)
    return adapted


def _apply_substitutions(clients: Clients, packaged: PackagedTemplate, resolver: TemplateResolver) -> None:
    """Substitute ${Name} placeholders as CloudFormation does, then update the state machine."""
    for logical_id, resource in packaged.resources_of_type("AWS::StepFunctions::StateMachine").items():
        properties = resource.get("Properties", {})
        substitutions = resolver.resolve(properties.get("DefinitionSubstitutions", {}))
        if not substitutions:
            continue
        definition = resolver.resolve(properties["DefinitionString"])
        for name, value in substitutions.items():
            definition = definition.replace("${" + name + "}", str(value))
        clients.stepfunctions.update_state_machine(
            stateMachineArn=resolver.resolve({"Ref": logical_id}), definition=definition
        )


def _complete_buckets(clients: Clients, packaged: PackagedTemplate, resolver: TemplateResolver) -> None:
    """Apply the bucket settings moto's CloudFormation ignores, through the public S3 API."""
    for logical_id, resource in packaged.resources_of_type("AWS::S3::Bucket").items():
        if not resolver.condition(resource.get("Condition")):
            continue
        bucket = resolver.resolve({"Ref": logical_id})
        applied = ("VersioningConfiguration", "PublicAccessBlockConfiguration", "NotificationConfiguration")
        properties = resolver.resolve({k: v for k, v in resource.get("Properties", {}).items() if k in applied})
        if "VersioningConfiguration" in properties:
            clients.s3.put_bucket_versioning(
                Bucket=bucket, VersioningConfiguration={"Status": properties["VersioningConfiguration"]["Status"]}
            )
        if "PublicAccessBlockConfiguration" in properties:
            clients.s3.put_public_access_block(
                Bucket=bucket, PublicAccessBlockConfiguration=properties["PublicAccessBlockConfiguration"]
            )
        notification = properties.get("NotificationConfiguration", {})
        if notification.get("EventBridgeConfiguration", {}).get("EventBridgeEnabled") in (True, "true"):
            clients.s3.put_bucket_notification_configuration(
                Bucket=bucket, NotificationConfiguration={"EventBridgeConfiguration": {}}
            )
    # Bucket policies stay unapplied (and are reported as not emulated): moto evaluates their
    # Deny statements but not their conditions, so DenyInsecureTransport would deny everything.


def _move_tables(clients: Clients, endpoint: str, packaged: PackagedTemplate, resolver: TemplateResolver) -> None:
    """Create each table CloudFormation created in the DynamoDB at endpoint: keys, billing and
    indexes as moto's CloudFormation made them, encryption, TTL and PITR (which moto's
    CloudFormation ignores) from the template."""
    source = clients.session.client("dynamodb")
    target = clients.session.client("dynamodb", endpoint_url=endpoint)
    for logical_id, resource in packaged.resources_of_type("AWS::DynamoDB::Table").items():
        if not resolver.condition(resource.get("Condition")):
            continue
        name = resolver.resolve({"Ref": logical_id})
        table = source.describe_table(TableName=name)["Table"]
        properties = resolver.resolve(resource.get("Properties", {}))
        definition: dict[str, Any] = {
            "TableName": name,
            "KeySchema": table["KeySchema"],
            "AttributeDefinitions": table["AttributeDefinitions"],
            "BillingMode": table.get("BillingModeSummary", {}).get("BillingMode", "PAY_PER_REQUEST"),
        }
        if definition["BillingMode"] == "PROVISIONED":
            throughput = table["ProvisionedThroughput"]
            definition["ProvisionedThroughput"] = {
                "ReadCapacityUnits": throughput["ReadCapacityUnits"],
                "WriteCapacityUnits": throughput["WriteCapacityUnits"],
            }
        for index_kind in ("GlobalSecondaryIndexes", "LocalSecondaryIndexes"):
            if table.get(index_kind):
                definition[index_kind] = [
                    {key: index[key] for key in ("IndexName", "KeySchema", "Projection") if key in index}
                    for index in table[index_kind]
                ]
        sse = properties.get("SSESpecification", {})
        if sse.get("SSEEnabled") in (True, "true"):
            definition["SSESpecification"] = {"Enabled": True, "SSEType": sse.get("SSEType", "KMS"),
                                              **({"KMSMasterKeyId": sse["KMSMasterKeyId"]}
                                                 if sse.get("KMSMasterKeyId") else {})}
        target.create_table(**definition)
        ttl = properties.get("TimeToLiveSpecification", {})
        if ttl.get("Enabled") in (True, "true"):
            target.update_time_to_live(TableName=name, TimeToLiveSpecification={
                "Enabled": True, "AttributeName": ttl["AttributeName"]})
        if properties.get("PointInTimeRecoverySpecification", {}).get("PointInTimeRecoveryEnabled") in (True, "true"):
            target.update_continuous_backups(TableName=name, PointInTimeRecoverySpecification={
                "PointInTimeRecoveryEnabled": True})


def _trails(packaged: PackagedTemplate, resolver: TemplateResolver) -> list[Trail]:
    """Trails whose condition holds, with the object ARN prefixes their selectors log."""
    trails = []
    for logical_id, resource in packaged.resources_of_type("AWS::CloudTrail::Trail").items():
        if not resolver.condition(resource.get("Condition")):
            continue
        prefixes = []
        for selector in resolver.resolve(resource.get("Properties", {}).get("AdvancedEventSelectors", [])):
            for field in selector.get("FieldSelectors", []):
                if field.get("Field") == "resources.ARN":
                    prefixes.extend(field.get("StartsWith", []))
        trails.append(Trail(logical_id, tuple(prefixes)))
    return trails


def _function_specs(clients: Clients, packaged: PackagedTemplate, stack: PipelineStack) -> list[FunctionSpec]:
    specs = []
    for logical_id, function in packaged.functions.items():
        physical = stack.resources[logical_id]
        config = clients.lambda_.get_function_configuration(FunctionName=physical)
        specs.append(FunctionSpec(
            logical_id=logical_id,
            name=config["FunctionName"],
            arn=config["FunctionArn"],
            code_dir=function.code_dir,
            handler=config["Handler"],
            runtime=config["Runtime"],
            timeout_s=float(config["Timeout"]),
            memory_mb=int(config["MemorySize"]),
            # CloudFormation passes Number parameters through as strings; moto keeps the number.
            environment={k: str(v) for k, v in config.get("Environment", {}).get("Variables", {}).items()},
        ))
    return specs

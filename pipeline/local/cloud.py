"""LocalCloud: deploy template.yaml into an offline AWS and use it like the real one.

    with LocalCloud.deploy("template.yaml") as cloud:
        result = cloud.run(["samples/sales.csv"])[0]
        result.status, result.states, result.notification

moto provides the services; the real SAM transform turns the template into CloudFormation and
moto's CloudFormation creates the stack; pipeline.local adds what moto lacks (see moto_core), and a speed layer (see speed).
The driver and the handlers reach everything through ordinary boto3 clients, the same that drive
a deployed stack. Inside the cloud, services call each other directly, as they do in AWS.
"""

from __future__ import annotations

import copy
import json
import os
import re
import tempfile
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pipeline.clients import Clients
from pipeline.local import alarms as cloudwatch_alarms
from pipeline.local import validation
from pipeline.local.access import AccessControl, from_template, table_encryption
from pipeline.local.change_sets import (
    Processed, StackRecords, ValidationError, moto_skipped_types, present, process as process_template,
    resolve_parameters,
)
from pipeline.local.deploy_rules import NOT_SUPPORTED_OFFLINE, DeployContext, Refusal, check as deploy_refusals
from pipeline.local.gatekeeper import Gatekeeper
from pipeline.local.task_calls import TaskAuthority
from pipeline.local.delivery import EventBus, Trail
from pipeline.local.emf import metrics_in
from pipeline.local.faults import Fault, FaultPlan
from pipeline.local.forwarding import Forwarding
from pipeline.local.runtime import FunctionSpec, LambdaRuntime, RequestTooLarge, Stopped, Throttled
from pipeline.local.resolver import TemplateResolver
from pipeline.local.moto_version import PINNED_MOTO, load_core, select_layer, unsupported
from pipeline.local.patching import MotoChanged
from pipeline.local.plain_layer import PlainLayer
from pipeline.local.template import PackagedLayer, PackagedTemplate, package
from pipeline.template import TemplateError, parse_parameter_overrides
from pipeline.stack import PipelineStack, StackNotFoundError

if TYPE_CHECKING:
    from pipeline.local.moto_core import ScaledClock
    from pipeline.local.speed.dynamodb_process import ServiceProcess

ACCOUNT_ID = "123456789012"
CODE_BUCKET = "offline-cloud-deployment-artifacts"


# Types moto's CloudFormation skips that the offline cloud itself applies: resource policies are
# enforced by pipeline.local.access, and trails drive delivery's CloudTrail events.
EMULATED_HERE = frozenset({"AWS::S3::BucketPolicy", "AWS::SNS::TopicPolicy", "AWS::SQS::QueuePolicy",
                           "AWS::CloudTrail::Trail", "AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"})


class DeployRefused(TemplateError):
    """The template breaks a rule AWS enforces at deploy time (the stack would roll back), or
    holds what the offline cloud cannot run."""


def _refused(template_name: str, refusals: list[Refusal]) -> DeployRefused:
    who = "the offline cloud cannot run" if refusals[0].code == NOT_SUPPORTED_OFFLINE else "AWS would refuse to deploy"
    more = f" (and {len(refusals) - 1} more)" if len(refusals) > 1 else ""
    return DeployRefused(f"{who} {template_name}: {refusals[0].line()}{more}")


STACK_NAME = re.compile(r"[a-zA-Z][-a-zA-Z0-9]{0,127}")


@dataclass(frozen=True)
class NotEmulated:
    """A template resource the offline cloud does not create, and what that means."""

    logical_id: str
    resource_type: str


class LocalCloud:
    """The offline cloud, and the pipeline stack deployed in it (if any), with boto3 clients that reach it."""

    def __init__(self, clients: Clients, runtime: LambdaRuntime, bus: EventBus, clock: ScaledClock,
                 faults: FaultPlan, services: dict[str, ServiceProcess], layer: PlainLayer, core: Any,
                 gatekeeper: Gatekeeper, tasks: TaskAuthority, exits: ExitStack, code_root: Path):
        self.clients = clients
        self.runtime = runtime
        self.bus = bus
        self.clock = clock
        self.faults = faults
        self.services = services
        self.layer = layer
        self.endpoint = ""  # where AWS clients reach the cloud
        self.forwarding = Forwarding(gatekeeper)  # the services another process serves (set by start)
        self.stack: PipelineStack | None = None  # the pipeline stack the cloud runs, once one is deployed
        self.packaged: PackagedTemplate | None = None
        self.not_emulated: list[NotEmulated] = []
        self.access = AccessControl(ACCOUNT_ID, clients.region)
        self.alarms = cloudwatch_alarms.Alarms([], self.access, lambda *_: None)
        self._core = core
        self._gatekeeper = gatekeeper
        self._tasks = tasks
        self._exits = exits
        self._code_root = code_root
        self._running = False
        self._moved_tables: list[str] = []
        self.template_stack: str | None = None  # the stack deploy made from a template file, if any
        self.deployments = 0  # stacks applied or withdrawn so far (pipeline serve says when it changes)
        self.records = StackRecords()  # what CloudFormation was given for each stack (moto_change_sets)

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
        **options: Any,
    ) -> Iterator[LocalCloud]:
        """Deploy the template offline, for the length of the block (options: those of start).

        As `sam deploy` would: packaged, transformed, created by CloudFormation; DeployRefused when
        AWS would refuse the template, a TemplateError when it is not a file pipeline."""
        if not STACK_NAME.fullmatch(stack_name):  # CloudFormation API Reference, CreateStack: StackName
            raise DeployRefused(f"stack name {stack_name!r}: ValidationException: a stack name starts with a letter, "
                                "holds only letters, digits and hyphens, and has at most 128 characters")
        overrides = (
            dict(parameter_overrides) if isinstance(parameter_overrides, dict)
            else parse_parameter_overrides(list(parameter_overrides))
        )
        with cls.start(**options) as cloud:
            packaged = package(Path(template), overrides, CODE_BUCKET, cloud.clients.region)
            try:
                parameters = resolve_parameters(packaged.cloudformation.get("Parameters", {}), [
                    {"ParameterKey": k, "ParameterValue": v} for k, v in overrides.items()], None)
            except ValidationError as error:
                raise TemplateError(f"{packaged.source.name}: ValidationError: {error}") from None
            refusals = validation.refusals(packaged.cloudformation, parameters, cloud.clients.region, ACCOUNT_ID,
                                           stack_name)
            if refusals:
                raise _refused(packaged.source.name, refusals)
            skipped_types, names = _create_stack(cloud.clients, packaged, stack_name, parameters)
            refusals = cloud.apply(stack_name, packaged, skipped_types)
            if refusals:
                raise _refused(packaged.source.name, refusals)
            # As if submitted to CloudFormation: a later `sam deploy` to the stack is an update of it.
            stack_id = cloud.clients.cloudformation.describe_stacks(StackName=stack_name)["Stacks"][0]["StackId"]
            cloud.records.current[stack_id] = Processed(packaged.source.read_text(encoding="utf-8"), parameters,
                                                        packaged.cloudformation, packaged, names)
            cloud.template_stack = stack_name
            yield cloud

    @classmethod
    @contextmanager
    def start(
        cls,
        *,
        time_scale: float = 1.0,
        region: str = "us-east-1",
        max_environments: int = 4,
        faults: Sequence[Fault] = (),
        fast: bool | None = None,
        layer: PlainLayer | None = None,
        eventbridge_key_form: str = "form",
        host: str = "127.0.0.1",
        port: int = 0,
        front: Callable[[Any], Any] | None = None,
    ) -> Iterator[LocalCloud]:
        """The offline cloud with no stack, for the length of the block: CloudFormation deploys into
        it as into AWS (deploy, or `sam deploy` at its endpoint through `pipeline serve`).

        eventbridge_key_form says how S3 EventBridge events carry the key, "form" (encoded) or
        "raw": AWS does not document which (see pipeline.events.s3_object_created).
        fast=False runs without the speed layer (pipeline.local.speed): the core alone, with the
        same handlers and the same enforcement. By default the layer is on unless the environment
        has PIPELINE_OFFLINE_FAST=0; layer gives one outright (make bench leaves parts out).
        host and port: where the cloud's endpoint listens (the handlers' calls, and any AWS
        client's: `pipeline serve`); port 0 takes a free one. front wraps the endpoint's WSGI
        application (pipeline serve adds its live page).
        """
        from moto import mock_aws

        core = load_core()
        layer = layer or select_layer(fast)
        with ExitStack() as stack:
            dynamodb = layer.dynamodb_process()  # started first: it comes up while moto starts
            if dynamodb is not None:
                stack.callback(dynamodb.close)
            stack.enter_context(warnings.catch_warnings())
            warnings.filterwarnings("ignore", message="Tried to parse", category=UserWarning)
            stack.enter_context(mock_aws(config={"stepfunctions": {"execute_state_machine": True}}))
            gatekeeper = Gatekeeper(layer.application())
            forwarding = Forwarding(gatekeeper)
            try:
                endpoint = stack.enter_context(layer.serve(front(forwarding) if front else forwarding, host, port))
            except OSError as error:
                raise TemplateError(f"cannot listen on {host}:{port}: {error.strerror or error}") from None
            clients = layer.clients(Clients.offline(region), ACCOUNT_ID, region)
            runtime = LambdaRuntime(endpoint, region, max_environments)
            stack.callback(runtime.close)
            code_root = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="pipeline-deployed-code-")))
            plan = FaultPlan(list(faults))
            bus = EventBus(ACCOUNT_ID, region, clients, [], plan, layer.starter(ACCOUNT_ID, region))
            bus.key_form = eventbridge_key_form
            bus.on_lost = lambda rule_name: _count_lost_event(clients, rule_name)
            services = {"dynamodb": dynamodb} if dynamodb is not None else {}
            tasks = TaskAuthority()
            cloud = cls(clients, runtime, bus, core.ScaledClock(time_scale), plan, services, layer, core, gatekeeper,
                        tasks, stack, code_root)
            cloud.endpoint = endpoint
            cloud.forwarding = forwarding

            def invoke(function_arn: str, event: str) -> tuple[str, bool]:
                fault = plan.take_lambda_fault(runtime.function(function_arn).logical_id)
                if fault == "throttle":
                    raise core.TooManyRequestsException("Rate Exceeded.")
                if fault == "service-error":
                    raise core.ServiceException("Injected fault: Lambda service error")
                try:
                    invocation = runtime.invoke(function_arn, event, no_time=fault == "timeout")
                except Throttled:  # the function's reserved concurrency is in use (Lambda answers 429)
                    raise core.TooManyRequestsException("Rate Exceeded.") from None
                except RequestTooLarge as error:
                    raise core.RequestTooLargeException(str(error)) from None
                except Stopped:
                    raise core.ServiceException("The offline cloud is stopping") from None
                for namespace, metrics in metrics_in(invocation.report.logs).items():  # as CloudWatch Logs extracts them
                    layer.publish_metrics(clients, ACCOUNT_ID, region, namespace, metrics)
                return invocation.payload, invocation.errored

            def before_publish(topic_arn: str) -> None:
                if plan.take("sns-failure"):
                    raise core.sns_internal_error()

            def on_execution_end(state_machine_arn: str, status: str, duration_ms: float) -> None:
                metrics = execution_metrics(state_machine_arn, status, duration_ms)
                layer.publish_metrics(clients, ACCOUNT_ID, region, "AWS/States", metrics)
                for metric in metrics:
                    cloud.alarms.on_metric("AWS/States", metric["MetricName"],
                                           {d["Name"]: d["Value"] for d in metric["Dimensions"]}, metric["Value"])

            try:
                stack.enter_context(core.installed(
                    invoke=invoke, on_object_write=bus.on_object_write, clock=cloud.clock,
                    before_publish=before_publish, on_execution_end=on_execution_end, authorize_task=tasks,
                    task_client=layer.task_client(invoke), after_execution_end=layer.after_execution_end,
                    deployments=cloud, endpoints=forwarding.endpoints, alarm_history=lambda: cloud.alarms.items,
                ))
            except MotoChanged as error:
                raise unsupported(error) from None
            try:
                stack.enter_context(layer.installed())
            except MotoChanged as error:  # only with the pinned moto, so a bug in the speed layer
                raise RuntimeError(f"the speed layer no longer fits moto {PINNED_MOTO}: {error}; "
                                   "PIPELINE_OFFLINE_FAST=0 runs without it") from None
            stack.callback(cloud.stop_running)  # first, while every hook is still in place
            yield cloud

    def apply(self, stack_name: str, packaged: PackagedTemplate, skipped_types: set[str]) -> list[Refusal]:
        """Run the pipeline stack CloudFormation has just created or updated: its functions, rules,
        trails, alarms and permissions take effect. Returns what AWS would refuse instead (and then
        changes nothing); a TemplateError if the stack is not a file pipeline."""
        clients, region = self.clients, self.clients.region
        try:
            deployed = PipelineStack.discover(clients, stack_name)
        except StackNotFoundError as error:
            raise TemplateError(f"{packaged.source.name} deploys, but {error}") from None
        resolver = TemplateResolver(packaged.cloudformation, packaged.parameters, deployed.resources,
                                    region, ACCOUNT_ID, stack_name)
        not_emulated = [
            NotEmulated(logical_id, resource["Type"])
            for logical_id, resource in packaged.cloudformation["Resources"].items()
            if resource["Type"] in skipped_types - EMULATED_HERE and resolver.condition(resource.get("Condition"))
            and not (resource["Type"] == "AWS::CloudWatch::Alarm"
                     and cloudwatch_alarms.emulated(resolver.resolve(resource.get("Properties", {}))))
        ]
        access = from_template(packaged.cloudformation, resolver, ACCOUNT_ID, region, self._core.aws_managed_policy)
        refusals = deploy_refusals(DeployContext(packaged.cloudformation, resolver, access, stack_name))
        if refusals:
            return refusals
        self._use_access(access)

        def publish_alarm(topic: str, subject: str, message: str) -> None:
            with self.faults.spared():  # an injected sns-failure is for the state machine's Notify task
                clients.sns.publish(TopicArn=topic, Subject=subject, Message=message)

        def alarm_changed(alarm: cloudwatch_alarms.Alarm, reason: str) -> None:
            clients.cloudwatch.set_alarm_state(AlarmName=alarm.name, StateValue=alarm.state, StateReason=reason)

        self._delete_alarms()
        self.alarms = cloudwatch_alarms.from_template(
            packaged.cloudformation, resolver, access, publish_alarm,
            lambda logical_id: generated_name(stack_name, logical_id, 255), alarm_changed)
        for alarm in self.alarms.alarms:  # as CloudFormation creates them: visible to DescribeAlarms
            clients.cloudwatch.put_metric_alarm(**put_metric_alarm(alarm))
        _complete_buckets(clients, packaged, resolver)
        _apply_substitutions(clients, packaged, resolver)
        dynamodb = self.services.get("dynamodb")
        if dynamodb is not None:
            # One DynamoDB for every caller: functions, tasks, the cloud's clients, AWS clients.
            clients.endpoints["dynamodb"] = self.forwarding.endpoints["dynamodb"] = dynamodb.endpoint
            self._moved_tables = [name for name, _ in _tables(packaged, resolver)]  # before: withdraw drops them
            _move_tables(clients, dynamodb.endpoint, packaged, resolver)
            self.runtime.use_endpoint("dynamodb", dynamodb.endpoint)
        else:
            _complete_tables(clients.dynamodb, packaged, resolver, set_encryption=self._core.set_table_encryption)
        self.bus.trails[:] = _trails(packaged, resolver)
        # Every environment of the previous deployment goes: its credentials belong to that one.
        self.runtime.replace(_function_specs(clients, packaged, deployed, access, self._code_root))
        if dynamodb is not None:
            dynamodb.use_access_control(access)  # with the functions' credentials
        self.stack, self.packaged, self.not_emulated = deployed, packaged, not_emulated
        self.deployments += 1
        if not self._running:
            self._exits.enter_context(self.layer.running())
            self._running = True
        return []

    def withdraw(self, stack_name: str) -> None:
        """Stop running the pipeline stack (before CloudFormation deletes it, or when its creation
        rolls back, however far apply got): no function, trail, alarm or permission of it is left."""
        if self.stack is not None and self.stack.name != stack_name:
            return  # another stack's: this one never ran
        was_running = self.stack is not None
        self.runtime.replace([])
        self.bus.trails[:] = []
        dynamodb = self.services.get("dynamodb")
        if dynamodb is not None:  # the tables moved there go with the stack (moto deletes its own)
            target = self.clients.session.client("dynamodb", endpoint_url=dynamodb.endpoint)
            for name in self._moved_tables:
                try:
                    target.delete_table(TableName=name)
                except target.exceptions.ResourceNotFoundException:
                    pass
            self._moved_tables = []
        self._use_access(AccessControl(ACCOUNT_ID, self.clients.region))
        self._delete_alarms()
        self.alarms = cloudwatch_alarms.Alarms([], self.access, lambda *_: None)
        self.stack = self.packaged = None
        self.not_emulated = []
        if was_running:
            self.deployments += 1

    def _delete_alarms(self) -> None:
        names = [alarm.name for alarm in self.alarms.alarms]
        if names:
            self.clients.cloudwatch.delete_alarms(AlarmNames=names)

    def stop_running(self) -> None:
        """As the cloud goes (at the end of a run, or on Ctrl-C): no more waiting between retries,
        the executions still running stopped, and the functions' environments ended, so that
        every execution thread has finished before moto is restored. The services still answer
        (pipeline serve --state saves them then); once is enough, and more does no harm."""
        self.clock.scale = 0
        self._core.stop_executions(ACCOUNT_ID, self.clients.region, timeout_s=0)
        self.runtime.close()
        self._core.stop_executions(ACCOUNT_ID, self.clients.region, timeout_s=10)

    def _use_access(self, access: AccessControl) -> None:
        """Whose calls are allowed, everywhere the cloud checks them."""
        self.access = access
        self._gatekeeper.use(access)
        self._tasks.access = self.bus.access = access

    # -- for `sam deploy` (pipeline.local.moto_change_sets) -------------------------------------

    def process(self, body: str, parameters: dict[str, str], read: Any, stack_name: str) -> Processed:
        """A template submitted to CloudFormation, transformed, with its functions' code at hand,
        and what CloudFormation or a service would refuse in it (pipeline.local.validation)."""
        processed = process_template(body, parameters, self.clients.region, read, self._code_root)
        processed.refusals = validation.refusals(processed.cloudformation, parameters, self.clients.region,
                                                 ACCOUNT_ID, stack_name)
        return processed

    def moto_template(self, processed: Processed, stack_name: str, previous: Processed | None) -> dict[str, Any]:
        if processed.package is None:
            return processed.cloudformation
        template = _for_moto(processed.cloudformation, stack_name, previous.names if previous else {})
        # moto's update compares resources, not conditions: it gets only those whose condition holds.
        template["Resources"] = {logical_id: template["Resources"][logical_id] for logical_id in present(
            processed, (self.clients.region, ACCOUNT_ID, stack_name))}
        processed.names = _generated_names(template)
        return template

    def apply_processed(self, stack_name: str, processed: Processed, skipped_types: set[str]) -> list[Refusal]:
        if processed.package is None:  # no application to run (SAM's own artifacts stack, for one)
            self.withdraw(stack_name)  # if it ran one before this update, it runs none now
            return []
        refused = self.cannot_run(stack_name)
        if refused:
            raise TemplateError(refused)
        return self.apply(stack_name, processed.package, skipped_types)

    def physical_id(self, stack_name: str, logical_id: str) -> str | None:
        """The name the offline cloud gave a resource it applies itself (an alarm), if any."""
        if self.stack is None or self.stack.name != stack_name:
            return None
        return next((alarm.name for alarm in self.alarms.alarms if alarm.logical_id == logical_id), None)

    def cannot_run(self, stack_name: str) -> str | None:
        """Why the cloud cannot run this application stack as well (None: it can)."""
        if self.stack is not None and self.stack.name != stack_name:
            return (f"The offline cloud runs one pipeline stack at a time, and {self.stack.name} is deployed "
                    f"(sam delete --stack-name {self.stack.name} first)")
        return None

    def run(self, files: Sequence[str | Path], prefix: str = "", **options: Any) -> list[Any]:
        """Upload files and follow each to its end (see pipeline.driver.run_files)."""
        from pipeline.driver import run_files

        options.setdefault("poll_s", 0.02)  # offline, polling costs next to nothing
        options.setdefault("eager", True)
        return run_files(self.clients, self.stack, [Path(f) for f in files], prefix=prefix, **options)


def put_metric_alarm(alarm: cloudwatch_alarms.Alarm) -> dict[str, Any]:
    """PutMetricAlarm's parameters for an alarm of the template (CloudFormation passes numbers as text)."""
    properties = alarm.properties
    found: dict[str, Any] = {"AlarmName": alarm.name, "Namespace": alarm.namespace, "MetricName": alarm.metric,
                             "Dimensions": [{"Name": k, "Value": v} for k, v in alarm.dimensions.items()],
                             "Statistic": properties.get("Statistic", "Sum"), "Period": alarm.period_s,
                             "EvaluationPeriods": int(properties.get("EvaluationPeriods", 1)),
                             "Threshold": alarm.threshold, "ComparisonOperator": alarm.comparison}
    for name in ("AlarmDescription", "TreatMissingData", "AlarmActions", "OKActions", "InsufficientDataActions",
                 "Unit"):
        if properties.get(name):
            found[name] = properties[name]
    if "ActionsEnabled" in properties:
        found["ActionsEnabled"] = str(properties["ActionsEnabled"]).lower() == "true"
    return found


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


def _count_lost_event(clients: Clients, rule_name: str) -> None:
    """The metric EventBridge publishes for an event it could send neither to its target nor to
    the target's dead-letter queue (EventBridge User Guide, "Monitoring Amazon EventBridge")."""
    clients.cloudwatch.put_metric_data(Namespace="AWS/Events", MetricData=[{
        "MetricName": "InvocationsFailedToBeSentToDlq", "Dimensions": [{"Name": "RuleName", "Value": rule_name}],
        "Value": 1.0, "Unit": "Count"}])


def _create_stack(clients: Clients, packaged: PackagedTemplate, stack_name: str,
                  parameters: dict[str, str]) -> tuple[set[str], dict[str, str]]:
    """Create the stack in moto's CloudFormation; returns the resource types it skipped and the
    names given to its resources (_for_moto)."""
    template = _for_moto(packaged.cloudformation, stack_name)
    clients.s3.create_bucket(Bucket=CODE_BUCKET)
    for code in [*packaged.functions.values(), *packaged.layers.values()]:
        clients.s3.put_object(Bucket=CODE_BUCKET, Key=code.zip_key, Body=code.zip_bytes)
    with moto_skipped_types() as skipped:
        try:
            clients.cloudformation.create_stack(
                StackName=stack_name,
                TemplateBody=json.dumps(template),
                Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in parameters.items()],
                Capabilities=["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM", "CAPABILITY_AUTO_EXPAND"],
            )
        except Exception as error:  # noqa: BLE001 - whatever moto raises, one line and no traceback
            reason = getattr(error, "response", {}).get("Error", {}).get("Message") or f"{type(error).__name__}: {error}"
            raise TemplateError(f"the offline cloud could not create {packaged.source.name}: "
                                f"{reason.splitlines()[0][:500]}") from None
    status = clients.cloudformation.describe_stacks(StackName=stack_name)["Stacks"][0]["StackStatus"]
    if status != "CREATE_COMPLETE":
        raise TemplateError(f"offline deploy of {packaged.source.name} ended in {status}")
    return skipped, _generated_names(template)


# Name properties CloudFormation fills in when a template leaves them out, and their limits.
GENERATED_NAMES = {"AWS::StepFunctions::StateMachine": ("StateMachineName", 80), "AWS::Events::Rule": ("Name", 64)}


def _for_moto(cloudformation: dict[str, Any], stack_name: str, names: dict[str, str] | None = None) -> dict[str, Any]:
    """The template as moto's CloudFormation can create it as AWS would.

    moto's Fn::Sub mangles "$$" (it is string.Template, applied once per variable), so state
    machines are created without DefinitionSubstitutions; _apply_substitutions sets them after.
    moto names a resource stack-logicalId-random without a limit; CloudFormation shortens the
    stack name and logical ID so that the name fits the resource's limit (CloudFormation User
    Guide, "Name type"), so those names are given here, and an update keeps them (names)."""
    adapted = copy.deepcopy(cloudformation)
    for logical_id, resource in adapted["Resources"].items():
        properties = resource.setdefault("Properties", {})
        if resource["Type"] == "AWS::StepFunctions::StateMachine":
            properties.pop("DefinitionSubstitutions", None)
        if resource["Type"] in GENERATED_NAMES:
            name_property, limit = GENERATED_NAMES[resource["Type"]]
            properties.setdefault(name_property, (names or {}).get(logical_id)
                                  or generated_name(stack_name, logical_id, limit))
    return adapted


def _generated_names(template: dict[str, Any]) -> dict[str, str]:
    return {logical_id: resource["Properties"][GENERATED_NAMES[resource["Type"]][0]]
            for logical_id, resource in template["Resources"].items() if resource["Type"] in GENERATED_NAMES}


def generated_name(stack_name: str, logical_id: str, limit: int) -> str:
    """stack-logicalId-SUFFIX, with stack name and logical ID shortened to fit limit (the suffix
    the same for the same stack and resource: moto_core.stable_suffix)."""
    from pipeline.local.moto_core import stable_suffix

    suffix = stable_suffix(stack_name, logical_id)
    room = limit - len(suffix) - 2
    stack_part = stack_name[: max(room - min(len(logical_id), room // 2), room // 2)]
    logical_part = logical_id[: room - len(stack_part)]
    return f"{stack_part}-{logical_part}-{suffix}"


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
    # Bucket policies are not given to moto, which evaluates their Deny statements without their
    # conditions (DenyInsecureTransport would deny everything); pipeline.local.access enforces them.


def _move_tables(clients: Clients, endpoint: str, packaged: PackagedTemplate, resolver: TemplateResolver) -> None:
    """Create each table CloudFormation created in the DynamoDB at endpoint: keys, billing and
    indexes as moto's CloudFormation made them, then the settings of _complete_tables."""
    source = clients.session.client("dynamodb")
    target = clients.session.client("dynamodb", endpoint_url=endpoint)
    existing = set(target.list_tables()["TableNames"])
    for name, properties in _tables(packaged, resolver):
        if name in existing:  # an update: the table keeps its items, as a table CloudFormation updates does
            continue
        table = source.describe_table(TableName=name)["Table"]
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
        encryption = table_encryption(properties)
        if encryption:
            definition["SSESpecification"] = encryption
        target.create_table(**definition)
    _complete_tables(target, packaged, resolver)


def _complete_tables(dynamodb: Any, packaged: PackagedTemplate, resolver: TemplateResolver,
                     set_encryption: Callable[..., None] | None = None) -> None:
    """Apply the table settings moto's CloudFormation ignores (TTL, point-in-time recovery, and for
    a table it created, encryption), from the template, through the public DynamoDB API where it
    can: UpdateTable cannot set encryption in moto, so for a table moto's CloudFormation created,
    set_encryption (a core hook) sets it."""
    for name, properties in _tables(packaged, resolver):
        encryption = table_encryption(properties)
        if set_encryption is not None and encryption:
            set_encryption(ACCOUNT_ID, dynamodb.meta.region_name, name, encryption)
        ttl = properties.get("TimeToLiveSpecification", {})
        if ttl.get("Enabled") in (True, "true"):
            dynamodb.update_time_to_live(TableName=name, TimeToLiveSpecification={
                "Enabled": True, "AttributeName": ttl["AttributeName"]})
        if properties.get("PointInTimeRecoverySpecification", {}).get("PointInTimeRecoveryEnabled") in (True, "true"):
            dynamodb.update_continuous_backups(TableName=name, PointInTimeRecoverySpecification={
                "PointInTimeRecoveryEnabled": True})


def _tables(packaged: PackagedTemplate, resolver: TemplateResolver) -> list[tuple[str, dict[str, Any]]]:
    """(name, resolved properties) of each table whose condition holds."""
    return [
        (resolver.resolve({"Ref": logical_id}), resolver.resolve(resource.get("Properties", {})))
        for logical_id, resource in packaged.resources_of_type("AWS::DynamoDB::Table").items()
        if resolver.condition(resource.get("Condition"))
    ]


def _reserved_concurrency(clients: Clients, function_name: str) -> int | None:
    reserved = clients.lambda_.get_function_concurrency(FunctionName=function_name).get("ReservedConcurrentExecutions")
    return None if reserved is None else int(reserved)


def _function_layers(packaged: PackagedTemplate, logical_id: str) -> list[PackagedLayer]:
    """The stack's own layers of a function, in its order (a public layer validation let through,
    Powertools', is stood in for by the Powertools installed with the pipeline)."""
    found = []
    for reference in packaged.cloudformation["Resources"][logical_id].get("Properties", {}).get("Layers") or []:
        if not isinstance(reference, dict) or "Ref" not in reference:
            continue
        layer = packaged.layer(str(reference["Ref"]))
        if layer is None:
            raise TemplateError(f"{logical_id}: the content of layer {reference['Ref']} is in S3, which the offline "
                                "cloud cannot read: give its ContentUri a local folder, as `sam build` does")
        found.append(layer)
    return found


def _merged_layers(layers: list[PackagedLayer], code_root: Path) -> Path:
    """A function's /opt: its layers' contents merged in order, a later layer's file over an
    earlier one's (Lambda Developer Guide, "Adding layers to functions"); one folder per set of
    contents (a changed layer, a new folder)."""
    import hashlib
    import shutil

    digest = hashlib.sha256()
    for layer in layers:
        digest.update(hashlib.sha256(layer.zip_bytes).digest() if layer.zip_bytes else layer.zip_key.encode())
    opt = code_root / f"opt-{digest.hexdigest()[:16]}"
    if not opt.is_dir():
        partial = opt.with_name(opt.name + ".partial")
        shutil.rmtree(partial, ignore_errors=True)
        partial.mkdir(parents=True)
        for layer in layers:
            shutil.copytree(layer.content_dir, partial, dirs_exist_ok=True)
        partial.rename(opt)
    return opt


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


def _function_specs(clients: Clients, packaged: PackagedTemplate, stack: PipelineStack,
                    access: AccessControl, code_root: Path) -> list[FunctionSpec]:
    specs = []
    for logical_id, function in packaged.functions.items():
        physical = stack.resources[logical_id]
        config = clients.lambda_.get_function_configuration(FunctionName=physical)
        layers = _function_layers(packaged, logical_id)
        specs.append(FunctionSpec(
            opt_dir=_merged_layers(layers, code_root) if layers else None,
            reserved_concurrency=_reserved_concurrency(clients, physical),
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
            # Lambda gives each function its execution role's session, named after the function.
            access_key_id=access.issue_credentials(config["Role"], config["FunctionName"]),
        ))
    return specs

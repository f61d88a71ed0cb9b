"""LocalCloud: deploy template.yaml into an offline AWS and use it like the real one.

    with OfflineCloud.deploy("template.yaml") as cloud:   # pipeline.offline: this, put together
        result = cloud.run(["samples/sales.csv"])[0]
        result.status, result.states, result.notification

moto provides the services; the real SAM transform turns the template into CloudFormation and
moto's CloudFormation creates the stack; the core's moto modules add what moto lacks (moto_core,
moto_stacks, moto_change_sets), and a layer (plain_layer, or pipeline.local.speed's, chosen by
whoever starts the cloud) does the parts that can be done faster. The driver and the handlers
reach everything through ordinary boto3 clients, the same that drive a deployed stack. Inside
the cloud, services call each other directly, as they do in AWS.
"""

from __future__ import annotations

import os
import re
import tempfile
import threading
import uuid
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from types import ModuleType
from typing import Any

from botocore.exceptions import ClientError

from pipeline.clients import Clients
from pipeline.local import alarms as cloudwatch_alarms
from pipeline.local import schedules, validation
from pipeline.local.access import AccessControl, from_template
from pipeline.local.botocore_data import parse_once
from pipeline.local.change_sets import StackRecords, ValidationError, resolve_parameters
from pipeline.local.delivery import EventBus, trails_of
from pipeline.local.deploy_rules import NOT_SUPPORTED_OFFLINE, DeployContext, Refusal, check as deploy_refusals
from pipeline.local.emf import metrics_in
from pipeline.local.faults import Fault, FaultPlan
from pipeline.local.forwarding import Forwarding
from pipeline.local.function_specs import function_specs
from pipeline.local.gatekeeper import Gatekeeper
from pipeline.local.heap import long_lived, thaw
from pipeline.local.moto_catalog import aws_managed_policy
from pipeline.local.moto_stacks import (
    apply_substitutions, complete_buckets, complete_tables, create_stack, generated_name, stack_tables,
)
from pipeline.local.moto_version import PINNED_MOTO, load_core, unsupported
from pipeline.local.patching import MotoChanged
from pipeline.local.plain_layer import PlainLayer, ServiceProcess
from pipeline.local.policy import Principal
from pipeline.local.resolver import TemplateResolver
from pipeline.local.runtime import LambdaRuntime, NotJson, RequestTooLarge, Stopped, Throttled
from pipeline.local.service_metrics import execution_metrics, lost_event_metric
from pipeline.local.stack_host import StackHost
from pipeline.local.task_calls import TaskAuthority
from pipeline.local.packaging import PackagedTemplate, package
from pipeline.stack import PipelineStack, StackNotFoundError
from pipeline.template import TemplateError, parse_parameter_overrides

ACCOUNT_ID = "123456789012"
CODE_BUCKET = "offline-cloud-deployment-artifacts"


# Types moto's CloudFormation skips that the offline cloud itself applies: resource policies are
# enforced by pipeline.local.access, and trails drive delivery's CloudTrail events.
SCHEDULER_SESSION = "EventBridgeScheduler"  # the role session a schedule's start is made in

EMULATED_HERE = frozenset({"AWS::S3::BucketPolicy", "AWS::SNS::TopicPolicy", "AWS::SQS::QueuePolicy",
                           "AWS::CloudTrail::Trail", "AWS::IAM::Policy", "AWS::IAM::ManagedPolicy",
                           "AWS::Scheduler::Schedule"})


class DeployRefused(TemplateError):
    """The template breaks a rule AWS enforces at deploy time (the stack would roll back), or
    holds what the offline cloud cannot run."""


def _refused(template_name: str, refusals: list[Refusal]) -> DeployRefused:
    who = "the offline cloud cannot run" if refusals[0].code == NOT_SUPPORTED_OFFLINE else "AWS would refuse to deploy"
    more = f" (and {len(refusals) - 1} more)" if len(refusals) > 1 else ""
    return DeployRefused(f"{who} {template_name}: {refusals[0].line()}{more}")


def _layer_unfit(layer: PlainLayer, error: MotoChanged) -> RuntimeError:
    """A speed layer is only used with the pinned moto, so a reach that no longer fits is its bug."""
    return RuntimeError(f"the {layer.name} layer no longer fits moto {PINNED_MOTO}: {error}; "
                        "PIPELINE_OFFLINE_FAST=0 runs without it")


STACK_NAME = re.compile(r"[a-zA-Z][-a-zA-Z0-9]{0,127}")


@dataclass(frozen=True)
class NotEmulated:
    """A template resource the offline cloud does not create, and what that means."""

    logical_id: str
    resource_type: str


class LocalCloud:
    """The offline cloud, and the pipeline stack deployed in it (if any), with boto3 clients that reach it."""

    account_id = ACCOUNT_ID

    def __init__(self, clients: Clients, runtime: LambdaRuntime, layer: PlainLayer, core: ModuleType,
                 faults: FaultPlan, time_scale: float, exits: ExitStack, code_root: Path):
        self.clients = clients
        self.runtime = runtime
        self.layer = layer
        self.faults = faults
        self.clock = core.ScaledClock(time_scale)
        self.code_root = code_root  # the deployed functions' and layers' code
        self.bus = EventBus(ACCOUNT_ID, clients.region, clients, [], faults, layer.starter(ACCOUNT_ID, clients.region))
        self.bus.on_lost = self._count_lost_event
        self.services: dict[str, ServiceProcess] = {}  # services in processes of their own (the layer's)
        self.endpoint = ""  # where AWS clients reach the cloud
        self.gatekeeper = Gatekeeper(layer.application())
        self.forwarding = Forwarding(self.gatekeeper)  # the services another process serves
        self.tasks = TaskAuthority()
        self.stack: PipelineStack | None = None  # the pipeline stack the cloud runs, once one is deployed
        self.packaged: PackagedTemplate | None = None
        self.not_emulated: list[NotEmulated] = []
        self.access = AccessControl(ACCOUNT_ID, clients.region)
        self.alarms = cloudwatch_alarms.Alarms([], self.access, lambda *_: None)
        self.scheduler = schedules.Scheduler([], 0, self._fire_schedule)
        self.template_stack: str | None = None  # the stack deploy made from a template file, if any
        self.stack_changes = 0  # stacks applied or withdrawn so far (pipeline serve says when it changes)
        self.records = StackRecords()  # what CloudFormation was given for each stack (moto_change_sets)
        self._reported: set[str] = set()  # executions ended, their metrics published and alarms evaluated
        self._reporting = threading.Condition()
        self._core = core
        self._exits = exits
        self._running = False

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
        with ExitStack() as started, long_lived():
            cloud = started.enter_context(cls.start(**options))
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
            skipped_types, names = create_stack(cloud.clients, packaged, stack_name, parameters, CODE_BUCKET)
            refusals = cloud.apply(stack_name, packaged, skipped_types)
            if refusals:
                raise _refused(packaged.source.name, refusals)
            StackHost(cloud).record(stack_name, packaged, parameters, names)
            cloud.template_stack = stack_name
            deployed = started.pop_all()  # the cloud stays up past the block, until the caller's ends
        with deployed:
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
        layer does the parts that can be done faster (pipeline.local.speed.select_layer picks
        one); the plain layer by default: the core alone, with the same handlers and the same
        enforcement. host and port: where the cloud's endpoint listens (the handlers' calls, and
        any AWS client's: `pipeline serve`); port 0 takes a free one. front wraps the endpoint's
        WSGI application (pipeline serve adds its live page).
        """
        from moto import mock_aws

        with ExitStack() as stack:
            stack.callback(thaw)  # last, once the cloud is gone
            with long_lived():  # moto imported, the endpoint and hooks in place
                parse_once()
                core = load_core()
                layer = layer or PlainLayer()
                services = layer.services()  # started first: they come up while moto starts
                for service in services.values():
                    stack.callback(service.close)
                stack.enter_context(warnings.catch_warnings())
                warnings.filterwarnings("ignore", message="Tried to parse", category=UserWarning)
                stack.enter_context(mock_aws(config={"stepfunctions": {"execute_state_machine": True}}))
                clients = layer.clients(Clients.offline(region), ACCOUNT_ID, region)
                code_root = Path(stack.enter_context(
                    tempfile.TemporaryDirectory(prefix="pipeline-deployed-code-")))
                runtime = LambdaRuntime(region, max_environments)
                stack.callback(runtime.close)
                try:
                    cloud = cls(clients, runtime, layer, core, FaultPlan(list(faults)), time_scale, stack,
                                code_root)
                except MotoChanged as error:  # the layer's server application reaches into moto
                    raise _layer_unfit(layer, error) from None
                cloud.services = services
                cloud.bus.key_form = eventbridge_key_form
                try:
                    application = front(cloud.forwarding) if front else cloud.forwarding
                    cloud.endpoint = stack.enter_context(layer.serve(application, host, port))
                except OSError as error:
                    raise TemplateError(f"cannot listen on {host}:{port}: {error.strerror or error}") from None
                runtime.use_endpoint(cloud.endpoint)
                try:
                    stack.enter_context(core.installed(
                        invoke=cloud._invoke, on_object_write=cloud.bus.on_object_write, clock=cloud.clock,
                        before_publish=cloud._before_publish, on_execution_end=cloud._on_execution_end,
                        authorize_task=cloud.tasks, task_client=layer.task_client(cloud._invoke),
                        after_execution_end=cloud._after_execution_end, stack_host=StackHost(cloud),
                        endpoints=cloud.forwarding.endpoints, alarm_history=lambda: cloud.alarms.items,
                    ))
                except MotoChanged as error:
                    raise unsupported(error) from None
                try:
                    stack.enter_context(layer.installed())
                except MotoChanged as error:
                    raise _layer_unfit(layer, error) from None
                stack.callback(cloud.stop_running)  # first, while every hook is still in place
            yield cloud

    # -- what the services do, through the core's hooks ---------------------------------------

    def _invoke(self, function_arn: str, event: str) -> tuple[str, bool]:
        """Lambda's Invoke: (payload, errored), or Lambda's API error."""
        core = self._core
        fault = self.faults.take_lambda_fault(self.runtime.function(function_arn).logical_id)
        if fault == "throttle":
            raise core.TooManyRequestsException("Rate Exceeded.")
        if fault == "service-error":
            raise core.ServiceException("Injected fault: Lambda service error")
        try:
            invocation = self.runtime.invoke(function_arn, event, no_time=fault == "timeout")
        except Throttled:  # the function's reserved concurrency is in use (Lambda answers 429)
            raise core.TooManyRequestsException("Rate Exceeded.") from None
        except RequestTooLarge as error:
            raise core.RequestTooLargeException(str(error)) from None
        except NotJson as error:
            raise core.InvalidRequestContentException(str(error)) from None
        except Stopped:
            raise core.ServiceException("The offline cloud is stopping") from None
        for namespace, metrics in metrics_in(invocation.report.logs).items():  # as CloudWatch Logs extracts them
            self.layer.publish_metrics(self.clients, ACCOUNT_ID, self.clients.region, namespace, metrics)
        return invocation.payload, invocation.errored

    def _before_publish(self, topic_arn: str) -> None:
        if self.faults.take("sns-failure"):
            raise self._core.sns_internal_error()

    def _on_execution_end(self, state_machine_arn: str, status: str, duration_ms: float) -> None:
        metrics = execution_metrics(state_machine_arn, status, duration_ms)
        self.layer.publish_metrics(self.clients, ACCOUNT_ID, self.clients.region, "AWS/States", metrics)
        for metric in metrics:
            self.alarms.on_metric("AWS/States", metric["MetricName"],
                                  {d["Name"]: d["Value"] for d in metric["Dimensions"]}, metric["Value"])

    def _after_execution_end(self, execution: Any) -> None:
        self.layer.after_execution_end(execution)
        with self._reporting:
            self._reported.add(execution.exec_arn)
            self._reporting.notify_all()

    def wait_for_report(self, execution_arn: str, timeout_s: float = 10) -> bool:
        """Wait until the execution has ended and been reported (its metrics published, the
        alarms that watch them evaluated): a moment after its history shows its end."""
        with self._reporting:
            return self._reporting.wait_for(lambda: execution_arn in self._reported, timeout_s)

    def _count_lost_event(self, rule_name: str) -> None:
        self.clients.cloudwatch.put_metric_data(Namespace="AWS/Events", MetricData=lost_event_metric(rule_name))

    # -- running a stack ----------------------------------------------------------------------

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
        access = from_template(packaged.cloudformation, resolver, ACCOUNT_ID, region, aws_managed_policy)
        refusals = deploy_refusals(DeployContext(packaged.cloudformation, resolver, access, stack_name))
        if refusals:
            return refusals
        self._use_access(access)
        specs = function_specs(clients, packaged, deployed, access, self.code_root)  # credentials issued
        complete_buckets(clients, packaged, resolver)
        tables = stack_tables(packaged, resolver)
        if "dynamodb" not in self.services:  # the tables are where moto's CloudFormation made them
            complete_tables(clients.dynamodb, tables, set_encryption=lambda name, encryption: (
                self._core.set_table_encryption(ACCOUNT_ID, region, name, encryption)))
        for service, process in self.services.items():
            # One endpoint for every caller: the cloud's clients, AWS clients, tasks, functions.
            clients.endpoints[service] = self.forwarding.endpoints[service] = process.endpoint
            self.runtime.use_endpoint(process.endpoint, service=service)
            process.stack_deployed(clients, tables, access)
        # Every environment of the previous deployment goes: its credentials belong to that one.
        # The new functions' first environments start their Init now, once what a function's
        # module could read at import is in place (buckets, tables, access rules), as
        # CloudFormation creates a function after what it references; the rest is applied meanwhile.
        self.runtime.replace(specs)
        self._create_alarms(stack_name, packaged, resolver, access)
        apply_substitutions(clients, packaged, resolver)
        self.bus.trails[:] = trails_of(packaged.cloudformation["Resources"], resolver)
        self.stack, self.packaged, self.not_emulated = deployed, packaged, not_emulated
        self.stack_changes += 1
        if not self._running:
            self._exits.enter_context(self.layer.running())
            self._running = True
        # Last: a rate schedule fires as it is created, so what it starts must be complete.
        self._start_schedules(stack_name, packaged, resolver)
        return []

    def _create_alarms(self, stack_name: str, packaged: PackagedTemplate, resolver: TemplateResolver,
                       access: AccessControl) -> None:
        clients = self.clients

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
            clients.cloudwatch.put_metric_alarm(**cloudwatch_alarms.put_metric_alarm(alarm))

    def _start_schedules(self, stack_name: str, packaged: PackagedTemplate, resolver: TemplateResolver) -> None:
        self._stop_schedules()
        self.scheduler = schedules.Scheduler(
            schedules.schedules_of(packaged.cloudformation["Resources"], resolver, self.clients.region, ACCOUNT_ID,
                                   lambda logical_id: generated_name(stack_name, logical_id, 64)),
            self.clock.scale, self._fire_schedule)
        for schedule in self.scheduler.schedules:  # as CloudFormation creates them: visible to GetSchedule
            self.clients.scheduler.create_schedule(**schedule.create_request())
        self.scheduler.start()

    def _stop_schedules(self) -> None:
        self.scheduler.stop()
        for schedule in self.scheduler.schedules:
            self.clients.scheduler.delete_schedule(Name=schedule.name, GroupName=schedule.group)

    def _fire_schedule(self, schedule: schedules.Schedule, scheduled: datetime) -> schedules.Firing:
        """EventBridge Scheduler starts the execution as the schedule's role."""
        at = scheduled.strftime("%Y-%m-%dT%H:%M:%SZ")
        principal = Principal.role_session(schedule.role_arn, SCHEDULER_SESSION)
        decision, request = self.access.decide(principal, "states:StartExecution", schedule.target_arn)
        if not decision.allowed:
            return schedules.Firing(schedule.logical_id, at, error=decision.message(request))
        try:
            started = self.clients.stepfunctions.start_execution(
                stateMachineArn=schedule.target_arn, name=str(uuid.uuid4()), input=schedules.filled(schedule, scheduled))
        except ClientError as error:
            return schedules.Firing(schedule.logical_id, at, error=str(error))
        return schedules.Firing(schedule.logical_id, at, execution_arn=started["executionArn"])

    def withdraw(self, stack_name: str) -> None:
        """Stop running the pipeline stack (before CloudFormation deletes it, or when its creation
        rolls back, however far apply got): no function, trail, alarm or permission of it is left."""
        if self.stack is not None and self.stack.name != stack_name:
            return  # another stack's: this one never ran
        was_running = self.stack is not None
        self._stop_schedules()
        self.runtime.replace([])
        self.bus.trails[:] = []
        for process in self.services.values():
            process.stack_withdrawn(self.clients)
        self._use_access(AccessControl(ACCOUNT_ID, self.clients.region))
        self._delete_alarms()
        self.alarms = cloudwatch_alarms.Alarms([], self.access, lambda *_: None)
        self.stack = self.packaged = None
        self.not_emulated = []
        if was_running:
            self.stack_changes += 1

    def _delete_alarms(self) -> None:
        names = [alarm.name for alarm in self.alarms.alarms]
        if names:
            self.clients.cloudwatch.delete_alarms(AlarmNames=names)

    def _use_access(self, access: AccessControl) -> None:
        """Whose calls are allowed, everywhere the cloud checks them."""
        self.access = access
        self.gatekeeper.use(access)
        self.tasks.access = self.bus.access = access

    def stop_running(self) -> None:
        """As the cloud goes (at the end of a run, or on Ctrl-C): no more waiting between retries,
        the executions still running stopped, and the functions' environments ended, so that
        every execution thread has finished before moto is restored. The services still answer
        (pipeline serve --state saves them then); once is enough, and more does no harm."""
        self.clock.scale = 0
        self.scheduler.stop()
        self._core.stop_executions(ACCOUNT_ID, self.clients.region, timeout_s=0)
        self.runtime.close()
        self._core.stop_executions(ACCOUNT_ID, self.clients.region, timeout_s=10)

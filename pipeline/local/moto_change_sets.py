"""The core's hooks into moto's CloudFormation for `sam deploy`, `sam list stack-outputs` and `sam delete`.

moto 5.2.5 creates a change set's resources but not as CloudFormation does for the SAM CLI: it
reads a TemplateURL on 127.0.0.1 as bucket "127", applies no SAM transform, checks neither
parameters nor capabilities, gives no Outputs after ExecuteChangeSet, records only stack-level
events, never rolls back, and returns the processed template where GetTemplate's Original stage
is the submitted one (docs/design/sam-deploy-into-serve.md has the call-by-call comparison).
Here CreateChangeSet, ExecuteChangeSet, GetTemplate and DeleteStack do what CloudFormation does,
using pipeline.local.change_sets for the CloudFormation rules and a Host
(pipeline.local.stack_host) for wiring an application into the offline cloud. Import through
moto_version.load_core only.
"""

from __future__ import annotations

import json
import re
import uuid
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Protocol

from moto.cloudformation.exceptions import CloudFormationError
from moto.cloudformation.exceptions import ValidationError as MotoValidationError
from moto.cloudformation.models import Change, ChangeSet, CloudFormationBackend, Event, Stack
from moto.cloudformation.parsing import ResourceMap
from moto.cloudformation.responses import CloudFormationResponse
from moto.core.responses import ActionResult, EmptyResult
from moto.s3.models import s3_backends

from pipeline.local import change_sets
from pipeline.local.change_sets import ProcessedTemplate, S3Location, StackRecords
from pipeline.local.moto_stack_resources import stack_resource_patches
from pipeline.local.patching import Patch, Private, applied
from pipeline.local.packaging import TransformFailed
from pipeline.template import TemplateError, parse_template

UNREADABLE = (ValueError, TypeError, KeyError, AttributeError, re.error, zipfile.BadZipFile)
"""What a template, a definition or a code archive that cannot be read raises on its way through."""
PARAM = Private(CloudFormationResponse, "_get_param")
BOOL_PARAM = Private(CloudFormationResponse, "_get_bool_param")
TEMPLATE_AT_URL = Private(CloudFormationResponse, "_get_stack_from_s3_url")
ADD_STACK_EVENT = Private(Stack, "_add_stack_event")
PARSE_TEMPLATE = Private(Stack, "_parse_template")
OUTPUT_MAP = Private(Stack, "_create_output_map")
PARSED_RESOURCES = Private(ResourceMap, "_parsed_resources", instance=True)
NO_CHANGES = "The submitted information didn't contain changes. Submit different information to create a change set."


class InsufficientCapabilities(CloudFormationError):
    code = "InsufficientCapabilitiesException"


class InvalidChangeSetStatus(CloudFormationError):
    code = "InvalidChangeSetStatus"


class ChangeSetNotFound(CloudFormationError):
    code = "ChangeSetNotFound"


class Host(Protocol):
    """What the offline cloud does with a stack CloudFormation deploys (pipeline.local.stack_host.StackHost)."""

    records: StackRecords

    def process(self, body: str, parameters: dict[str, str], read: change_sets.ReadObject,
                stack_name: str) -> ProcessedTemplate: ...

    def moto_template(self, processed: ProcessedTemplate, stack_name: str,
                      previous: ProcessedTemplate | None) -> dict[str, Any]: ...

    def apply_processed(self, stack_name: str, processed: ProcessedTemplate, skipped_types: set[str]) -> list[Any]: ...

    def withdraw(self, stack_name: str) -> None: ...

    def cannot_run(self, stack_name: str) -> str | None: ...

    def physical_id(self, stack_name: str, logical_id: str) -> str | None: ...


@contextmanager
def installed(host: Host) -> Iterator[None]:
    """CloudFormation's change sets, templates and deletions as the SAM CLI needs them."""
    records = host.records

    def read(account_id: str, partition: str) -> change_sets.ReadObject:
        def read_object(location: S3Location) -> bytes:
            try:
                found = s3_backends[account_id][partition].get_object(
                    location.bucket, location.key, version_id=location.version_id)
            except Exception as error:  # moto's MissingBucket/MissingKey: CloudFormation's own wording
                raise change_sets.ValidationError(f"S3 error: Unable to get the object s3://{location.bucket}/"
                                                  f"{location.key}: {type(error).__name__}") from None
            if found is None:
                raise change_sets.ValidationError(f"S3 error: The specified key does not exist: {location.key}")
            return found.value
        return read_object

    def stack_from_s3_url(self: CloudFormationResponse, template_url: str) -> str:
        try:
            location = change_sets.template_location(template_url)
            return read(self.current_account, self.partition)(location).decode("utf-8")
        except change_sets.ValidationError as error:
            raise MotoValidationError(message=str(error)) from None

    def create_change_set(self: CloudFormationResponse) -> ActionResult:
        with records.lock:
            return _create_change_set(self, host, records, read(self.current_account, self.partition))

    def execute_change_set(self: CloudFormationResponse) -> EmptyResult:
        with records.lock:
            _execute_change_set(self.cloudformation_backend, host, records, PARAM(self, "ChangeSetName"),
                                PARAM(self, "StackName"), BOOL_PARAM(self, "DisableRollback", False))
        return EmptyResult()

    def get_template(self: CloudFormationResponse) -> ActionResult:
        stack = self.cloudformation_backend.get_stack(PARAM(self, "StackName"))
        processed = records.current.get(stack.stack_id)
        if processed is None:
            return ActionResult({"TemplateBody": stack.template})
        # Original (the default): the template as submitted; Processed: after its transforms.
        original = PARAM(self, "TemplateStage", "Original") == "Original"
        return ActionResult({"TemplateBody": processed.body if original else json.dumps(processed.cloudformation),
                             "StagesAvailable": ["Original", "Processed"]})

    original_delete_stack = Patch(CloudFormationBackend, "delete_stack", None).original()

    def delete_stack(self: CloudFormationBackend, name_or_stack_id: str) -> None:
        with records.lock:
            stack = next((s for s in self.stacks.values() if name_or_stack_id in (s.name, s.stack_id)), None)
            if stack is None or stack.stack_id not in records.current:
                original_delete_stack(self, name_or_stack_id)
                return
            _delete_stack(self, stack, host, records)

    with applied([
        *stack_resource_patches(host),
        Patch(CloudFormationResponse, "_get_stack_from_s3_url", stack_from_s3_url),
        Patch(CloudFormationResponse, "create_change_set", create_change_set),
        Patch(CloudFormationResponse, "execute_change_set", execute_change_set),
        Patch(CloudFormationResponse, "get_template", get_template),
        Patch(CloudFormationBackend, "delete_stack", delete_stack),
    ]):
        yield


def _create_change_set(response: CloudFormationResponse, host: Host, records: StackRecords,
                       read: change_sets.ReadObject) -> ActionResult:
    backend = response.cloudformation_backend

    def param(name: str, default: Any = None) -> Any:
        return PARAM(response, name, default)

    stack_name, kind = param("StackName"), param("ChangeSetType", "CREATE")
    previous = None
    if kind == "UPDATE":
        stack = backend.get_stack(stack_name)  # ValidationError: Stack with id X does not exist
        if stack.status in ("ROLLBACK_COMPLETE", "ROLLBACK_FAILED", "REVIEW_IN_PROGRESS"):
            raise MotoValidationError(message=f"Stack:{stack.stack_id} is in {stack.status} state and can not "
                                              "be updated.")
        previous = records.current.get(stack.stack_id)
    else:
        for existing in list(backend.stacks.values()):
            if existing.name == stack_name and existing.status != "REVIEW_IN_PROGRESS":
                raise MotoValidationError(message=f"Stack [{stack_name}] already exists and cannot be created "
                                                  f"again with the changeSet [{param('ChangeSetName')}].")
            if existing.name == stack_name:  # a stack under review, never created: this CREATE replaces it
                _forget_change_sets(backend, records, existing.stack_id)
                backend.stacks.pop(existing.stack_id)
    body = param("TemplateBody")
    if param("TemplateURL"):
        body = TEMPLATE_AT_URL(response, param("TemplateURL"))
    elif BOOL_PARAM(response, "UsePreviousTemplate", False) and previous is not None:
        body = previous.body
    if not body:
        raise MotoValidationError(message="Either Template URL or Template Body must be specified.")
    try:
        declared = parse_template(body).get("Parameters", {})
        parameters = change_sets.resolve_parameters(declared, param("Parameters") or [],
                                                    previous.parameters if previous else None)
    except (change_sets.ValidationError, TemplateError) as error:
        raise MotoValidationError(message=str(error)) from None
    except UNREADABLE as error:  # a bad pattern, number or structure in the template
        raise MotoValidationError(message=f"Template format error: {type(error).__name__}: {error}") from None
    failure = None
    try:
        processed = host.process(body, parameters, read, stack_name)
    except TransformFailed as error:  # asynchronous in AWS: the change set ends FAILED with the reason
        processed, failure = ProcessedTemplate(body, parameters, {"Resources": {}}), error.status_reason()
    except (change_sets.ValidationError, TemplateError) as error:
        raise MotoValidationError(message=str(error)) from None
    except UNREADABLE as error:  # a definition or code archive that cannot be read
        raise MotoValidationError(message=f"Template error: {type(error).__name__}: {error}") from None
    for refusal in processed.refusals:  # the template's own, a cycle: CreateChangeSet answers it at once
        if not refusal.logical_id:
            raise MotoValidationError(message=refusal.message)
    missing = change_sets.missing_capability(processed.cloudformation, param("Capabilities", []))
    if missing and failure is None:
        reason = f"Requires capabilities : [{missing}]"
        if not processed.transformed:
            raise InsufficientCapabilities(reason)
        failure = reason  # known only once the transform has run, so the change set fails
    if failure is None and processed.package is not None:
        failure = host.cannot_run(stack_name)  # a limit of the offline cloud, not of AWS
    template = host.moto_template(processed, stack_name, previous) if failure is None else {"Resources": {}}
    tags = {item["Key"]: item["Value"] for item in param("Tags", [])}
    change_set_id, stack_id = backend.create_change_set(
        stack_name=stack_name, change_set_name=param("ChangeSetName"), template=json.dumps(template),
        parameters=dict(parameters), description=param("Description"), notification_arns=param("NotificationARNs", []),
        tags=tags, role_arn=param("RoleARN"), change_set_type=kind)
    change_set = backend.change_sets[change_set_id]
    context = (backend.region_name, backend.account_id, stack_name)
    found = change_sets.changes(previous, processed, context) if failure is None else []
    change_set.changes = [_moto_change(change) for change in found]
    if failure is None and previous is not None and previous.body == body and previous.parameters == parameters:
        failure = NO_CHANGES
    change_set.status = "FAILED" if failure else "CREATE_COMPLETE"
    change_set.execution_status = "UNAVAILABLE" if failure else "AVAILABLE"
    change_set.status_reason = failure
    processed.names = {**(previous.names if previous else {}), **processed.names}
    records.pending[change_set_id] = processed
    return ActionResult({"Id": change_set_id, "StackId": stack_id})


def _moto_change(change: change_sets.ResourceChange) -> Change:
    moto_change = Change(change.action, change.logical_id, change.resource_type)
    if change.replacement is not None:
        moto_change.replacement = change.replacement  # serialized as ResourceChange.Replacement
    return moto_change


def _find_change_set(backend: CloudFormationBackend, name: str, stack_name: str | None) -> ChangeSet:
    if name in backend.change_sets:
        return backend.change_sets[name]
    for change_set in backend.change_sets.values():
        if change_set.change_set_name == name and stack_name in (None, change_set.stack_name, change_set.stack_id):
            return change_set
    raise ChangeSetNotFound(f"ChangeSet [{name}] does not exist")


VERBS = {"Add": "CREATE", "Modify": "UPDATE", "Remove": "DELETE"}


def _execute_change_set(backend: CloudFormationBackend, host: Host, records: StackRecords,
                        name: str, stack_name: str | None, disable_rollback: bool) -> None:
    """ExecuteChangeSet, with the stack events CloudFormation records (User Guide, "Monitor stack
    progress"; the sequences are quoted in docs/sam-deploy-offline.md): each resource's
    IN_PROGRESS and COMPLETE or FAILED, the rollback when AWS would refuse a resource, and always a
    last event of the stack itself, which the SAM CLI waits for."""
    change_set = _find_change_set(backend, name, stack_name)
    if change_set.status != "CREATE_COMPLETE":
        raise InvalidChangeSetStatus(f"ChangeSet [{change_set.change_set_id}] cannot be executed in its current "
                                     f"status of [{change_set.status}]")
    if change_set.execution_status != "AVAILABLE":
        raise InvalidChangeSetStatus(f"ChangeSet [{change_set.change_set_id}] cannot be executed in its current "
                                     f"execution status of [{change_set.execution_status}]")
    processed = records.pending.pop(change_set.change_set_id)
    stack: Stack = backend.stacks[change_set.stack_id]
    kind = change_set.change_set_type  # CREATE or UPDATE
    previous = records.current.get(stack.stack_id)
    previous_template, previous_parameters = stack.template, dict(stack.parameters)
    # "After you execute a change set, CloudFormation removes all change sets associated with the
    # stack" (User Guide, "Update CloudFormation stacks using change sets").
    _forget_change_sets(backend, records, stack.stack_id, keep=change_set.change_set_id)
    made = [change for change in change_set.changes if change.action != "Remove"]
    removed = [change for change in change_set.changes if change.action == "Remove"]
    change_set.execution_status = "EXECUTE_IN_PROGRESS"
    stack.status = f"{kind}_IN_PROGRESS"
    ADD_STACK_EVENT(stack, f"{kind}_IN_PROGRESS", resource_status_reason="User Initiated")
    for change in made:
        _resource_event(stack, change, f"{VERBS[change.action]}_IN_PROGRESS")
        if change.action == "Add":
            _resource_event(stack, change, "CREATE_IN_PROGRESS", "Resource creation Initiated")
    refusals, failure = list(processed.refusals), None
    try:
        if not refusals:  # a resource AWS would refuse never reaches moto
            skipped = _apply(stack, change_set.template, change_set.parameters)
            refusals = host.apply_processed(stack.name, processed, skipped)
    except Exception as error:  # noqa: BLE001 - any failure ends the stack's operation, as in AWS
        failure = f"{type(error).__name__}: {error}"
    change_set.execution_status = "EXECUTE_COMPLETE"
    if not refusals and failure is None:
        for change in made:
            _resource_event(stack, change, f"{VERBS[change.action]}_COMPLETE")
        if kind == "UPDATE":
            ADD_STACK_EVENT(stack, "UPDATE_COMPLETE_CLEANUP_IN_PROGRESS")
            _removed_events(stack, removed, previous_template)
        _finish(stack, f"{kind}_COMPLETE")
        records.current[stack.stack_id] = processed
        return

    refused = {refusal.logical_id: _handler_message(refusal) for refusal in refusals}
    for change in made:
        reason = refused.get(change.logical_resource_id)
        _resource_event(stack, change, f"{VERBS[change.action]}_{'FAILED' if reason else 'COMPLETE'}", reason)
    summary = " ".join(
        f"The following resource(s) failed to {verb}: [{', '.join(ids)}]." for verb, ids in (
            ("create", [c.logical_resource_id for c in made if c.action == "Add" and c.logical_resource_id in refused]),
            ("update", [c.logical_resource_id for c in made if c.action == "Modify" and c.logical_resource_id in refused]),
        ) if ids) or str(failure)
    if disable_rollback:
        _finish(stack, f"{kind}_FAILED", summary)
        return
    try:
        if kind == "CREATE":
            ADD_STACK_EVENT(stack, "ROLLBACK_IN_PROGRESS",
                            resource_status_reason=f"{summary} Rollback requested by user.")
            host.withdraw(stack.name)
            _delete_resources(stack)
            _finish(stack, "ROLLBACK_COMPLETE")
        else:
            ADD_STACK_EVENT(stack, "UPDATE_ROLLBACK_IN_PROGRESS", resource_status_reason=summary)
            _roll_back_update(stack, host, made, previous, previous_template, previous_parameters)
    except Exception as error:  # noqa: BLE001 - the rollback failed too: the stack says so, and SAM's wait ends
        _finish(stack, "ROLLBACK_FAILED" if kind == "CREATE" else "UPDATE_ROLLBACK_FAILED", f"{type(error).__name__}: {error}")


def _roll_back_update(stack: Stack, host: Host, made: list[Change], previous: ProcessedTemplate | None,
                      previous_template: str, previous_parameters: dict[str, str]) -> None:
    """Put the previous template and parameters back (resources modified back, those the update
    added deleted in the clean-up), with the previous version running again."""
    for change in made:
        if change.action == "Modify":
            _resource_event(stack, change, "UPDATE_IN_PROGRESS")
    skipped = _apply(stack, previous_template, previous_parameters)
    if previous is not None:
        host.apply_processed(stack.name, previous, skipped)
    for change in made:
        if change.action == "Modify":
            _resource_event(stack, change, "UPDATE_COMPLETE")
    ADD_STACK_EVENT(stack, "UPDATE_ROLLBACK_COMPLETE_CLEANUP_IN_PROGRESS")
    for change in made:
        if change.action == "Add":  # created by the failed update, deleted in the clean-up
            _resource_event(stack, change, "DELETE_COMPLETE")
    _finish(stack, "UPDATE_ROLLBACK_COMPLETE")


def _forget_change_sets(backend: CloudFormationBackend, records: StackRecords, stack_id: str,
                        keep: str | None = None) -> None:
    for change_set_id in [i for i, c in backend.change_sets.items() if c.stack_id == stack_id and i != keep]:
        backend.change_sets.pop(change_set_id)
        records.pending.pop(change_set_id, None)


def _handler_message(refusal: Any) -> str:
    """A resource's CREATE_FAILED or UPDATE_FAILED reason, in the form CloudFormation gives a
    service's refusal (the resource handler's message with the service's error)."""
    service = refusal.resource_type.split("::")[1]
    return (f'Resource handler returned message: "{refusal.message} (Service: {service}, Status Code: 400, '
            f'Request ID: {uuid.uuid4()})" (RequestToken: {uuid.uuid4()}, HandlerErrorCode: InvalidRequest)')


def _apply(stack: Stack, template: str, parameters: dict[str, str]) -> set[str]:
    """Bring the stack's resources to template (moto creates, updates and deletes them), and its
    Outputs with them; returns the resource types moto skipped."""
    with change_sets.moto_skipped_types() as skipped:
        stack.template = template
        PARSE_TEMPLATE(stack)
        stack.resource_map.update(stack.template_dict, dict(parameters))
    stack.parameters = dict(parameters)
    stack.description = stack.template_dict.get("Description")
    stack.output_map = OUTPUT_MAP(stack)
    return skipped


def _resources(template: dict[str, Any]) -> list[tuple[str, str, bool]]:
    """(logical ID, type, retained) of each resource of a template."""
    return [(logical_id, resource.get("Type", ""), resource.get("DeletionPolicy") == "Retain")
            for logical_id, resource in template.get("Resources", {}).items()]


def _removed_events(stack: Stack, removed: list[Change], previous_template: str) -> None:
    retained = {logical_id for logical_id, _, kept in _resources(Stack.parse_template(previous_template)) if kept}
    for change in removed:
        if change.logical_resource_id in retained:
            _resource_event(stack, change, "DELETE_SKIPPED")
        else:
            _resource_event(stack, change, "DELETE_IN_PROGRESS")
            _resource_event(stack, change, "DELETE_COMPLETE")


def _delete_resources(stack: Stack) -> None:
    """Delete the stack's resources (moto skips DeletionPolicy Retain), with their events:
    DELETE_SKIPPED for a retained one, as CloudFormation records it."""
    resources = _resources(stack.template_dict)
    for logical_id, resource_type, retained in resources:
        if not retained:
            _resource_event(stack, Change("Remove", logical_id, resource_type), "DELETE_IN_PROGRESS")
    stack.resource_map.delete()
    for logical_id, resource_type, retained in resources:
        _resource_event(stack, Change("Remove", logical_id, resource_type),
                        "DELETE_SKIPPED" if retained else "DELETE_COMPLETE")


def _resource_event(stack: Stack, change: Change, status: str, reason: str | None = None) -> None:
    resource = PARSED_RESOURCES.of(stack.resource_map).get(change.logical_resource_id)
    physical = getattr(resource, "physical_resource_id", "") if resource is not None else ""
    stack.events.append(Event(stack_id=stack.stack_id, stack_name=stack.name,
                              logical_resource_id=change.logical_resource_id,
                              physical_resource_id=physical if isinstance(physical, str) else "",
                              resource_type=change.resource_type, resource_status=status,
                              resource_status_reason=reason, resource_properties=None))


def _finish(stack: Stack, status: str, reason: str | None = None) -> None:
    """The stack's last event: the root event the SAM CLI waits for."""
    stack.status = status
    ADD_STACK_EVENT(stack, status, resource_status_reason=reason)


def _delete_stack(backend: CloudFormationBackend, stack: Stack, host: Host,
                  records: StackRecords) -> None:
    """DeleteStack: the offline cloud lets go of the stack's application first, then each
    resource is deleted (DELETE_SKIPPED for DeletionPolicy Retain, which stays), then the stack."""
    stack.status = "DELETE_IN_PROGRESS"
    ADD_STACK_EVENT(stack, "DELETE_IN_PROGRESS", resource_status_reason="User Initiated")
    try:
        host.withdraw(stack.name)
        _delete_resources(stack)
    except Exception as error:  # noqa: BLE001 - the stack stays, DELETE_FAILED, as in AWS
        _finish(stack, "DELETE_FAILED", f"{type(error).__name__}: {error}")
        return
    _finish(stack, "DELETE_COMPLETE")
    backend.stacks.pop(stack.stack_id)
    backend.deleted_stacks[stack.stack_id] = stack
    for export in stack.exports:
        backend.exports.pop(export.name, None)
    records.current.pop(stack.stack_id, None)
    _forget_change_sets(backend, records, stack.stack_id)

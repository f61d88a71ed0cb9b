"""What the Lambda runtime needs to run each function of a deployed stack: its configuration as
Lambda holds it, its code folder, its layers merged into an /opt, and its role's credentials."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

from pipeline.clients import Clients
from pipeline.local.access import AccessControl
from pipeline.local.runtime import FunctionSpec
from pipeline.local.packaging import PackagedLayer, PackagedTemplate
from pipeline.stack import PipelineStack
from pipeline.template import TemplateError


def function_specs(clients: Clients, packaged: PackagedTemplate, stack: PipelineStack,
                   access: AccessControl, code_root: Path) -> list[FunctionSpec]:
    """Every function of the stack, its role's credentials issued in access."""
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

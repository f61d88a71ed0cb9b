"""template.yaml as `sam deploy` makes it into CloudFormation, for the offline cloud.

The SAM transform is the real one (aws-sam-translator). What `sam package` would upload is made
locally: each function's CodeUri and each layer's ContentUri is zipped for the offline cloud's
deployment bucket, and each state machine's DefinitionUri is inlined so the transform applies its
DefinitionSubstitutions.
Reading the template itself is pipeline.template's job.
"""

from __future__ import annotations

import copy
import hashlib
import io
import json
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipeline.local import run_cache
from pipeline.template import TemplateError, load_template, parse_parameter_overrides

__all__ = ["PackagedFunction", "PackagedLayer", "PackagedTemplate", "TemplateError", "TransformFailed", "package",
           "parse_parameter_overrides", "transform"]


@dataclass(frozen=True)
class PackagedFunction:
    logical_id: str
    code_dir: Path
    handler: str
    runtime: str
    zip_key: str
    zip_bytes: bytes


@dataclass(frozen=True)
class PackagedLayer:
    """A layer's content, as `sam package` uploads it (zip_key: its object in the code bucket)."""

    logical_id: str
    content_dir: Path
    zip_key: str
    zip_bytes: bytes


@dataclass
class PackagedTemplate:
    """template.yaml after `sam package` and the SAM transform: plain CloudFormation."""

    source: Path
    parameters: dict[str, str]
    cloudformation: dict[str, Any]
    functions: dict[str, PackagedFunction] = field(default_factory=dict)
    layers: dict[str, PackagedLayer] = field(default_factory=dict)  # by zip_key

    def layer(self, logical_id: str) -> PackagedLayer | None:
        """A layer of the transformed template, by its logical ID, with its content at hand (None
        when the template gives its content in S3 rather than in a local folder)."""
        properties = self.cloudformation["Resources"].get(logical_id, {}).get("Properties", {})
        return self.layers.get(properties.get("Content", {}).get("S3Key", ""))

    def resources_of_type(self, resource_type: str) -> dict[str, dict[str, Any]]:
        return {
            logical_id: resource
            for logical_id, resource in self.cloudformation["Resources"].items()
            if resource.get("Type") == resource_type
        }


# The property that holds a layer's content, per type (`sam package` uploads a local folder in either).
LAYER_CONTENT = {"AWS::Serverless::LayerVersion": "ContentUri", "AWS::Lambda::LayerVersion": "Content"}


def _zip_folder(folder: Path) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(folder.rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts:
                archive.write(path, path.relative_to(folder).as_posix())
    return buffer.getvalue()


def package(template_path: Path, overrides: dict[str, str], code_bucket: str, region: str) -> PackagedTemplate:
    """Do what `sam package` and CloudFormation's transform step do, without uploading."""
    template_path = template_path.resolve()
    base = template_path.parent
    template = load_template(template_path)
    declared = template.get("Parameters", {})
    unknown = sorted(set(overrides) - set(declared))
    if unknown:
        raise TemplateError(f"unknown parameter(s) {', '.join(unknown)}; the template declares {', '.join(declared)}")

    packaged = copy.deepcopy(template)
    globals_function = packaged.get("Globals", {}).get("Function", {})
    functions: dict[str, PackagedFunction] = {}
    layers: dict[str, PackagedLayer] = {}
    for logical_id, resource in packaged["Resources"].items():
        properties = resource.setdefault("Properties", {})
        if resource.get("Type") == "AWS::Serverless::Function":
            code_dir = (base / properties.get("CodeUri", globals_function.get("CodeUri", "."))).resolve()
            if not (code_dir / "").is_dir():
                raise TemplateError(f"{logical_id}: CodeUri {code_dir} is not a folder")
            zip_key = f"{logical_id}.zip"
            functions[logical_id] = PackagedFunction(
                logical_id=logical_id,
                code_dir=code_dir,
                handler=properties.get("Handler", globals_function.get("Handler", "")),
                runtime=properties.get("Runtime", globals_function.get("Runtime", "")),
                zip_key=zip_key,
                zip_bytes=_zip_folder(code_dir),
            )
            properties["CodeUri"] = f"s3://{code_bucket}/{zip_key}"
        elif resource.get("Type") in LAYER_CONTENT and isinstance(properties.get(LAYER_CONTENT[resource["Type"]]), str):
            # A local folder, zipped and uploaded as `sam package` does; an s3:// URI is left as it is.
            name = LAYER_CONTENT[resource["Type"]]
            if "://" not in properties[name]:
                content_dir = (base / properties[name]).resolve()
                if not (content_dir / "").is_dir():
                    raise TemplateError(f"{logical_id}: {name} {content_dir} is not a folder")
                zip_key = f"{logical_id}-layer.zip"
                layers[zip_key] = PackagedLayer(logical_id, content_dir, zip_key, _zip_folder(content_dir))
                properties[name] = (f"s3://{code_bucket}/{zip_key}" if name == "ContentUri"
                                    else {"S3Bucket": code_bucket, "S3Key": zip_key})
        elif resource.get("Type") == "AWS::Serverless::StateMachine" and "DefinitionUri" in properties:
            uri = properties.pop("DefinitionUri")
            if not isinstance(uri, str):
                raise TemplateError(f"{logical_id}: only a local DefinitionUri can be run offline")
            try:
                properties["Definition"] = json.loads((base / uri).read_text(encoding="utf-8"))
            except (OSError, json.JSONDecodeError) as exc:
                raise TemplateError(f"{logical_id}: cannot read {uri}: {exc}") from None

    return PackagedTemplate(template_path, overrides, transform(packaged, overrides, region), functions, layers)


def transform(template: dict[str, Any], parameters: dict[str, str], region: str) -> dict[str, Any]:
    """The SAM transform (AWS::Serverless-2016-10-31), as CloudFormation applies it; kept between
    runs for the same template, parameters, region and translator (pipeline.local.run_cache)."""
    from importlib.metadata import version

    # What the result depends on: the input, the translator and botocore (the region's partition),
    # and this module, which sets the translator up.
    depends_on = [template, parameters, region, version("aws-sam-translator"), version("botocore"),
                  hashlib.sha256(Path(__file__).read_bytes()).hexdigest()]
    return run_cache.kept("sam-transform", depends_on, lambda: _translate(template, parameters, region))


def _translate(template: dict[str, Any], parameters: dict[str, str], region: str) -> dict[str, Any]:
    import boto3
    from samtranslator.metrics.metrics import Metrics
    from samtranslator.model.exceptions import InvalidDocumentException
    from samtranslator.parser.parser import Parser
    from samtranslator.translator.translator import Translator

    # The transform reads the region from a boto3 session; managed policies it does not know
    # would be looked up in IAM, and an empty map keeps it offline.
    # Its metrics go to a dummy publisher; publishing them spares a warning when they are dropped.
    metrics = Metrics()
    translator = Translator(None, Parser(), boto_session=boto3.session.Session(region_name=region), metrics=metrics)
    try:
        cloudformation = translator.translate(
            copy.deepcopy(template), parameter_values=dict(parameters), get_managed_policy_map=lambda: {}
        )
        metrics.publish()
    except InvalidDocumentException as exc:
        raise TransformFailed(exc.message, [str(cause) for cause in exc.causes]) from None
    return cloudformation


class TransformFailed(TemplateError):
    """The SAM transform refused the template: exc.message as the translator words it, and each cause."""

    def __init__(self, summary: str, causes: list[str]):
        super().__init__(f"SAM transform failed: {'; '.join(causes)}")
        self.summary = summary
        self.causes = causes

    def status_reason(self) -> str:
        """What CloudFormation gives as the failed change set's StatusReason."""
        return f"Transform AWS::Serverless-2016-10-31 failed with: {self.summary} {' '.join(self.causes)}"

"""template.yaml changed as a user forking it would change it, as data: a resource added, a
statement removed, a state inserted. Each change names what it changes and fails when that is
not there; the fork is written into a folder of the test's, never the repository.

    fork = Fork()
    fork.add_resource("AuditTable", {"Type": "AWS::DynamoDB::Table", ...})
    fork.insert_state_after("Process CSV", "Record Processed", {...})
    fork.set_property("LandingWritesTrail", "IsMultiRegionTrail", True)
    template = fork.write(tmp_path)
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from pipeline.template import load_template
from tests.conftest import ROOT, TEMPLATE

STATE_MACHINE = "ProcessFileStateMachine"


class Fork:
    def __init__(self, source: Path = TEMPLATE):
        self.source = source
        self.template = load_template(source)
        self._definition: dict[str, Any] | None = None

    # -- resources ---------------------------------------------------------------------------

    def resource(self, logical_id: str) -> dict[str, Any]:
        resources = self.template["Resources"]
        assert logical_id in resources, f"the template has no resource {logical_id}"
        return resources[logical_id]

    def properties(self, logical_id: str) -> dict[str, Any]:
        return self.resource(logical_id).setdefault("Properties", {})

    def set_property(self, logical_id: str, name: str, value: Any) -> Fork:
        """A property the resource has, given another value."""
        properties = self.properties(logical_id)
        assert name in properties, f"{logical_id} has no property {name}"
        assert properties[name] != value, f"{logical_id}'s {name} is {value!r} already"
        properties[name] = copy.deepcopy(value)
        return self

    def add_property(self, logical_id: str, name: str, value: Any) -> Fork:
        properties = self.properties(logical_id)
        assert name not in properties, f"{logical_id} has a property {name} already"
        properties[name] = copy.deepcopy(value)
        return self

    def add_resource(self, logical_id: str, resource: dict[str, Any]) -> Fork:
        assert logical_id not in self.template["Resources"], f"{logical_id} is in the template already"
        self.template["Resources"][logical_id] = copy.deepcopy(resource)
        return self

    def add_policy(self, logical_id: str, *statements: dict[str, Any]) -> Fork:
        """Statements added to a SAM function's or state machine's Policies."""
        self.properties(logical_id).setdefault("Policies", []).append({"Statement": list(statements)})
        return self

    def remove_statement(self, logical_id: str, sid: str) -> Fork:
        """The statement with this Sid, wherever the resource holds policies."""
        properties = self.properties(logical_id)
        documents = [properties.get("KeyPolicy"), properties.get("PolicyDocument")]
        documents += [policy for policy in properties.get("Policies", []) if isinstance(policy, dict)]
        for document in documents:
            statements = (document or {}).get("Statement", [])
            for statement in statements:
                if statement.get("Sid") == sid:
                    statements.remove(statement)
                    return self
        raise AssertionError(f"{logical_id} has no statement {sid}")

    def substitute(self, name: str, value: Any) -> Fork:
        """A DefinitionSubstitutions entry of the state machine."""
        self.properties(STATE_MACHINE).setdefault("DefinitionSubstitutions", {})[name] = value
        return self

    # -- the state machine's definition --------------------------------------------------------

    @property
    def definition(self) -> dict[str, Any]:
        """The state machine's ASL, inlined into the template (SAM's Definition) once read."""
        if self._definition is None:
            properties = self.properties(STATE_MACHINE)
            uri = properties.pop("DefinitionUri")
            self._definition = json.loads((self.source.parent / uri).read_text(encoding="utf-8"))
            properties["Definition"] = self._definition
        return self._definition

    def state(self, name: str) -> dict[str, Any]:
        states = self.definition["States"]
        assert name in states, f"the definition has no state {name!r}"
        return states[name]

    def insert_state_after(self, name: str, new_name: str, state: dict[str, Any]) -> Fork:
        """A state between name and the state it went to: name's Next (or its End) moves to the new one."""
        before = self.state(name)
        assert new_name not in self.definition["States"], f"{new_name!r} is in the definition already"
        added = copy.deepcopy(state)
        if "Next" in before:
            added["Next"] = before["Next"]
        elif before.get("Type") == "Succeed":
            raise AssertionError(f"{name!r} is a Succeed state: insert before it instead")
        else:
            assert before.pop("End", False), f"{name!r} has neither Next nor End"
            added["End"] = True
        before["Next"] = new_name
        self.definition["States"][new_name] = added
        return self

    # -- out -------------------------------------------------------------------------------

    def write(self, folder: Path, name: str = "template.json") -> Path:
        """The fork as JSON (a template format CloudFormation takes, and YAML too), with every
        local path (CodeUri, ContentUri, DefinitionUri) absolute, so it deploys from folder."""
        template = copy.deepcopy(self.template)
        for resource in template["Resources"].values():
            properties = resource.get("Properties", {})
            for key in ("CodeUri", "ContentUri", "DefinitionUri"):
                if isinstance(properties.get(key), str) and "://" not in properties[key]:
                    properties[key] = str((self.source.parent / properties[key]).resolve())
        path = folder / name
        path.write_text(json.dumps(template, indent=1), encoding="utf-8")
        return path


def source_folder(folder: Path, files: dict[str, str]) -> Path:
    """A folder of source files (a new function's or layer's code), made for the test."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return folder


__all__ = ["Fork", "ROOT", "STATE_MACHINE", "source_folder"]

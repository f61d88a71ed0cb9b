"""Every reach into a library's internals goes through the one gate (pipeline/local/patching.py):
a Patch, or a Private checked before use. This scan finds any other: `x._name`, getattr(x,
"_name") or `from lib import _name`, where _name is not the project's own.

The project's own private names: those a module of pipeline/ defines (module-level, in a class
body, or on self in a method of its class) are its own in that module; on self, those of any of
its classes (a subclass uses its base's). A library's private member with the same name as one
of ours in the same module would go unseen; none does today.
"""

from __future__ import annotations

import ast
import textwrap
from pathlib import Path

import pytest

from pipeline.local.patching import MotoChanged, Private

ROOT = Path(__file__).resolve().parents[2]
GATE = ROOT / "pipeline" / "local" / "patching.py"
ATTRIBUTE_BUILTINS = ("getattr", "setattr", "hasattr", "delattr")
# Named with an underscore, and documented as public: os._exit ends a process without its cleanup
# ("Python Standard Library: os, Process Management").
DOCUMENTED = {("os", "_exit")}


def _private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def _bound(node: ast.stmt) -> set[str]:
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return {node.name}
    if isinstance(node, ast.Assign):
        return {name.id for target in node.targets for name in ast.walk(target) if isinstance(name, ast.Name)}
    if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
        return {node.target.id}
    return set()


def _methods(tree: ast.Module) -> list[tuple[str, ast.FunctionDef | ast.AsyncFunctionDef]]:
    """(name of the instance or class, method) for every method of every class of the module."""
    return [(item.args.args[0].arg, item) for cls in ast.walk(tree) if isinstance(cls, ast.ClassDef)
            for item in cls.body if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)) and item.args.args]


def defined(tree: ast.Module) -> set[str]:
    """The names a module defines: module-level, in its classes' bodies, on self in their methods."""
    names = {name for node in tree.body for name in _bound(node)}
    for cls in ast.walk(tree):
        if isinstance(cls, ast.ClassDef):
            names |= {name for item in cls.body for name in _bound(item)}
    for me, method in _methods(tree):
        names |= {node.attr for node in ast.walk(method) if isinstance(node, ast.Attribute)
                  and isinstance(node.ctx, ast.Store) and isinstance(node.value, ast.Name) and node.value.id == me}
    return names


def reaches(tree: ast.Module, ours_anywhere: set[str]) -> list[str]:
    """Private members of others that the module touches without the gate: 'line: code'."""
    here = defined(tree)
    on_self = {id(node) for me, method in _methods(tree) for node in ast.walk(method)
               if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == me}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and _private(node.attr):
            if node.attr in here or (id(node) in on_self and node.attr in ours_anywhere):
                continue
            if isinstance(node.value, ast.Name) and (node.value.id, node.attr) in DOCUMENTED:
                continue
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ATTRIBUTE_BUILTINS:
            name = node.args[1] if len(node.args) > 1 else None
            if not (isinstance(name, ast.Constant) and isinstance(name.value, str) and _private(name.value)
                    and name.value not in here):
                continue
        elif isinstance(node, ast.ImportFrom) and not node.level and not (node.module or "").startswith("pipeline"):
            if not any(_private(alias.name) for alias in node.names):
                continue
        else:
            continue
        found.append((node.lineno, ast.unparse(node)[:80]))
    return [f"{line}: {code}" for line, code in sorted(found)]


def _modules() -> dict[Path, ast.Module]:
    return {path: ast.parse(path.read_text(encoding="utf-8")) for path in sorted((ROOT / "pipeline").rglob("*.py"))
            if path != GATE}


def test_no_private_member_of_a_library_is_touched_outside_the_gate():
    modules = _modules()
    ours = set().union(*(defined(tree) for tree in modules.values()))
    outside = {str(path.relative_to(ROOT)): found for path, tree in modules.items() if (found := reaches(tree, ours))}
    assert outside == {}


def test_the_scan_finds_each_way_of_reaching_in():
    module = ast.parse(textwrap.dedent('''
        from moto.core import _private_helper
        from pipeline.local.patching import Private

        EXECUTIONS = Private(Backend, "_get_executions")


        class Ours:
            def __init__(self, backend):
                self._backend = backend

            def running(self):
                self._backend._get_executions()
                getattr(self._backend, "_mutex")
                return EXECUTIONS(self._backend), self._backend
        '''))
    assert reaches(module, defined(module)) == [
        "2: from moto.core import _private_helper",
        "13: self._backend._get_executions",
        "14: getattr(self._backend, '_mutex')",
    ]


class Holder:
    present = 1


def test_a_private_member_a_library_dropped_is_named_in_one_line():
    with pytest.raises(MotoChanged, match=r"^tests\.unit\.test_moto_gate\.Holder\._gone is gone$"):
        Private(Holder, "_gone")
    on_instances = Private(Holder, "_set_in_init", instance=True)  # not checked until used
    with pytest.raises(MotoChanged, match="Holder._set_in_init is gone"):
        on_instances.of(Holder())
    with pytest.raises(MotoChanged):
        on_instances.set(Holder(), 1)  # setting a renamed member would change nothing moto reads

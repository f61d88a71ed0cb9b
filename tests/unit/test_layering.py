"""The layers of pipeline/: unit tests stay light (importing them loads neither moto nor the
offline cloud), no module imports itself round a circle, and the offline cloud's core stands on
the domain alone."""

import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT

CHECK = """
import importlib, pkgutil, sys
for module in pkgutil.iter_modules(["tests/unit"]):
    importlib.import_module(f"tests.unit.{module.name}")
heavy = sorted(name for name in sys.modules if name == "moto" or name.startswith(("moto.", "pipeline.local.cloud")))
print(" ".join(heavy))
"""


def test_unit_tests_import_neither_moto_nor_the_offline_cloud():
    done = subprocess.run([sys.executable, "-c", CHECK], cwd=ROOT, capture_output=True, text=True, check=True)
    assert done.stdout.strip() == ""


# -- the import graph of pipeline/ --------------------------------------------------------------

CORE_MAY_IMPORT = {"pipeline.clients", "pipeline.stack", "pipeline.template", "pipeline.events", "pipeline.payloads"}
"""What the offline cloud's core (pipeline/local/, speed/ aside) takes from the rest of pipeline/:
the domain, never the driver, the CLI, serve or the speed layer."""


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph() -> dict[str, set[str]]:
    """module -> the modules of pipeline/ it imports, wherever the import stands (at the top, in
    a function, under TYPE_CHECKING) and however (import_module with a literal name too)."""
    import ast

    paths = {_module_name(path): path for path in (ROOT / "pipeline").rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in paths.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        imported = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    parent = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join(parent + ([base] if base else []))
                imported |= {f"{base}.{alias.name}" if f"{base}.{alias.name}" in paths else base
                             for alias in node.names}
            elif isinstance(node, ast.Import):
                imported |= {alias.name for alias in node.names}
            elif (isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant)
                  and getattr(node.func, "attr", getattr(node.func, "id", "")) == "import_module"):
                imported.add(node.args[0].value)
        graph[name] = {module for module in imported if module in paths and module != name}
    return graph


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        for other in sorted(graph[module]):
            if other not in index:
                visit(other)
                low[module] = min(low[module], low[other])
            elif other in stack:
                low[module] = min(low[module], index[other])
        if low[module] == index[module]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == module:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for module in sorted(graph):
        if module not in index:
            visit(module)
    return found


def test_no_module_of_the_pipeline_imports_itself_round_a_circle():
    assert circles(import_graph()) == []


def test_the_circle_finder_finds_a_circle():
    assert circles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_the_core_imports_neither_the_speed_layer_nor_the_driver_nor_the_commands():
    graph = import_graph()
    core = [module for module in graph if module.startswith("pipeline.local")
            and not module.startswith("pipeline.local.speed")]
    assert len(core) > 20
    beyond = {module: sorted(imported for imported in graph[module] if not imported.startswith("pipeline.local")
                             and imported not in CORE_MAY_IMPORT or imported.startswith("pipeline.local.speed"))
              for module in core}
    assert {module: imported for module, imported in beyond.items() if imported} == {}


CLOUD_IMPORT = """
import sys
import moto
public = {name for name in sys.modules if name.startswith("moto")}
import pipeline.offline
print(" ".join(sorted(name for name in sys.modules if name.startswith("moto") and name not in public)))
"""


def test_importing_the_offline_cloud_imports_none_of_moto_s_internals_before_its_version_is_checked():
    """moto_version.load_core checks the installed moto first; importing the cloud imports only
    moto's package (for its version), not one of the modules the core reaches into."""
    done = subprocess.run([sys.executable, "-c", CLOUD_IMPORT], cwd=ROOT, capture_output=True, text=True, check=True)
    assert done.stdout.split() == []

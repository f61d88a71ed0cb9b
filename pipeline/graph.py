"""The state machine as a graph: read from the ASL file, written as Mermaid text or as SVG.

The definition comes from the template (DefinitionUri with its DefinitionSubstitutions, each
placeholder shown as the resource it names), so the picture is of what is deployed. The SVG is
laid out here, in layers from the start state, so it needs no tool and no network.
"""

from __future__ import annotations

import html
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipeline.template import state_machine_definition

NODE_WIDTH, NODE_HEIGHT, LAYER_GAP, COLUMN_GAP, MARGIN = 210, 46, 64, 36, 24


@dataclass(frozen=True)
class Node:
    name: str
    kind: str
    detail: str = ""
    retries: str = ""


@dataclass(frozen=True)
class Edge:
    source: str
    target: str
    label: str = ""
    kind: str = "next"  # next | choice | default | catch


@dataclass(frozen=True)
class Highlight:
    """A path through the graph: each visited state's class, and the transitions taken."""

    visited: dict[str, str]
    taken: frozenset[tuple[str, str]]


@dataclass
class StateGraph:
    start: str
    nodes: dict[str, Node] = field(default_factory=dict)
    edges: list[Edge] = field(default_factory=list)

    @classmethod
    def from_definition(cls, definition: dict[str, Any]) -> StateGraph:
        graph = cls(start=definition["StartAt"])
        for name, state in definition["States"].items():
            graph.nodes[name] = Node(name, state["Type"], _detail(state), _retries(state))
            if "Next" in state:
                graph.edges.append(Edge(name, state["Next"]))
            for rule in state.get("Choices", []):
                graph.edges.append(Edge(name, rule["Next"], _condition(rule), "choice"))
            if "Default" in state:
                graph.edges.append(Edge(name, state["Default"], "otherwise", "default"))
            for catcher in state.get("Catch", []):
                graph.edges.append(Edge(name, catcher["Next"], "catch " + ", ".join(catcher["ErrorEquals"]), "catch"))
        return graph

    @classmethod
    def from_template(cls, template_path: Path, logical_id: str | None = None) -> StateGraph:
        """The deployed definition: each substitution shown as the resource it names."""
        return cls.from_definition(state_machine_definition(template_path, logical_id, _describe_reference))

    # -- layout ----------------------------------------------------------------------------------

    def depths(self) -> dict[str, int]:
        """Each state's layer: the longest path to it from the start."""
        depth = {self.start: 0}
        changed = True
        while changed:
            changed = False
            for edge in self.edges:
                if edge.source in depth and depth.get(edge.target, -1) < depth[edge.source] + 1 <= len(self.nodes):
                    depth[edge.target] = depth[edge.source] + 1
                    changed = True
        for name in self.nodes:
            depth.setdefault(name, max(depth.values()) + 1)
        return depth

    def layout(self) -> tuple[dict[str, tuple[float, float]], list[list[tuple[float, float]]]]:
        """Node corners, and for each edge the points it passes through.

        Edges that skip layers get a virtual node in each layer they cross, so that they are
        ordered and placed like states and never run through one.
        """
        depth = self.depths()
        layers: list[list[str]] = [[] for _ in range(max(depth.values()) + 1)]
        for name in self.nodes:
            layers[depth[name]].append(name)
        chains: list[list[str]] = []
        for index, edge in enumerate(self.edges):
            chain = [edge.source]
            for layer in range(depth[edge.source] + 1, depth[edge.target]):
                virtual = f"~{index}:{layer}"
                layers[layer].append(virtual)
                chain.append(virtual)
            chains.append(chain + [edge.target])
        links = [(a, b) for chain in chains for a, b in zip(chain, chain[1:]) if depth.get(a, 0) < depth.get(b, 1) or a.startswith("~")]
        for _ in range(6):  # barycentre sweeps, down then up
            for order in (range(1, len(layers)), range(len(layers) - 2, -1, -1)):
                for row in order:
                    neighbour_row = row - 1 if order.step == 1 else row + 1
                    position = {name: i for i, name in enumerate(layers[neighbour_row])}
                    def weight(name: str, position=position, current=list(layers[row])) -> float:
                        ends = [position[a] for a, b in links if b == name and a in position]
                        ends += [position[b] for a, b in links if a == name and b in position]
                        return sum(ends) / len(ends) if ends else current.index(name)
                    layers[row].sort(key=weight)

        def width(name: str) -> float:
            return 16 if name.startswith("~") else NODE_WIDTH

        total = max(sum(width(n) for n in layer) + COLUMN_GAP * (len(layer) - 1) for layer in layers)
        corners: dict[str, tuple[float, float]] = {}
        for row, layer in enumerate(layers):
            x = MARGIN + (total - sum(width(n) for n in layer) - COLUMN_GAP * (len(layer) - 1)) / 2
            for name in layer:
                corners[name] = (x + (width(name) - NODE_WIDTH) / 2, MARGIN + 30 + row * (NODE_HEIGHT + LAYER_GAP))
                x += width(name) + COLUMN_GAP
        routes = []
        for chain in chains:
            points = [(corners[chain[0]][0] + NODE_WIDTH / 2, corners[chain[0]][1] + NODE_HEIGHT)]
            points += [(corners[v][0] + NODE_WIDTH / 2, corners[v][1] + NODE_HEIGHT / 2) for v in chain[1:-1]]
            points.append((corners[chain[-1]][0] + NODE_WIDTH / 2, corners[chain[-1]][1]))
            routes.append(points)
        return {name: corners[name] for name in self.nodes}, routes

    # -- Mermaid ---------------------------------------------------------------------------------

    def mermaid(self) -> str:
        ids = {name: f"s{index}" for index, name in enumerate(self.nodes)}
        lines = ["flowchart TD", f"    start(( )) --> {ids[self.start]}"]
        for name, node in self.nodes.items():
            label = _mermaid_text(name + (f"<br/><small>{node.detail}</small>" if node.detail else ""))
            shape = {
                "Choice": '{{"%s"}}', "Succeed": '(["%s"])', "Fail": '(["%s"])', "Pass": '["%s"]',
            }.get(node.kind, '["%s"]')
            lines.append(f"    {ids[name]}{shape % label}")
        for edge in self.edges:
            arrow = "-.->" if edge.kind == "catch" else "-->"
            label = f"|{_mermaid_text(edge.label)}|" if edge.label else ""
            lines.append(f"    {ids[edge.source]} {arrow}{label} {ids[edge.target]}")
        succeeded = [ids[n] for n, node in self.nodes.items() if node.kind == "Succeed"]
        failed = [ids[n] for n, node in self.nodes.items() if node.kind == "Fail"]
        lines.append("    classDef succeed fill:#d3f9d8,stroke:#2b8a3e")
        lines.append("    classDef fail fill:#ffe3e3,stroke:#c92a2a")
        if succeeded:
            lines.append(f"    class {','.join(succeeded)} succeed")
        if failed:
            lines.append(f"    class {','.join(failed)} fail")
        return "\n".join(lines) + "\n"

    # -- SVG -------------------------------------------------------------------------------------

    def svg(self, element_id: str = "state-machine", highlight: Highlight | None = None) -> str:
        placed, routes = self.layout()
        width = max(x for x, _ in placed.values()) + NODE_WIDTH + MARGIN
        height = max(y for _, y in placed.values()) + NODE_HEIGHT + MARGIN
        parts = [
            f'<svg xmlns="http://www.w3.org/2000/svg" id="{element_id}" class="state-machine" '
            f'viewBox="0 0 {width:.0f} {height:.0f}" width="{width:.0f}" height="{height:.0f}" '
            'font-family="system-ui, -apple-system, Segoe UI, sans-serif" font-size="13">',
            f'<defs><marker id="arrow-{element_id}" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="9" '
            'markerHeight="9" markerUnits="userSpaceOnUse" orient="auto-start-reverse">'
            '<path d="M 0 0 L 10 5 L 0 10 z" fill="#495057"/></marker></defs>',
            f"<style>{SVG_STYLE}</style>",
        ]
        sx, sy = placed[self.start]
        if routes:  # a virtual lane can lie right of every state
            width = max(width, max(x for route in routes for x, _ in route) + MARGIN)
        parts.append(f'<circle class="start" cx="{sx + NODE_WIDTH / 2:.0f}" cy="{MARGIN + 6}" r="7"/>')
        parts.append(f'<line class="edge" x1="{sx + NODE_WIDTH / 2:.0f}" y1="{MARGIN + 13}" '
                     f'x2="{sx + NODE_WIDTH / 2:.0f}" y2="{sy}" marker-end="url(#arrow-{element_id})"/>')
        for edge, route in zip(self.edges, routes):
            extra = ""
            if highlight is not None:
                extra = " taken" if (edge.source, edge.target) in highlight.taken else " dimmed"
            parts.append(self._edge_svg(edge, route, extra, f"arrow-{element_id}"))
        for name, node in self.nodes.items():
            extra = ""
            if highlight is not None:
                extra = f" visited path-{highlight.visited[name]}" if name in highlight.visited else " dimmed"
            parts.append(self._node_svg(node, *placed[name], extra))
        parts.append("</svg>")
        return "\n".join(parts) + "\n"

    @staticmethod
    def _edge_svg(edge: Edge, route: list[tuple[float, float]], extra: str, marker: str) -> str:
        if route[-1][1] <= route[0][1]:  # an edge back up: go round the side
            (x1, y1), (x2, y2) = route[0], route[-1]
            side = max(x1, x2) + NODE_WIDTH / 2 + 30
            path = f"M {x1:.0f} {y1:.0f} C {side:.0f} {y1:.0f}, {side:.0f} {y2:.0f}, {x2:.0f} {y2:.0f}"
        else:
            path = f"M {route[0][0]:.0f} {route[0][1]:.0f}"
            for (ax, ay), (bx, by) in zip(route, route[1:]):
                middle = (ay + by) / 2
                path += f" C {ax:.0f} {middle:.0f}, {bx:.0f} {middle:.0f}, {bx:.0f} {by:.0f}"
        label = ""
        if edge.label:
            (ax, ay), (bx, by) = route[0], route[1]
            text = html.escape(_short(edge.label, 34))
            label = (f'<text class="edge-label" x="{(ax + bx) / 2:.0f}" y="{(ay + by) / 2 + 4:.0f}" '
                     f'text-anchor="middle">{text}</text>')
        return (f'<g class="edge-group {edge.kind}{extra}" data-source="{html.escape(edge.source)}" '
                f'data-target="{html.escape(edge.target)}"><path class="edge" d="{path}" '
                f'marker-end="url(#{marker})"/>{label}</g>')

    @staticmethod
    def _node_svg(node: Node, x: float, y: float, extra: str = "") -> str:
        kind = node.kind.lower()
        cx, cy = x + NODE_WIDTH / 2, y + NODE_HEIGHT / 2
        if node.kind == "Choice":
            shape = (f'<polygon class="shape" points="{cx},{y} {x + NODE_WIDTH},{cy} {cx},{y + NODE_HEIGHT} {x},{cy}"/>')
        else:
            radius = NODE_HEIGHT / 2 if node.kind in ("Succeed", "Fail") else 6
            shape = (f'<rect class="shape" x="{x}" y="{y}" width="{NODE_WIDTH}" height="{NODE_HEIGHT}" '
                     f'rx="{radius}"/>')
        title = html.escape(node.name)
        detail = node.detail + (f" · retry {node.retries}" if node.retries else "")
        lines = f'<text class="name" x="{cx}" y="{cy - (5 if detail else -4)}" text-anchor="middle">{title}</text>'
        if detail:
            lines += (f'<text class="detail" x="{cx}" y="{cy + 12}" text-anchor="middle">'
                      f"{html.escape(_short(detail, 36))}</text>")
        return f'<g class="node {kind}{extra}" data-state="{title}"><title>{title}</title>{shape}{lines}</g>'


SVG_STYLE = """
.node .shape { fill: #f8f9fa; stroke: #868e96; stroke-width: 1.2; }
.node.task .shape { fill: #e7f5ff; stroke: #1c7ed6; }
.node.choice .shape { fill: #fff9db; stroke: #f08c00; }
.node.succeed .shape { fill: #ebfbee; stroke: #2b8a3e; }
.node.fail .shape { fill: #fff5f5; stroke: #c92a2a; }
.node .name { font-weight: 600; fill: #212529; }
.node .detail { font-size: 10.5px; fill: #495057; }
.edge { fill: none; stroke: #adb5bd; stroke-width: 1.4; }
.catch .edge { stroke-dasharray: 5 4; stroke: #e8590c; }
.edge-label { font-size: 10.5px; fill: #495057; paint-order: stroke; stroke: #fff; stroke-width: 4px; }
.start { fill: #212529; }
.visited .shape { stroke-width: 3; }
.visited.path-succeeded .shape { stroke: #2b8a3e; fill: #d3f9d8; }
.visited.path-caught .shape { stroke: #e8590c; fill: #fff4e6; }
.visited.path-failed .shape { stroke: #c92a2a; fill: #ffe3e3; }
.taken .edge { stroke: #343a40; stroke-width: 2.6; }
.dimmed { opacity: 0.35; }
"""


def _describe_reference(value: Any) -> str:
    """A substitution's value as the resource it names: !GetAtt CheckExtFunction.Arn -> CheckExtFunction."""
    if isinstance(value, dict):
        (function, argument), = value.items()
        if function == "Fn::GetAtt":
            return (argument if isinstance(argument, list) else argument.split("."))[0]
        if function == "Ref":
            return argument.replace("AWS::", "")
    return str(value)


def _detail(state: dict[str, Any]) -> str:
    resource = state.get("Resource", "")
    if resource.endswith(":lambda:invoke"):
        target = state.get("Parameters", state.get("Arguments", {})).get("FunctionName", "")
        return f"Lambda {target}"
    if resource.endswith(":sns:publish"):
        return "SNS Publish"
    return ""


def _retries(state: dict[str, Any]) -> str:
    attempts = [retrier.get("MaxAttempts", 3) for retrier in state.get("Retry", [])]
    return f"×{max(attempts)}" if attempts else ""


def _condition(rule: dict[str, Any]) -> str:
    if "Condition" in rule:
        return re.sub(r"^\{%\s*|\s*%\}$", "", rule["Condition"])
    variable = rule.get("Variable", "")
    for operator, value in rule.items():
        if operator not in ("Variable", "Next"):
            symbol = {"StringEquals": "==", "StringMatches": "matches", "NumericEquals": "=="}.get(operator, operator)
            shown = f'"{value}"' if isinstance(value, str) else json.dumps(value)
            return f"{variable.removeprefix('$.')} {symbol} {shown}"
    return "rule"


def _short(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _mermaid_text(text: str) -> str:
    """Mermaid labels take entity codes for the characters its syntax uses."""
    for char, code in (('"', "#quot;"), ("{", "#123;"), ("}", "#125;"), ("|", "#124;")):
        text = text.replace(char, code)
    return text


README_START = "<!-- state-machine:start (generated by `make graph`: edit statemachine/, not this block) -->"
README_END = "<!-- state-machine:end -->"


def readme_block(graph: StateGraph) -> str:
    return f"{README_START}\n```mermaid\n{graph.mermaid()}```\n{README_END}"


def update_readme(readme: Path, graph: StateGraph) -> bool:
    """Replace the generated block in the README; True if it changed."""
    text = readme.read_text(encoding="utf-8")
    start, end = text.find(README_START), text.find(README_END)
    if start < 0 or end < 0:
        raise ValueError(f"{readme} has no generated state machine block ({README_START!r} ... {README_END!r})")
    updated = text[:start] + readme_block(graph) + text[end + len(README_END):]
    if updated != text:
        readme.write_text(updated, encoding="utf-8")
    return updated != text

"""`pipeline graph` and `pipeline run --report`: the picture matches the ASL, and a browser renders it."""

import re
import subprocess
from html.parser import HTMLParser

import pytest

from pipeline.cli import main
from pipeline.graph import StateGraph, readme_block
from tests.conftest import ROOT, SAMPLES, TEMPLATE
from tests.pipeline.browser import FLAGS, chromium

STATES = {
    "Check File Extension", "Route By Extension", "Skip Folder Marker", "Invalid Extension", "Process CSV",
    "Processed", "Describe Unreadable Event", "Has Error Message", "Read Error Message", "Describe Function Error",
    "Notify Failure", "Pipeline Failed",
}


def test_the_graph_has_every_state_and_transition_of_the_definition():
    graph = StateGraph.from_template(TEMPLATE)
    assert set(graph.nodes) == STATES
    assert graph.nodes["Check File Extension"].detail == "Lambda CheckExtFunction"
    catches = {(e.source, e.target) for e in graph.edges if e.kind == "catch"}
    assert catches == {("Check File Extension", "Describe Unreadable Event"), ("Process CSV", "Has Error Message")}


def test_no_edge_is_drawn_through_a_state():
    graph = StateGraph.from_template(TEMPLATE)
    corners, routes = graph.layout()
    for edge, route in zip(graph.edges, routes):
        for x, y in route[1:-1]:
            for name, (left, top) in corners.items():
                assert not (left <= x <= left + 210 and top <= y <= top + 46), (edge, name)


def test_the_documented_diagram_is_the_generated_one():
    readme = (ROOT / "docs" / "how-it-works.md").read_text(encoding="utf-8")
    assert readme_block(StateGraph.from_template(TEMPLATE)) in readme, "run `make graph`"
    svg = (ROOT / "docs" / "state-machine.svg").read_text(encoding="utf-8")
    assert svg == StateGraph.from_template(TEMPLATE).svg(), "run `make graph`"


def test_graph_command_prints_mermaid(capsys):
    assert main(["graph", "--template", str(TEMPLATE)]) == 0
    assert capsys.readouterr().out.startswith("flowchart TD\n")


class _Elements(HTMLParser):
    def __init__(self):
        super().__init__()
        self.sources = []

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        if tag in ("script", "img", "link", "iframe") and (attributes.get("src") or attributes.get("href")):
            self.sources.append(attributes.get("src") or attributes.get("href"))


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    path = tmp_path_factory.mktemp("report") / "report.html"
    samples = sorted(str(p) for p in SAMPLES.iterdir())
    code = main(["run", *samples, "--time-scale", "0", "--report", str(path),
                 "--parameter-overrides", "FailureSeed=demo"])
    assert code == 0
    return path


def test_the_report_is_self_contained(report):
    text = report.read_text(encoding="utf-8")
    elements = _Elements()
    elements.feed(text)
    assert elements.sources == []
    assert "@import" not in text and "url(http" not in text and "fonts.googleapis" not in text


@pytest.mark.slow
def test_chromium_renders_the_graph_and_every_outcome(report, tmp_path):
    browser = chromium()
    profile = tmp_path / "profile"
    dom = subprocess.run(
        [browser, *FLAGS, f"--user-data-dir={profile}", "--virtual-time-budget=2000", "--dump-dom",
         report.as_uri()], capture_output=True, text=True, timeout=120, check=True,
    ).stdout
    overview = dom[dom.index('id="overview-graph"'):]
    overview = overview[: overview.index("</svg>")]
    assert set(re.findall(r'data-state="([^"]+)"', overview)) == STATES
    assert "visited path-succeeded" in overview  # the page's script highlighted the first file's path
    badges = re.findall(r'<h2><span class="badge \w+">(\w+)</span> <code class="key">([^<]+)</code>', dom)
    outcomes = {key.replace("&amp;", "&"): status for status, key in badges}
    assert outcomes == {"Q3 customers+leads.CSV": "SUCCEEDED", "inventory.csv": "FAILED", "notes.txt": "FAILED",
                        "returns.csv": "SUCCEEDED", "sales.csv": "SUCCEEDED"}
    screenshot = tmp_path / "report.png"
    subprocess.run([browser, *FLAGS, f"--user-data-dir={profile}", f"--screenshot={screenshot}",
                    "--window-size=1400,1000", report.as_uri()], capture_output=True, timeout=120, check=True)
    assert screenshot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and screenshot.stat().st_size > 20_000

"""`pipeline run --report FILE.html`: one self-contained page of what happened to every file.

The page holds the state machine as inline SVG and, for each file, its path through it
(succeeded, caught, or failed), the execution history with retries and their waits, the Lambda
invocation reports of the offline runtime, and the notification as it would be emailed. It loads
nothing from the network: no CDN, no web font, no external script.
"""

from __future__ import annotations

import collections
import html
import json
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from pipeline.results import FileResult, StateVisit
from pipeline.graph import Highlight, StateGraph

PER_FILE_GRAPHS = 50  # above this many files, one shared graph highlights the selected file


def highlight_for(result: FileResult) -> Highlight:
    """Succeeded paths are green; a failure that was caught and notified is orange up to its Fail
    state, which is red; a failure nobody was told about is red all along."""
    if result.status == "SUCCEEDED":
        colour = "succeeded"
    elif result.notification is not None:
        colour = "caught"
    else:
        colour = "failed"
    visited = {visit.name: colour for visit in result.visits}
    for visit in result.visits:
        if visit.outcome == "failed":
            visited[visit.name] = "failed"
    taken = frozenset(zip(result.states, result.states[1:]))
    return Highlight(visited, taken)


def write_report(path: Path, results: Sequence[FileResult], graph: StateGraph, *, source: str,
                 invocations: Sequence[Any] = ()) -> None:
    path.write_text(render_report(results, graph, source=source, invocations=invocations), encoding="utf-8")


def render_report(results: Sequence[FileResult], graph: StateGraph | None, *, source: str, invocations: Sequence[Any] = (),
                  live_version: int | None = None) -> str:
    """The report page; with live_version, a page of `pipeline serve` that follows new results
    without a reload (it asks the server for its version every second). No graph: no stack yet."""
    by_digest: dict[str, list[Any]] = collections.defaultdict(list)
    for invocation in invocations:
        by_digest[invocation.payload_digest].append(invocation)
    counts = collections.Counter(result.status for result in results)
    per_file_graphs = len(results) <= PER_FILE_GRAPHS
    sections = [
        _file_section(number, result, graph, by_digest, per_file_graphs, bool(invocations))
        for number, result in enumerate(results)
    ]
    summary = " · ".join(f'<span class="badge {status.lower()}">{count} {status.lower()}</span>'
                         for status, count in sorted(counts.items()))
    page = PAGE.format(
        title=html.escape(f"{'pipeline serve, live' if live_version is not None else 'File pipeline run'}: "
                          f"{len(results)} files"),
        style=STYLE,
        source=html.escape(source),
        generated=datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        summary=summary,
        unaccounted=sum(not result.accounted_for for result in results),
        graph=graph.svg("overview-graph") if graph else '<p class="hint">No stack is deployed yet.</p>',
        sections="\n".join(sections),
        # Inside <script> entities are not decoded: keep the JSON raw, and never let it close the tag.
        paths=json.dumps({str(n): _path_payload(r) for n, r in enumerate(results)}).replace("</", "<\\/"),
        script=SCRIPT + (LIVE_SCRIPT.replace("VERSION", str(live_version)) if live_version is not None else ""),
    )
    return page


def _path_payload(result: FileResult) -> dict[str, Any]:
    highlight = highlight_for(result)
    return {"visited": highlight.visited, "taken": [list(pair) for pair in highlight.taken]}


def _file_section(number: int, result: FileResult, graph: StateGraph, by_digest: dict[str, list[Any]],
                  per_file_graph: bool, offline: bool) -> str:
    status = result.status.lower()
    parts = [
        f'<section class="file {status}" id="file-{number}" data-file="{number}" data-status="{result.status}">',
        f'<h2><span class="badge {status}">{html.escape(result.status)}</span> <code class="key">{html.escape(result.key)}</code></h2>',
        '<dl class="facts">',
        _fact("File", result.file),
        _fact("Bucket", result.bucket),
        _fact("Duration", f"{result.duration_ms:.0f} ms" if result.duration_ms is not None else "-"),
        _fact("Execution", result.execution_arn or "-"),
    ]
    if result.error:
        parts.append(_fact("Error", result.error))
        parts.append(_fact("Cause", result.cause or ""))
    if result.reason:
        parts.append(_fact("Reason", result.reason))
    parts.append("</dl>")
    if per_file_graph and result.visits and graph is not None:
        parts.append(f'<div class="graph">{graph.svg(f"graph-{number}", highlight_for(result))}</div>')
    if result.visits:
        parts.append('<table class="history"><thead><tr><th>State</th><th>Attempts</th><th>Errors</th>'
                     "<th>Waits before retry</th><th>Lambda invocations</th></tr></thead><tbody>")
        for visit in result.visits:
            parts.append(_visit_row(visit, by_digest, offline))
        parts.append("</tbody></table>")
    if result.notification:
        parts.append('<div class="email"><div class="email-head">Email · Subject: '
                     f"<strong>{html.escape(result.notification.subject or '')}</strong></div>"
                     f"<pre>{html.escape(result.notification.message)}</pre></div>")
    parts.append("</section>")
    return "\n".join(parts)


def _visit_row(visit: StateVisit, by_digest: dict[str, list[Any]], offline: bool) -> str:
    errors = ", ".join(visit.errors) or "-"
    waits = ", ".join(f"{wait:.2f} s" for wait in visit.waits_s) or "-"
    reports = []
    for digest in dict.fromkeys(visit.payload_digests):
        for invocation in by_digest.get(digest, []):
            line = (f"{invocation.duration_ms:.1f} ms, {invocation.max_memory_mb} of {invocation.memory_mb} MB"
                    + (f", cold start {invocation.init_ms:.0f} ms" if invocation.init_ms is not None else "")
                    + (f", {invocation.error_type}" if invocation.error_type else ""))
            reports.append(f'<div class="invocation" title="{html.escape(invocation.report_line())}">{html.escape(line)}</div>')
    if not reports:
        reports = ["-" if offline or not visit.payload_digests else "in the function's log group"]
    outcome = f' class="outcome-{visit.outcome}"' if visit.outcome == "failed" else ""
    return (f"<tr{outcome}><td>{html.escape(visit.name)}</td><td>{visit.attempts or '-'}</td>"
            f"<td>{html.escape(errors)}</td><td>{waits}</td><td>{''.join(reports)}</td></tr>")


def _fact(label: str, value: str) -> str:
    return f"<dt>{label}</dt><dd>{html.escape(value)}</dd>"


PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>{style}</style>
</head>
<body>
<header>
<h1>{title}</h1>
<p class="meta">{source} · generated {generated}</p>
<p class="summary">{summary} · <strong>{unaccounted}</strong> unaccounted for</p>
</header>
<main>
<aside class="overview">
<h2>State machine</h2>
<p class="hint">Select a file to see its path.</p>
{graph}
</aside>
<div class="files">
{sections}
</div>
</main>
<script type="application/json" id="paths">{paths}</script>
<script>{script}</script>
</body>
</html>
"""

STYLE = """
:root { color-scheme: light; --ok: #2b8a3e; --caught: #e8590c; --bad: #c92a2a; --muted: #868e96; }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: #212529; background: #f1f3f5; }
header { padding: 16px 24px; background: #fff; border-bottom: 1px solid #dee2e6; }
h1 { margin: 0 0 4px; font-size: 20px; }
.meta { margin: 0; color: var(--muted); }
.summary { margin: 8px 0 0; }
main { display: grid; grid-template-columns: minmax(360px, 560px) 1fr; gap: 16px; padding: 16px 24px; align-items: start; }
.overview { position: sticky; top: 12px; background: #fff; border: 1px solid #dee2e6; border-radius: 8px; padding: 12px; }
.overview svg { width: 100%; height: auto; }
.overview h2, .file h2 { margin: 0 0 8px; font-size: 16px; }
.hint { margin: 0 0 8px; color: var(--muted); }
.file { background: #fff; border: 1px solid #dee2e6; border-left: 5px solid var(--muted); border-radius: 8px; padding: 12px 16px; margin-bottom: 12px; cursor: pointer; }
.file.succeeded { border-left-color: var(--ok); }
.file.failed, .file.dead_lettered, .file.timed_out { border-left-color: var(--bad); }
.file.ignored { border-left-color: var(--muted); }
.file.selected { box-shadow: 0 0 0 3px #74c0fc; }
.badge { display: inline-block; padding: 1px 8px; border-radius: 10px; font-size: 12px; font-weight: 600; background: #e9ecef; }
.badge.succeeded { background: #d3f9d8; color: var(--ok); }
.badge.failed, .badge.dead_lettered, .badge.timed_out { background: #ffe3e3; color: var(--bad); }
code.key { font-size: 14px; word-break: break-all; }
.facts { display: grid; grid-template-columns: max-content 1fr; gap: 2px 12px; margin: 8px 0; }
.facts dt { color: var(--muted); }
.facts dd { margin: 0; word-break: break-all; }
.graph svg { width: 100%; max-width: 460px; height: auto; float: right; margin: 0 0 8px 12px; }
.file::after { content: ""; display: block; clear: both; }
table.history { border-collapse: collapse; width: 100%; margin: 8px 0; }
table.history th, table.history td { text-align: left; border-bottom: 1px solid #e9ecef; padding: 4px 6px; vertical-align: top; }
table.history tr.outcome-failed td:first-child { color: var(--bad); font-weight: 600; }
.invocation { font-size: 12px; color: #495057; }
.email { border: 1px solid #dee2e6; border-radius: 6px; margin-top: 8px; }
.email-head { padding: 6px 10px; background: #f8f9fa; border-bottom: 1px solid #dee2e6; }
.email pre { margin: 0; padding: 10px; white-space: pre-wrap; word-break: break-all; font-size: 12.5px; }
@media (max-width: 900px) { main { grid-template-columns: 1fr; } .overview { position: static; } }
"""

SCRIPT = """
window.showPaths = function (selected) {
  var paths = JSON.parse(document.getElementById('paths').textContent);
  var graph = document.getElementById('overview-graph');
  function show(number) {
    window.selectedFile = number;
    var path = paths[number];
    document.querySelectorAll('.file').forEach(function (s) { s.classList.toggle('selected', s.dataset.file === number); });
    graph.querySelectorAll('.node').forEach(function (node) {
      var colour = path.visited[node.dataset.state];
      node.classList.remove('visited', 'path-succeeded', 'path-caught', 'path-failed', 'dimmed');
      if (colour) { node.classList.add('visited', 'path-' + colour); } else { node.classList.add('dimmed'); }
    });
    graph.querySelectorAll('.edge-group').forEach(function (edge) {
      var taken = path.taken.some(function (p) { return p[0] === edge.dataset.source && p[1] === edge.dataset.target; });
      edge.classList.toggle('taken', taken);
      edge.classList.toggle('dimmed', !taken);
    });
  }
  document.querySelectorAll('.file').forEach(function (section) {
    section.addEventListener('click', function () { show(section.dataset.file); });
  });
  var first = document.querySelector('.file');
  if (selected !== undefined && paths[selected]) { show(selected); } else if (first) { show(first.dataset.file); }
};
window.showPaths();
"""

# `pipeline serve`: when the server's version changes, fetch the page again and swap its parts in.
LIVE_SCRIPT = """
(function () {
  var version = VERSION;
  function swap(text) {
    var next = new DOMParser().parseFromString(text, 'text/html');
    ['header', 'main'].forEach(function (tag) {
      document.querySelector(tag).innerHTML = next.querySelector(tag).innerHTML;
    });
    document.getElementById('paths').textContent = next.getElementById('paths').textContent;
    document.title = next.title;
    window.showPaths(window.selectedFile);
  }
  setInterval(function () {
    fetch('/_pipeline/version', {cache: 'no-store'}).then(function (r) { return r.text(); }).then(function (text) {
      if (Number(text) !== version) {
        version = Number(text);
        return fetch('/', {cache: 'no-store', headers: {Accept: 'text/html'}}).then(function (r) { return r.text(); }).then(swap);
      }
    }).catch(function () { document.title = 'pipeline serve stopped'; });
  }, 1000);
})();
"""

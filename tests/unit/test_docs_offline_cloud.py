"""docs/offline-cloud.md's "Where a change goes" stays true: every file it names exists, and
every module of pipeline/local/ is named by a row."""

from __future__ import annotations

import re

from tests.conftest import ROOT

DOC = ROOT / "docs" / "offline-cloud.md"
# Where a name in the table is looked for when it is not a path from the repository's root.
FOLDERS = (ROOT, ROOT / "pipeline" / "local", ROOT / "pipeline")


def table_rows() -> list[str]:
    section = DOC.read_text(encoding="utf-8").split("## Where a change goes", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| ") and not line.startswith("| ---")]
    assert len(rows) > 10, "the table is gone"
    return rows[1:]  # the header row


def named_files(rows: list[str]) -> dict[str, list]:
    """Each file or folder a row names in backquotes, and where it is in the repository."""
    found = {}
    for row in rows:
        for name in re.findall(r"`([^`\s]+)`", row):
            if "/" in name or name.endswith((".py", ".toml", ".yaml", ".json")):
                found[name] = [folder / name for folder in FOLDERS if (folder / name).exists()]
    return found


def test_every_file_the_table_names_exists_and_is_one_file():
    found = named_files(table_rows())
    assert {name: where for name, where in found.items() if len(where) != 1} == {}


def test_every_module_of_the_offline_cloud_is_named_by_a_row():
    named = {where[0].resolve() for where in named_files(table_rows()).values() if where}
    modules = {path.resolve() for path in (ROOT / "pipeline" / "local").rglob("*.py") if path.name != "__init__.py"}
    assert sorted(str(path.relative_to(ROOT)) for path in modules - named) == []

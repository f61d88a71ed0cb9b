"""The `sam local invoke` lines of README.md: the test runs exactly these."""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from pathlib import Path

SECTION = "### `sam local invoke`, one fixture per path"
PROMPT = "$ sam local invoke "


@dataclass(frozen=True)
class InvokeLine:
    text: str
    """The command as the README shows it, without its prompt and comment."""
    function: str
    event: str

    @property
    def argv(self) -> list[str]:
        return shlex.split(self.text)


def invoke_lines(readme: Path) -> list[InvokeLine]:
    """Each `$ sam local invoke FUNCTION -e EVENT` line of the README's section SECTION, in order."""
    lines = readme.read_text(encoding="utf-8").splitlines()
    if SECTION not in lines:
        raise ValueError(f"{readme} has no section {SECTION!r}")
    found = []
    for line in lines[lines.index(SECTION) + 1:]:
        if line.startswith("#"):
            break
        if not line.startswith(PROMPT):
            continue
        argv = shlex.split(line[2:], comments=True)
        if len(argv) != 6 or argv[4] != "-e":
            raise ValueError(f"expected `$ sam local invoke FUNCTION -e EVENT  # comment`, got {line!r}")
        found.append(InvokeLine(text=shlex.join(argv), function=argv[3], event=argv[5]))
    return found

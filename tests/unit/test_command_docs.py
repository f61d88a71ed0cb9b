"""docs/pipeline-command.md names every option of every subcommand, so the page cannot fall behind."""

import argparse
import re

from pipeline.cli import build_parser
from tests.conftest import ROOT


def test_every_option_of_every_command_is_documented():
    page = (ROOT / "docs" / "pipeline-command.md").read_text(encoding="utf-8")
    commands = next(action for action in build_parser()._actions if isinstance(action, argparse._SubParsersAction))
    missing = []
    for name, parser in commands.choices.items():
        assert f"`{name}" in page, name
        for action in parser._actions:
            option = next((text for text in action.option_strings if text.startswith("--")), None)
            if option and option != "--help" and not re.search(rf"(?<![\w-]){re.escape(option)}(?![\w-])", page):
                missing.append(f"{name} {option}")
    assert missing == []

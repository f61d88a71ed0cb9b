"""template.yaml with every optional part switched on, for checkov.

checkov evaluates a template's conditions with the parameters' defaults, so what only a
non-default parameter creates (the sweep's table, grants and schedule; the CloudTrail trigger;
the email subscription) is never scanned in template.yaml itself. This writes the template with
those defaults changed, as JSON (a format CloudFormation and checkov read).

    python scripts/lint_options.py OUT.json
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pipeline.template import load_template  # noqa: E402

OPTIONS_ON = {"SweepEveryHours": "24", "TriggerSource": "CloudTrail", "NotificationEmail": "ops@example.com"}


def main(out: str) -> None:
    template = load_template(ROOT / "template.yaml")
    for name, value in OPTIONS_ON.items():
        template["Parameters"][name]["Default"] = value
    Path(out).write_text(json.dumps(template, indent=1), encoding="utf-8")


if __name__ == "__main__":
    main(sys.argv[1])

"""Unit tests stay light: importing them (and the shared conftest) loads neither moto nor the offline cloud."""

import subprocess
import sys

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

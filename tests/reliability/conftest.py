"""The offline cloud's fixtures (tests/offline.py)."""

from tests.offline import deploy, files  # noqa: F401 - fixtures

"""Fixtures for the run lifecycle tests: a package index whose downloads a test holds."""

from __future__ import annotations

import uuid

import pytest

from tests.package_index import HeldIndex, make_wheel


@pytest.fixture
def held_index():
    """An index serving one package (a fresh name each test, so no cache has it) held until released."""
    name = "held" + uuid.uuid4().hex[:8]
    index = HeldIndex(name, make_wheel(name, code="VALUE = 'installed'\n")).start()
    yield index
    index.stop()

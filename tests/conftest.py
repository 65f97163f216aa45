"""Fixtures shared by all tests; helpers live in rewild_testlib."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from rewild_testlib import REPO


@pytest.fixture(scope="session")
def repo() -> Path:
    return REPO


@pytest.fixture
def paper_config() -> dict:
    return yaml.safe_load((REPO / "config.yaml").read_text())


@pytest.fixture
def demo_config() -> dict:
    return yaml.safe_load((REPO / "config" / "demo.yaml").read_text())


def pytest_sessionstart(session):
    # before collection: the engine tests' skip conditions look for these folders at import time
    from rewild_testlib import ensure_test_models

    ensure_test_models()

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

"""Fixtures shared by all tests; helpers live in rewild_testlib."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml
from rewild_testlib import REPO


@pytest.fixture(autouse=True)
def _environment_restored():
    """Every test leaves os.environ as it found it. Stage code sets process-wide variables on purpose (vLLM's CPU
    and cache settings, VLLM_BATCH_INVARIANT, thread counts); one that leaked out of a unit test reached every later
    snakemake and vLLM subprocess (a leaked VLLM_BATCH_INVARIANT=1 broke every CPU engine after it)."""
    saved = dict(os.environ)
    yield
    if os.environ != saved:
        os.environ.clear()
        os.environ.update(saved)


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

"""Docs stay true: the README's picture matches the workflow; the two commands are the Makefile's."""

from __future__ import annotations

import re
import subprocess

from rewild_testlib import REPO, SNAKEMAKE


def edges(dot: str) -> set[tuple[str, str]]:
    """Rule-to-rule edges by name (snakemake numbers nodes and orders edges differently run to run)."""
    names = dict(re.findall(r'^\s*(\d+)\[label = "(\w+)"', dot, re.M))
    return {(names[a], names[b]) for a, b in re.findall(r"^\s*(\d+) -> (\d+)", dot, re.M)}


def test_rulegraph_picture_is_current():
    current = subprocess.run([SNAKEMAKE, "--rulegraph", "--quiet", "all"], cwd=REPO, capture_output=True,
                             text=True, check=True).stdout
    committed = (REPO / "docs" / "rulegraph.dot").read_text()
    assert edges(current) and edges(current) == edges(committed), "docs/rulegraph.dot is stale: run `make rulegraph`"
    svg = (REPO / "docs" / "rulegraph.svg").read_text()
    for rule in re.findall(r'label = "(\w+)"', committed):
        assert f">{rule}<" in svg, f"docs/rulegraph.svg lacks rule {rule}: run `make rulegraph`"


def test_readme_opens_with_the_two_commands():
    readme = (REPO / "README.md").read_text()
    head = readme[:1500]
    assert "make demo" in head and "make test" in head
    assert "docs/rulegraph.svg" in readme
    ci = (REPO / ".ci" / "run").read_text()
    assert "make test" in ci

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


def test_architecture_module_map_names_every_module():
    """docs/architecture.md's module map has one row per module of rewild/ (and rewild/judge/), and no row for a
    module that is gone (rewild.analyse was split; a stale row misleads as much as a missing one)."""
    text = (REPO / "docs" / "architecture.md").read_text()
    section = text.split("## Module map", 1)[1].split("\n## ", 1)[0]
    documented = re.findall(r"^\| `(rewild(?:\.\w+)*)` \|", section, re.M)
    modules = set()
    for path in (REPO / "rewild").rglob("*.py"):
        parts = path.relative_to(REPO).with_suffix("").parts
        if parts == ("rewild", "__init__"):
            continue
        modules.add(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    assert len(documented) == len(set(documented)), "a module has two rows"
    assert sorted(modules - set(documented)) == [], "modules missing from the module map"
    assert sorted(set(documented) - modules) == [], "the module map names modules that do not exist"


def test_architecture_results_tree_names_every_rule_output_folder():
    """Each results/<folder>/ a rule writes appears in docs/architecture.md's results tree."""
    text = (REPO / "docs" / "architecture.md").read_text()
    tree = text.split("## Results tree", 1)[1].split("\n## ", 1)[0]
    rules = "\n".join(p.read_text() for p in (REPO / "rules").glob("*.smk"))
    folders = set(re.findall(r'"results/([a-z_]+)/', rules))
    assert folders and sorted(f for f in folders if f"results/{f}/" not in tree) == []

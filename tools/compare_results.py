#!/usr/bin/env python3
"""Compare two runs' results: tables (results/tables/*.csv) and eval JSONs (results/eval/**/*.json).

    python tools/compare_results.py OLD_RESULTS_DIR NEW_RESULTS_DIR

Timing and provenance differ between any two runs, so they are left out: JSON keys named `provenance` or
holding times (`*_s`, `*seconds*`, `started`, `ended`, `wall*`), CSV columns of the same names. Everything else
must be equal (numbers exactly: the same code on the same data is deterministic here). A file only the old run
has is a difference (lost output); a file only the new run has is listed as new. Exit 1 on a difference.
"""

from __future__ import annotations

import csv
import json
import re
import sys
from pathlib import Path

VOLATILE = re.compile(r"^(provenance|started|ended|wall.*|.*_s|.*seconds.*|.*_per_s|tok_per_s.*|time.*)$")


def strip(obj):
    if isinstance(obj, dict):
        return {k: strip(v) for k, v in obj.items() if not VOLATILE.match(str(k))}
    if isinstance(obj, list):
        return [strip(v) for v in obj]
    return obj


def read_csv(path: Path) -> list[dict]:
    with open(path, newline="") as fh:
        return [{k: v for k, v in row.items() if not VOLATILE.match(k)} for row in csv.DictReader(fh)]


def compare(old: Path, new: Path) -> list[str]:
    problems = []
    pairs = [("tables", "*.csv", read_csv), ("eval", "**/*.json", lambda p: strip(json.loads(p.read_text())))]
    for sub, pattern, read in pairs:
        a = {p.relative_to(old): p for p in (old / sub).glob(pattern)}
        b = {p.relative_to(new): p for p in (new / sub).glob(pattern)}
        for rel in sorted(set(a) - set(b)):
            problems.append(f"{sub}/{rel}: only in the old run")
        for rel in sorted(set(b) - set(a)):
            print(f"{sub}/{rel}: new")
        for rel in sorted(set(a) & set(b)):
            if read(a[rel]) != read(b[rel]):
                problems.append(f"{sub}/{rel}: differs")
    return problems


def main(argv: list[str]) -> int:
    old, new = map(Path, argv)
    problems = compare(old, new)
    n_tables = len(list((old / "tables").glob("*.csv")))
    n_evals = len(list((old / "eval").glob("**/*.json")))
    for p in problems:
        print(p)
    print(f"compared {n_tables} tables and {n_evals} eval JSONs: {len(problems)} difference(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

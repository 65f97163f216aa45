"""`snakemake -n` on the paper DAG vs a bare Snakefile of the same shape (what the workflow's own logic costs).

    .venv/bin/python bench/dryrun_scale.py [--repeats 3] [--scale 10] [--config config.yaml] [--quiet]

The bare Snakefile is generated from the paper DAG itself: `--dag` gives every job and every edge,
`--summary` the number of output files of each job. It has one rule per stage (same names), one job per paper
job (wildcard `i`), the same edges (an input function looking the job's dependencies up in a table), the same
number of outputs per job, and `shell: "touch {output}"`. Both dry runs start in a fresh empty work directory,
alternate, and the medians of the repeats (wall and CPU seconds) are reported with the ratio paper / bare
(goal <= 1.3x).

`--scale K` (K > 1) repeats the comparison with K times the shards (`prompts.shard_size` divided by K: the
generation fan-out grows K-fold, e.g. ~1,800 -> ~12,500 jobs at K=10); `--scale 1` skips it.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent
SNAKEMAKE = str(Path(sys.executable).parent / "snakemake")
OFFLINE = {"HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}


def smk(args: list[str], workdir: Path) -> subprocess.CompletedProcess:
    proc = subprocess.run([SNAKEMAKE, *args, "-d", str(workdir), "--cores", "1"], cwd=REPO, capture_output=True,
                          text=True, env={**os.environ, **OFFLINE})
    if proc.returncode != 0:
        raise SystemExit(f"snakemake {' '.join(args)} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return proc


def paper_args(config: Path) -> list[str]:
    return ["-s", str(REPO / "Snakefile"), "--configfile", str(config)]


def dag_shape(config: Path, scratch: Path) -> tuple[list[str], dict[int, list[int]], dict[str, int]]:
    """Jobs (rule per job id), dependencies (job -> jobs it needs) and outputs per job of each rule."""
    # `--dag` (dot): `7[label = "generate\\ndgm: ...", ...];` per job, `8 -> 7` per edge (--d3dag stops at 10,000 jobs)
    dot = smk(paper_args(config) + ["--dag"], scratch).stdout
    rules = {int(m[1]): m[2] for m in re.finditer(r'^\s*(\d+)\[label = "([^"\\]+)', dot, re.M)}
    deps: dict[int, list[int]] = defaultdict(list)
    for m in re.finditer(r"^\s*(\d+) -> (\d+)", dot, re.M):
        deps[int(m[2])].append(int(m[1]))
    summary = smk(paper_args(config) + ["--summary"], scratch).stdout.splitlines()
    files = Counter(line.split("\t")[2] for line in summary[1:] if line.count("\t") >= 5)
    jobs = Counter(rules.values())
    n_out = {rule: max(1, files.get(rule, 0) // n) for rule, n in jobs.items()}
    order = sorted(rules)
    return [rules[i] for i in order], {order.index(k): [order.index(u) for u in v] for k, v in deps.items()}, n_out


def bare_snakefile(rules: list[str], deps: dict[int, list[int]], n_out: dict[str, int], path: Path) -> None:
    """One rule per stage, one job per paper job, the same edges and outputs per job; `touch` as the work."""
    index: dict[int, tuple[str, int]] = {}
    per_rule: Counter = Counter()
    for job, rule in enumerate(rules):
        index[job] = (rule, per_rule[rule])
        per_rule[rule] += 1

    def outputs(job: int) -> list[str]:
        rule, i = index[job]
        return [f"bare/{rule}/{i}.{k}" for k in range(n_out[rule])]

    table: dict[str, list[list[str]]] = {rule: [[] for _ in range(n)] for rule, n in per_rule.items()}
    for job, needed in deps.items():
        rule, i = index[job]
        table[rule][i] = [f for d in sorted(needed) for f in outputs(d)]
    (path.parent / "bare_deps.json").write_text(json.dumps(table))
    lines = [
        "import json",
        "DEPS = json.load(open(os.path.join(workflow.basedir, 'bare_deps.json')))",
        "",
        "wildcard_constraints:",
        "    i=r'\\d+',",
        "",
        "rule all:",
        "    default_target: True",
        "    input: DEPS['all'][0]",
        "",
    ]
    for rule in per_rule:
        if rule == "all":
            continue
        outs = ", ".join(repr(f"bare/{rule}/{{i}}.{k}") for k in range(n_out[rule]))
        lines += [
            f"rule {rule}:",
            f"    input: lambda wc: DEPS[{rule!r}][int(wc.i)]",
            f"    output: {outs}",
            "    shell: 'touch {output}'",
            "",
        ]
    path.write_text("import os\n" + "\n".join(lines))


def child_cpu() -> float:
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def time_dry_run(args: list[str], quiet: bool) -> tuple[float, float, int]:
    """Wall seconds, CPU seconds (user + sys of the snakemake process: steadier on a shared machine), jobs."""
    with tempfile.TemporaryDirectory(prefix="dryrun-") as wd:
        c0, t0 = child_cpu(), time.perf_counter()
        proc = smk(args + ["-n"] + (["--quiet", "rules"] if quiet else []), Path(wd))
        seconds, cpu = time.perf_counter() - t0, child_cpu() - c0
    total = next((int(line.split()[1]) for line in proc.stdout.splitlines() if line.startswith("total ")), 0)
    return seconds, cpu, total


def compare(config: Path, repeats: int, quiet: bool, label: str) -> dict:
    with tempfile.TemporaryDirectory(prefix="bare-") as tmp:
        tmp = Path(tmp)
        rules, deps, n_out = dag_shape(config, tmp / "scratch")
        snakefile = tmp / "Snakefile"
        bare_snakefile(rules, deps, n_out, snakefile)
        paper_t, bare_t, paper_c, bare_c = [], [], [], []
        for _ in range(repeats):  # alternate, so background load hits both alike
            t, c, n_paper = time_dry_run(paper_args(config), quiet)
            paper_t.append(t)
            paper_c.append(c)
            t, c, n_bare = time_dry_run(["-s", str(snakefile)], quiet)
            bare_t.append(t)
            bare_c.append(c)
    assert n_paper == n_bare == len(rules), (n_paper, n_bare, len(rules))
    med = statistics.median
    paper, bare = med(paper_t), med(bare_t)
    print(f"{label}: {n_paper} jobs, {len(set(rules))} rules, {sum(map(len, deps.values()))} edges")
    for name, wall, cpu in (("paper", paper_t, paper_c), ("bare ", bare_t, bare_c)):
        print(f"  {name} Snakefile  snakemake -n: median {med(wall):6.2f} s wall, {med(cpu):6.2f} s CPU"
              f"   wall runs {', '.join(f'{t:.2f}' for t in wall)}")
    print(f"  ratio paper / bare: {paper / bare:.2f}x wall, {med(paper_c) / med(bare_c):.2f}x CPU  (goal <= 1.3x)")
    return {"label": label, "jobs": n_paper, "paper_s": paper, "bare_s": bare, "ratio": paper / bare,
            "paper_cpu_s": med(paper_c), "bare_cpu_s": med(bare_c), "cpu_ratio": med(paper_c) / med(bare_c),
            "paper_runs": paper_t, "bare_runs": bare_t}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", type=Path, default=REPO / "config.yaml")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--scale", type=int, default=10, help="also compare with this many times the shards (1: skip)")
    ap.add_argument("--quiet", action="store_true", help="time `-n --quiet rules` (no per-job blocks printed)")
    ap.add_argument("--json", type=Path, help="also write the results here")
    a = ap.parse_args()
    config = a.config.resolve()
    results = [compare(config, a.repeats, a.quiet, f"paper DAG ({config.name})")]
    if a.scale > 1:
        cfg = yaml.safe_load(config.read_text())
        prompts = cfg["prompts"]
        n = (prompts.get("sample") or {}).get("n") or prompts["n_conversations"]
        shards = -(-n // prompts["shard_size"]) * a.scale
        prompts["shard_size"] = -(-n // shards)
        with tempfile.TemporaryDirectory(prefix="scaled-") as tmp:
            scaled = Path(tmp) / f"config.x{a.scale}.yaml"
            scaled.write_text(yaml.safe_dump(cfg, sort_keys=False))
            results.append(compare(scaled, a.repeats, a.quiet, f"{a.scale}x shards (shard_size {prompts['shard_size']})"))
    if a.json:
        a.json.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()

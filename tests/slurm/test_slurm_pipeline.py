"""The real pipeline (config/mini.yaml: every stage) on the live single-node cluster, started as users start it:
`tools/install-slurm-profile` (into a temporary XDG_CONFIG_HOME), then `snakemake --profile slurm` from the root of
a copy of the project (the workflow profile profiles/default comes with it); compared with a local run of the
same config.

One local run and one Slurm run per session (module fixture `mini_runs`); about 2 x 5-10 minutes on 2 cores.
The mini config asks for no GPUs (the CPU torch build has no CUDA, and a GPU job without CUDA fails fast), so
every job goes to the CPU partition; the GPU partition and a real GPU request are covered by test_slurm_toy.py.

Run: ``.venv/bin/python -m pytest tests/slurm -q -m slurm`` (as root; see tests/slurm/conftest.py).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests"))
from rewild_testlib import run_snakemake, workdir_copy  # noqa: E402
from slurm_harness import install_slurm_profile  # noqa: E402
from test_slurm_toy import TEST_OVERRIDES, mem_mb, scontrol_job  # noqa: E402

from rewild import config as rc  # noqa: E402
from rewild import resources  # noqa: E402

pytestmark = pytest.mark.slurm

SNAKEFILE = REPO / "Snakefile"
SNAKEMAKE = Path(sys.executable).with_name("snakemake")
GPU_RULES = {"generate", "sft", "evaluate"}
WORKFLOW_PROFILE = yaml.safe_load((REPO / "profiles" / "default" / "config.yaml").read_text())
# Stages whose outputs are the same bytes wherever they run (no engine, no floating point reductions).
BYTE_IDENTICAL = [
    "results/prompts/s00000.parquet",
    "results/prompts/s00000.rejects.jsonl",
    "results/generations/gpt/s00000.parquet",
    "results/generations/gpt/s00000.rejects.jsonl",
    "results/generations/gpt.parquet",
    "results/filtered/gpt.parquet",
    "results/filtered/gpt.rejects.jsonl",
    "results/mixes/gpt-all/train.parquet",
    "results/mixes/gpt-all/heldout.parquet",
]
# JSON reports of those stages: equal but for their provenance block (timestamps, host).
SAME_JSON_BUT_PROVENANCE = [
    "results/prompts/s00000.stats.json",
    "results/filtered/gpt.report.json",
    "results/mixes/gpt-all/manifest.json",
]


def declared_localrules() -> set[str]:
    """Rules named in `localrules:` blocks of the Snakefile and rules/*.smk (they run on the submitting node)."""
    names: set[str] = set()
    for f in [SNAKEFILE, *sorted((REPO / "rules").glob("*.smk"))]:
        for block in re.findall(r"^localrules:\n((?:[ \t]+\w+,?\n)+)", f.read_text(), re.M):
            names |= set(re.findall(r"\w+", block))
    return names


def mini_config() -> dict:
    # GPU counts stay 0: a job that asks for a GPU fails fast where CUDA has none (rewild.engine.require_device),
    # and the harness's GPUs are fake. test_slurm_toy covers a real GPU request (partition, CUDA_VISIBLE_DEVICES).
    return yaml.safe_load((REPO / "config" / "mini.yaml").read_text())


def timed(fn, *a, **kw):
    t0 = time.monotonic()
    out = fn(*a, **kw)
    return out, time.monotonic() - t0


def project_copy(dest: Path) -> Path:
    """The project's files (git-tracked and untracked, not ignored), as a user's checkout would have them."""
    ls = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=REPO,
                        capture_output=True, text=True, check=True)
    for rel in filter(None, ls.stdout.split("\0")):
        if (REPO / rel).is_file():
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / rel, dest / rel)
    return dest


def run_slurm(root: Path, cfg_path: Path, timeout: float) -> str:
    env = install_slurm_profile(root.parent / "xdg")
    cpus = len(os.sched_getaffinity(0))  # the harness node has `nproc` CPUs: cap job threads to fit it
    # the user's command, plus the test's config and faster status polling
    cmd = [str(SNAKEMAKE), "--profile", "slurm", "--replace-workflow-config", "--configfile", str(cfg_path),
           *TEST_OVERRIDES, "--max-threads", str(cpus)]
    res = subprocess.run(cmd, cwd=root, env=env, capture_output=True, text=True, timeout=timeout)
    log = res.stdout + res.stderr
    (root / "snakemake.log").write_text(log)
    assert res.returncode == 0, f"slurm run failed (rc={res.returncode}):\n{log[-8000:]}"
    return log


@pytest.fixture(scope="module")
def mini_runs(slurm_cluster, tmp_path_factory):
    cfg = mini_config()
    local_dir, local_cfg = workdir_copy(tmp_path_factory.mktemp("mini-local"), cfg)
    slurm_dir, slurm_cfg = workdir_copy(project_copy(tmp_path_factory.mktemp("mini-slurm") / "rewild"), cfg)
    rc.validate(cfg)
    local_rules = declared_localrules()  # read before the runs: the workflow as both runs saw it

    local, local_wall = timed(run_snakemake, ["--profile", str(REPO / "profiles" / "local"), "-s", str(SNAKEFILE),
                                              "-d", str(local_dir), "--configfile", str(local_cfg)], timeout=3000)
    slurm_log, slurm_wall = timed(run_slurm, slurm_dir, slurm_cfg, timeout=3000)
    print(f"\nmini config wall time: local {local_wall:.0f}s, slurm {slurm_wall:.0f}s")
    return {"config": cfg, "local": local_dir, "slurm": slurm_dir, "local_log": local.stdout + local.stderr,
            "slurm_log": slurm_log, "walls": (local_wall, slurm_wall), "local_rules": local_rules}


# ------------------------------------------------------------------------------------------------ log parsing


def job_blocks(log: str) -> list[dict]:
    """Each job Snakemake started: rule, local or not, its jobid and wildcards."""
    out = []
    for m in re.finditer(r"^(local)?rule (\w+):\n((?:    .*\n)+)", log, re.M):
        body = m.group(3)
        jid = re.search(r"^    jobid: (\d+)$", body, re.M)
        wc = re.search(r"^    wildcards: (.*)$", body, re.M)
        out.append({"local": bool(m.group(1)), "rule": m.group(2), "jobid": jid.group(1) if jid else None,
                    "wildcards": wc.group(1) if wc else ""})
    return out


def submissions(log: str) -> dict[str, list[tuple[str, str]]]:
    """Snakemake jobid -> [(Slurm jobid, plugin log path), ...] in submission order (retries: more than one)."""
    subs: dict[str, list] = {}
    for jid, sid, path in re.findall(r"Job (\d+) has been submitted with SLURM jobid (\d+) \(log: ([^)]+)\)", log):
        subs.setdefault(jid, []).append((sid, path))
    return subs


def job_stats(log: str) -> Counter:
    block = log.split("Job stats:", 1)[1]
    counts: Counter = Counter()
    for line in block.splitlines()[3:]:
        parts = line.split()
        if len(parts) != 2 or not parts[1].isdigit():
            break
        counts[parts[0]] = int(parts[1])
    return counts


def minutes(limit: str) -> int:
    """scontrol TimeLimit ([D-]HH:MM:SS) -> minutes"""
    days, _, hms = limit.rpartition("-")
    h, m, s = (int(x) for x in hms.split(":"))
    return int(days or 0) * 1440 + h * 60 + m + (1 if s else 0)


def gpus_of(job: dict) -> int:
    m = re.search(r"gres/gpu=(\d+)", job.get("TRES", "")) or re.search(r"gpu:(\d+)", job.get("TresPerJob", ""))
    return int(m.group(1)) if m else 0


# ------------------------------------------------------------------------------------------------ tests


def test_every_non_local_job_ran_as_a_slurm_job(mini_runs):
    log = mini_runs["slurm_log"]
    jobs = job_blocks(log)
    remote = [j for j in jobs if not j["local"]]
    local = [j for j in jobs if j["local"]]
    local_rules = mini_runs["local_rules"]
    assert {"all", "summary"} <= local_rules
    assert {j["rule"] for j in local} <= local_rules, local
    # every rule the local run of the same config ran, less the local rules, ran remotely
    ran_locally = set(job_stats(mini_runs["local_log"])) - {"total"}
    assert {j["rule"] for j in remote} == ran_locally - local_rules
    assert {"build_demo_model", "prompts", "source_responses", "generate", "merge_generations", "filter", "mix",
            "sft", "evaluate"} <= {j["rule"] for j in remote}
    subs = submissions(log)
    assert {j["jobid"] for j in remote} == set(subs), "every remote job was submitted with sbatch, nothing else"
    # the same jobs as the local run of the same config
    assert job_stats(log) == job_stats(mini_runs["local_log"])
    # the plugin's per-job logs (kept with --slurm-keep-successful-logs), one per Slurm job, under its rule
    by_id = {j["jobid"]: j for j in remote}
    for jid, tries in subs.items():
        for sid, path in tries:
            p = mini_runs["slurm"] / path if not os.path.isabs(path) else Path(path)
            assert p.is_file() and p.name == f"{sid}.log", p
            assert f"/rule_{by_id[jid]['rule']}/" in str(p)


def test_slurm_job_records_match_the_rules(mini_runs, slurm_cluster):
    cfg, log = mini_runs["config"], mini_runs["slurm_log"]
    cpus = len(os.sched_getaffinity(0))
    by_id = {j["jobid"]: j for j in job_blocks(log) if not j["local"]}
    seen = Counter()
    for jid, tries in submissions(log).items():
        rule = by_id[jid]["rule"]
        sid = tries[-1][0]
        job = scontrol_job(sid)
        attempt = len(tries)
        seen[rule] += 1
        assert job["JobState"] == "COMPLETED", (rule, job)
        assert job["Comment"].startswith(f"rule_{rule}"), job
        # the plugin's partition selection: a job that asks for GPUs goes to the GPU partition, the rest to CPU
        want = slurm_cluster.gpu_partition if gpus_of(job) else slurm_cluster.cpu_partition
        assert job["Partition"] == want, (rule, job)
        if rule not in GPU_RULES:
            assert gpus_of(job) == 0, (rule, job)
            size = WORKFLOW_PROFILE["set-resources"][rule]  # rewild's CPU job sizes (profiles/default)
            assert mem_mb(job["MinMemoryNode"]) == eval(size["mem_mb"], {"attempt": attempt})
            assert minutes(job["TimeLimit"]) == eval(size["runtime"], {"attempt": attempt})
        if rule == "generate":
            dgm = re.search(r"dgm=([^,]+)", by_id[jid]["wildcards"]).group(1)
            assert gpus_of(job) == cfg["dgms"][dgm]["gpus"] == 0, job
            assert mem_mb(job["MinMemoryNode"]) == resources.generate_mem_mb(cfg, dgm, attempt)
            assert minutes(job["TimeLimit"]) == resources.generate_runtime(cfg, dgm) * attempt
            assert int(job["NumCPUs"]) == min(resources.generate_threads(cfg, dgm), cpus)
        elif rule == "sft":
            assert gpus_of(job) == cfg["sft"]["gpus"] == 0, job  # no GPU asked: the CPU partition
            assert mem_mb(job["MinMemoryNode"]) == resources.sft_mem_mb(cfg, attempt)
            mix = re.search(r"mix=([^,]+)", by_id[jid]["wildcards"]).group(1)
            assert minutes(job["TimeLimit"]) == resources.sft_runtime(cfg, mix) * attempt
            assert int(job["NumCPUs"]) == min(resources.sft_threads(cfg), cpus)
        elif rule == "evaluate":
            assert gpus_of(job) == cfg["eval"]["gpus"] == 0, job
            model = re.search(r"model=([^,]+)", by_id[jid]["wildcards"]).group(1)
            assert mem_mb(job["MinMemoryNode"]) == resources.eval_mem_mb(cfg, model, attempt)
            assert int(job["NumCPUs"]) == min(resources.eval_threads(cfg, model), cpus)
    assert seen["generate"] == 1 and seen["sft"] == 2 and seen["evaluate"] == 3, seen


def result_files(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in (root / "results").rglob("*")
            if p.is_file() and ".progress" not in p.parts}


def test_same_outputs_as_the_local_run(mini_runs):
    loc, slu = mini_runs["local"], mini_runs["slurm"]
    files = result_files(loc)
    assert files == result_files(slu)
    for rel in sorted(files):
        a, b = loc / rel, slu / rel
        if rel.endswith(".parquet"):
            ma, mb = pq.read_metadata(a), pq.read_metadata(b)
            assert ma.num_rows == mb.num_rows, rel
            assert ma.schema.to_arrow_schema().equals(mb.schema.to_arrow_schema()), rel
        elif rel.endswith(".jsonl"):
            assert len(a.read_text().splitlines()) == len(b.read_text().splitlines()), rel
        elif rel.endswith(".json"):
            assert set(json.loads(a.read_text())) == set(json.loads(b.read_text())), rel
        elif rel.endswith(".csv"):
            ra, rb = a.read_text().splitlines(), b.read_text().splitlines()
            assert len(ra) == len(rb) and ra[:1] == rb[:1], rel  # rows and header


def test_deterministic_stages_are_byte_identical(mini_runs):
    loc, slu = mini_runs["local"], mini_runs["slurm"]
    for rel in BYTE_IDENTICAL:
        assert (loc / rel).read_bytes() == (slu / rel).read_bytes(), rel
    for rel in SAME_JSON_BUT_PROVENANCE:
        a, b = (json.loads((root / rel).read_text()) for root in (loc, slu))
        a.pop("provenance", None), b.pop("provenance", None)
        assert a == b, rel


def test_vllm_generation_is_identical(mini_runs):
    """Per-request seeds make the tiny model's vLLM answers the same in a Slurm job as locally (CPU build)."""
    loc, slu = mini_runs["local"], mini_runs["slurm"]
    for rel in ("results/generations/tiny-random/s00000.parquet", "results/generations/tiny-random.parquet",
                "results/filtered/tiny-random.parquet", "results/mixes/tiny-random-all/train.parquet"):
        ta, tb = pq.read_table(loc / rel), pq.read_table(slu / rel)
        assert ta.equals(tb), rel
    for rel in ("results/generations/tiny-random/s00000.parquet",):
        assert (loc / rel).read_bytes() == (slu / rel).read_bytes(), rel

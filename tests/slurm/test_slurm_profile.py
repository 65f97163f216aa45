"""profiles/slurm without a cluster (fast): the submit settings of the PAPER configuration's jobs.

`snakemake -n --profile profiles/slurm` prints each job's resolved `threads` and `resources` (with the
site values from REWILD_SLURM_*); the plugin's own sbatch construction (snakemake_executor_plugin_slurm
2.8.0: get_submit_command + set_gres_string) then turns them into the sbatch arguments a cluster would get.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests"))
from rewild_testlib import run_snakemake  # noqa: E402

from rewild import config as rc  # noqa: E402
from rewild import resources  # noqa: E402

PROFILE = REPO / "profiles" / "slurm"
SITE = {
    "REWILD_SLURM_ACCOUNT": "",
    "REWILD_SLURM_CPU_PARTITION": "cpu-std",
    "REWILD_SLURM_GPU_PARTITION": "gpu-h100",
    "REWILD_SLURM_GPU_CONSTRAINT": "h100",
    "REWILD_SLURM_STATUS_COMMAND": "squeue",
}
Q72 = "qwen2.5-72b-instruct"
TARGETS = [
    f"results/generations/{Q72}/s00000.parquet",
    "results/generations/llama-3.1-8b-instruct/s00000.parquet",
    "results/generations/gpt/s00000.parquet",
    "results/models/rewild.metrics.json",
    "results/eval/base/bbh.json",
]


@pytest.fixture(scope="module")
def paper() -> dict:
    cfg = yaml.safe_load((REPO / "config.yaml").read_text())
    rc.validate(cfg)
    return cfg


def parse_resources(text: str) -> dict:
    out = {}
    for key, value in re.findall(r"(\w+)=(.*?)(?=, \w+=|$)", text):
        out[key] = int(value) if re.fullmatch(r"-?\d+", value) else value
    return out


def dry_run_jobs(workdir: Path, extra_env: dict | None = None) -> list[dict]:
    """Jobs of a dry run: rule, wildcards, threads, resources (as Snakemake resolved them for attempt 1)."""
    # --cores caps threads in a dry run (a real Slurm run has no such cap): lift it to see the real request
    proc = run_snakemake(
        ["--profile", str(PROFILE), "-s", str(REPO / "Snakefile"), "-d", str(workdir),
         "--configfile", str(REPO / "config.yaml"), "-n", "--cores", "100000", "--", *TARGETS],
        cwd=workdir, env={**SITE, **(extra_env or {})}, timeout=600,
    )
    jobs = []
    for block in re.split(r"\n(?=\[[^\]]+\]\n)", proc.stdout + proc.stderr):
        m = re.search(r"^(local)?rule (\w+):", block, re.M)
        if not m:
            continue
        res = re.search(r"^\s+resources: (.*)$", block, re.M)
        thr = re.search(r"^\s+threads: (\d+)$", block, re.M)
        wc = re.search(r"^\s+wildcards: (.*)$", block, re.M)
        jobs.append({
            "rule": m.group(2),
            "wildcards": dict(kv.split("=", 1) for kv in wc.group(1).split(", ")) if wc else {},
            "threads": int(thr.group(1)) if thr else 1,
            "resources": parse_resources(res.group(1)) if res else {},
        })
    assert jobs, proc.stdout[-3000:]
    return jobs


class _Res(dict):
    __getattr__ = dict.get


def sbatch_args(job: dict) -> str:
    """The sbatch arguments plugin 2.8.0 builds for these resolved resources (its own functions)."""
    from snakemake_executor_plugin_slurm import Executor, ExecutorSettings
    from snakemake_executor_plugin_slurm.submit_string import get_submit_command
    from snakemake_executor_plugin_slurm.utils import set_gres_string

    fake = SimpleNamespace(resources=_Res(job["resources"]), threads=job["threads"], is_group=lambda: False)
    executor = SimpleNamespace(_partitions=None, _fallback_partition=None, logger=None)
    params = {"run_uuid": "uuid", "slurm_logfile": "log", "comment_str": "c", "account": "",
              "partition": Executor.get_partition_arg(executor, fake), "workdir": "/w"}
    return get_submit_command(fake, params, settings=ExecutorSettings(requeue=True)) + set_gres_string(fake)


@pytest.fixture(scope="module")
def jobs(tmp_path_factory) -> list[dict]:
    return dry_run_jobs(tmp_path_factory.mktemp("paper-dry"))


def one(jobs, rule, **wildcards):
    found = [j for j in jobs if j["rule"] == rule and all(j["wildcards"].get(k) == v for k, v in wildcards.items())]
    assert found, (rule, wildcards, sorted({j["rule"] for j in jobs}))
    return found[0]


def test_72b_generation_job_asks_for_four_gpus_on_the_gpu_partition(jobs, paper):
    job = one(jobs, "generate", dgm=Q72, shard="s00000")
    r = job["resources"]
    assert paper["dgms"][Q72]["gpus"] == 4
    assert r["gpu"] == 4 and r["slurm_partition"] == "gpu-h100" and r["constraint"] == "h100"
    assert job["threads"] == 4 * resources.CPUS_PER_GPU
    assert r["mem_mb"] == resources.generate_mem_mb(paper, Q72, 1) >= 1024 * 2 * 72.7  # the bf16 checkpoint fits
    assert r["runtime"] == resources.generate_runtime(paper, Q72)

    args = sbatch_args(job)
    assert "--gpus=4" in args and "--gres" not in args
    assert "-p gpu-h100" in args and "-C h100" in args
    assert f"--cpus-per-task={4 * resources.CPUS_PER_GPU}" in args
    assert f"--mem {r['mem_mb']}" in args and f"-t {r['runtime']}" in args
    assert "--requeue" in args and "--ntasks" not in args


def test_8b_generation_job_asks_for_one_gpu(jobs, paper):
    job = one(jobs, "generate", dgm="llama-3.1-8b-instruct")
    args = sbatch_args(job)
    assert "--gpus=1" in args and "-p gpu-h100" in args and f"--cpus-per-task={resources.CPUS_PER_GPU}" in args
    assert job["resources"]["mem_mb"] < one(jobs, "generate", dgm=Q72)["resources"]["mem_mb"]


def test_sft_job_asks_for_its_node_shape(jobs, paper):
    job = one(jobs, "sft", mix="rewild")
    r = job["resources"]
    assert r["gpu"] == paper["sft"]["gpus"] == 4
    assert job["threads"] == paper["sft"]["cpus"] == 32
    assert r["mem_mb"] == resources.sft_mem_mb(paper, 1)
    assert r["runtime"] == resources.sft_runtime(paper, "rewild") > 60 * 5.5 * resources.mix_rows_estimate(paper, "rewild") / 250_000
    args = sbatch_args(job)
    assert "--gpus=4" in args and "--cpus-per-task=32" in args and "-p gpu-h100" in args and "-C h100" in args


def test_evaluation_job_asks_for_eval_gpus(jobs, paper):
    job = one(jobs, "evaluate", model="base", task="bbh")
    assert job["resources"]["gpu"] == paper["eval"]["gpus"] == 1
    args = sbatch_args(job)
    assert "--gpus=1" in args and "-p gpu-h100" in args
    assert f"-t {resources.eval_runtime(paper, 'bbh')}" in args


def test_cpu_jobs_ask_for_no_gpu(jobs):
    for rule in ("prompts", "source_responses", "merge_generations", "filter", "mix"):
        job = one(jobs, rule)
        r = job["resources"]
        assert r["slurm_partition"] == "cpu-std" and "gpu" not in r and "constraint" not in r, job
        args = sbatch_args(job)
        assert "--gpus" not in args and "--gres" not in args and "-C " not in args
        assert "-p cpu-std" in args and "--ntasks=1" in args and "--mem 4000" in args and "-t 60" in args


def test_gpu_rule_with_zero_gpus_asks_for_none(paper):
    """A GPU rule whose config count is 0 (demo, CPU runs) stays on the GPU partition but requests no GPU."""
    job = {"rule": "generate", "threads": resources.CPU_JOB_THREADS,
           "resources": {"gpu": 0, "slurm_partition": "gpu", "mem_mb": 8192, "runtime": 30}}
    args = sbatch_args(job)
    assert "--gpus" not in args and "--gres" not in args and "-p gpu" in args
    assert f"--cpus-per-task={resources.CPU_JOB_THREADS}" in args


def test_memory_and_time_grow_with_the_attempt(paper):
    for attempt in (2, 3):
        assert resources.generate_mem_mb(paper, Q72, attempt) == attempt * resources.generate_mem_mb(paper, Q72, 1)
        assert resources.sft_mem_mb(paper, attempt) == attempt * resources.sft_mem_mb(paper, 1)
        assert resources.eval_mem_mb(paper, attempt) == attempt * resources.eval_mem_mb(paper, 1)
    # the rules multiply runtime by the attempt; the dry run above is attempt 1
    text = (REPO / "rules" / "generate.smk").read_text() + (REPO / "rules" / "sft.smk").read_text() \
        + (REPO / "rules" / "evaluate.smk").read_text()
    assert text.count("* attempt") == 3 and text.count("_mem_mb(config") == 3


def test_offline_hub_precommand_only_for_cluster_jobs(monkeypatch):
    """Jobs on compute nodes run with the Hub offline (the profile's `precommand`); REWILD_SLURM_HF_OFFLINE=0
    turns it off. Local rules (prefetch) never run the precommand."""
    from yte import process_yaml

    def render(**env):
        for k, v in env.items():
            monkeypatch.setenv(k, v)
        with open(PROFILE / "config.yaml") as fh:
            return process_yaml(fh, require_use_yte=True)

    monkeypatch.delenv("REWILD_SLURM_HF_OFFLINE", raising=False)
    prof = render(**SITE)
    assert prof["precommand"] == "export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TRANSFORMERS_OFFLINE=1"
    assert "precommand" not in render(REWILD_SLURM_HF_OFFLINE="0")
    # site routing only: GPU counts, CPUs, memory and time come from the rules
    assert prof["set-resources"]["generate"] == {"slurm_partition": "'gpu-h100'", "constraint": "'h100'"}


def test_cost_table_in_the_readme_is_current(paper):
    """profiles/slurm/README.md shows resources.cost_table_markdown(config.yaml); regenerate it when config changes."""
    table = resources.cost_table_markdown(paper)
    readme = (PROFILE / "README.md").read_text()
    assert table in readme, f"update the cost table in profiles/slurm/README.md:\n{table}"
    rows = {r["stage"]: r for r in resources.gpu_hours_by_stage(paper)}
    # the generation rate reproduces the paper's ~10,000 H100-hours for its 52 DGMs x 990k conversations
    assert 9_000 <= rows["generate"]["gpu_hours"] <= 11_000
    assert rows["generate"]["jobs"] == 52 * 20 and rows["sft"]["jobs"] == 66 and rows["evaluate"]["jobs"] == 67 * 7


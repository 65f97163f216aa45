"""The installed global profile `slurm` on a live Slurm cluster, with a tiny standalone Snakefile (not the real
pipeline): `snakemake --profile slurm` as users type it, after tools/install-slurm-profile.

Run: ``.venv/bin/python -m pytest tests/slurm -q -m slurm`` (as root; the fixture starts the
single-node cluster from tests/slurm/cluster.sh).
"""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from slurm_harness import install_slurm_profile

SNAKEMAKE = Path(sys.executable).with_name("snakemake")

pytestmark = pytest.mark.slurm

# Overrides for the test only: poll status every few seconds instead of the plugin's 40 s, keep the
# per-job Slurm logs (so we can look at them).
TEST_OVERRIDES = [
    "--seconds-between-status-checks", "2",
    "--slurm-init-seconds-before-status-checks", "2",
    "--slurm-keep-successful-logs",
    "--latency-wait", "10",
]


def run_snakemake(workdir: Path, snakefile_text: str, *extra: str, timeout: float = 420):
    (workdir / "Snakefile").write_text(textwrap.dedent(snakefile_text))
    env = install_slurm_profile(workdir.parent / f"{workdir.name}-xdg")
    cmd = [str(SNAKEMAKE), "--profile", "slurm", *TEST_OVERRIDES, *extra]
    t0 = time.monotonic()
    res = subprocess.run(cmd, cwd=workdir, env=env, capture_output=True, text=True, timeout=timeout)
    wall = time.monotonic() - t0
    log = res.stdout + res.stderr
    (workdir / "snakemake.log").write_text(log)
    assert res.returncode == 0, f"snakemake failed (rc={res.returncode}, {wall:.0f}s):\n{log[-6000:]}"
    print(f"snakemake wall time: {wall:.1f}s")
    return log


def submitted_jobids(log: str) -> list[str]:
    return re.findall(r"has been submitted with SLURM jobid (\d+)", log)


def scontrol_job(jobid: str) -> dict[str, str]:
    out = subprocess.run(
        ["scontrol", "show", "job", "-o", jobid], capture_output=True, text=True, check=True
    ).stdout
    fields = {}
    for tok in out.split():
        if "=" in tok:
            k, v = tok.split("=", 1)
            fields.setdefault(k, v)
    return fields


def read_kv(path: Path) -> dict[str, str]:
    return dict(line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)


TOY = r'''
localrules: all, on_login_node

rule all:
    input: "cpu_a.txt", "cpu_b.txt", "gpu.txt", "login.txt"

ENVDUMP = (
    'echo "SLURM_JOB_ID=${{SLURM_JOB_ID:-}}"; '
    'echo "SLURM_JOB_PARTITION=${{SLURM_JOB_PARTITION:-}}"; '
    'echo "CUDA_VISIBLE_DEVICES=${{CUDA_VISIBLE_DEVICES:-<unset>}}"; '
    'echo "HF_HUB_OFFLINE=${{HF_HUB_OFFLINE:-<unset>}}"; '
    'echo "HF_DATASETS_OFFLINE=${{HF_DATASETS_OFFLINE:-<unset>}}"'
)

# a local rule (like `prefetch`): runs in the submitting process, not through sbatch, with the Hub online
rule on_login_node:
    output: "login.txt"
    shell: "(" + ENVDUMP + ") > {output}"

rule cpu_a:
    output: "cpu_a.txt"
    shell: "(" + ENVDUMP + ") > {output}"

rule cpu_b:
    input: "cpu_a.txt"
    output: "cpu_b.txt"
    shell: "(" + ENVDUMP + ") > {output}"

# asks for a GPU: the plugin's partition selection (the installed partitions.yaml) sends it to the GPU partition
rule generate:
    output: "gpu.txt"
    resources: gpu=1
    shell: "(" + ENVDUMP + ") > {output}"
'''


def test_toy_pipeline_runs_as_slurm_jobs(slurm_cluster, tmp_path):
    log = run_snakemake(tmp_path, TOY)

    jobids = submitted_jobids(log)
    assert len(jobids) == 3, f"expected 3 Slurm submissions, got {jobids}:\n{log[-3000:]}"
    slurm_logs = list((tmp_path / ".snakemake" / "slurm_logs").rglob("*.log"))
    assert {p.stem for p in slurm_logs} >= set(jobids), slurm_logs

    outputs = {name: read_kv(tmp_path / f"{name}.txt") for name in ("cpu_a", "cpu_b", "gpu")}
    # each rule's shell ran inside the Slurm job the plugin submitted for it
    assert sorted(o["SLURM_JOB_ID"] for o in outputs.values()) == sorted(jobids)

    # compute-node jobs use the Hub offline (the profile's precommand); the local rule does not
    for out in outputs.values():
        assert out["HF_HUB_OFFLINE"] == out["HF_DATASETS_OFFLINE"] == "1", out
    login = read_kv(tmp_path / "login.txt")
    assert login["SLURM_JOB_ID"] == "" and login["HF_HUB_OFFLINE"] == "<unset>", login

    for name in ("cpu_a", "cpu_b"):
        out = outputs[name]
        assert out["SLURM_JOB_PARTITION"] == slurm_cluster.cpu_partition, out
        assert out["CUDA_VISIBLE_DEVICES"] in ("<unset>", ""), out
        job = scontrol_job(out["SLURM_JOB_ID"])
        assert job["Partition"] == slurm_cluster.cpu_partition
        assert job["JobState"] == "COMPLETED", job
        assert job["Comment"].startswith(f"rule_{name}"), job

    gpu = outputs["gpu"]
    assert gpu["SLURM_JOB_PARTITION"] == slurm_cluster.gpu_partition, gpu
    assert re.fullmatch(r"\d+(,\d+)*", gpu["CUDA_VISIBLE_DEVICES"]), gpu
    job = scontrol_job(gpu["SLURM_JOB_ID"])
    assert job["Partition"] == slurm_cluster.gpu_partition
    assert job["JobState"] == "COMPLETED", job
    assert "gres/gpu=1" in job.get("TRES", "") or "gpu:1" in job.get("TresPerJob", ""), job


def mem_mb(slurm_mem: str) -> int:
    """'4000M' / '8G' (scontrol MinMemoryNode) -> MB"""
    m = re.fullmatch(r"(\d+(?:\.\d+)?)([KMGT]?)", slurm_mem)
    assert m, slurm_mem
    factor = {"K": 1 / 1024, "M": 1, "": 1, "G": 1024, "T": 1024 * 1024}[m.group(2)]
    return int(float(m.group(1)) * factor)

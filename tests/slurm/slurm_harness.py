"""Helpers of the live Slurm tests: the harness (cluster.sh) and the documented profile install."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
CLUSTER_SH = Path(__file__).with_name("cluster.sh")
HARNESS_DIR = Path(os.environ.get("REWILD_SLURM_HARNESS_DIR", "/var/tmp/rewild-slurm-harness"))
INSTALL = REPO / "tools" / "install-slurm-profile"
# The harness's partitions as a site file (profiles/slurm/site.example.yaml documents the keys): jobs that ask for
# GPUs go to `gpu`, the rest to `cpu` (the plugin's partition selection).
HARNESS_SITE = {"partitions": {"cpu": {"max_gpu": 0}, "gpu": {"max_gpu": 2}}}
HARNESS_DIR = Path(os.environ.get("REWILD_SLURM_HARNESS_DIR", "/var/tmp/rewild-slurm-harness"))


def run_cluster_sh(cmd: str, *args: str, timeout: float = 900) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["bash", str(CLUSTER_SH), cmd, *args], capture_output=True, text=True, timeout=timeout
    )


def set_requeue_exit(codes: str) -> None:
    """slurm.conf's RequeueExit on the running harness ("none": unset, the harness default)."""
    res = run_cluster_sh("requeue-exit", codes, timeout=120)
    assert res.returncode == 0, f"cluster.sh requeue-exit {codes} failed:\n{res.stdout}\n{res.stderr}"


def install_slurm_profile(config_home: Path, site: dict | None = None) -> dict[str, str]:
    """Run the documented install command with XDG_CONFIG_HOME=config_home; the environment to run
    `snakemake --profile slurm` with (the caller's, without site or Slurm variables from the calling shell)."""
    config_home.mkdir(parents=True, exist_ok=True)
    site_file = config_home / "site.yaml"
    site_file.write_text(yaml.safe_dump(site or HARNESS_SITE))
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("SLURM_", "SBATCH_", "REWILD_SLURM_", "SNAKEMAKE_"))
           and k not in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "TRANSFORMERS_OFFLINE")}
    env["XDG_CONFIG_HOME"] = str(config_home)
    env["PATH"] = f"{Path(sys.executable).parent}:{env.get('PATH', '/usr/bin:/bin')}"
    res = subprocess.run([str(INSTALL), "--site", str(site_file)], env=env, capture_output=True, text=True,
                         timeout=120)
    assert res.returncode == 0, f"install-slurm-profile failed:\n{res.stdout}\n{res.stderr}"
    assert (config_home / "snakemake" / "slurm" / "config.yaml").is_file(), res.stdout
    return env

"""Session fixture: a live single-node Slurm cluster (tests/slurm/cluster.sh).

Tests that need it take the ``slurm_cluster`` fixture and carry ``@pytest.mark.slurm``. They run Snakemake as users
do, ``snakemake --profile slurm``, after the one documented install command (``tools/install-slurm-profile``) into a
temporary XDG_CONFIG_HOME (``install_slurm_profile``), so the real home is never touched.
The fixture skips (with the reason) when the harness cannot run here -- not root, apt-get could not
install slurm-wlm/munge, or a Slurm not set up by the harness is present -- and fails when the start
itself breaks.  It stops the cluster at the end of the session only if it started it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from slurm_harness import HARNESS_DIR, run_cluster_sh, set_requeue_exit


@dataclass(frozen=True)
class SlurmCluster:
    node: str
    cpu_partition: str = "cpu"
    gpu_partition: str = "gpu"
    gpus: int = 2
    harness_dir: Path = HARNESS_DIR
    partitions: tuple[str, ...] = field(default=("cpu", "gpu"))
    started_here: bool = False


@pytest.fixture(scope="session")
def slurm_cluster():
    if os.name != "posix" or shutil.which("bash") is None:
        pytest.skip("Slurm harness needs a POSIX system with bash")
    if os.geteuid() != 0:
        pytest.skip("Slurm harness needs root (apt-get install slurm-wlm munge, /etc/slurm, mknod)")

    already_up = run_cluster_sh("status", timeout=60).returncode == 0
    if already_up:
        set_requeue_exit("none")  # a session starts from the harness default
    res = run_cluster_sh("start")
    if res.returncode == 2:
        pytest.skip(f"Slurm harness prerequisites missing: {res.stderr.strip()}")
    if res.returncode == 3:
        pytest.skip(f"Slurm harness refused to touch an existing Slurm: {res.stderr.strip()}")
    if res.returncode != 0:
        pytest.fail(
            f"tests/slurm/cluster.sh start failed (rc={res.returncode}):\n"
            f"{res.stdout}\n{res.stderr}",
            pytrace=False,
        )
    node = subprocess.run(["hostname", "-s"], capture_output=True, text=True).stdout.strip()
    info = SlurmCluster(node=node, started_here=not already_up)
    try:
        yield info
    finally:
        if info.started_here and os.environ.get("REWILD_SLURM_KEEP_CLUSTER") != "1":
            run_cluster_sh("stop", timeout=120)

"""A job that fails for lack of memory is retried with more memory, at sites that requeue failed jobs too.

Both site behaviours on the live harness: its default slurm.conf (no RequeueExit) and one whose RequeueExit lists
the codes a failed Snakemake job exits with (1; 137, an OOM kill) -- the case of snakemake-executor-plugin-slurm
#353, where Slurm requeued the failed job with the same memory forever and Snakemake never retried it. The
profile is installed with the documented command and run as users type it: `snakemake --profile slurm`.

Run: ``.venv/bin/python -m pytest tests/slurm -q -m slurm`` (as root; see tests/slurm/conftest.py).
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest
from slurm_harness import install_slurm_profile, set_requeue_exit
from test_slurm_toy import TEST_OVERRIDES, mem_mb, scontrol_job, submitted_jobids

pytestmark = pytest.mark.slurm

ENOUGH_MB = 1500
# Attempt 1 asks for 1,000 MB and dies the way an out-of-memory job does (exit 137) unless it has ENOUGH_MB;
# the retry asks for 2,000 MB and succeeds.
OOM = f'''
rule all:
    input: "oom.txt"

rule needs_memory:
    output: "oom.txt"
    resources: mem_mb=lambda wc, attempt: 1000 * attempt
    shell:
        """
        echo "mem_mb={{resources.mem_mb}} jobid=$SLURM_JOB_ID" >> attempts.log
        if [ {{resources.mem_mb}} -lt {ENOUGH_MB} ]; then echo "Killed: out of memory" >&2; exit 137; fi
        echo "mem_mb={{resources.mem_mb}}" > {{output}}
        """
'''


@pytest.fixture(params=["none", "1,137"], ids=["default-slurm-conf", "requeue-exit"])
def site(request, slurm_cluster):
    set_requeue_exit(request.param)
    yield request.param
    set_requeue_exit("none")


def test_out_of_memory_job_is_retried_with_more_memory(site, tmp_path):
    env = install_slurm_profile(tmp_path / "xdg")
    installed = (tmp_path / "xdg" / "snakemake" / "slurm" / "config.yaml").read_text()
    work = tmp_path / "work"
    work.mkdir()
    (work / "Snakefile").write_text(OOM)
    t0 = time.monotonic()
    # Before the fix, at the requeue-exit site this never ended (Slurm requeued job 1 with 1,000 MB again and
    # again); the timeout turns that into a failure.
    res = subprocess.run(["snakemake", "--profile", "slurm", *TEST_OVERRIDES], cwd=work, env=env,
                         capture_output=True, text=True, timeout=300)
    log = res.stdout + res.stderr
    (work / "snakemake.log").write_text(log)
    assert res.returncode == 0, f"rc={res.returncode} after {time.monotonic() - t0:.0f}s:\n{log[-5000:]}"
    print(f"site {site}: {time.monotonic() - t0:.0f}s")

    attempts = [dict(kv.split("=", 1) for kv in line.split())
                for line in (work / "attempts.log").read_text().splitlines()]
    # one run per Snakemake attempt: Slurm did not rerun attempt 1 with the same memory
    assert [int(a["mem_mb"]) for a in attempts] == [1000, 2000], attempts
    first, second = (a["jobid"] for a in attempts)
    assert sorted(submitted_jobids(log)) == sorted([first, second])
    failed, done = scontrol_job(first), scontrol_job(second)
    assert failed["JobState"] == "FAILED" and failed["Restarts"] == "0", failed
    assert done["JobState"] == "COMPLETED" and done["Restarts"] == "0", done
    # Slurm itself gave the retry more memory (sbatch --mem)
    assert mem_mb(failed["MinMemoryNode"]) == 1000 and mem_mb(done["MinMemoryNode"]) == 2000
    assert (work / "oom.txt").read_text().strip() == "mem_mb=2000"
    # preemption and node failures are still left to Slurm (sbatch --requeue) ...
    assert failed["Requeue"] == "1", failed
    # ... while the failed job's batch script ended with a code the site does not requeue
    code = int(failed["ExitCode"].split(":")[0])
    assert code not in ((1, 137) if site != "none" else ()) and code != 0, failed
    assert f"exit {code}" in installed


def test_the_failing_code_is_the_one_sites_requeue(slurm_cluster, tmp_path):
    """Without the profile's precommand, a failed Snakemake job's batch script exits with 1: the code the
    requeue-exit site above lists, so that site exercises the bug."""
    work = tmp_path / "work"
    work.mkdir()
    (work / "Snakefile").write_text(OOM.replace("1000 * attempt", "1000"))
    env = install_slurm_profile(tmp_path / "xdg")
    res = subprocess.run(["snakemake", "--profile", "slurm", *TEST_OVERRIDES, "--retries", "0",
                          "--precommand", "true"], cwd=work, env=env, capture_output=True, text=True, timeout=300)
    assert res.returncode != 0
    (jobid,) = submitted_jobids(res.stdout + res.stderr)
    assert scontrol_job(jobid)["ExitCode"] == "1:0"


def test_profile_installs_into_the_given_config_home(tmp_path):
    """The documented install command writes only under XDG_CONFIG_HOME (here a temporary one)."""
    home = tmp_path / "xdg"
    install_slurm_profile(home)
    assert sorted(p.relative_to(home).as_posix() for p in home.rglob("*") if p.is_file()) == [
        "site.yaml", "snakemake/slurm/config.yaml", "snakemake/slurm/partitions.yaml"]
    assert Path(home / "snakemake" / "slurm" / "partitions.yaml").read_text().count("max_gpu") == 2

"""Install the global Snakemake profile `slurm` (profiles/slurm/config.yaml plus a site's values).

    tools/install-slurm-profile [--site my-site.yaml] [--dest DIR]

writes DIR/config.yaml and DIR/partitions.yaml; DIR defaults to ${XDG_CONFIG_HOME:-~/.config}/snakemake/slurm,
where `snakemake --profile slurm` finds it. The site file's keys are documented in profiles/slurm/site.example.yaml
(which is also the default site). Rerun it after the site's slurm.conf changes RequeueExit.

Why the exit code: Slurm requeues a job whose batch script exits with a code listed in slurm.conf's RequeueExit
(held, for RequeueExitHold), with the same memory and time, again and again; `sbatch --no-requeue` does not stop
that (checked on Slurm 22.05). The executor plugin then waits on a job that never fails, and Snakemake's retries
with more memory never happen (snakemake-executor-plugin-slurm #353). So the profile's precommand makes a failed
job's batch script end with a code the site does not requeue; preemption and node failures are still requeued
(sbatch --requeue), and every failure reaches Snakemake.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
TEMPLATE = REPO / "profiles" / "slurm" / "config.yaml"
EXAMPLE_SITE = REPO / "profiles" / "slurm" / "site.example.yaml"
SITE_KEYS = {"account", "status_command", "hub_offline", "partitions", "default_mem_mb", "default_runtime"}
HF_OFFLINE = "export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TRANSFORMERS_OFFLINE=1"


def default_dest() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "snakemake" / "slurm"


def parse_exit_codes(value: str) -> set[int]:
    """slurm.conf's RequeueExit syntax ("1,100-110"; "(null)" or empty: none) -> the codes."""
    codes: set[int] = set()
    for part in re.split(r"[,\s]+", value.strip()):
        if not part or part == "(null)":
            continue
        lo, _, hi = part.partition("-")
        codes.update(range(int(lo), int(hi or lo) + 1))
    return codes


def site_requeue_codes(scontrol_config: str) -> set[int]:
    """Exit codes the site requeues (RequeueExit) or requeues and holds (RequeueExitHold), from
    `scontrol show config`."""
    codes: set[int] = set()
    for key in ("RequeueExit", "RequeueExitHold"):
        m = re.search(rf"^{key}\s*=\s*(.*)$", scontrol_config, re.M)
        if m:
            codes |= parse_exit_codes(m.group(1))
    return codes


def failure_exit_code(requeued: set[int]) -> int:
    """The code a failed job ends with: the smallest non-zero one the site does not requeue."""
    free = [c for c in range(1, 256) if c not in requeued]
    if not free:
        raise SystemExit("install-slurm-profile: RequeueExit covers every exit code; failed jobs would be requeued"
                         " forever. Ask the site to leave one code out.")
    return free[0]


def failure_precommand(code: int) -> str:
    """Shell run before each cluster job: whatever a failing job exits with becomes `code`.

    `$` is escaped because the plugin hands the command to sbatch inside a double-quoted --wrap="..." that the
    submitting shell expands once; the job's own shell then sees `$?`.
    """
    return f"trap '[ \\$? -eq 0 ] || exit {code}' EXIT"


def read_site(path: Path) -> dict:
    site = yaml.safe_load(path.read_text()) or {}
    unknown = set(site) - SITE_KEYS
    if unknown:
        raise SystemExit(f"install-slurm-profile: unknown key(s) in {path}: {sorted(unknown)} "
                         f"(known: {sorted(SITE_KEYS)})")
    example = yaml.safe_load(EXAMPLE_SITE.read_text())
    return {**example, **site}


def render(template: dict, site: dict, dest: Path, exit_code: int) -> tuple[dict, dict]:
    """The installed profile and its partition file, from the template and the site values."""
    profile = dict(template)
    pre = [failure_precommand(exit_code)]
    if site["hub_offline"]:
        pre.append(HF_OFFLINE)
    profile["precommand"] = " && ".join(pre)
    profile["slurm-status-command"] = site["status_command"]
    profile["slurm-partition-config"] = str(dest / "partitions.yaml")
    resources = {"mem_mb": f"{int(site['default_mem_mb'])} * attempt",
                 "runtime": f"{int(site['default_runtime'])} * attempt"}
    if site["account"]:
        # a resource value is a Python expression: repr keeps the account a string
        resources["slurm_account"] = repr(str(site["account"]))
    profile["default-resources"] = resources
    return profile, {"partitions": site["partitions"]}


def scontrol_config() -> str:
    if shutil.which("scontrol") is None:
        return ""
    proc = subprocess.run(["scontrol", "show", "config"], capture_output=True, text=True)
    return proc.stdout if proc.returncode == 0 else ""


def install(site_path: Path, dest: Path, scontrol_text: str) -> tuple[Path, int]:
    site = read_site(site_path)
    requeued = site_requeue_codes(scontrol_text)
    code = failure_exit_code(requeued)
    profile, partitions = render(yaml.safe_load(TEMPLATE.read_text()), site, dest, code)
    dest.mkdir(parents=True, exist_ok=True)
    header = f"# Installed by tools/install-slurm-profile from {TEMPLATE} and {site_path}; rerun it to change.\n"
    (dest / "config.yaml").write_text(header + yaml.safe_dump(profile, sort_keys=False))
    (dest / "partitions.yaml").write_text(header + yaml.safe_dump(partitions, sort_keys=False))
    return dest, code


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--site", type=Path, default=EXAMPLE_SITE, help="site values (see profiles/slurm/site.example.yaml)")
    ap.add_argument("--dest", type=Path, default=None, help="profile directory (default: the user config dir)")
    args = ap.parse_args(argv)
    text = scontrol_config()
    dest, code = install(args.site, (args.dest or default_dest()).expanduser().resolve(), text)
    requeued = site_requeue_codes(text)
    print(f"installed the Snakemake profile `slurm` in {dest}")
    if requeued:
        print(f"this site requeues jobs that exit with {sorted(requeued)}: failed jobs will exit with {code} instead,"
              " so that Snakemake retries them with more memory and time")
    elif not text:
        print("scontrol not found: could not read RequeueExit; rerun this on the cluster's login node")
    print("run from the project root: snakemake --profile slurm")
    return 0


if __name__ == "__main__":
    sys.exit(main())

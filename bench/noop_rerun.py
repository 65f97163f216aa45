"""Time Snakemake on a finished run where nothing is left to do: `-n` (dry run) and a real no-op run.

    .venv/bin/python bench/noop_rerun.py [RUN_DIR] [--configfile FILE] [--repeats 3] [--json FILE]

RUN_DIR: a finished run directory (results + `.snakemake`), run with `--profile profiles/local`. Its config:
--configfile, else RUN_DIR/config.test.yaml (what the tests write), else the profile's (config/demo.yaml).
Without RUN_DIR the mini config (config/mini.yaml) is run to completion in a temporary directory first
(several minutes on 2 cores). Both commands must report "Nothing to be done". Goal: <= 10 s each.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent
SNAKEMAKE = str(Path(sys.executable).parent / "snakemake")
sys.path.insert(0, str(REPO / "tests"))


def snakemake(args: list[str]) -> tuple[float, subprocess.CompletedProcess]:
    t0 = time.perf_counter()
    proc = subprocess.run([SNAKEMAKE, *args], cwd=REPO, capture_output=True, text=True)
    return time.perf_counter() - t0, proc


def run_args(workdir: Path, configfile: Path | None) -> list[str]:
    args = ["--profile", "profiles/local", "-d", str(workdir)]
    return args + (["--configfile", str(configfile)] if configfile else [])


def finished_mini_run(tmp: Path) -> tuple[Path, Path]:
    from rewild_testlib import workdir_copy

    workdir, cfg = workdir_copy(tmp, yaml.safe_load((REPO / "config" / "mini.yaml").read_text()))
    print(f"running config/mini.yaml to completion in {workdir} ...", flush=True)
    seconds, proc = snakemake(run_args(workdir, cfg))
    if proc.returncode != 0:
        raise SystemExit(f"the mini run failed:\n{proc.stderr[-4000:]}")
    print(f"  full mini run: {seconds:.0f} s")
    return workdir, cfg


def measure(workdir: Path, configfile: Path | None, repeats: int) -> dict:
    results = {}
    for label, extra in (("dry run (-n)", ["-n"]), ("no-op run", [])):
        times = []
        for _ in range(repeats):
            seconds, proc = snakemake(run_args(workdir, configfile) + extra)
            out = proc.stdout + proc.stderr
            if proc.returncode != 0 or "Nothing to be done" not in out:
                raise SystemExit(f"{label}: not a finished run (something to do, or an error):\n{out[-4000:]}")
            times.append(seconds)
        results[label] = times
        cmd = " ".join(["snakemake", *run_args(workdir, configfile), *extra])
        print(f"{label:13s} median {statistics.median(times):5.2f} s  runs {', '.join(f'{t:.2f}' for t in times)}"
              f"  (goal <= 10 s)\n    {cmd}")
    return results


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("run_dir", nargs="?", type=Path)
    ap.add_argument("--configfile", type=Path)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--json", type=Path)
    a = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="noop-") as tmp:
        if a.run_dir is None:
            workdir, configfile = finished_mini_run(Path(tmp))
        else:
            workdir = a.run_dir.resolve()
            configfile = a.configfile or (workdir / "config.test.yaml")
            configfile = configfile.resolve() if configfile.is_file() else None
        jobs = sum(1 for _ in (workdir / ".snakemake" / "metadata").iterdir())
        print(f"run directory {workdir} ({jobs} output files with metadata), config {configfile or 'profile default'}")
        results = measure(workdir, configfile, a.repeats)
    if a.json:
        a.json.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()

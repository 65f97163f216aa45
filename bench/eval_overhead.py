"""Evaluation overhead (imports + lm-eval task index + model load) as a share of evaluation wall time, on the
demo's evaluation settings and tasks, with one job per (model, task) ("before") and one job per model with
eval.group_tasks ("after"), both in the same run:

    .venv/bin/python bench/eval_overhead.py [--config config/demo.yaml] [--model DIR ...] [--repeats 1] [--json F]

Each job is a fresh Python process running rewild.evaluate.run, as a Snakemake job does (interpreter start and
imports included). A job's overhead is its process wall time minus the evaluation time of its tasks (each task's
`seconds` in its Eval JSON: its simple_evaluate). Models: the demo's local model folders (default: the tiny
random model and SmolLM2-135M that the tests and the demo build under .cache/). The two modes alternate per model
so that machine load hits both alike. Prints per-mode totals and the after/before ratios.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent
DEFAULT_MODELS = [REPO / ".cache" / "tiny-random-hf", REPO / ".cache" / "smollm2-hf"]
CPU_SETTINGS = {"revision": None, "gpus": 0, "max_model_len": 2048, "trust_remote_code": False}


def worker(spec_path: str) -> None:
    """One evaluation job (in its own process), with the threads the rule gives it (rewild.resources)."""
    from rewild import evaluate
    from rewild.io import limit_cpu_threads

    spec = json.loads(Path(spec_path).read_text())
    limit_cpu_threads(spec["threads"])
    evaluate.run(model_path=spec["model"], model_name=spec["name"], settings=CPU_SETTINGS, tasks=spec["tasks"],
                 eval_cfg=spec["eval"], out_paths=spec["outs"], config_hash=None)


def job(model: Path, tasks: dict, eval_cfg: dict, threads: int, out_dir: Path) -> dict:
    """Run one job; its wall time, the evaluation seconds of its tasks, and its overhead."""
    outs = {k: str(out_dir / f"{k}.json") for k in tasks}
    spec = out_dir / "spec.json"
    out_dir.mkdir(parents=True, exist_ok=True)
    spec.write_text(json.dumps({"model": str(model), "name": model.name, "tasks": tasks, "eval": eval_cfg,
                                "outs": outs, "threads": threads}))
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, __file__, "--worker", str(spec)], cwd=REPO, capture_output=True,
                          text=True, env={**os.environ, "TOKENIZERS_PARALLELISM": "false"})
    wall = time.perf_counter() - t0
    if proc.returncode:
        raise SystemExit(f"evaluation job failed:\n{proc.stderr[-3000:]}")
    task_s = sum(json.loads(Path(o).read_text())["provenance"]["seconds"] for o in outs.values())
    return {"wall_s": wall, "task_s": task_s, "overhead_s": wall - task_s}


def totals(rows: list[dict]) -> dict:
    wall = sum(r["wall_s"] for r in rows)
    overhead = sum(r["overhead_s"] for r in rows)
    return {"jobs": len(rows), "wall_s": round(wall, 1), "task_s": round(wall - overhead, 1),
            "overhead_s": round(overhead, 1), "overhead_share": round(overhead / wall, 3)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    ap.add_argument("--config", default=str(REPO / "config" / "demo.yaml"))
    ap.add_argument("--model", action="append", type=Path, help="model folder (repeatable)")
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    if args.worker:
        worker(args.worker)
        return 0

    sys.path.insert(0, str(REPO))
    from rewild import config as rc
    from rewild import resources

    cfg = rc.validate(yaml.safe_load(Path(args.config).read_text()))
    eval_cfg = {k: v for k, v in cfg["eval"].items() if k != "judge"}
    tasks = {k: dict(t) for k, t in cfg["eval"]["tasks"].items()}
    threads = resources.eval_threads(cfg, "base")
    models = args.model or [m for m in DEFAULT_MODELS if (m / "config.json").exists()]
    if not models:
        raise SystemExit("no model folder: pass --model DIR (the tests build .cache/tiny-random-hf)")
    rows: dict[str, list[dict]] = {"before": [], "after": []}
    with tempfile.TemporaryDirectory(prefix="eval-overhead-") as tmp:
        for rep in range(args.repeats):
            for i, model in enumerate(models):
                order = ["before", "after"] if (rep + i) % 2 == 0 else ["after", "before"]
                for mode in order:
                    base = Path(tmp) / f"{rep}-{model.name}-{mode}"
                    if mode == "before":
                        for key, task in tasks.items():
                            rows[mode].append(job(model, {key: task}, eval_cfg, threads, base / key))
                    else:
                        rows[mode].append(job(model, tasks, eval_cfg, threads, base))
                    print(f"{model.name} {mode}: {totals(rows[mode][-len(tasks) if mode == 'before' else -1:])}",
                          flush=True)
    before, after = totals(rows["before"]), totals(rows["after"])
    result = {"config": args.config, "models": [str(m) for m in models], "tasks": list(tasks),
              "repeats": args.repeats, "cpus": os.cpu_count(), "threads_per_job": threads, "before": before, "after": after,
              "ratio_wall_after_over_before": round(after["wall_s"] / before["wall_s"], 3),
              "ratio_overhead_after_over_before": round(after["overhead_s"] / before["overhead_s"], 3)}
    print(json.dumps(result, indent=2))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The judged benchmarks (MT-Bench, AlpacaEval-LC, MixEval) in per-benchmark jobs ("before") and grouped jobs
("after": one answering job per model under eval.group_tasks, one grading job under eval.judge.group_grading),
both in the same run, on paper-mini's judged settings (replicas, eval.judged_limit, the local SmolLM2 judge):

    .venv/bin/python bench/judged_jobs.py [--config config/paper-mini.yaml] [--model DIR ...] [--json F]

Each job is a fresh Python process calling the functions the rules' scripts call (rewild.judge.{mtbench,
alpaca_eval,mixeval}.run_* before, rewild.judge.grouped.run_* after), as a Snakemake job does: interpreter start,
imports, the vLLM engine or the served judge's start included. Per-benchmark grading starts the judge server in
every job; the grouped grading job starts it once. Each mode gets an empty verdict cache, so both pay for every
verdict. Models: local model folders (default: the tiny random model and SmolLM2-135M the tests build under
.cache/); the judge: SmolLM2-135M served by vLLM on CPU. Prints per-mode wall times and the after/before ratio.
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
JUDGE = REPO / ".cache" / "smollm2-hf"
BENCHES = ("mtbench", "alpaca_lc", "mixeval")


def worker(spec_path: str) -> None:
    """One job (in its own process): `kind` answers / grade, per benchmark or grouped."""
    from rewild.judge import alpaca_eval, grouped, mixeval, mtbench
    from rewild.judge.server import JudgePlaces

    s = json.loads(Path(spec_path).read_text())
    # the served judge's folder goes where a rule's server_model input would
    data, out, places = s["data"], s["out"], JudgePlaces(s["cache"], s["vllm_cache"], s["judge"], s["log"])
    if s["kind"] == "answers-grouped":
        grouped.run_answers(s["model"], s["subject"], s["settings"], s["params"], data, out, cache_dir=s["vllm_cache"])
    elif s["kind"] == "grade-grouped":
        grouped.run_grading(s["params"], data, s["answers"], out, cadence=s["cadence"], places=places)
    elif s["kind"] == "answers":
        b, p = s["bench"], s["params"][s["bench"]]
        if b == "mtbench":
            mtbench.run_answers(data["mtbench_questions"], s["subject"], s["model"], s["settings"], p,
                                out["mtbench_answers"], out["mtbench_meta"], cache_dir=s["vllm_cache"])
        elif b == "alpaca_lc":
            alpaca_eval.run_answers(data["alpaca_reference"], s["subject"], s["model"], s["settings"], p,
                                    out["alpaca_answers"], out["alpaca_meta"], cache_dir=s["vllm_cache"])
        else:
            mixeval.run_answers(p["source"], {k: data[f"mixeval_{k}"] for k in mixeval.SPLITS}, s["subject"],
                                s["model"], s["settings"], {k: v for k, v in p.items() if k != "source"},
                                out["mixeval_answers"], cache_dir=s["vllm_cache"])
    else:  # one (model, benchmark) grading job: run_grading over one benchmark and one model starts its own judge
        grouped.run_grading(s["params"], data, s["answers"], out, cadence=s["cadence"], places=places)


def run_job(spec: dict, tmp: Path, name: str) -> float:
    path = tmp / f"{name}.json"
    path.write_text(json.dumps(spec))
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, __file__, "--worker", str(path)], cwd=REPO, capture_output=True,
                          text=True, env={**os.environ, "TOKENIZERS_PARALLELISM": "false"})
    wall = time.perf_counter() - t0
    if proc.returncode:
        raise SystemExit(f"{name} failed:\n{proc.stderr[-4000:]}")
    return wall


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    ap.add_argument("--config", default=str(REPO / "config" / "paper-mini.yaml"))
    ap.add_argument("--model", action="append", type=Path, help="model folder (repeatable)")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    if args.worker:
        worker(args.worker)
        return 0

    sys.path.insert(0, str(REPO))
    from rewild import config as rc
    from rewild.judge import grouped
    from rewild.judge import plan as judge_plan

    raw = yaml.safe_load(Path(args.config).read_text())
    raw["eval"]["group_tasks"] = True
    raw["eval"]["judge"]["group_grading"] = True
    raw["eval"]["judge"]["enabled"] = False  # the judged benchmarks only (no SDQ of DGM data)
    cfg = rc.validate(raw)
    models = args.model or [m for m in DEFAULT_MODELS if (m / "config.json").exists()]
    if not models or not (JUDGE / "config.json").exists():
        raise SystemExit("no model folders: the tests build .cache/tiny-random-hf and .cache/smollm2-hf")
    settings = judge_plan.subject_settings(cfg, "base")  # a local folder with the student's template
    answer_params = grouped.answer_params(cfg)
    grade_params = grouped.grade_params(cfg)
    data = {k: str(REPO / v) for k, v in grouped.data_inputs(cfg, list(BENCHES), grading=True).items()}
    cadence = judge_plan.client_cadence(cfg)
    walls: dict[str, dict[str, float]] = {"before": {}, "after": {}}
    with tempfile.TemporaryDirectory(prefix="judged-jobs-") as tmpdir:
        tmp = Path(tmpdir)
        for mode in ("before", "after"):  # before first: its judge start warms nothing the other reuses
            root = tmp / mode
            common = {"cache": str(root / "verdicts"), "vllm_cache": str(REPO / ".cache" / "vllm"), "judge": str(JUDGE),
                      "log": str(root / "judge-server.log"), "settings": settings, "data": data, "cadence": cadence}
            answers: dict[str, list[str]] = {f"{b}_answers": [] for b in BENCHES}
            out_all: dict[str, list[str]] = {}
            t_answers = 0.0
            for model in models:
                subject = model.name
                outs = {n: str(root / subject / Path(p).name) for n, p in grouped.answer_outputs(cfg).items()}
                Path(outs["mtbench_answers"]).parent.mkdir(parents=True, exist_ok=True)
                spec = {**common, "model": str(model), "subject": subject, "params": answer_params, "out": outs}
                if mode == "after":
                    t_answers += run_job({**spec, "kind": "answers-grouped"}, tmp, f"{mode}-{subject}-answers")
                else:
                    for b in BENCHES:
                        t_answers += run_job({**spec, "kind": "answers", "bench": b}, tmp, f"{mode}-{subject}-{b}")
                answers["mtbench_answers"].append(outs["mtbench_answers"])
                answers["alpaca_lc_answers"].append(outs["alpaca_answers"])
                answers["mixeval_answers"].append(outs["mixeval_answers"])
                for pattern in grouped.GRADE_FILES.values():
                    for out_name, f in pattern.items():
                        out_all.setdefault(out_name, []).append(str(root / subject / f))
            subjects = [m.name for m in models]
            t_grade = 0.0
            if mode == "after":
                params = {b: {**grade_params[b], "models": subjects} for b in BENCHES}
                t_grade = run_job({**common, "kind": "grade-grouped", "params": params, "answers": answers,
                                   "out": out_all}, tmp, f"{mode}-grade")
            else:
                for i, subject in enumerate(subjects):
                    for b in BENCHES:
                        names = grouped.GRADE_FILES[b]
                        one = {f"{b}_answers": [answers[f"{b}_answers"][i]]}
                        outs = {n: [out_all[n][i]] for n in names}
                        t_grade += run_job({**common, "kind": "grade", "params": {b: {**grade_params[b],
                                           "models": [subject]}}, "answers": one, "out": outs}, tmp,
                                           f"{mode}-{subject}-{b}-grade")  # fmt: skip
            scores = {b: [json.loads(Path(out_all[list(grouped.GRADE_FILES[b])[1 if b == "mtbench" else 0]][i])
                                     .read_text())["score"] for i in range(len(subjects))] for b in BENCHES}
            walls[mode] = {"answers_s": round(t_answers, 1), "grade_s": round(t_grade, 1),
                           "total_s": round(t_answers + t_grade, 1), "scores": scores}
            print(f"{mode}: {walls[mode]}", flush=True)
    before, after = walls["before"], walls["after"]
    result = {"config": args.config, "models": [str(m) for m in models], "judge": str(JUDGE),
              "judged_limit": cfg["eval"]["judged_limit"], "cpus": os.cpu_count(),
              "jobs_before": {"answers": 3 * len(models), "grade": 3 * len(models)},
              "jobs_after": {"answers": len(models), "grade": 1}, "before": before, "after": after,
              "ratio_answers_after_over_before": round(after["answers_s"] / before["answers_s"], 3),
              "ratio_grade_after_over_before": round(after["grade_s"] / before["grade_s"], 3),
              "ratio_total_after_over_before": round(after["total_s"] / before["total_s"], 3),
              "same_scores": before["scores"] == after["scores"]}
    print(json.dumps(result, indent=2))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

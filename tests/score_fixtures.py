"""Eval and judged-score JSONs shaped like a real run's (rewild.evaluate's Eval JSON; the judged-score contract of
docs/architecture.md), for the scores, comparison and significance tests."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

import numpy as np

# The paper preset's tasks (config.yaml), with realistic item counts scaled down (BBH's 24 subtasks, IFEval's 541
# prompts with 1-3 instructions each, ...): big enough for a bootstrap, small enough to be quick.
PAPER_TASKS = {
    "bbh": {"lm_eval_task": "leaderboard_bbh", "metric": "acc_norm", "benchmark": "bbh", "num_fewshot": None},
    "gpqa": {"lm_eval_task": "leaderboard_gpqa", "metric": "acc_norm", "benchmark": "gpqa", "num_fewshot": None},
    "math": {"lm_eval_task": "leaderboard_math_hard", "metric": "exact_match", "benchmark": "math", "num_fewshot": None},
    "musr": {"lm_eval_task": "leaderboard_musr", "metric": "acc_norm", "benchmark": "musr", "num_fewshot": None},
    "ifeval": {"lm_eval_task": "leaderboard_ifeval", "metric": "prompt_level_strict_acc", "benchmark": "ifeval_ps",
               "num_fewshot": None},
    "mmlu-pro": {"lm_eval_task": "leaderboard_mmlu_pro", "metric": "acc", "benchmark": "mmlu_pro", "num_fewshot": None},
    "mbpp": {"lm_eval_task": "mbpp", "metric": "pass_at_1", "benchmark": "mbpp", "num_fewshot": None},
}
ITEMS = {"bbh": 300, "gpqa": 120, "math": 130, "musr": 76, "ifeval": 100, "mmlu-pro": 400, "mbpp": 50,
         "mixeval": 200, "mtbench": 80, "alpaca_lc": 160}
JUDGED = ("mixeval", "mtbench", "alpaca_lc")


def binary(rng: np.random.Generator, n: int, p: float) -> list[float]:
    return rng.binomial(1, min(max(p, 0.0), 1.0), size=n).astype(float).tolist()


def item_samples(rng: np.random.Generator, column: str, n: int, level: float) -> list[float]:
    """Per-item values in the benchmark's own units: 0/1 accuracies, MT-Bench 1-10, AlpacaEval LC percent."""
    if column == "mtbench":
        return np.clip(np.round(rng.normal(level, 1.5, size=n)), 1, 10).tolist()
    if column == "alpaca_lc":
        return (100 * rng.binomial(1, level / 100, size=n)).astype(float).tolist()
    return binary(rng, n, level)


def write_eval(root: Path, model: str, task: str, samples: list[float], inst_loose: list[float] | None = None,
               stderr: float | None = None) -> str:
    spec = PAPER_TASKS[task]
    key = f"{spec['metric']},none"
    score = float(np.mean(samples))
    body = {"model": model, "task": task, "lm_eval_task": spec["lm_eval_task"], "metric": spec["metric"],
            "score": score, "stderr": stderr, "n": len(samples),
            "metrics": {key: score, key.replace(",", "_stderr,"): stderr if stderr is not None else "N/A"},
            "samples": samples, "samples_by_metric": {}, "provenance": {"lm_eval_version": "0.4.13"}}
    if inst_loose is not None:
        body["metrics"]["inst_level_loose_acc,none"] = float(np.mean(inst_loose))
        body["metrics"]["inst_level_loose_acc_stderr,none"] = "N/A"  # lm-eval computes none for it
        body["samples_by_metric"]["inst_level_loose_acc,none"] = inst_loose
    path = root / "eval" / model / f"{task}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(body))
    return str(path)


def write_judged(root: Path, model: str, benchmark: str, samples: list[float]) -> str:
    x = np.asarray(samples, float)
    body = {"model": model, "benchmark": benchmark, "score": float(x.mean()),
            "stderr": float(x.std(ddof=1) / np.sqrt(x.size)), "n": int(x.size), "samples": samples,
            "judge": {"model": "gpt-4o-mini-2024-07-18", "revision_or_snapshot": "2024-07-18", "prompt_version": "v1",
                      "base_url_kind": "api"},
            "tokens": {"prompt": 1000, "completion": 200}, "cost_usd_estimate": 0.01, "n_malformed": 0}
    path = root / "judge" / model / f"{benchmark}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(body))
    return str(path)


def write_run(root: Path, levels: Mapping[str, Mapping[str, float]], seed: int = 0) -> tuple[list[str], list[str]]:
    """Eval and judged JSONs for every model: levels[model][column] is its expected score on that column (0-1
    accuracies, MT-Bench 1-10, AlpacaEval percent; `ifeval_il` for IFEval's inst-loose level). Returns (eval
    paths, judged paths)."""
    rng = np.random.default_rng(seed)
    evals, judged = [], []
    for model, lv in levels.items():
        for task, spec in PAPER_TASKS.items():
            col = spec["benchmark"]
            samples = item_samples(rng, col, ITEMS[task], lv[col])
            inst = binary(rng, int(ITEMS[task] * 1.5), lv["ifeval_il"]) if col == "ifeval_ps" else None
            evals.append(write_eval(root, model, task, samples, inst))
        for b in JUDGED:
            judged.append(write_judged(root, model, b, item_samples(rng, b, ITEMS[b], lv[b])))
    return evals, judged

"""Which columns a config's scores table has and which files feed them, read from the validated config.

Light on purpose (no pandas, no plots): rules/common.smk imports it while Snakemake parses the workflow.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

# Scored by an LLM (judge or answer parser), written by rules/judge.smk as results/judge/{model}/{benchmark}.json
# (the contract: README, "Reproduction vs paper").
JUDGED: tuple[str, ...] = ("mtbench", "alpaca_lc", "mixeval")

# One lm-eval run reports more than the configured metric: IFEval's eval JSON also holds instruction-level loose
# accuracy, the paper's second IFEval column (Avg-8). benchmark of the task -> {derived column: lm-eval metric key}.
DERIVED: dict[str, dict[str, str]] = {"ifeval_ps": {"ifeval_il": "inst_level_loose_acc,none"}}


def task_column(task_key: str, task: Mapping[str, Any]) -> str:
    """A task's column in the scores table: its paper benchmark key when it has one (so aggregates and the paper
    comparison find it), else the task key."""
    return task["benchmark"] or task_key


def judged_benchmarks(config: Mapping[str, Any]) -> list[str]:
    """The judged benchmarks the scores table takes (eval.judged_benchmarks)."""
    return list(config["eval"]["judged_benchmarks"])


def score_columns(config: Mapping[str, Any]) -> list[str]:
    """Every score column of the scores table, in table order: tasks (each followed by what it derives), then the
    judged benchmarks."""
    cols: list[str] = []
    for key, task in config["eval"]["tasks"].items():
        col = task_column(key, task)
        cols += [col, *DERIVED.get(col, {})]
    return cols + judged_benchmarks(config)


def judged_score_files(config: Mapping[str, Any], models: Sequence[str]) -> list[str]:
    return [f"results/judge/{m}/{b}.json" for m in models for b in judged_benchmarks(config)]


def paper_labels(config: Mapping[str, Any]) -> dict[str, str]:
    """paper.labels: the paper's row label -> this run's model name (or DGM key, for per-DGM tables)."""
    return dict(config["paper"]["labels"])


def bootstrap_settings(config: Mapping[str, Any]) -> dict[str, int]:
    p = config["paper"]
    return {"n_resamples": p["bootstrap_resamples"], "seed": p["bootstrap_seed"]}

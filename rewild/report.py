"""Report: the scores table (CSV + Markdown), the SFT loss figure and the Markdown summary of a run."""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from . import aggregates, paper, plan, plots
from .io import atomic_path, write_csv

log = logging.getLogger("rewild.report")


def _read(paths: Iterable[str | Path]) -> list[dict]:
    return [json.loads(Path(p).read_text()) for p in paths]


def learned_from(model: str, mixes: Mapping[str, Any]) -> str:
    """What a model learned from: its single DGM, the mix's components, or '(untrained)' for the base student."""
    if model == plan.BASE_MODEL:
        return "(untrained)"
    if model.startswith(plan.REFERENCE_PREFIX) and model not in mixes:
        return f"(the DGM {model[len(plan.REFERENCE_PREFIX):]} itself)"
    spec = mixes[model]
    one = plan.mix_dgm(spec)
    if one:
        return one
    return " + ".join(c.get("dgm") or c.get("source") for c in spec["components"])


def scores_frame(evals: Sequence[Mapping[str, Any]], mixes: Mapping[str, Any], tasks: Mapping[str, Any]) -> pd.DataFrame:
    """One row per model: the DGM it learned from and each task's score (the task's configured metric).

    When tasks map to the paper's benchmarks, the paper's aggregates (Avg-7/8/9) are added; an aggregate
    whose benchmarks are not all present stays empty rather than averaging a subset.
    """
    rows: dict[str, dict[str, Any]] = {}
    for ev in evals:
        row = rows.setdefault(ev["model"], {"model": ev["model"], "dgm": learned_from(ev["model"], mixes)})
        row[ev["task"]] = float(ev["score"])
        row[f"{ev['task']}_stderr"] = float(ev["stderr"]) if ev.get("stderr") is not None else math.nan
    task_cols = [t for t in tasks]
    df = pd.DataFrame(list(rows.values()))
    missing = [t for t in task_cols if t not in df.columns]
    if missing:
        raise ValueError(f"no eval results for tasks {missing}")
    df = df[["model", "dgm"] + task_cols + [f"{t}_stderr" for t in task_cols]]
    bench = {t: spec.get("benchmark") for t, spec in tasks.items() if spec.get("benchmark")}
    if bench:
        renamed = df.rename(columns=bench)
        with_aggs = aggregates.aggregate_table(renamed)
        for agg in aggregates.AGGREGATES:
            if agg in with_aggs and with_aggs[agg].notna().any():
                df[agg] = with_aggs[agg].values
    order = {m: i for i, m in enumerate(list(mixes) + [plan.BASE_MODEL])}
    return df.sort_values("model", key=lambda s: s.map(order).fillna(len(order))).reset_index(drop=True)


def markdown_table(df: pd.DataFrame, floatfmt: str = ".3f") -> str:
    def cell(v: Any) -> str:
        if isinstance(v, float):
            return "" if math.isnan(v) else format(v, floatfmt)
        return str(v).replace("|", "\\|")

    head = "| " + " | ".join(map(str, df.columns)) + " |"
    sep = "|" + "|".join("---" for _ in df.columns) + "|"
    body = ["| " + " | ".join(cell(v) for v in row) + " |" for row in df.itertuples(index=False)]
    return "\n".join([head, sep, *body]) + "\n"


def write_text(path: str | Path, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def run_scores(eval_paths: Sequence[str], mixes: Mapping[str, Any], tasks: Mapping[str, Any], out_csv: str, out_md: str) -> pd.DataFrame:
    df = scores_frame(_read(eval_paths), mixes, tasks)
    write_csv(df, out_csv)
    shown = df[[c for c in df.columns if not c.endswith("_stderr")]]
    write_text(out_md, markdown_table(shown))
    log.info("scores table: %d models x %d tasks", len(df), len(tasks))
    return df


# ---------------------------------------------------------------------------------------------- summary


def prompt_accounting(stats: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    keys = ["input_rows", "kept", "skipped_odd", "rejected"]
    df = pd.DataFrame([{"shard": s["shard"], **{k: s[k] for k in keys}} for s in stats])
    total = {"shard": "total", **{k: int(df[k].sum()) for k in keys}}
    return pd.concat([df, pd.DataFrame([total])], ignore_index=True)


def filter_accounting(reports: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    rows = []
    for r in reports:
        rows.append({"dgm": r["dgm"], "input": r["input"], "kept": r["kept"],
                     **{f"dropped_{k}": v for k, v in r["dropped"].items()}})
    return pd.DataFrame(rows)


def sft_metrics_by_mix(paths: Sequence[str | Path]) -> dict[str, dict]:
    """results/models/{mix}.metrics.json files by mix name."""
    return {Path(p).name.removesuffix(".metrics.json"): json.loads(Path(p).read_text()) for p in paths}


def run_training_curves(sft_metrics: Sequence[str | Path], out_png: str | Path) -> Path:
    """One figure with every student's training (and held-out) loss curve."""
    curves = {mix: pd.DataFrame(m["loss_curve"]) for mix, m in sft_metrics_by_mix(sft_metrics).items()}
    return plots.loss_curve(curves, out_png, title="SFT loss (assistant tokens)")


def training_summary(metrics: Mapping[str, Mapping[str, Any]]) -> pd.DataFrame:
    rows = []
    for mix, m in metrics.items():
        curve = m.get("loss_curve") or []
        rows.append({
            "mix": mix,
            "optimizer_steps": m.get("optimizer_steps"),
            "effective_batch": m.get("effective_batch"),
            "first_loss": curve[0]["loss"] if curve else math.nan,
            "last_loss": curve[-1]["loss"] if curve else math.nan,
            "eval_loss": m.get("eval_loss", math.nan),
            "tokens_seen": m.get("tokens_seen"),
            "resumes": m.get("resumes", 0),
            "wall_seconds": m.get("wall_time_s"),
        })
    return pd.DataFrame(rows)


STUDY_SECTIONS = {
    "dgm_choice": ("DGM choice", "Students of each DGM at the most common subset size, best first."),
    "scaling": ("Data scaling", "Students of one DGM at several training-set sizes."),
    "blends": ("Blends", "A blend of DGMs against its parents (the paper: between them, below the better one)."),
    "inheritance": ("Inheritance of strengths",
                    "How often the better DGM on a task also gives the better student (0.5 = chance; paper: 0.5)."),
    "efficiency": ("Generation efficiency", "Per DGM (paper §2.2): tok/s, seconds per 1,000 conversations, "
                   "input:output throughput ratio."),
}


def run_summary(
    scores_csv: str,
    sft_metrics: Sequence[str],
    prompt_stats: Sequence[str],
    filter_reports: Sequence[str],
    reference_csv: str | None,
    out_md: str,
    *,
    run_name: str,
    tables: Mapping[str, str] | None = None,
) -> str:
    scores = pd.read_csv(scores_csv)
    metrics = sft_metrics_by_mix(sft_metrics)
    parts = [
        f"# {run_name}: reproduction summary\n",
        "## Scores\n",
        "One row per evaluated model; `dgm` is what the student learned from.\n",
        markdown_table(scores[[c for c in scores.columns if not c.endswith("_stderr")]]),
        "## Prompts\n",
        "Every source row is kept, skipped (odd number of messages, as the paper) or rejected with a reason "
        "(`results/prompts/*.rejects.jsonl`).\n",
        markdown_table(prompt_accounting(_read(prompt_stats)), floatfmt=".0f"),
        "## Filtering\n",
        markdown_table(filter_accounting(_read(filter_reports)), floatfmt=".0f"),
        "## Training\n",
        markdown_table(training_summary(metrics), floatfmt=".4g") if metrics else "No SFT runs.\n",
    ]
    for key, path in (tables or {}).items():
        title, text = STUDY_SECTIONS.get(key, (key, ""))
        parts += [f"## {title}\n", text + "\n", markdown_table(pd.read_csv(path), floatfmt=".4g")]
    if reference_csv and Path(reference_csv).exists():
        parts.append("## Reproduction vs paper\n")
        if paper.aggregate_metrics(scores):
            cmp = paper.compare_aggregates(scores, paper.load_reference(reference_csv))
            parts.append(markdown_table(cmp) if len(cmp) else "No paper number matches a model of this run.\n")
        else:
            parts.append(
                "This configuration's tasks are not the paper's benchmarks, so no paper number applies "
                "(the paper's numbers are in `data/paper/reference.csv`).\n"
            )
    text = "\n".join(parts)
    write_text(out_md, text)
    return text

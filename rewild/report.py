"""Report: the scores table (CSV + Markdown), the SFT loss figure and the Markdown summary of a run."""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from . import aggregates, plan, plots, scores
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
    spec = mixes[plan.replicate_group(model)]  # a seed replicate `<mix>~s<seed>` learned from its mix
    one = plan.mix_dgm(spec)
    if one:
        return one
    return " + ".join(c.get("dgm") or c.get("source") for c in spec["components"])


def scores_frame(records: Sequence[Mapping[str, Any]], mixes: Mapping[str, Any], columns: Sequence[str]) -> pd.DataFrame:
    """One row per model: what it learned from, each score column with its stderr and n, and the paper's
    aggregates (Avg-7/8/9 with 95% CIs) where every member benchmark is a column (rewild.scores)."""
    df = scores.scores_frame(records, columns)
    df.insert(1, "dgm", [learned_from(m, mixes) for m in df["model"]])
    order = {m: i for i, m in enumerate(list(mixes) + [plan.BASE_MODEL])}
    # a mix's seed replicates right after it, in the order they came (sft.seeds order; a stable sort keeps it)
    return df.sort_values("model", key=lambda s: s.map(plan.replicate_group).map(order).fillna(len(order)),
                          kind="stable").reset_index(drop=True)


def shown_columns(df: pd.DataFrame) -> list[str]:
    """The columns of the Markdown scores table: scores and aggregates with their CIs, not stderr / n."""
    return [c for c in df.columns if not c.endswith(("_stderr", "_n"))]


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


def run_scores(
    eval_paths: Sequence[str],
    judged_paths: Sequence[str],
    mixes: Mapping[str, Any],
    tasks: Mapping[str, Any],
    columns: Sequence[str],
    out_csv: str,
    out_md: str,
) -> pd.DataFrame:
    """scores.csv (every column with stderr and n, aggregates with CIs) and scores.md (without stderr / n)."""
    df = scores_frame(scores.read_records(eval_paths, judged_paths, tasks), mixes, columns)
    write_csv(df, out_csv)
    write_text(out_md, markdown_table(df[shown_columns(df)]))
    log.info("scores table: %d models x %d columns", len(df), len(columns))
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
    "similarity": ("Response similarity", "Each pair of DGMs' responses to the same prompts (paper Table 5)."),
    "style": ("Style: Markdown in MT-Bench answers", "Tag counts and mean HTML length per model, the answers "
              "through markdown2 (paper Table 3)."),
    "style_pf": ("Style heritability", "PF and MPF of each student over its DGM and between students (paper "
                 "Table 3)."),
    "judge_preference": ("Judge preference", "PrefRt and FlipCt of each student against its DGM (paper Table 4)."),
    "judge_cost": ("Judge tokens, cost and malformed verdicts", "Per judged benchmark and model: requests, tokens, "
                   "the list-price estimate and `n_malformed`, the verdicts without a readable score (counted, "
                   "never fatal; a model none of whose verdicts is readable has no score)."),
}


PAPER_TABLES = ("paper_comparison", "paper_comparison_summary", "significance", "claims")
SEED_SPREAD = "seed_spread"  # tables key of results/tables/seed_spread.csv (only with several sft.seeds)


def seed_section(tables: Mapping[str, str]) -> list[str]:
    """The spread of each mix's SFT seed replicates (the aggregates where the run has them, else every column), or
    a line saying the run trains one seed per mix."""
    parts = ["## Seed replicates\n"]
    if SEED_SPREAD not in tables:
        return parts + ["`sft.seeds` has one seed: each mix is trained once, so the run has no seed spread (give "
                        "`sft.seeds` two or more seeds to train replicates `<mix>~s<seed>`).\n"]
    spread = pd.read_csv(tables[SEED_SPREAD])
    shown = spread[spread["n_seeds"] > 1]
    aggs = shown["metric"].isin(list(aggregates.AGGREGATES))
    if aggs.any():
        shown = shown[aggs]
    parts.append("Each mix trained once per seed of `sft.seeds` (`<mix>~s<seed>`): its number of seeds, mean, sample "
                 "std, min and max over them (`results/tables/seed_spread.csv`, every column).\n")
    return parts + [markdown_table(shown.reset_index(drop=True), floatfmt=".4g") if len(shown)
                    else "No mix of this run has more than one evaluated seed.\n"]


def paper_section(tables: Mapping[str, str]) -> list[str]:
    """The summary's comparison with the paper (compared cells in full; the rest counted by table and reason) and
    the significance of the paper's orderings."""
    cmp = pd.read_csv(tables["paper_comparison"])
    done = cmp[cmp["status"] == "compared"]
    rest = cmp[cmp["status"] != "compared"].groupby(["table", "status"], sort=False).size().reset_index(name="cells")
    parts = [
        "## Reproduction vs paper\n",
        "Every number of the paper's tables (`data/paper/reference.csv`) against this run's "
        "(`results/tables/paper_comparison.csv`); `diff` is ours read at the paper's printed precision minus the "
        "paper's, `inside_ci` whether the paper's value lies in our 95% CI. `paper.labels` maps the paper's labels "
        "to this run's names.\n",
        markdown_table(pd.read_csv(tables["paper_comparison_summary"]), floatfmt=".4g"),
    ]
    if len(done):
        shown = done[["table", "label", "metric", "name", "paper", "ours", "ours_lo", "ours_hi", "diff", "inside_ci"]]
        parts += ["### Compared cells\n", markdown_table(shown, floatfmt=".4g")]
    else:
        parts.append("No paper cell was produced by this run.\n")
    if len(rest):
        parts += ["### Cells not compared\n", markdown_table(rest, floatfmt=".0f")]
    sig = pd.read_csv(tables["significance"])
    claims = pd.read_csv(tables["claims"])
    parts += [
        "## Are the differences real?\n",
        "Paired bootstrap of each comparison the paper draws, over the eval items both models share, Holm-corrected "
        "per family (`results/tables/significance.csv`, all benchmarks).\n",
        markdown_table(claims, floatfmt=".0f") if len(claims) else "No comparison of the paper's kinds in this run.\n",
    ]
    if len(claims):
        metric = claims["metric"].iloc[0]
        t = sig[sig["metric"] == metric][["family", "a", "b", "diff", "lo", "hi", "p_holm", "paper_diff", "verdict"]]
        parts.append(markdown_table(t, floatfmt=".4g"))
    return parts


def run_summary(
    scores_csv: str,
    sft_metrics: Sequence[str],
    prompt_stats: Sequence[str],
    filter_reports: Sequence[str],
    out_md: str,
    *,
    run_name: str,
    tables: Mapping[str, str],
) -> str:
    score_table = pd.read_csv(scores_csv)
    metrics = sft_metrics_by_mix(sft_metrics)
    parts = [
        f"# {run_name}: reproduction summary\n",
        "## Scores\n",
        "One row per evaluated model; `dgm` is what the student learned from; Avg-7/8/9 with their 95% CIs "
        "(`_lo`, `_hi`) where the config has their benchmarks.\n",
        markdown_table(score_table[shown_columns(score_table)]),
        "## Prompts\n",
        "Every source row is kept, skipped (odd number of messages, as the paper) or rejected with a reason "
        "(`results/prompts/*.rejects.jsonl`).\n",
        markdown_table(prompt_accounting(_read(prompt_stats)), floatfmt=".0f"),
        "## Filtering\n",
        markdown_table(filter_accounting(_read(filter_reports)), floatfmt=".0f"),
        "## Training\n",
        markdown_table(training_summary(metrics), floatfmt=".4g") if metrics else "No SFT runs.\n",
    ]
    for key, path in tables.items():
        if key in PAPER_TABLES or key == SEED_SPREAD:
            continue
        title, text = STUDY_SECTIONS.get(key, (key, ""))
        parts += [f"## {title}\n", text + "\n", markdown_table(pd.read_csv(path), floatfmt=".4g")]
    parts += seed_section(tables)
    if all(k in tables for k in PAPER_TABLES):
        parts += paper_section(tables)
    text = "\n".join(parts)
    write_text(out_md, text)
    return text

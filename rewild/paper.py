"""The paper's numbers as data (data/paper/reference.csv) and the run's numbers next to them.

Each reference row is one printed number: `table` (our id of the paper table), `label` (the row as the paper
prints it: `L8B:Q72 250k`, `Q72 : None`, `Re-Wild`, a pair `A vs B` or a ratio `A / B`), `metric`, `value`,
`source` (table/figure of the paper, sheet of its results spreadsheet) and `note`. `paper.labels` in the config
maps labels to this run's names: model names for score tables, DGM keys for per-DGM tables (similarity,
efficiency). The comparison lists every reference row: compared, or not run and why (the run lacks the table,
the model or the metric, or paper.labels has no name for its label).
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from decimal import Decimal

import pandas as pd

from . import plots
from .io import write_csv
from .stats import Z95, require_columns

REFERENCE_COLUMNS = ("table", "label", "metric", "value", "source", "note")
ALL = "all DGMs"
NOT_MAPPED = "not run: label not in paper.labels"  # a label that needs no mapping: a statistic over every DGM of the run
PAIR_SEPARATORS = (" vs ", " / ")

# Which of our tables holds each reference table's numbers. Style counts / PF / MPF and PrefRt / FlipCt come from
# MT-Bench answers and judgments that no rule of this workflow turns into those tables yet.
TABLE_GROUP = {
    "headline": "scores",
    "rewild_full": "scores",
    "dgm_choice": "scores",
    "scaling": "scores",
    "blends": "scores",
    "on_policy": "scores",
    "lc_ablation": "scores",
    "rewild_math": "scores",
    "inheritance": "scores",
    "similarity": "similarity",
    "efficiency": "efficiency",
    "efficiency_corr": "efficiency",
    "style_counts": "style",
    "style_pf": "style",
    "style_mpf": "style",
    "preference": "preference",
}
COMPARISON_COLUMNS = ("table", "label", "metric", "name", "paper", "ours", "ours_lo", "ours_hi", "diff",
                      "diff_raw", "inside_ci", "status", "source", "note")


def decimals(text: str) -> int:
    """Decimal places of a number as printed ("0.3642" -> 4, "41" -> 0)."""
    exp = Decimal(text.strip()).as_tuple().exponent
    return max(0, -int(exp))


def load_reference(path: str | os.PathLike) -> pd.DataFrame:
    """The reference table, checked (its columns, numbers, one row per (table, label, metric)), with `decimals`:
    the precision the paper printed, which is the precision a difference can be read at."""
    ref = pd.read_csv(path, dtype=str, keep_default_na=False)
    require_columns(ref, REFERENCE_COLUMNS, "load_reference")
    if (ref["source"].str.len() == 0).any():
        raise ValueError(f"reference: rows without a source: {ref.loc[ref['source'] == '', 'label'].tolist()}")
    ref["decimals"] = ref["value"].map(decimals)
    ref["value"] = pd.to_numeric(ref["value"], errors="raise")
    if ref.duplicated(["table", "label", "metric"]).any():
        dup = ref[ref.duplicated(["table", "label", "metric"], keep=False)]
        raise ValueError(f"reference: duplicate (table, label, metric) rows: {dup[['table', 'label', 'metric']].values.tolist()}")
    unknown = sorted(set(ref["table"]) - set(TABLE_GROUP))
    if unknown:
        raise ValueError(f"reference: tables {unknown} have no group in paper.TABLE_GROUP")
    return ref


def label_parts(label: str) -> tuple[list[str], str]:
    """A pair or ratio label split into its row labels, and the separator (single labels: [label], "")."""
    for sep in PAIR_SEPARATORS:
        if sep in label:
            return label.split(sep), sep
    return [label], ""


def map_label(label: str, labels: Mapping[str, str]) -> str | None:
    """The run's name for a paper label (pairs: both names, same separator); None when a part is unmapped."""
    if label == ALL:
        return ALL
    parts, sep = label_parts(label)
    names = [labels.get(p) for p in parts]
    return None if any(n is None for n in names) else sep.join(names)  # type: ignore[arg-type]


def ours_from_scores(scores: pd.DataFrame) -> pd.DataFrame:
    """Long frame (group, name, metric, value, lo, hi) of a scores table: each score with value ± 1.96 stderr,
    each aggregate with its `_lo`/`_hi`."""
    rows = []
    score_cols = [c for c in scores.columns if f"{c}_stderr" in scores.columns]
    aggs = [c for c in scores.columns if f"{c}_lo" in scores.columns and f"{c}_hi" in scores.columns]
    for _, r in scores.iterrows():
        for c in score_cols:
            se = r[f"{c}_stderr"]
            v = float(r[c])
            lo, hi = (v - Z95 * se, v + Z95 * se) if pd.notna(se) else (math.nan, math.nan)
            rows.append({"group": "scores", "name": r["model"], "metric": c, "value": v, "lo": lo, "hi": hi})
        for a in aggs:
            rows.append({"group": "scores", "name": r["model"], "metric": a, "value": float(r[a]),
                         "lo": float(r[f"{a}_lo"]), "hi": float(r[f"{a}_hi"])})
    return pd.DataFrame(rows, columns=["group", "name", "metric", "value", "lo", "hi"])


def ours_from_similarity(sim: pd.DataFrame) -> pd.DataFrame:
    cols = [c for c in ("rouge1", "rouge1_std", "rougeL", "rougeL_std", "meteor", "meteor_std") if c in sim.columns]
    long = sim.melt(id_vars=["dgm"], value_vars=cols, var_name="metric", value_name="value")
    return long.rename(columns={"dgm": "name"}).assign(group="similarity", lo=math.nan, hi=math.nan)


def ours_from_efficiency(eff: pd.DataFrame, corr: pd.DataFrame) -> pd.DataFrame:
    rows = [{"name": r["dgm"], "metric": "tok_s", "value": float(r["tok_s"])} for _, r in eff.iterrows()]
    if len(eff) >= 2:
        rows += [{"name": ALL, "metric": "io_ratio_mean", "value": float(eff["io_ratio"].mean())},
                 {"name": ALL, "metric": "io_ratio_sd", "value": float(eff["io_ratio"].std(ddof=1))}]
    for _, r in corr.iterrows():
        for stat in ("pearson", "spearman"):
            rows.append({"name": ALL, "metric": f"{r['metric']}_{stat}", "value": float(r[stat])})
    return pd.DataFrame(rows, columns=["name", "metric", "value"]).assign(group="efficiency", lo=math.nan, hi=math.nan)


def ours_from_style(counts: pd.DataFrame, pf: pd.DataFrame) -> pd.DataFrame:
    """Rule style's tables (style.csv per model, style_pf.csv per "A / B" pair) as comparison rows: tag counts and
    len per model, PF per pair and tag, MPF per pair (metric `mpf`), under the run's names."""
    from .style import STYLE_KEYS

    keys = [k for k in STYLE_KEYS if k in counts.columns]
    long = counts.melt(id_vars=["model"], value_vars=keys, var_name="metric", value_name="value")
    pf_long = pf.melt(id_vars=["pair"], value_vars=[*keys, "mpf"], var_name="metric", value_name="value")
    rows = pd.concat([long.rename(columns={"model": "name"}), pf_long.rename(columns={"pair": "name"})])
    return rows.assign(group="style", lo=math.nan, hi=math.nan)


def ours_from_preference(pref: pd.DataFrame, scores: pd.DataFrame) -> pd.DataFrame:
    """Rule judge_tables' preference table as comparison rows, under the run's names (a DGM as the reference model
    `dgm-<key>`, as paper.labels names it): PrefRt of each ordered pair ("A vs B", percent), each model's mean
    over its first judgment per question (`mtbench_dedup_mean`, the notebook's), its MT-Bench score (`mtbench`,
    from the scores table) and each DGM's FlipCt (`flip_count`)."""
    from .plan import REFERENCE_PREFIX

    dgms = set(pref.loc[pref["kind"] == "student_vs_dgm", "b"])

    def named(x: str) -> str:
        return REFERENCE_PREFIX + x if x in dgms else x

    rows = []
    for r in pref[pref["kind"] != "flipct"].itertuples(index=False):
        a, b = named(r.a), named(r.b)
        rows += [{"name": f"{a} vs {b}", "metric": "pref_rate", "value": float(r.prefrt_a_over_b)},
                 {"name": f"{b} vs {a}", "metric": "pref_rate", "value": float(r.prefrt_b_over_a)},
                 {"name": a, "metric": "mtbench_dedup_mean", "value": float(r.mean_a)},
                 {"name": b, "metric": "mtbench_dedup_mean", "value": float(r.mean_b)}]
        if r.kind == "student_vs_dgm" and pd.notna(r.flipct):
            rows.append({"name": b, "metric": "flip_count", "value": float(r.flipct)})
    judged = {n for row in rows for n in row["name"].split(" vs ")}
    if "mtbench" in scores.columns:
        rows += [{"name": m, "metric": "mtbench", "value": float(v)}
                 for m, v in zip(scores["model"], scores["mtbench"]) if m in judged]
    out = pd.DataFrame(rows, columns=["name", "metric", "value"]).drop_duplicates(["name", "metric"])
    return out.assign(group="preference", lo=math.nan, hi=math.nan)


def ours_from_inheritance(inh: pd.DataFrame, pair_name: str | None) -> pd.DataFrame:
    """The run's ordering agreement, under the name of the paper's DGM pair (the run's is over its reference
    DGMs: the same number only when those are the pair)."""
    if "ordering_agreement" not in inh.columns or pair_name is None:
        return pd.DataFrame(columns=["group", "name", "metric", "value", "lo", "hi"])
    return pd.DataFrame([{"group": "scores", "name": pair_name, "metric": "ordering_agreement",
                          "value": float(inh["ordering_agreement"].iloc[0]), "lo": math.nan, "hi": math.nan}])


def at_precision(ours: float, paper: float, places: int) -> float:
    """Ours read at the paper's printed precision: the paper's value itself when ours rounds to it (so a number
    that prints as the paper's has difference 0, whatever the float rounding), else ours rounded half-up."""
    half = 0.5 * 10.0 ** (-places)
    if abs(ours - paper) <= half * (1 + 1e-9) + 1e-12:
        return paper
    return float(Decimal(repr(ours)).quantize(Decimal(1).scaleb(-places), rounding="ROUND_HALF_UP"))


def comparison(reference: pd.DataFrame, ours: pd.DataFrame, labels: Mapping[str, str],
               groups_run: Mapping[str, bool]) -> pd.DataFrame:
    """One row per reference number: the paper's value, ours, ours at the paper's precision minus the paper's
    (`diff`; `diff_raw` unrounded), our 95% CI and whether the paper's value lies in it, and a status:
    `compared` or `not run: ...` saying what the run lacks (the table, the model, the metric, or a name for the
    label in paper.labels).

    `ours` is long (group, name, metric, value, lo, hi); `groups_run` says which of our tables this run made.
    """
    index = {(g, n, m): (v, lo, hi) for g, n, m, v, lo, hi in ours[["group", "name", "metric", "value", "lo", "hi"]]
             .itertuples(index=False)}
    names_run = {(g, n) for g, n, _ in index}
    metrics_run = {(g, m) for g, _, m in index}
    rows = []
    for r in reference.itertuples(index=False):
        group = TABLE_GROUP[r.table]
        name = map_label(r.label, labels)
        row = {"table": r.table, "label": r.label, "metric": r.metric, "name": name, "paper": float(r.value),
               "ours": math.nan, "ours_lo": math.nan, "ours_hi": math.nan, "diff": math.nan, "diff_raw": math.nan,
               "inside_ci": None, "source": r.source, "note": r.note}
        if not groups_run[group]:
            row["status"] = f"not run: this run makes no {group} table"
        elif (group, r.metric) not in metrics_run:
            row["status"] = f"not run: no {r.metric} in this run"
        elif name is None:
            row["status"] = NOT_MAPPED
        elif (group, name, r.metric) in index:
            v, lo, hi = index[(group, name, r.metric)]
            row.update(ours=v, ours_lo=lo, ours_hi=hi, diff_raw=v - float(r.value),
                       diff=at_precision(v, float(r.value), int(r.decimals)) - float(r.value), status="compared")
            if not (math.isnan(lo) or math.isnan(hi)):
                row["inside_ci"] = bool(lo <= float(r.value) <= hi)
        elif group == "scores" and (group, name) not in names_run:
            row["status"] = f"not run: no model {name} in this run"
        else:
            row["status"] = f"not run: no {r.metric} for {name}"
        rows.append(row)
    return pd.DataFrame(rows, columns=list(COMPARISON_COLUMNS))


def comparison_summary(cmp: pd.DataFrame) -> pd.DataFrame:
    """Per reference table: cells compared, inside our CI, not run (of which for want of a label mapping), and the
    mean |diff|."""
    rows = []
    for table, g in cmp.groupby("table", sort=False):
        done = g[g["status"] == "compared"]
        rows.append({"table": table, "cells": len(g), "compared": len(done),
                     "inside_ci": int(done["inside_ci"].eq(True).sum()),  # None (no CI) is not inside
                     "not_run": int(g["status"].str.startswith("not run").sum()),
                     "not_mapped": int((g["status"] == NOT_MAPPED).sum()),
                     "mean_abs_diff": float(done["diff"].abs().mean()) if len(done) else math.nan})
    return pd.DataFrame(rows)


def run_comparison(
    scores_csv: str | os.PathLike,
    reference_csv: str | os.PathLike,
    labels: Mapping[str, str],
    out_csv: str | os.PathLike,
    out_summary_csv: str | os.PathLike,
    out_png: str | os.PathLike,
    *,
    similarity_csv: str | os.PathLike | None,
    efficiency_csv: str | os.PathLike | None,
    efficiency_corr_csv: str | os.PathLike | None,
    inheritance_csv: str | os.PathLike | None,
    style_csv: str | os.PathLike | None = None,
    style_pf_csv: str | os.PathLike | None = None,
    preference_csv: str | os.PathLike | None = None,
) -> pd.DataFrame:
    """results/tables/paper_comparison.csv (+ its per-table summary and the ours-vs-paper figure). The optional
    tables are None when the config makes no such table (the comparison then lists their cells as not run)."""
    score_table = pd.read_csv(scores_csv)
    parts = [ours_from_scores(score_table)]
    if similarity_csv:
        parts.append(ours_from_similarity(pd.read_csv(similarity_csv)))
    if efficiency_csv:
        corr = pd.read_csv(efficiency_corr_csv) if efficiency_corr_csv else pd.DataFrame()
        parts.append(ours_from_efficiency(pd.read_csv(efficiency_csv), corr))
    if inheritance_csv:
        pair = map_label("Q72 : None vs L70 : None", labels)
        parts.append(ours_from_inheritance(pd.read_csv(inheritance_csv), pair))
    if style_csv and style_pf_csv:
        parts.append(ours_from_style(pd.read_csv(style_csv), pd.read_csv(style_pf_csv)))
    if preference_csv:
        parts.append(ours_from_preference(pd.read_csv(preference_csv), score_table))
    ours = pd.concat([p for p in parts if len(p)], ignore_index=True) if any(len(p) for p in parts) else parts[0]
    groups_run = {"scores": True, "similarity": bool(similarity_csv), "efficiency": bool(efficiency_csv),
                  "style": bool(style_csv and style_pf_csv), "preference": bool(preference_csv)}
    cmp = comparison(load_reference(reference_csv), ours, labels, groups_run)
    write_csv(cmp, out_csv)
    write_csv(comparison_summary(cmp), out_summary_csv)
    plots.paper_vs_ours(cmp, out_png)
    return cmp

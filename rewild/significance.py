"""Are the differences real? Paired bootstrap tests of every comparison the paper draws, from per-item results.

Families (each corrected with Holm across its comparisons, per metric):
- `dgm_choice`: every pair of single-DGM students at the most common subset size (beyond ALL_PAIRS_UP_TO DGMs:
  neighbours in the run's ranking and every pair of the paper's Table 2);
- `scaling`: each step between consecutive training-set sizes of one DGM (larger minus smaller);
- `blends`: each blend against each of its parents (the parent at its largest trained size);
- `rewild_vs_baselines`, `on_policy`, `lc_ablation`: the paper's pairs, for the labels paper.labels maps.
A pair is oriented as the paper ranks it (first = the one the paper puts ahead) where the paper has both numbers,
else as the run ranks it. The test resamples the items both models were scored on (same order by the eval
contract); an aggregate's distribution is the elementwise mean of its rescaled members' distributions.

Verdict at 95% after Holm: `confirms` / `contradicts` the paper's ordering when the difference is significant with
the paper's / the opposite sign, `cannot resolve` when it is not significant; pairs the paper has no number for get
`ours only: ...`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from . import aggregates, paper, plots, replicates, scores
from .io import write_csv
from .stats import bootstrap_summary, holm, paired_bootstrap

ALPHA = 0.05
SIGNIFICANCE_COLUMNS = ("family", "a", "b", "a_label", "b_label", "metric", "n_items", "diff", "lo", "hi", "p_value",
                        "p_holm", "paper_diff", "paper_table", "verdict", "n_seeds", "seed_diff_std")

# The paper's pairs by label: (first, second) with the paper's table of numbers for both.
PAPER_FAMILIES: dict[str, tuple[str, list[tuple[str, str]]]] = {
    "rewild_vs_baselines": ("headline", [("Re-Wild", "Llama-3.1-8B-Tulu3-SFT"),
                                         ("Re-Wild", "Llama-3-8B-Magpie-Align-SFT-v0.2"),
                                         ("Re-Wild", "Llama-3.1-8B-Ultrachat-SFT")]),
    "on_policy": ("on_policy", [("Q7B:Q7", "Q7B:L8I"), ("Q7B:Q7", "Q7B:Q72"), ("Q7B:Q72", "Q7B:L8I")]),
    "lc_ablation": ("lc_ablation", [("L8B:Q72 500k", "L8B:Q72-lc 500k")]),
}
PAPER_DGM_CHOICE = ("L8B:Q72 250k", "L8B:L8I 250k", "L8B:L70 250k", "L8B:Q7 250k", "L8B:CRP 250k", "L8B:JMB 250k")
STUDY_TABLES = {"dgm_choice": "dgm_choice", "scaling": "scaling", "blends": "blends"}


# Up to this many DGMs at the DGM-choice size every pair is tested; beyond (the preset's 53) only neighbours in the
# run's ranking, plus every pair of the paper's Table 2: 1,378 pairs would cost hours and say little more.
ALL_PAIRS_UP_TO = 8


def study_pairs(mix_info: Mapping[str, Mapping[str, Any]], models: Sequence[str],
                ranking: Mapping[str, float], paper_choice: Sequence[str] = ()) -> dict[str, list[tuple[str, str]]]:
    """The study's comparisons among the run's models (mix_info with each mix's train_rows; `ranking`: the value
    each model is ranked by; `paper_choice`: the run's names of the paper's Table 2 students)."""
    have = set(models)
    single = {m: i for m, i in mix_info.items() if i["dgm"] and i["size_label"] and m in have}
    out: dict[str, list[tuple[str, str]]] = {"dgm_choice": [], "scaling": [], "blends": []}
    if single:
        labels = pd.Series([i["size_label"] for i in single.values()])
        top = labels.value_counts().idxmax()
        at = sorted(m for m, i in single.items() if i["size_label"] == top)
        if len(at) <= ALL_PAIRS_UP_TO:
            out["dgm_choice"] = [(a, b) for k, a in enumerate(at) for b in at[k + 1:]]
        else:
            ordered = sorted(at, key=lambda m: -ranking[m])
            pairs = set(zip(ordered, ordered[1:]))
            chosen = sorted(m for m in paper_choice if m in at)
            pairs |= {(a, b) for k, a in enumerate(chosen) for b in chosen[k + 1:]}
            out["dgm_choice"] = sorted(pairs)
    by_dgm: dict[str, list[tuple[int, str]]] = {}
    for m, i in single.items():
        by_dgm.setdefault(i["dgm"], []).append((i["train_rows"], m))
    for dgm in sorted(by_dgm):
        steps = sorted(by_dgm[dgm])
        out["scaling"] += [(big, small) for (_, small), (_, big) in zip(steps, steps[1:])]
    largest = {dgm: max(v)[1] for dgm, v in by_dgm.items()}
    for blend, info in sorted(mix_info.items()):
        if info["parents"] and blend in have:
            out["blends"] += [(blend, largest[p]) for p in info["parents"] if p in largest]
    return out


def test_metrics(columns: Sequence[str]) -> list[str]:
    """Each score column, and Avg-7 when every member is a column (the paper ranks by it)."""
    return list(columns) + (["avg7"] if all(b in columns for b in aggregates.members("avg7")) else [])


def pair_distributions(
    a: Mapping[str, Sequence[float]], b: Mapping[str, Sequence[float]], columns: Sequence[str],
    n_resamples: int, seed: int,
) -> dict[str, tuple[float, np.ndarray, int]]:
    """column -> (observed mean difference a − b, bootstrap distribution, items) for every column both models
    were scored on with the same items. Each column is resampled with its own seed, the same for every pair."""
    out = {}
    for k, col in enumerate(columns):
        x, y = np.asarray(a.get(col, []), float), np.asarray(b.get(col, []), float)
        if x.size >= 2 and x.shape == y.shape:
            out[col] = (float(x.mean() - y.mean()), paired_bootstrap(x, y, n_resamples=n_resamples, seed=seed + k),
                        int(x.size))
    return out


def metric_distribution(
    per_column: Mapping[str, tuple[float, np.ndarray, int]], metric: str
) -> tuple[float, np.ndarray, int] | None:
    """A column's distribution, or an aggregate's: the elementwise mean of its rescaled members' (None when a
    member is missing)."""
    if metric not in aggregates.AGGREGATES:
        return per_column.get(metric)
    members = aggregates.members(metric)
    if any(m not in per_column for m in members):
        return None
    scale = [aggregates.SCALE.get(m, 1.0) for m in members]
    observed = float(np.mean([s * per_column[m][0] for s, m in zip(scale, members)]))
    dist = np.mean([s * per_column[m][1] for s, m in zip(scale, members)], axis=0)
    return observed, dist, sum(per_column[m][2] for m in members)


def verdict(diff_significant: bool, diff: float, paper_diff: float) -> str:
    if math.isnan(paper_diff) or paper_diff == 0:
        if not diff_significant:
            return "ours only: not significant"
        return "ours only: first ahead" if diff > 0 else "ours only: second ahead"
    if not diff_significant:
        return "cannot resolve"
    return "confirms" if np.sign(diff) == np.sign(paper_diff) else "contradicts"


def paper_lookup(reference: pd.DataFrame) -> dict[tuple[str, str, str], float]:
    """(table, label, metric) -> the paper's number; an aggregate the table does not print (the headline table
    prints Avg-8 only) is computed from the benchmarks it prints, where it prints them all."""
    out = {(t, lab, m): float(v) for t, lab, m, v in reference[["table", "label", "metric", "value"]].itertuples(index=False)}
    for (t, lab), g in reference.groupby(["table", "label"]):
        vals = dict(zip(g["metric"], g["value"]))
        for agg in aggregates.AGGREGATES:
            if (t, lab, agg) not in out and all(b in vals for b in aggregates.members(agg)):
                out[(t, lab, agg)] = aggregates.aggregate(vals, agg)
    return out


def significance_table(
    samples: Mapping[str, Mapping[str, Sequence[float]]],
    columns: Sequence[str],
    families: Mapping[str, tuple[str | None, Sequence[tuple[str, str]]]],
    labels: Mapping[str, str],
    reference: pd.DataFrame,
    *,
    n_resamples: int,
    seed: int,
) -> pd.DataFrame:
    """One row per (family, pair, metric): our paired-bootstrap difference, its 95% percentile CI, p-value,
    Holm-adjusted p within (family, metric), the paper's difference and the verdict; with SFT seed replicates
    (sft.seeds) in `samples`, the seeds the difference was measured at and its sample std over them (the bootstrap
    resamples eval items of one seed's models; this is the training-seed noise it does not see).

    `families` maps a family to (the reference table holding the paper's numbers, [(model a, model b)]).
    """
    inv = {}
    for lab, name in labels.items():
        inv.setdefault(name, lab)
    printed = paper_lookup(reference)
    values = {metric: metric_values(samples, metric) for metric in test_metrics(columns)}
    rows = []
    for family, (table, pairs) in families.items():
        for a, b in pairs:
            la, lb = inv.get(a), inv.get(b)
            per_column = pair_distributions(samples[a], samples[b], columns, n_resamples, seed)
            for metric in test_metrics(columns):
                pa = printed.get((table, la, metric), math.nan) if table and la else math.nan
                pb = printed.get((table, lb, metric), math.nan) if table and lb else math.nan
                res = metric_distribution(per_column, metric)
                if res is None:
                    continue
                observed, dist, items = res
                s = bootstrap_summary(observed, dist)
                paper_diff = pa - pb
                seed_diffs = replicates.paired_seed_differences(a, b, values[metric])
                rows.append({"family": family, "a": a, "b": b, "a_label": la, "b_label": lb, "metric": metric,
                             "n_items": items, "diff": s["diff"], "lo": s["lo"], "hi": s["hi"],
                             "p_value": s["p_value"], "paper_diff": paper_diff, "paper_table": table,
                             "n_seeds": len(seed_diffs),
                             "seed_diff_std": float(np.std(seed_diffs, ddof=1)) if len(seed_diffs) >= 2 else math.nan})
    df = pd.DataFrame(rows, columns=[c for c in SIGNIFICANCE_COLUMNS if c not in ("p_holm", "verdict")])
    df = orient(df)
    df["p_holm"] = math.nan
    for _, idx in df.groupby(["family", "metric"]).groups.items():
        df.loc[idx, "p_holm"] = holm(df.loc[idx, "p_value"].tolist())
    df["verdict"] = [verdict(p <= ALPHA, d, pd_) for p, d, pd_ in zip(df["p_holm"], df["diff"], df["paper_diff"])]
    return df[list(SIGNIFICANCE_COLUMNS)].reset_index(drop=True)


def metric_values(samples: Mapping[str, Mapping[str, Sequence[float]]], metric: str) -> dict[str, float]:
    """model -> its value of a column (the mean of its samples) or an aggregate, for the models that have it."""
    out = {}
    for model, cols in samples.items():
        means = {c: float(np.mean(v)) for c, v in cols.items() if len(v)}
        if metric in aggregates.AGGREGATES:
            if all(b in means for b in aggregates.members(metric)):
                out[model] = aggregates.aggregate(means, metric)
        elif metric in means:
            out[model] = means[metric]
    return out


def orient(df: pd.DataFrame) -> pd.DataFrame:
    """Swap each pair so its first model is the one the paper puts ahead on the ranking metric (Avg-7 when
    tested, else the first column), or the one ahead in the run when the paper has no number."""
    if df.empty:
        return df
    out = []
    for _, g in df.groupby(["family", "a", "b"], sort=False):
        rank = g[g["metric"] == "avg7"] if (g["metric"] == "avg7").any() else g.iloc[[0]]
        key = rank["paper_diff"].iloc[0]
        swap = key < 0 if not math.isnan(key) else rank["diff"].iloc[0] < 0
        if swap:
            g = g.copy()
            g[["a", "b"]] = g[["b", "a"]].values
            g[["a_label", "b_label"]] = g[["b_label", "a_label"]].values
            g["diff"], g["paper_diff"] = -g["diff"], -g["paper_diff"]
            g["lo"], g["hi"] = -g["hi"], -g["lo"]
        out.append(g)
    return pd.concat(out, ignore_index=True)


def families_for(mix_info: Mapping[str, Mapping[str, Any]], models: Sequence[str], labels: Mapping[str, str],
                 ranking: Mapping[str, float]) -> dict[str, tuple[str | None, list[tuple[str, str]]]]:
    """The study's families and the paper's labelled ones whose both models are in the run."""
    have = set(models)
    choice = [labels[lab] for lab in PAPER_DGM_CHOICE if lab in labels]
    fams: dict[str, tuple[str | None, list[tuple[str, str]]]] = {
        f: (STUDY_TABLES[f], pairs) for f, pairs in study_pairs(mix_info, models, ranking, choice).items()}
    for family, (table, pairs) in PAPER_FAMILIES.items():
        mapped = [(labels[x], labels[y]) for x, y in pairs if labels.get(x) in have and labels.get(y) in have]
        fams[family] = (table, mapped)
    return fams


def claims_summary(sig: pd.DataFrame, metric: str) -> pd.DataFrame:
    """Per family, on one metric: how many comparisons the run confirms, contradicts or cannot resolve."""
    t = sig[sig["metric"] == metric]
    if t.empty:
        return pd.DataFrame(columns=["family", "metric", "comparisons", "confirms", "contradicts", "cannot resolve",
                                     "ours only"])
    rows = []
    for fam, g in t.groupby("family", sort=False):
        v = g["verdict"]
        rows.append({"family": fam, "metric": metric, "comparisons": len(g), "confirms": int((v == "confirms").sum()),
                     "contradicts": int((v == "contradicts").sum()), "cannot resolve": int((v == "cannot resolve").sum()),
                     "ours only": int(v.str.startswith("ours only").sum())})
    return pd.DataFrame(rows)


def ranking_values(samples: Mapping[str, Mapping[str, Sequence[float]]], columns: Sequence[str]) -> dict[str, float]:
    """Each model's Avg-7 from its sample means when the run has Avg-7, else its first column's mean."""
    out = {}
    for model, cols in samples.items():
        means = {c: float(np.mean(v)) for c, v in cols.items() if len(v)}
        if "avg7" in test_metrics(columns) and all(b in means for b in aggregates.members("avg7")):
            out[model] = aggregates.aggregate(means, "avg7")
        else:
            out[model] = means.get(columns[0], math.nan)
    return out


def run_significance(
    eval_paths: Sequence[str],
    judged_paths: Sequence[str],
    tasks: Mapping[str, Mapping[str, Any]],
    columns: Sequence[str],
    mix_info: Mapping[str, Mapping[str, Any]],
    labels: Mapping[str, str],
    reference_csv: str,
    out_csv: str,
    out_claims_csv: str,
    out_png: str,
    *,
    n_resamples: int,
    seed: int,
) -> pd.DataFrame:
    """results/tables/significance.csv, the per-family claims summary and the forest plot (Avg-7 when the run has
    it, else the first score column)."""
    records = scores.read_records(eval_paths, judged_paths, tasks)
    samples = scores.samples_by_model(records)
    fams = families_for(mix_info, list(samples), labels, ranking_values(samples, columns))
    sig = significance_table(samples, columns, fams, labels, paper.load_reference(reference_csv),
                             n_resamples=n_resamples, seed=seed)
    metric = test_metrics(columns)[-1] if "avg7" in test_metrics(columns) else columns[0]
    write_csv(sig, out_csv)
    write_csv(claims_summary(sig, metric), out_claims_csv)
    plots.significance_forest(sig, out_png, metric)
    return sig

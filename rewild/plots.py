"""Figures for the report. Each function draws one figure with labelled axes, a legend and a title, saves it
as PNG at the given path and returns that path. Agg backend: figures are drawn on headless cluster nodes.

Plots take finished tables and compute nothing beyond what they draw, so this module imports no analysis."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

_LABELS = {
    "avg7": "Avg-7 (mean of 7 benchmarks, 0–1)",
    "avg8": "Avg-8 (mean of 8 benchmarks, 0–1)",
    "avg9": "Avg-9 (mean of 9 benchmarks, 0–1)",
    "mtbench": "MT-Bench score (1–10)",
    "alpaca_lc": "AlpacaEval 2 LC win rate (%)",
    "rouge1": "ROUGE-1 F-measure (0–1)",
    "rougeL": "ROUGE-L F-measure (0–1)",
    "meteor": "METEOR (0–1)",
}


def _label(metric: str) -> str:
    return _LABELS.get(metric, metric)


def save(fig: plt.Figure, path: str | os.PathLike) -> Path:
    """Write `fig` as PNG (parent folders created) and close it; every figure of the report goes through here."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=120, format="png")
    plt.close(fig)
    return path


def bar_scores(
    table: pd.DataFrame,
    path: str | os.PathLike,
    metric: str = "avg7",
    label_col: str = "model",
    reference: Mapping[str, float] | None = None,
    title: str | None = None,
) -> Path:
    """Bars of `metric` per model, 95% CI whiskers from `{metric}_lo/_hi` when present, paper values as markers."""
    t = table.dropna(subset=[metric]).sort_values(metric, ascending=False)
    x = np.arange(len(t))
    fig, ax = plt.subplots(figsize=(max(5.0, 0.8 * len(t) + 2), 4))
    yerr = None
    lo, hi = f"{metric}_lo", f"{metric}_hi"
    if lo in t.columns and hi in t.columns and t[[lo, hi]].notna().all().all():
        yerr = np.vstack([t[metric] - t[lo], t[hi] - t[metric]])
    ax.bar(x, t[metric], yerr=yerr, capsize=4, color="tab:blue", label="ours" + (" (95% CI)" if yerr is not None else ""))
    if reference:
        ref = [reference.get(m, np.nan) for m in t[label_col]]
        ax.scatter(x, ref, color="tab:red", marker="D", zorder=3, label="paper")
    ax.set_xticks(x, t[label_col], rotation=30, ha="right")
    ax.set_xlabel("model")
    ax.set_ylabel(_label(metric))
    ax.set_title(title or f"{_label(metric).split(' (')[0]} by model")
    ax.legend()
    return save(fig, path)


def scaling_curves(
    scores: pd.DataFrame, path: str | os.PathLike, metric: str = "avg7", title: str | None = None
) -> Path:
    """One line per DGM: `metric` of the student against the number of training conversations (long frame
    with columns dgm, size, metric)."""
    fig, ax = plt.subplots(figsize=(6, 4))
    for dgm, g in scores.sort_values("size").groupby("dgm", sort=True):
        ax.plot(g["size"], g[metric], marker="o", label=str(dgm))
    ax.set_xscale("log")
    ax.set_xlabel("SFT training conversations (log scale)")
    ax.set_ylabel(_label(metric))
    ax.set_title(title or f"Scaling: {_label(metric).split(' (')[0]} vs training-set size")
    ax.legend(title="DGM")
    return save(fig, path)


def efficiency_scatter(table: pd.DataFrame, path: str | os.PathLike, title: str | None = None) -> Path:
    """Throughput (tok/s) of each DGM against context length × parameters, log–log, points labelled."""
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.scatter(table["context_x_params"], table["tok_s"], color="tab:blue", label="DGM (total tok/s)")
    if "output_tok_s" in table.columns:
        ax.scatter(
            table["context_x_params"], table["output_tok_s"], color="tab:orange", marker="x", label="output tok/s"
        )
    for _, r in table.iterrows():
        ax.annotate(str(r["dgm"]), (r["context_x_params"], r["tok_s"]), fontsize=7, xytext=(3, 3),
                    textcoords="offset points")
    if (table["context_x_params"] > 0).all() and (table["tok_s"] > 0).all():
        ax.set_xscale("log")
        ax.set_yscale("log")
    ax.set_xlabel("context length × parameters (tokens × billions)")
    ax.set_ylabel("throughput (tokens / s)")
    ax.set_title(title or "Generation throughput vs model size × context")
    ax.legend()
    return save(fig, path)


def loss_curve(
    curves: pd.DataFrame | Mapping[str, pd.DataFrame], path: str | os.PathLike, title: str | None = None
) -> Path:
    """Training (and eval, if present) loss against optimizer step; one or several runs (label → frame with
    columns step, loss[, eval_loss])."""
    runs = {"run": curves} if isinstance(curves, pd.DataFrame) else dict(curves)
    fig, ax = plt.subplots(figsize=(6, 4))
    for name, df in runs.items():
        if "loss" in df.columns:
            d = df.dropna(subset=["loss"])
            ax.plot(d["step"], d["loss"], label=f"{name} train")
        if "eval_loss" in df.columns:
            d = df.dropna(subset=["eval_loss"])
            ax.plot(d["step"], d["eval_loss"], marker="o", linestyle="--", label=f"{name} held-out")
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("cross-entropy loss (nats / assistant token)")
    ax.set_title(title or "SFT loss")
    ax.legend()
    return save(fig, path)


def similarity_heatmap_or_bars(
    table: pd.DataFrame, path: str | os.PathLike, metric: str = "rouge1", title: str | None = None
) -> Path:
    """A DGM × DGM matrix (index and columns the same names) is drawn as a heatmap; a `similarity_table`
    (column dgm, metric, metric_std) as horizontal bars with the std over references as whiskers."""
    square = list(table.index) == list(table.columns) and len(table) > 0
    if square:
        fig, ax = plt.subplots(figsize=(0.4 * len(table) + 3, 0.4 * len(table) + 2.5))
        im = ax.imshow(table.to_numpy(dtype=float), cmap="viridis", vmin=0)
        ax.set_xticks(range(len(table)), table.columns, rotation=90)
        ax.set_yticks(range(len(table)), table.index)
        ax.set_xlabel("reference DGM")
        ax.set_ylabel("DGM")
        fig.colorbar(im, ax=ax, label=_label(metric))
        # A colorbar is the legend of a heatmap; the proxy artist keeps every figure's legend contract.
        ax.plot([], [], " ", label=f"cell = {metric}")
        ax.legend(loc="upper right", fontsize=7)
        ax.set_title(title or f"Pairwise {_label(metric).split(' (')[0]}")
        return save(fig, path)
    t = table.sort_values(metric)
    fig, ax = plt.subplots(figsize=(6, 0.3 * len(t) + 1.5))
    err = t[f"{metric}_std"] if f"{metric}_std" in t.columns else None
    ax.barh(t["dgm"], t[metric], xerr=err, capsize=3, color="tab:green",
            label="mean over conversations" + (" (± std over references)" if err is not None else ""))
    ax.set_xlabel(_label(metric))
    ax.set_ylabel("DGM")
    ax.set_title(title or f"Similarity to other DGMs' responses ({metric})")
    ax.legend(loc="lower right", fontsize=7)
    return save(fig, path)


def message_figure(path: str | os.PathLike, text: str) -> Path:
    """A figure that says why a plot is empty for this run (declared outputs always exist)."""
    fig, ax = plt.subplots(figsize=(6, 2))
    ax.axis("off")
    ax.text(0.5, 0.5, text, ha="center", va="center", wrap=True)
    return save(fig, path)


def paper_vs_ours(cmp: pd.DataFrame, path: str | os.PathLike, title: str | None = None) -> Path:
    """Ours against the paper's value for every compared cell, one panel per benchmark scale (0–1 scores and
    aggregates, MT-Bench 1–10, percent), with our 95% CIs as vertical whiskers and the identity line."""
    done = cmp[cmp["status"] == "compared"]
    panels = {"0–1 scores and aggregates": done[~done["metric"].isin(["mtbench", "alpaca_lc"])],
              "MT-Bench (1–10)": done[done["metric"] == "mtbench"],
              "AlpacaEval-LC (%)": done[done["metric"] == "alpaca_lc"]}
    panels = {k: v for k, v in panels.items() if len(v)}
    if not panels:
        return message_figure(path, "No paper number was compared: this run has none of the paper's cells "
                                    "(see paper_comparison.csv for what is not run).")
    fig, axes = plt.subplots(1, len(panels), figsize=(5 * len(panels), 4.5), squeeze=False)
    for ax, (name, t) in zip(axes[0], panels.items()):
        lo = np.nanmin(np.r_[t["paper"], t["ours"], t["ours_lo"].dropna()])
        hi = np.nanmax(np.r_[t["paper"], t["ours"], t["ours_hi"].dropna()])
        pad = 0.05 * (hi - lo or 1.0)
        ax.plot([lo - pad, hi + pad], [lo - pad, hi + pad], color="grey", linestyle="--", label="ours = paper")
        for metric, g in t.groupby("metric", sort=True):
            err = np.vstack([g["ours"] - g["ours_lo"], g["ours_hi"] - g["ours"]])
            err = np.where(np.isnan(err), 0.0, err)
            ax.errorbar(g["paper"], g["ours"], yerr=err, fmt="o", capsize=3, label=str(metric))
        ax.set_xlabel("paper")
        ax.set_ylabel("ours (95% CI)")
        ax.set_title(name)
        ax.legend(fontsize=7, ncol=2)
    fig.suptitle(title or "Reproduction vs paper, per benchmark")
    return save(fig, path)


_VERDICT_COLORS = {"confirms": "tab:green", "contradicts": "tab:red", "cannot resolve": "tab:grey"}


def significance_forest(sig: pd.DataFrame, path: str | os.PathLike, metric: str, title: str | None = None) -> Path:
    """One row per comparison (family: first − second) on `metric`: our paired-bootstrap difference with its 95%
    CI, coloured by verdict, the paper's difference as a diamond, zero as a line."""
    t = sig[sig["metric"] == metric].reset_index(drop=True)
    if t.empty:
        return message_figure(path, f"No comparison on {metric}: the run has no pair of models the paper compares.")
    fig, ax = plt.subplots(figsize=(7, 0.35 * len(t) + 1.8))
    y = np.arange(len(t))[::-1]
    for verdict, g in t.groupby("verdict", sort=True):
        yy = y[g.index]
        ax.errorbar(g["diff"], yy, xerr=np.vstack([g["diff"] - g["lo"], g["hi"] - g["diff"]]), fmt="o", capsize=3,
                    color=_VERDICT_COLORS.get(verdict, "tab:blue"), label=f"ours: {verdict}")
    if t["paper_diff"].notna().any():
        ax.scatter(t["paper_diff"], y, marker="D", color="black", zorder=3, label="paper")
    ax.axvline(0, color="grey", linewidth=0.8)
    ax.set_yticks(y, [f"{f}: {a} − {b}" for f, a, b in zip(t["family"], t["a"], t["b"])], fontsize=7)
    ax.set_xlabel(f"{_label(metric).split(' (')[0]}: first − second (paired bootstrap 95% CI)")
    ax.set_ylabel("comparison")
    ax.set_title(title or f"Which orderings survive noise ({metric}, Holm-corrected per family)")
    ax.legend(fontsize=7, loc="best")
    return save(fig, path)

"""The paper's numbers as data (data/paper/reference.csv) and ours next to them."""

from __future__ import annotations

import os
from collections.abc import Mapping

import pandas as pd

from .stats import require_columns

REFERENCE_COLUMNS = ("table", "model", "metric", "value", "note")
AGGREGATE_METRICS = ("avg7", "avg8", "avg9")


def load_reference(path: str | os.PathLike) -> pd.DataFrame:
    """The reference table, checked: its columns, numeric values, one row per (table, model, metric)."""
    ref = pd.read_csv(path, dtype={"table": str, "model": str, "metric": str, "note": str}, keep_default_na=False)
    require_columns(ref, REFERENCE_COLUMNS, "load_reference")
    ref["value"] = pd.to_numeric(ref["value"], errors="raise")
    if ref.duplicated(["table", "model", "metric"]).any():
        raise ValueError("reference: duplicate (table, model, metric) rows")
    return ref


def compare_to_reference(
    ours: pd.DataFrame, reference: pd.DataFrame, model_map: Mapping[str, str] | None = None
) -> pd.DataFrame:
    """Paper value next to ours for every reference row (ours NaN where we have no number yet).

    `ours` has columns table, model, metric, value; `model_map` renames our model names to the reference's.
    `diff` = ours − paper.
    """
    require_columns(ours, ["table", "model", "metric", "value"], "compare_to_reference")
    o = ours[["table", "model", "metric", "value"]].copy()
    if model_map:
        o["model"] = o["model"].map(lambda m: model_map.get(m, m))
    o = o.rename(columns={"value": "ours"})
    r = reference.rename(columns={"value": "paper"})
    m = r.merge(o, on=["table", "model", "metric"], how="left")
    m["diff"] = m["ours"] - m["paper"]
    return m[["table", "model", "metric", "paper", "ours", "diff", "note"]]


def aggregate_metrics(scores: pd.DataFrame) -> list[str]:
    """The paper's aggregates a scores table has (none when its tasks are not the paper's benchmarks)."""
    return [c for c in AGGREGATE_METRICS if c in scores.columns]


def compare_aggregates(scores: pd.DataFrame, reference: pd.DataFrame) -> pd.DataFrame:
    """The paper's Avg-7/8/9 next to ours for every model name both have (table, model, metric, paper, ours, diff)."""
    ours = scores.melt(id_vars=["model"], value_vars=aggregate_metrics(scores), var_name="metric", value_name="ours")
    cmp = reference.rename(columns={"value": "paper"}).merge(ours, on=["model", "metric"], how="inner")
    cmp["diff"] = cmp["ours"] - cmp["paper"]
    return cmp[["table", "model", "metric", "paper", "ours", "diff"]]

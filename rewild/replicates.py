"""SFT seed replicates (sft.seeds): a mix trained once per seed is the models `<mix>` (first seed) and
`<mix>~s<seed>` (rewild.plan.sft_runs). Their spread over seeds, per score column and aggregate, as pure functions
on the scores table; and each seed's difference between two replicate groups (for the significance table).

Sample standard deviation (ddof=1): the seeds are a sample of the seeds one could have drawn. One seed: std NaN.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from . import aggregates, plan
from .io import write_csv

log = logging.getLogger("rewild.replicates")

SPREAD_COLUMNS = ("group", "metric", "n_seeds", "mean", "std", "min", "max")


def seed_key(model: str) -> str:
    """Which seed a model is within its group: "" for the group's first seed (the mix's own name), else `~s<seed>`."""
    return model[len(plan.replicate_group(model)):]


def groups(models: Sequence[str]) -> dict[str, list[str]]:
    """group -> its models, in the order given (groups in the order of their first model)."""
    out: dict[str, list[str]] = {}
    for m in models:
        out.setdefault(plan.replicate_group(m), []).append(m)
    return out


def spread_metrics(table: pd.DataFrame, columns: Sequence[str]) -> list[str]:
    """The score columns, then each aggregate the table has (Avg-7/8/9 where their benchmarks are columns)."""
    return list(columns) + [a for a in aggregates.AGGREGATES if a in table.columns]


def summarise(values: Sequence[float]) -> dict[str, float]:
    """n, mean, sample std (NaN with one value), min and max of one metric over a group's seeds."""
    x = np.asarray(values, float)
    return {"n_seeds": int(x.size), "mean": float(x.mean()), "std": float(x.std(ddof=1)) if x.size >= 2 else math.nan,
            "min": float(x.min()), "max": float(x.max())}


def seed_spread(table: pd.DataFrame, metrics: Sequence[str]) -> pd.DataFrame:
    """One row per (replicate group, metric) of the scores table (a `model` column and one column per metric):
    the group's number of seeds, mean, sample std, min and max. A model without replicates is a group of one."""
    missing = [m for m in metrics if m not in table.columns]
    if missing:
        raise KeyError(f"scores table has no column {missing}")
    by_model = table.set_index("model")
    if not by_model.index.is_unique:
        raise ValueError(f"two rows for {sorted(by_model.index[by_model.index.duplicated()])}")
    rows = [{"group": group, "metric": metric, **summarise(by_model.loc[models, metric].tolist())}
            for group, models in groups(table["model"].tolist()).items() for metric in metrics]
    return pd.DataFrame(rows, columns=list(SPREAD_COLUMNS))


def paired_seed_differences(a: str, b: str, values: Mapping[str, float]) -> list[float]:
    """The difference a − b once per seed, over the models in `values` (model -> one metric's value) of a's and
    b's replicate groups. Seeds pair by name (`x~s8` with `y~s8`, the first seeds with each other); a side with no
    replicates stands in at every seed of the other side; a seed only one side has is left out."""
    ga = {seed_key(m): m for m in values if plan.replicate_group(m) == plan.replicate_group(a)}
    gb = {seed_key(m): m for m in values if plan.replicate_group(m) == plan.replicate_group(b)}
    if len(ga) == 1:
        ga = dict.fromkeys(gb, next(iter(ga.values())))
    elif len(gb) == 1:
        gb = dict.fromkeys(ga, next(iter(gb.values())))
    return [values[ga[k]] - values[gb[k]] for k in ga if k in gb]


def run_seed_spread(scores_table: pd.DataFrame, columns: Sequence[str], out_csv: str | Path) -> pd.DataFrame:
    """results/tables/seed_spread.csv from the scores table (rule scores_table, when sft.seeds has several)."""
    df = seed_spread(scores_table, spread_metrics(scores_table, columns))
    write_csv(df, out_csv)
    log.info("seed spread: %d groups, %d with replicates", df["group"].nunique(),
             df.loc[df["n_seeds"] > 1, "group"].nunique())
    return df

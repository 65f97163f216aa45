"""Generation efficiency (WildChat-50M §2.2): per-DGM throughput from the per-shard efficiency records, and its
correlation with the paper's cost proxy, context length × parameters."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from . import plots
from .io import write_csv
from .stats import pearson, spearman

EFFICIENCY_COLUMNS = (
    "dgm",
    "params_b",
    "max_model_len",
    "n_conversations",
    "input_tokens",
    "output_tokens",
    "wall_seconds",
    "gpus",
)


def efficiency_table(rows: pd.DataFrame) -> pd.DataFrame:
    """Per-DGM throughput from per-(dgm, shard) rows.

    Rates pool the shards (sum of tokens / sum of seconds), i.e. a time-weighted mean, so a tiny tail shard
    does not count as much as a full one; `tok_s_shard_mean` is the unweighted mean of per-shard rates for
    comparison. `io_ratio` = input tok/s ÷ output tok/s (= input ÷ output tokens, same clock); the paper's
    4.68 is the mean of this ratio across DGMs. `context_x_params` = max_model_len × params (billions), the
    paper's efficiency proxy.
    """
    missing = [c for c in EFFICIENCY_COLUMNS if c not in rows.columns]
    if missing:
        raise KeyError(f"efficiency_table: missing columns {missing}")
    bad = rows[(rows["wall_seconds"] <= 0) | (rows["n_conversations"] <= 0)]
    if not bad.empty:
        raise ValueError(f"efficiency_table: non-positive seconds/conversations for {bad['dgm'].tolist()}")
    r = rows.copy()
    r["_tok_s"] = (r["input_tokens"] + r["output_tokens"]) / r["wall_seconds"]
    for col in ("params_b", "max_model_len", "gpus"):
        varying = r.groupby("dgm")[col].nunique()
        if (varying > 1).any():
            raise ValueError(f"efficiency_table: {col} differs between shards of {varying[varying > 1].index.tolist()}")
    g = r.groupby("dgm", sort=True)
    t = g.agg(
        params_b=("params_b", "first"),
        max_model_len=("max_model_len", "first"),
        gpus=("gpus", "first"),
        n_shards=("dgm", "size"),
        n_conversations=("n_conversations", "sum"),
        input_tokens=("input_tokens", "sum"),
        output_tokens=("output_tokens", "sum"),
        wall_seconds=("wall_seconds", "sum"),
        tok_s_shard_mean=("_tok_s", "mean"),
    )
    t["tok_s"] = (t["input_tokens"] + t["output_tokens"]) / t["wall_seconds"]
    t["input_tok_s"] = t["input_tokens"] / t["wall_seconds"]
    t["output_tok_s"] = t["output_tokens"] / t["wall_seconds"]
    # CPU runs record gpus = 0: per-GPU throughput is undefined there, not infinite
    t["tok_s_per_gpu"] = t["tok_s"] / t["gpus"].where(t["gpus"] > 0)
    t["sec_per_1k_conv"] = 1000.0 * t["wall_seconds"] / t["n_conversations"]
    t["io_ratio"] = t["input_tok_s"] / t["output_tok_s"]
    t["context_x_params"] = t["max_model_len"] * t["params_b"]
    return t.reset_index()



CORRELATION_COLUMNS = ("metric", "against", "pearson", "spearman", "n")


def efficiency_correlations(table: pd.DataFrame, proxy: str = "context_x_params") -> pd.DataFrame:
    """Pearson and Spearman of Time (s / 1k conversations) and Tok/s against the efficiency proxy.

    The paper reports 0.90 / 0.73 for Time and −0.41 / −0.80 for Tok/s, read as Pearson / Spearman. With fewer
    than two DGMs there is nothing to correlate: no rows, but the columns, so the CSV written from it is a table
    every reader can load (a run with one generated DGM, e.g. config/mini.yaml).
    """
    if len(table) < 2:
        return pd.DataFrame(columns=list(CORRELATION_COLUMNS))
    out = []
    for label, col in (("time", "sec_per_1k_conv"), ("tok_s", "tok_s")):
        out.append(
            {
                "metric": label,
                "against": proxy,
                "pearson": pearson(table[proxy], table[col]),
                "spearman": spearman(table[proxy], table[col]),
                "n": len(table),
            }
        )
    return pd.DataFrame(out, columns=list(CORRELATION_COLUMNS))



def _first(d: Mapping[str, Any], *names: str, where: str) -> Any:
    for n in names:
        if n in d and d[n] is not None:
            return d[n]
    raise KeyError(f"{where}: none of {names} present (have {sorted(d)})")


def efficiency_row(record: Mapping[str, Any], dgm: str, params_b: float) -> dict[str, Any]:
    """Flatten one efficiency JSON (results/efficiency/{dgm}/{shard}.json) into an `efficiency_table` row."""
    engine = record.get("engine") or record.get("engine_settings") or {}
    flat = {**engine, **record}
    return {
        "dgm": dgm,
        "shard": record.get("shard"),
        # the record carries the configured size, null when none was configured
        "params_b": float(flat["params_b"] if flat.get("params_b") is not None else params_b),
        "max_model_len": int(_first(flat, "max_model_len", where=dgm)),
        "n_conversations": int(_first(flat, "n_conversations", "conversations", where=dgm)),
        "input_tokens": int(_first(flat, "input_tokens", "prompt_tokens", where=dgm)),
        "output_tokens": int(_first(flat, "output_tokens", "generated_tokens", where=dgm)),
        "wall_seconds": float(_first(flat, "wall_seconds", "seconds", where=dgm)),
        "gpus": int(_first(flat, "gpus", "tensor_parallel_size", "world_size", where=dgm)),
    }



def shards_by_dgm(paths: Sequence[str | os.PathLike]) -> dict[str, list[str]]:
    """results/efficiency/{dgm}/{shard}.json grouped by DGM: the DGM is the parent folder's name."""
    out: dict[str, list[str]] = {}
    for p in paths:
        out.setdefault(Path(p).parent.name, []).append(str(p))
    return out


def run_efficiency(
    shard_jsons: Sequence[str | os.PathLike],
    dgms: Mapping[str, Mapping[str, Any]],
    out_csv: str | os.PathLike,
    out_corr_csv: str | os.PathLike,
    out_png: str | os.PathLike,
) -> pd.DataFrame:
    """The efficiency table, its correlations (header only with fewer than two DGMs) and the throughput figure.

    `dgms` is the validated DGM registry; a DGM whose size is not configured (`params_b: null`) enters the
    proxy as 0 (and the figure then drops its log scale) rather than stopping the table.
    """
    rows = [
        efficiency_row(json.loads(Path(p).read_text()), dgm, dgms[dgm]["params_b"] or 0.0)
        for dgm, paths in shards_by_dgm(shard_jsons).items()
        for p in paths
    ]
    table = efficiency_table(pd.DataFrame(rows))
    write_csv(table, out_csv)
    write_csv(efficiency_correlations(table), out_corr_csv)
    plots.efficiency_scatter(table, out_png)
    return table

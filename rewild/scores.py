"""One model's benchmark results, read from the eval JSONs (lm-eval) and judged-score JSONs (rules/judge.smk), as
records with per-item samples; and the wide scores table with the paper's aggregates and their 95% CIs.

A record: model, column (the benchmark key, or the task key for a task without one), score, stderr, n and
samples (per-item values in the benchmark's own units, same item order for every model of a run).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from . import aggregates
from .score_plan import DERIVED, JUDGED, task_column
from .stats import Z95


def _number(v: Any) -> float | None:
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) else None


def eval_records(body: Mapping[str, Any], tasks: Mapping[str, Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The records of one eval JSON: its task's column, and the columns that task derives (IFEval inst-loose)."""
    task = tasks[body["task"]]
    col = task_column(body["task"], task)
    out = [{"model": body["model"], "column": col, "score": float(body["score"]), "stderr": _number(body["stderr"]),
            "n": int(body["n"]), "samples": list(body["samples"])}]
    for derived, key in DERIVED.get(col, {}).items():
        if key not in body["metrics"]:
            raise KeyError(f"{body['model']}/{body['task']}: eval JSON has no {key!r} for {derived}; "
                           f"metrics: {sorted(body['metrics'])}")
        name, filt = key.split(",", 1)
        samples = list(body.get("samples_by_metric", {}).get(key, []))  # older eval JSONs lack them: no CI then
        out.append({"model": body["model"], "column": derived, "score": float(body["metrics"][key]),
                    "stderr": _number(body["metrics"].get(f"{name}_stderr,{filt}")), "n": len(samples) or None,
                    "samples": samples})
    return out


def judged_record(body: Mapping[str, Any], path: str | Path | None = None) -> dict[str, Any]:
    """A judged-score JSON (results/judge/{model}/{benchmark}.json) as a record, checked against its path."""
    if body["benchmark"] not in JUDGED:
        raise ValueError(f"{path}: benchmark {body['benchmark']!r} is not one of {JUDGED}")
    if path is not None:
        p = Path(path)
        if (p.parent.name, p.stem) != (body["model"], body["benchmark"]):
            raise ValueError(f"{path}: holds model {body['model']!r}, benchmark {body['benchmark']!r}")
    samples = [float(x) for x in body["samples"]]
    if len(samples) != int(body["n"]):
        raise ValueError(f"{path}: n = {body['n']} but {len(samples)} samples")
    # no score when the judge rated nothing (every verdict malformed: counted in the JSON, never fatal): the cell
    # is missing, as are the averages it enters
    score = math.nan if body["score"] is None else float(body["score"])
    return {"model": body["model"], "column": body["benchmark"], "score": score,
            "stderr": _number(body["stderr"]), "n": int(body["n"]), "samples": samples}


def read_records(eval_paths: Iterable[str | Path], judged_paths: Iterable[str | Path],
                 tasks: Mapping[str, Mapping[str, Any]]) -> list[dict[str, Any]]:
    recs = [r for p in eval_paths for r in eval_records(json.loads(Path(p).read_text()), tasks)]
    recs += [judged_record(json.loads(Path(p).read_text()), p) for p in judged_paths]
    return recs


def sample_se(samples: Sequence[float]) -> float:
    """Standard error of a mean from its samples (NaN with fewer than two)."""
    x = np.asarray(samples, float)
    return float(x.std(ddof=1) / math.sqrt(x.size)) if x.size >= 2 else math.nan


def record_se(rec: Mapping[str, Any]) -> float:
    """The record's standard error: from its samples when it has them (what the aggregates' CIs and the bootstrap
    use), else the stderr its JSON reported, else NaN."""
    if len(rec["samples"]) >= 2:
        return sample_se(rec["samples"])
    return rec["stderr"] if rec["stderr"] is not None else math.nan


def aggregate_ci_from_se(scores: Mapping[str, float], ses: Mapping[str, float], name: str) -> tuple[float, float, float]:
    """(mean, lo, hi) of an aggregate from its members' scores and standard errors (benchmarks independent:
    SE = sqrt(sum_i (s_i SE_i)^2) / k with s_i the benchmark's rescaling). Equals aggregates.aggregate_ci when
    the standard errors come from the same samples."""
    names = aggregates.members(name)
    m = aggregates.aggregate(scores, name)
    var = sum((ses[b] * aggregates.SCALE.get(b, 1.0)) ** 2 for b in names)
    se = math.sqrt(var) / len(names)
    return m, m - Z95 * se, m + Z95 * se


def scores_frame(records: Sequence[Mapping[str, Any]], columns: Sequence[str]) -> pd.DataFrame:
    """Wide table: model, then each column's score, `{c}_stderr` and `{c}_n`, then each aggregate whose members
    are all columns, with `{agg}_lo`/`{agg}_hi` (95% normal CI). An aggregate is computed from the table's own
    score columns (aggregates.aggregate_table), never from a subset."""
    by_model: dict[str, dict[str, Any]] = {}
    ses: dict[str, dict[str, float]] = {}
    for r in records:
        row = by_model.setdefault(r["model"], {"model": r["model"]})
        if r["column"] in row:
            raise ValueError(f"two results for {r['model']} / {r['column']}")
        row[r["column"]] = r["score"]
        row[f"{r['column']}_stderr"] = r["stderr"] if r["stderr"] is not None else sample_se(r["samples"])
        row[f"{r['column']}_n"] = r["n"]
        ses.setdefault(r["model"], {})[r["column"]] = record_se(r)
    df = pd.DataFrame(list(by_model.values()))
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise ValueError(f"no results for {missing}")
    # a missing result is an error; a result without a score (a judge that read no verdict of the model) is a
    # missing cell, and so are the aggregates it enters
    gaps = [m for m, row in by_model.items() if any(c not in row for c in columns)]
    if gaps:
        raise ValueError(f"models without every score: {gaps}")
    df = df[["model"] + [f"{c}{s}" for c in columns for s in ("", "_stderr", "_n")]]
    aggs = [a for a in aggregates.AGGREGATES if all(b in columns for b in aggregates.members(a))]
    if aggs:
        df = aggregates.aggregate_table(df, aggs)
        for a in aggs:
            cis = [aggregate_ci_from_se(dict(zip(columns, row)), ses[model], a) if not math.isnan(agg) else (agg,) * 3
                   for model, agg, row in zip(df["model"], df[a], df[list(columns)].itertuples(index=False))]
            df[f"{a}_lo"] = [c[1] for c in cis]
            df[f"{a}_hi"] = [c[2] for c in cis]
    return df


def samples_by_model(records: Sequence[Mapping[str, Any]]) -> dict[str, dict[str, list[float]]]:
    """model -> column -> per-item samples (what the paired bootstrap resamples)."""
    out: dict[str, dict[str, list[float]]] = {}
    for r in records:
        out.setdefault(r["model"], {})[r["column"]] = list(r["samples"])
    return out

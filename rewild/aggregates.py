"""The paper's benchmarks and its aggregates Avg-7, Avg-8 and Avg-9 (WildChat-50M §5), as pure functions."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from .stats import is_missing, mean_of_means_ci

BENCHMARKS: tuple[str, ...] = (
    "bbh",
    "gpqa",
    "math",
    "musr",
    "ifeval_ps",
    "ifeval_il",
    "mmlu_pro",
    "mixeval",
    "mtbench",
    "alpaca_lc",
    "mbpp",  # in the results sheet, in no aggregate
)

_AVG7 = ["bbh", "gpqa", "math", "musr", "ifeval_ps", "mmlu_pro", "mixeval"]

# Avg-8 adds IFEval instruction-level loose accuracy; Avg-9 adds the two LLM-judged scores. Recomputing the
# headline table's Avg-8 from its own cells with exactly this set reproduces all four rows to 3 decimals
# (tests/test_analyse.py::test_avg8_reproduces_headline_table), which confirms the definition.
AGGREGATES: dict[str, list[str]] = {
    "avg7": list(_AVG7),
    "avg8": _AVG7 + ["ifeval_il"],
    "avg9": _AVG7 + ["mtbench", "alpaca_lc"],
}

# MT-Bench is reported on 1–10 and AlpacaEval-LC in percent; the paper divides them by 10 and 100 so that every
# benchmark enters an aggregate on a 0–1 scale. The other benchmarks are already fractions.
SCALE: dict[str, float] = {"mtbench": 0.1, "alpaca_lc": 0.01}


class MissingBenchmarkError(ValueError):
    """An aggregate was requested for a model that lacks one of its benchmarks."""


def members(name: str) -> list[str]:
    """The benchmarks aggregate `name` averages."""
    try:
        return AGGREGATES[name]
    except KeyError:
        raise KeyError(f"unknown aggregate {name!r}; known: {sorted(AGGREGATES)}") from None


def aggregate(scores: Mapping[str, float], name: str) -> float:
    """Mean of the aggregate's benchmarks (judge scores rescaled to 0–1).

    A partial mean would silently change what the number means, so any missing (or NaN) member raises.
    """
    names = members(name)
    missing = [b for b in names if b not in scores or is_missing(scores[b])]
    if missing:
        raise MissingBenchmarkError(f"{name} needs {names}; missing: {missing}")
    return float(np.mean([float(scores[b]) * SCALE.get(b, 1.0) for b in names]))


def aggregate_ci(per_sample: Mapping[str, Sequence[float]], name: str) -> tuple[float, float, float]:
    """(mean, lo, hi) of an aggregate with a 95% normal CI from per-sample benchmark values.

    The aggregate is the mean of k benchmark means, and benchmarks are independent samples, so
    SE(aggregate) = sqrt(sum_i SE_i^2) / k. Samples are in each benchmark's own units (MT-Bench 1–10,
    AlpacaEval percent) and get the same rescaling as `aggregate`.
    """
    names = members(name)
    missing = [b for b in names if b not in per_sample or len(per_sample[b]) == 0]
    if missing:
        raise MissingBenchmarkError(f"{name} needs per-sample values for {names}; missing: {missing}")
    return mean_of_means_ci([np.asarray(per_sample[b], dtype=float) * SCALE.get(b, 1.0) for b in names])


def aggregate_table(df: pd.DataFrame, names: Sequence[str] = tuple(AGGREGATES)) -> pd.DataFrame:
    """Add one column per aggregate to a wide table (one row per model, one column per benchmark).

    A row lacking any member benchmark (column absent or NaN) gets NaN for that aggregate — never a mean of
    the benchmarks it happens to have.
    """
    out = df.copy()
    for name in names:
        cols = members(name)
        if any(b not in out.columns for b in cols):
            out[name] = np.nan
            continue
        scaled = pd.DataFrame({b: pd.to_numeric(out[b], errors="coerce") * SCALE.get(b, 1.0) for b in cols})
        # skipna=False is what makes a partial row NaN instead of a partial mean.
        out[name] = scaled.mean(axis=1, skipna=False)
    return out

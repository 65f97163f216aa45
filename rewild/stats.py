"""Statistics the analyses, plots and judge tables share: normal CIs, correlations, the paired bootstrap and the
Holm correction.

A leaf: it imports nothing from rewild, takes plain sequences or frames, does no I/O, and every function is
tested directly against hand-computed values (and scipy where it has the same statistic).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

# Two-sided 95% normal quantile; the paper's CIs are normal approximations.
Z95 = 1.959963984540054


def is_missing(v: Any) -> bool:
    """None or a float NaN (what a missing cell of a score table reads as)."""
    return v is None or (isinstance(v, (float, np.floating)) and math.isnan(v))


def require_columns(df: pd.DataFrame, cols: Iterable[str], who: str) -> None:
    """Fail naming the missing columns, so a malformed table stops at the function that needs it."""
    missing = [c for c in cols if c not in df.columns]
    if missing:
        raise KeyError(f"{who}: missing columns {missing}; have {list(df.columns)}")


# --------------------------------------------------------------------------------------------- normal CIs


def ci95(samples: Sequence[float]) -> tuple[float, float, float]:
    """(mean, lo, hi) of a 95% normal-approximation CI of the mean.

    With fewer than two samples the standard error is undefined, so the bounds are NaN rather than a
    misleading zero-width interval.
    """
    x = np.asarray(samples, dtype=float)
    if x.size == 0:
        raise ValueError("ci95 needs at least one sample")
    m = float(x.mean())
    if x.size < 2:
        return m, float("nan"), float("nan")
    se = float(x.std(ddof=1) / math.sqrt(x.size))
    return m, m - Z95 * se, m + Z95 * se


def mean_of_means_ci(groups: Sequence[Sequence[float]]) -> tuple[float, float, float]:
    """(mean, lo, hi): the mean of k group means with a 95% normal CI.

    Groups are independent samples (different benchmarks' items), so SE = sqrt(sum_i SE_i^2) / k. A group of
    one sample has no standard error, which makes the bounds NaN.
    """
    if not groups:
        raise ValueError("mean_of_means_ci needs at least one group")
    means, variances = [], []
    for g in groups:
        x = np.asarray(g, dtype=float)
        if x.size == 0:
            raise ValueError("mean_of_means_ci: an empty group has no mean")
        means.append(x.mean())
        variances.append(x.var(ddof=1) / x.size if x.size >= 2 else float("nan"))
    k = len(groups)
    m = float(np.mean(means))
    se = math.sqrt(sum(variances)) / k
    return m, m - Z95 * se, m + Z95 * se


# ------------------------------------------------------------------------------------------- correlations


def _ranks(x: np.ndarray) -> np.ndarray:
    """Average ranks (ties share the mean rank), as Spearman's rho needs."""
    return pd.Series(x).rank(method="average").to_numpy()


def pearson(x: Sequence[float], y: Sequence[float]) -> float:
    x, y = np.asarray(x, float), np.asarray(y, float)
    if x.size != y.size or x.size < 2:
        raise ValueError("pearson needs two equal-length sequences of >= 2 values")
    if x.std() == 0 or y.std() == 0:
        return float("nan")
    return float(np.corrcoef(x, y)[0, 1])


def spearman(x: Sequence[float], y: Sequence[float]) -> float:
    return pearson(_ranks(np.asarray(x, float)), _ranks(np.asarray(y, float)))


def kendall(x: Sequence[float], y: Sequence[float]) -> float:
    """Kendall's tau-b (tie-corrected, as scipy.stats.kendalltau's default)."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    if x.size != y.size or x.size < 2:
        raise ValueError("kendall needs two equal-length sequences of >= 2 values")
    conc = disc = tx = ty = 0
    for i in range(x.size):
        for j in range(i + 1, x.size):
            dx, dy = np.sign(x[i] - x[j]), np.sign(y[i] - y[j])
            if dx == 0 and dy == 0:
                continue
            if dx == 0:
                tx += 1
            elif dy == 0:
                ty += 1
            elif dx == dy:
                conc += 1
            else:
                disc += 1
    denom = math.sqrt((conc + disc + tx) * (conc + disc + ty))
    return float((conc - disc) / denom) if denom else float("nan")


def rank_correlation(x: Mapping[str, float] | Sequence[float], y: Mapping[str, float] | Sequence[float]) -> dict:
    """Spearman's rho and Kendall's tau-b; mappings are aligned on their common keys (missing values skipped)."""
    if isinstance(x, Mapping) and isinstance(y, Mapping):
        keys = sorted(k for k in x if k in y and not is_missing(x[k]) and not is_missing(y[k]))
        xs, ys = [float(x[k]) for k in keys], [float(y[k]) for k in keys]
    else:
        xs, ys = [float(v) for v in x], [float(v) for v in y]  # type: ignore[union-attr]
    return {"spearman": spearman(xs, ys), "kendall": kendall(xs, ys), "n": len(xs)}


def rank_correlation_table(measures: pd.DataFrame, target: Mapping[str, float], key: str) -> pd.DataFrame:
    """One row per numeric column of `measures` (rows named by its `key` column): that column's rank
    correlation with `target` (name → value), e.g. each intrinsic data-quality measure of a DGM against the
    Avg-7 of its student (the paper's SDQ question)."""
    require_columns(measures, [key], "rank_correlation_table")
    rows = []
    for col in measures.columns:
        if col == key or not pd.api.types.is_numeric_dtype(measures[col]):
            continue
        rc = rank_correlation(dict(zip(measures[key], measures[col])), target)
        rows.append({"intrinsic": col, **rc})
    return pd.DataFrame(rows)


# ------------------------------------------------------------------------------------------- bootstrap

BOOTSTRAP_BLOCK = 2_000_000


def paired_bootstrap(a: Sequence[float], b: Sequence[float], *, n_resamples: int, seed: int) -> np.ndarray:
    """Bootstrap distribution (length n_resamples) of mean(a) − mean(b) over shared items.

    a[i] and b[i] are two models' results on the same eval item, so one resample draws item indices once and
    takes both models' values at them: the item difficulty both share cancels, which is what makes a paired
    test far tighter than two independent CIs. Distributions of several benchmarks drawn with the same
    n_resamples can be averaged elementwise into the distribution of an aggregate's difference.
    """
    x, y = np.asarray(a, float), np.asarray(b, float)
    if x.shape != y.shape or x.ndim != 1 or x.size == 0:
        raise ValueError(f"paired_bootstrap needs two equal-length non-empty 1-d sequences, got {x.shape}, {y.shape}")
    if n_resamples < 1:
        raise ValueError("n_resamples must be >= 1")
    d = x - y
    rng = np.random.default_rng(seed)
    # resamples drawn in blocks of ~2M indices: MMLU-Pro's 12k items x 10k resamples at once would be ~1 GB
    rows = max(1, BOOTSTRAP_BLOCK // d.size)
    out = np.empty(n_resamples)
    for start in range(0, n_resamples, rows):
        stop = min(n_resamples, start + rows)
        out[start:stop] = d[rng.integers(0, d.size, size=(stop - start, d.size))].mean(axis=1)
    return out


def bootstrap_summary(observed: float, distribution: Sequence[float], level: float = 0.95) -> dict[str, float]:
    """Percentile CI and a two-sided bootstrap p-value for "the difference is zero".

    p = 2 · min(share of resamples ≤ 0, share ≥ 0), each share counted with the observed sample included
    ((count + 1) / (n + 1)), so p is never exactly 0 from finitely many resamples; capped at 1.
    """
    dist = np.asarray(distribution, float)
    if dist.size == 0:
        raise ValueError("bootstrap_summary needs a non-empty distribution")
    if not 0 < level < 1:
        raise ValueError("level must be in (0, 1)")
    tail = (1 - level) / 2
    lo, hi = np.quantile(dist, [tail, 1 - tail])
    n = dist.size
    below = (np.count_nonzero(dist <= 0) + 1) / (n + 1)
    above = (np.count_nonzero(dist >= 0) + 1) / (n + 1)
    return {"diff": float(observed), "lo": float(lo), "hi": float(hi), "p_value": float(min(1.0, 2 * min(below, above)))}


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm–Bonferroni adjusted p-values, in the input order (reject at level α where adjusted ≤ α).

    Step-down: the i-th smallest p (0-based) is multiplied by (m − i), a running maximum keeps the adjusted
    values monotone, and they are capped at 1. Controls the family-wise error rate under any dependence.
    """
    p = np.asarray(p_values, float)
    if p.size == 0:
        return []
    if np.isnan(p).any() or (p < 0).any() or (p > 1).any():
        raise ValueError(f"holm: p-values must lie in [0, 1], got {p.tolist()}")
    m = p.size
    order = np.argsort(p, kind="stable")
    adjusted = np.empty(m)
    running = 0.0
    for i, j in enumerate(order):
        running = max(running, (m - i) * p[j])
        adjusted[j] = min(1.0, running)
    return adjusted.tolist()

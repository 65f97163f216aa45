"""Tests of rewild.stats, the leaf statistics module: hand-computed values, scipy where it has the same statistic,
and synthetic per-item results with a known effect and with none for the paired bootstrap."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from rewild import stats


def test_ci95_hand_computed() -> None:
    m, lo, hi = stats.ci95([1.0, 2.0, 3.0, 4.0])
    se = np.std([1, 2, 3, 4], ddof=1) / 2  # = 0.6455
    assert m == 2.5
    assert lo == pytest.approx(2.5 - 1.959964 * se, abs=1e-6)
    assert hi == pytest.approx(2.5 + 1.959964 * se, abs=1e-6)
    m1, lo1, hi1 = stats.ci95([0.7])
    assert m1 == 0.7 and math.isnan(lo1) and math.isnan(hi1)
    with pytest.raises(ValueError):
        stats.ci95([])


def test_correlations_against_scipy() -> None:
    sp = pytest.importorskip("scipy.stats")
    rng = np.random.default_rng(3)
    x = rng.normal(size=25)
    y = x + rng.normal(size=25)
    y[3] = y[4]  # a tie
    assert stats.pearson(x, y) == pytest.approx(sp.pearsonr(x, y)[0])
    assert stats.spearman(x, y) == pytest.approx(sp.spearmanr(x, y)[0])
    assert stats.kendall(x, y) == pytest.approx(sp.kendalltau(x, y)[0])


def test_rank_correlation_hand() -> None:
    rc = stats.rank_correlation({"a": 1, "b": 2, "c": 3, "z": 9}, {"a": 10, "b": 30, "c": 20})
    assert rc["n"] == 3
    assert rc["spearman"] == pytest.approx(0.5)  # ranks (1,2,3) vs (1,3,2): 1 − 6·2/(3·8)
    assert rc["kendall"] == pytest.approx(1 / 3)  # 2 concordant, 1 discordant
    assert stats.rank_correlation([1, 2, 3, 4], [4, 3, 2, 1])["kendall"] == pytest.approx(-1.0)


def test_rank_correlation_table_sdq_shape() -> None:
    intrinsic = pd.DataFrame({"dgm": ["a", "b", "c", "d"], "rouge1": [0.1, 0.2, 0.3, 0.4],
                              "judge": [4.0, 3.0, 2.0, 1.0], "note": ["x"] * 4})
    t = stats.rank_correlation_table(intrinsic, {"a": 0.30, "b": 0.31, "c": 0.32, "d": 0.33}, key="dgm")
    t = t.set_index("intrinsic")
    assert list(t.index) == ["rouge1", "judge"]
    assert t.loc["rouge1", "spearman"] == pytest.approx(1.0) and t.loc["judge", "kendall"] == pytest.approx(-1.0)


def test_mean_of_means_ci_hand_computed() -> None:
    m, lo, hi = stats.mean_of_means_ci([[1.0, 3.0], [2.0, 4.0, 6.0]])
    se = math.sqrt(2.0 / 2 + 4.0 / 3) / 2  # group variances 2 and 4 (ddof=1) over their sizes, k = 2
    assert m == 3.0
    assert hi - m == pytest.approx(stats.Z95 * se) and m - lo == pytest.approx(stats.Z95 * se)
    m1, lo1, _ = stats.mean_of_means_ci([[0.5], [0.1, 0.3]])
    assert m1 == pytest.approx(0.35) and math.isnan(lo1)  # a one-sample group has no standard error
    with pytest.raises(ValueError):
        stats.mean_of_means_ci([[1.0], []])


def test_require_columns_names_what_is_missing() -> None:
    stats.require_columns(pd.DataFrame({"a": [1]}), ["a"], "who")
    with pytest.raises(KeyError, match=r"who: missing columns \['b'\]"):
        stats.require_columns(pd.DataFrame({"a": [1]}), ["a", "b"], "who")


def _paired_items(rng: np.random.Generator, n: int, effect: float) -> tuple[np.ndarray, np.ndarray]:
    """Per-item 0/1 correctness of two models on the same n items. Item difficulty is shared (both models find
    the same items hard), as on a real benchmark; model A is `effect` more likely to be right on every item."""
    difficulty = rng.uniform(0.1, 0.8, size=n)
    u = rng.uniform(size=n)  # the same draw for both models: their errors are correlated through the item
    b = (u < difficulty).astype(float)
    a = (u < np.clip(difficulty + effect, 0, 1)).astype(float)
    return a, b


def test_paired_bootstrap_finds_a_known_effect() -> None:
    a, b = _paired_items(np.random.default_rng(1), 400, effect=0.08)
    dist = stats.paired_bootstrap(a, b, n_resamples=2000, seed=0)
    assert dist.shape == (2000,)
    s = stats.bootstrap_summary(float(a.mean() - b.mean()), dist)
    assert s["diff"] == pytest.approx(a.mean() - b.mean())
    assert 0 < s["lo"] < 0.08 < s["hi"]  # the interval excludes 0 and holds the true effect
    assert s["p_value"] < 0.01
    # Pairing is what makes it tight: the two models' separate normal CIs overlap although the effect is real,
    # and the paired interval is under half as wide as an unpaired normal interval of the difference.
    _, a_lo, _ = stats.ci95(a)
    _, _, b_hi = stats.ci95(b)
    unpaired = 2 * stats.Z95 * math.sqrt(a.var(ddof=1) / a.size + b.var(ddof=1) / b.size)
    assert a_lo < b_hi and (s["hi"] - s["lo"]) < 0.5 * unpaired


def test_paired_bootstrap_without_an_effect_keeps_its_level() -> None:
    """No effect: the 95% interval covers 0 in about 95% of synthetic benchmarks (here 300 of them)."""
    rng = np.random.default_rng(7)
    rejections = 0
    for i in range(300):
        a, b = _paired_items(rng, 150, effect=0.0)
        b = np.where(rng.uniform(size=a.size) < 0.3, 1 - b, b)  # independent noise, so a and b differ per item
        a = np.where(rng.uniform(size=a.size) < 0.3, 1 - a, a)
        s = stats.bootstrap_summary(float(a.mean() - b.mean()), stats.paired_bootstrap(a, b, n_resamples=400, seed=i))
        rejections += s["p_value"] < 0.05
    assert 0.01 <= rejections / 300 <= 0.10


def test_paired_bootstrap_is_seeded_and_averages_into_an_aggregate() -> None:
    rng = np.random.default_rng(3)
    a1, b1 = _paired_items(rng, 50, 0.1)
    a2, b2 = rng.uniform(1, 10, size=80), rng.uniform(1, 10, size=80)  # a judge score on another item set
    d1 = stats.paired_bootstrap(a1, b1, n_resamples=300, seed=5)
    assert np.array_equal(d1, stats.paired_bootstrap(a1, b1, n_resamples=300, seed=5))
    assert not np.array_equal(d1, stats.paired_bootstrap(a1, b1, n_resamples=300, seed=6))
    d2 = stats.paired_bootstrap(a2 / 10, b2 / 10, n_resamples=300, seed=6)
    agg = (d1 + d2) / 2  # each benchmark resampled over its own items, averaged resample by resample
    assert agg.mean() == pytest.approx(((a1 - b1).mean() + (a2 - b2).mean() / 10) / 2, abs=0.02)
    with pytest.raises(ValueError):
        stats.paired_bootstrap([1, 0], [1], n_resamples=10, seed=0)
    with pytest.raises(ValueError):
        stats.paired_bootstrap([1, 0], [1, 1], n_resamples=0, seed=0)


def test_bootstrap_summary_hand_computed() -> None:
    s = stats.bootstrap_summary(1.5, [-1.0, 1.0, 2.0, 3.0])
    # share <= 0: (1 + 1) / 5, share >= 0: (3 + 1) / 5 -> p = 2 * 0.4
    assert s["p_value"] == pytest.approx(0.8)
    assert s["lo"] == pytest.approx(np.quantile([-1, 1, 2, 3], 0.025))
    assert s["hi"] == pytest.approx(np.quantile([-1, 1, 2, 3], 0.975))
    assert stats.bootstrap_summary(0.0, [0.0, 0.0])["p_value"] == 1.0  # capped
    with pytest.raises(ValueError):
        stats.bootstrap_summary(0.0, [])


def test_holm_hand_computed() -> None:
    # sorted: 0.005*4 = 0.02, 0.01*3 = 0.03, 0.03*2 = 0.06, 0.04*1 = 0.04 -> running max 0.06
    assert stats.holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert stats.holm([0.5, 0.9]) == pytest.approx([1.0, 1.0])  # capped at 1
    assert stats.holm([0.02]) == [0.02] and stats.holm([]) == []
    with pytest.raises(ValueError):
        stats.holm([0.1, float("nan")])


def test_paired_bootstrap_in_blocks_for_large_benchmarks() -> None:
    """MMLU-Pro-sized item sets are resampled in blocks (bounded memory): still seeded, and the spread is the
    standard error of the mean difference."""
    rng = np.random.default_rng(11)
    n = 12_032
    a, b = rng.binomial(1, 0.35, size=n).astype(float), rng.binomial(1, 0.30, size=n).astype(float)
    assert n * 1000 > stats.BOOTSTRAP_BLOCK  # more than one block
    d = stats.paired_bootstrap(a, b, n_resamples=1000, seed=2)
    assert d.shape == (1000,) and np.array_equal(d, stats.paired_bootstrap(a, b, n_resamples=1000, seed=2))
    se = (a - b).std(ddof=1) / math.sqrt(n)
    assert d.mean() == pytest.approx((a - b).mean(), abs=3 * se / math.sqrt(1000) + 1e-4)
    assert d.std(ddof=1) == pytest.approx(se, rel=0.1)

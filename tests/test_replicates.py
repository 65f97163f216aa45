"""SFT seed replicates (sft.seeds) in the tables: the spread of each mix's seeds (rewild.replicates) on synthetic
score rows with a known spread, the seed spread of a difference in the significance table, and the workflow
planning and running results/tables/seed_spread.csv only when sft.seeds has more than one seed."""

from __future__ import annotations

import copy
import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from rewild_testlib import REPO, run_snakemake, workdir_copy

from rewild import aggregates, paper, plan, replicates, report, significance
from rewild import config as rc

SEVEN = aggregates.members("avg7")


def score_rows() -> pd.DataFrame:
    """A scores table as rule scores_table writes it: Q72 at 250k trained with three seeds, L8I with two, the
    untrained student and a DGM as a model once each (stderr / n / CI columns, which the spread ignores)."""
    rows = [
        ("qwen2.5-72b-instruct-250k", 0.310, 0.52, 0.364),
        ("qwen2.5-72b-instruct-250k~s2", 0.330, 0.50, 0.370),
        ("qwen2.5-72b-instruct-250k~s3", 0.290, 0.54, 0.352),
        ("llama-3.1-8b-instruct-250k", 0.300, 0.61, 0.363),
        ("llama-3.1-8b-instruct-250k~s2", 0.306, 0.59, 0.359),
        ("base", 0.250, 0.20, 0.180),
        ("dgm-qwen2.5-72b-instruct", 0.610, 0.83, 0.560),
    ]
    df = pd.DataFrame(rows, columns=["model", "bbh", "ifeval_ps", "avg7"])
    df.insert(1, "dgm", "x")
    df["bbh_stderr"], df["bbh_n"], df["avg7_lo"], df["avg7_hi"] = 0.01, 6511, df["avg7"] - 0.01, df["avg7"] + 0.01
    return df


def test_seed_spread_has_each_groups_n_mean_sample_std_min_max() -> None:
    t = replicates.seed_spread(score_rows(), ["bbh", "ifeval_ps", "avg7"])
    assert list(t.columns) == list(replicates.SPREAD_COLUMNS)
    assert t["group"].unique().tolist() == ["qwen2.5-72b-instruct-250k", "llama-3.1-8b-instruct-250k", "base",
                                            "dgm-qwen2.5-72b-instruct"]
    q = t[t["group"] == "qwen2.5-72b-instruct-250k"].set_index("metric")
    assert (q["n_seeds"] == 3).all()
    assert q.loc["bbh", "mean"] == pytest.approx(0.31) and q.loc["bbh", "std"] == pytest.approx(0.02)  # 0.31 ± 0.02
    assert q.loc["ifeval_ps", "std"] == pytest.approx(0.02)
    assert q.loc["avg7", "std"] == pytest.approx(np.std([0.364, 0.370, 0.352], ddof=1))
    assert (q.loc["avg7", "min"], q.loc["avg7", "max"]) == pytest.approx((0.352, 0.370))
    lbi = t[(t["group"] == "llama-3.1-8b-instruct-250k") & (t["metric"] == "bbh")].iloc[0]
    assert lbi["n_seeds"] == 2 and lbi["std"] == pytest.approx(0.006 / math.sqrt(2))
    single = t[t["group"].isin(["base", "dgm-qwen2.5-72b-instruct"])]
    assert (single["n_seeds"] == 1).all() and single["std"].isna().all()
    assert (single["min"] == single["mean"]).all() and (single["max"] == single["mean"]).all()
    assert len(t) == 4 * 3


def test_seed_spread_refuses_a_missing_column_or_a_model_twice() -> None:
    with pytest.raises(KeyError, match="avg8"):
        replicates.seed_spread(score_rows(), ["bbh", "avg8"])
    rows = score_rows()
    with pytest.raises(ValueError, match="base"):
        replicates.seed_spread(pd.concat([rows, rows[rows["model"] == "base"]]), ["bbh"])
    assert replicates.spread_metrics(score_rows(), ["bbh", "ifeval_ps"]) == ["bbh", "ifeval_ps", "avg7"]


def test_paired_seed_differences_pair_seeds_by_name() -> None:
    v = {"a": 0.5, "a~s2": 0.6, "a~s3": 0.4, "b": 0.3, "b~s2": 0.5, "c": 0.1, "d~s3": 9.0, "d": 0.2}
    assert replicates.paired_seed_differences("a", "b", v) == pytest.approx([0.2, 0.1])  # s3 only on one side
    assert replicates.paired_seed_differences("a", "c", v) == pytest.approx([0.4, 0.5, 0.3])  # c at every seed
    assert replicates.paired_seed_differences("c", "b", v) == pytest.approx([-0.2, -0.4])
    assert replicates.paired_seed_differences("d", "a", v) == pytest.approx([8.6, -0.3])  # in the order of `v`
    assert replicates.paired_seed_differences("c", "c", {"c": 0.1}) == pytest.approx([0.0])
    assert replicates.seed_key("a~s3") == "~s3" and replicates.seed_key("a") == ""


def seeded_samples(rng: np.random.Generator, levels: dict[str, float], n: int = 120) -> dict[str, dict[str, list]]:
    """Per-item 0/1 results on the same items for the Avg-7 benchmarks: each model a fixed accuracy level."""
    out: dict[str, dict[str, list]] = {m: {} for m in levels}
    for col in SEVEN:
        p = rng.beta(2, 3, size=n)
        for m, e in levels.items():
            out[m][col] = rng.binomial(1, np.clip(p + e, 0, 1)).astype(float).tolist()
    return out


def test_significance_adds_the_seed_spread_of_the_difference() -> None:
    """Q72 and L8I trained with seeds 1 and 2: each row's n_seeds is 2 and seed_diff_std the sample std of the two
    per-seed differences; the untrained student (one model) stands in at both seeds; a pair without replicates has
    one seed and no std. Orientation (which side comes first) leaves the std unchanged."""
    rng = np.random.default_rng(3)
    s = seeded_samples(rng, {"q72": 0.08, "q72~s2": 0.02, "l8i": 0.0, "l8i~s2": 0.01, "base": -0.2, "l70": 0.0})
    fams = {"dgm_choice": (None, [("l8i", "q72"), ("q72", "base"), ("l70", "base")])}
    ref = paper.load_reference(REPO / "data" / "paper" / "reference.csv")
    t = significance.significance_table(s, SEVEN, fams, {}, ref, n_resamples=200, seed=0)
    assert {"n_seeds", "seed_diff_std"} <= set(t.columns)
    avg = t[t["metric"] == "avg7"].set_index(["a", "b"])
    a7 = {m: aggregates.aggregate({c: np.mean(v) for c, v in cols.items()}, "avg7") for m, cols in s.items()}
    pair = avg.loc[("q72", "l8i")]  # oriented by the run's ranking: q72 ahead
    assert pair["n_seeds"] == 2
    assert pair["seed_diff_std"] == pytest.approx(np.std([a7["q72"] - a7["l8i"], a7["q72~s2"] - a7["l8i~s2"]], ddof=1))
    assert pair["seed_diff_std"] > 0
    vs_base = avg.loc[("q72", "base")]
    assert vs_base["n_seeds"] == 2 and vs_base["seed_diff_std"] == pytest.approx(np.std([a7["q72"], a7["q72~s2"]],
                                                                                        ddof=1))
    lone = avg.loc[("l70", "base")]
    assert lone["n_seeds"] == 1 and math.isnan(lone["seed_diff_std"])
    bbh = t[(t["metric"] == "bbh") & (t["a"] == "q72") & (t["b"] == "l8i")].iloc[0]
    assert bbh["seed_diff_std"] == pytest.approx(np.std(
        [np.mean(s["q72"]["bbh"]) - np.mean(s["l8i"]["bbh"]), np.mean(s["q72~s2"]["bbh"]) - np.mean(s["l8i~s2"]["bbh"])],
        ddof=1))


def test_summary_section_lists_the_spread_or_says_one_seed(tmp_path: Path) -> None:
    one = "\n".join(report.seed_section({}))
    assert "## Seed replicates" in one and "`sft.seeds` has one seed" in one
    path = tmp_path / "seed_spread.csv"
    replicates.run_seed_spread(score_rows(), ["bbh", "ifeval_ps"], path)
    text = "\n".join(report.seed_section({report.SEED_SPREAD: str(path)}))
    assert "`sft.seeds` has one seed" not in text
    lines = [ln for ln in text.splitlines() if ln.startswith("| ")]
    assert lines[0] == "| group | metric | n_seeds | mean | std | min | max |"
    # the aggregate only, and only the groups with replicates
    assert [ln.split(" | ")[0:2] for ln in lines[1:]] == [["| qwen2.5-72b-instruct-250k", "avg7"],
                                                          ["| llama-3.1-8b-instruct-250k", "avg7"]]


# ------------------------------------------------------------------------------------------- the workflow


def demo(seeds: list[int] | None) -> dict:
    cfg = yaml.safe_load((REPO / "config" / "demo.yaml").read_text())
    cfg["sft"]["seeds"] = seeds
    return cfg


def dry_run(tmp_path: Path, cfg: dict, target: str) -> str:
    workdir, path = workdir_copy(tmp_path, cfg)
    return run_snakemake(["-s", str(REPO / "Snakefile"), "-d", str(workdir), "--configfile", str(path),
                          "--replace-workflow-config", "-n", "--cores", "1", "--", target]).stdout


def job_line(dry_run_out: str, rule: str, field: str) -> str:
    """The `field:` line of the one job of `rule` in a dry run's job list."""
    job = dry_run_out.split(f"rule {rule}:\n", 1)[1].split("\n\n", 1)[0]
    return next(ln.strip() for ln in job.splitlines() if ln.strip().startswith(f"{field}:"))


def test_seed_spread_is_planned_only_with_several_seeds(tmp_path: Path) -> None:
    """Dry runs of the demo to the summary: with sft.seeds [1, 2] rule scores_table writes seed_spread.csv and the
    summary reads it (and the replicates are trained and evaluated); with one seed, or none, neither."""
    (tmp_path / "two").mkdir()
    out = dry_run(tmp_path / "two", demo([1, 2]), "results/report/summary.md")
    assert "output: results/tables/seed_spread.csv, results/tables/scores.csv" in job_line(out, "scores_table", "output")
    summary_input = job_line(out, "summary", "input")
    assert "results/tables/seed_spread.csv" in summary_input and "results/models/gpt-all~s2.metrics.json" in summary_input
    for seeds, name in ((None, "none"), ([5], "one")):
        (tmp_path / name).mkdir()
        out = dry_run(tmp_path / name, demo(seeds), "results/report/summary.md")
        assert "rule scores_table:" in out and "results/tables/seed_spread.csv" not in out
        assert "results/models/gpt-all~s" not in out


def write_demo_eval(root: Path, model: str, task: str, spec: dict, correct: int, n: int = 40) -> None:
    """An eval JSON as rewild.evaluate writes it for a demo task (acc / exact_match over n items)."""
    samples = [1.0] * correct + [0.0] * (n - correct)
    score = correct / n
    body = {"model": model, "task": task, "lm_eval_task": spec["lm_eval_task"], "metric": spec["metric"],
            "score": score, "stderr": math.sqrt(score * (1 - score) / (n - 1)), "n": n,
            "metrics": {f"{spec['metric']},none": score}, "samples": samples, "samples_by_metric": {},
            "provenance": {"lm_eval_version": "0.4.13"}}
    path = root / "results" / "eval" / model / f"{task}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(body))


def test_rule_scores_table_writes_the_seed_spread(tmp_path: Path) -> None:
    """Rule scores_table run by Snakemake (only that rule allowed) on eval JSONs of every model of the demo with
    seeds [1, 2, 3]: seed_spread.csv has each mix's three seeds with their known spread, one row per model for the
    untrained student and the DGMs as models."""
    cfg = demo([1, 2, 3])
    valid = rc.validate(copy.deepcopy(cfg))
    models = plan.models(valid)
    tasks = valid["eval"]["tasks"]
    group_index = {g: i for i, g in enumerate(replicates.groups(models))}
    for model in models:
        i = group_index[plan.replicate_group(model)]
        seed_offset = {"": 0, "~s2": 4, "~s3": 8}[replicates.seed_key(model)]
        for k, (task, spec) in enumerate(tasks.items()):
            write_demo_eval(tmp_path, model, task, spec, correct=10 + i % 3 + k + seed_offset)
    workdir, path = workdir_copy(tmp_path, cfg)
    run_snakemake(["-s", str(REPO / "Snakefile"), "-d", str(workdir), "--configfile", str(path),
                   "--replace-workflow-config", "--cores", "1", "--allowed-rules", "scores_table", "--",
                   "results/tables/scores.csv"])
    spread = pd.read_csv(workdir / "results" / "tables" / "seed_spread.csv")
    scores = pd.read_csv(workdir / "results" / "tables" / "scores.csv")
    assert scores["model"].tolist() == models  # each mix's replicates right after it, in sft.seeds order
    dgm = dict(zip(scores["model"], scores["dgm"]))
    assert dgm["gpt-all~s3"] == dgm["gpt-all"] == "gpt" and dgm["blend-smollm2-gpt~s2"] == dgm["blend-smollm2-gpt"]
    mixes = list(plan.all_mixes(valid))
    assert set(spread["metric"]) == set(tasks) and len(spread) == len(replicates.groups(models)) * len(tasks)
    trained = spread[spread["group"].isin(mixes)]
    assert set(trained["group"]) == set(mixes) and (trained["n_seeds"] == 3).all()
    assert trained["std"].to_numpy() == pytest.approx(0.1)  # 0, 4 and 8 more of 40 items right: std 4/40
    assert ((trained["max"] - trained["min"]).to_numpy() == pytest.approx(0.2))
    others = spread[~spread["group"].isin(mixes)]
    assert set(others["group"]) == {plan.BASE_MODEL, *(f"{plan.REFERENCE_PREFIX}{d}" for d in plan.reference_dgms(valid))}
    assert (others["n_seeds"] == 1).all() and others["std"].isna().all()
    for _, r in spread.iterrows():
        assert r["mean"] == pytest.approx(scores.loc[scores["model"].map(plan.replicate_group) == r["group"],
                                                     r["metric"]].mean())

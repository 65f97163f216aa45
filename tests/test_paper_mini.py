"""config/paper-mini.yaml: the paper preset's structure at toy scale (every paper benchmark, the same kinds of
mixes, paper labels). The dry run is fast; the end-to-end run is `slow`."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml
from rewild_testlib import REPO, run_snakemake

from rewild import aggregates, plan, score_plan
from rewild import config as rc

CONFIG = REPO / "config" / "paper-mini.yaml"
# the paper's 11 benchmark columns of scores.csv (IFEval twice: prompt-strict and inst-loose) and its averages
PAPER_COLUMNS = ["bbh", "gpqa", "math", "musr", "ifeval_ps", "ifeval_il", "mmlu_pro", "mbpp", "mixeval", "mtbench",
                 "alpaca_lc"]
AVERAGES = ["avg7", "avg8", "avg9"]


def _config() -> dict:
    return rc.validate(yaml.safe_load(CONFIG.read_text()))


def _workdir(tmp_path: Path) -> Path:
    """A run directory whose repo-relative data paths (prompts, replicas, the SmolLM2 wheel) resolve: data and
    .cache/wheels linked; the rest of .cache (the judge's verdict cache, vLLM's) is the run's own, so no verdict
    of an earlier run is reused."""
    (tmp_path / ".cache").mkdir(parents=True, exist_ok=True)
    (tmp_path / "data").symlink_to(REPO / "data")
    (tmp_path / ".cache" / "wheels").symlink_to(REPO / ".cache" / "wheels")
    return tmp_path


def _snakemake(workdir: Path, *extra: str, timeout: int = 600):
    return run_snakemake(["-s", str(REPO / "Snakefile"), "-d", str(workdir), "--configfile", str(CONFIG),
                          "--replace-workflow-config", *extra], timeout=timeout)


def test_paper_mini_has_the_preset_kinds_of_runs() -> None:
    cfg = _config()
    mixes = plan.all_mixes(cfg)
    sizes = {grid_size for g in cfg["mix_grid"] for grid_size in g["sizes"]}
    assert len(sizes) == 3, "per-DGM subsets at three sizes"
    assert any(plan.mix_info(cfg)[m]["parents"] for m in mixes), "a blend"
    assert any(c.get("length_control") for m in mixes.values() for c in m["components"]), "the -lc variant"
    rewild = {c.get("source") for c in mixes["rewild"]["components"]}
    assert {"mmlu-aux", "personahub-algebra"} <= rewild and "tulu3-sft" in mixes
    assert cfg["eval"]["replicas"] == "data/replicas" and cfg["eval"]["group_tasks"]
    assert set(PAPER_COLUMNS) <= set(score_plan.score_columns(cfg))
    known = set(plan.models(cfg)) | set(cfg["dgms"])
    assert set(cfg["paper"]["labels"].values()) <= known


def test_paper_mini_dry_run_plans_every_benchmark_for_every_student(tmp_path: Path) -> None:
    """`snakemake -n` on paper-mini: each model (students, base, the two DGMs) gets the seven lm-eval tasks (one
    grouped evaluate job) and the three judged benchmarks; scores, comparison and significance tables are planned."""
    cfg = _config()
    proc = _snakemake(_workdir(tmp_path), "-n", "-p")
    outputs = set(re.findall(r"results/[^\s,]+", proc.stdout))
    models = plan.models(cfg)
    assert len(models) == 13
    for model in models:
        for task in cfg["eval"]["tasks"]:
            assert f"results/eval/{model}/{task}.json" in outputs, (model, task)
        for bench in ("mtbench", "alpaca_lc", "mixeval"):
            assert f"results/judge/{model}/{bench}.json" in outputs, (model, bench)
    assert len(re.findall(r"^rule evaluate:", proc.stdout, re.M)) == len(models), "one grouped job per model"
    for table in ("scores.csv", "paper_comparison.csv"):
        assert any(o.endswith(table) for o in outputs), table


# In `make test`, in the stream of the live-Slurm tests (tools/run-tests: they mostly wait on the scheduler).
@pytest.mark.slow
@pytest.mark.paper_mini
def test_paper_mini_end_to_end(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The whole paper-mini run on CPU: scores.csv has every paper benchmark and Avg-7/8/9 with a CI for every
    model, and the averages equal the table's own columns; every analysis table and figure of the paper is written
    by its rule, the comparison with the paper has real rows and the report shows them."""
    from test_evaluate import install_code_eval  # MBPP's code_eval metric, which prefetch caches from the Hub

    cfg = _config()
    modules = tmp_path / "hf-modules"
    install_code_eval(modules)
    monkeypatch.setenv("HF_MODULES_CACHE", str(modules))
    t0 = time.time()
    _snakemake(_workdir(tmp_path / "run"), "--cores", "2", "--resources", "gpu=0", timeout=3000)
    took = time.time() - t0
    scores = pd.read_csv(tmp_path / "run" / "results" / "tables" / "scores.csv")
    assert set(scores["model"]) == set(plan.models(cfg))
    for col in PAPER_COLUMNS:
        assert col in scores.columns, col
        assert scores[col].notna().all(), f"{col} missing for {scores.loc[scores[col].isna(), 'model'].tolist()}"
        assert scores[f"{col}_stderr"].notna().all(), f"{col}: no standard error (CI) for some model"
    for avg in AVERAGES:
        assert scores[[avg, f"{avg}_lo", f"{avg}_hi"]].notna().all().all(), avg
        assert (scores[f"{avg}_lo"] <= scores[avg]).all() and (scores[avg] <= scores[f"{avg}_hi"]).all()
        members = aggregates.members(avg)
        again = sum(scores[m] * aggregates.SCALE.get(m, 1.0) for m in members) / len(members)
        assert ((again - scores[avg]).abs() < 1e-9).all(), f"{avg} is not the mean of its own columns"
    tables, plots = tmp_path / "run" / "results" / "tables", tmp_path / "run" / "results" / "plots"
    for name in ("dgm_choice", "scaling", "blends", "inheritance", "similarity", "style", "style_pf",
                 "judge_preference", "judge_mtbench", "sdq_intrinsic", "efficiency", "judge_cost", "significance",
                 "significance_claims", "paper_comparison"):
        assert len(pd.read_csv(tables / f"{name}.csv")), f"{name}.csv is empty"
    for name in ("dgm_choice", "scaling", "similarity", "efficiency", "judge_mtbench", "paper_comparison",
                 "significance", "sft_loss"):
        assert (plots / f"{name}.png").stat().st_size > 1000, name
    comparison = pd.read_csv(tables / "paper_comparison.csv")
    compared = comparison[comparison["status"] == "compared"]
    # real rows of every kind the config maps: the headline, Table 2, scaling, the blend, -lc, on-policy, ...
    assert {"headline", "dgm_choice", "scaling", "blends", "on_policy", "lc_ablation"} <= set(compared["table"])
    assert compared["diff"].notna().all() and compared["ours"].notna().all()
    assert (comparison["status"] != "compared").any()  # the paper cells this toy run cannot produce, listed
    sig = pd.read_csv(tables / "significance.csv")
    assert {"dgm_choice", "scaling", "blends", "rewild_vs_baselines", "on_policy"} <= set(sig["family"])
    summary = (tmp_path / "run" / "results" / "report" / "summary.md").read_text()
    for section in ("## Reproduction vs paper", "### Compared cells", "## Are the differences real?"):
        assert section in summary, section
    assert "not the paper's benchmarks" not in summary
    print(f"paper-mini end to end: {took:.0f} s")

"""rewild.judge.grouped and rules/judged.smk: the judged benchmarks in fewer jobs (one answering job per model, one
grading job for all), writing the same files as the per-benchmark rules; and which settings rerun what."""

from __future__ import annotations

import copy
import re
from pathlib import Path

import pytest
import yaml
from rewild_testlib import REPO, run_snakemake

from rewild import config as rc
from rewild import plan
from rewild.judge import grouped

CONFIG = REPO / "config" / "paper-mini.yaml"
PER_BENCHMARK_RULES = ("judge_answers", "alpaca_answers", "mixeval_answers", "judge", "alpaca_eval", "mixeval",
                       "sdq_judge")


def _raw() -> dict:
    return yaml.safe_load(CONFIG.read_text())


def _dry_run(tmp_path: Path, cfg: dict, name: str) -> tuple[dict[str, int], set[str]]:
    work = tmp_path / name
    work.mkdir()
    for link in ("data", ".cache"):
        (work / link).symlink_to(REPO / link)
    path = work / "config.yaml"
    path.write_text(yaml.safe_dump(cfg))
    proc = run_snakemake(["-s", str(REPO / "Snakefile"), "-d", str(work), "--configfile", str(path),
                          "--replace-workflow-config", "-n"], timeout=300)
    counts = {m.group(1): int(m.group(2)) for m in re.finditer(r"^(\w+)\s+(\d+)$", proc.stdout, re.M)}
    outputs = {f for line in re.findall(r"^\s+output: (.*)$", proc.stdout, re.M) for f in line.split(", ")}
    return counts, {f for f in outputs if f.startswith("results/judge/")}


def test_grouped_and_per_benchmark_shapes_plan_the_same_files(tmp_path: Path) -> None:
    """paper-mini (group_tasks, group_grading): one answering job per model and one grading job, no per-benchmark
    job; with both off, one job per (model, benchmark) and stage. The judged files planned are the same."""
    cfg = _raw()
    models = plan.models(rc.validate(copy.deepcopy(cfg)))
    grouped_counts, grouped_files = _dry_run(tmp_path, cfg, "grouped")
    assert grouped_counts["judged_answers"] == len(models) and grouped_counts["judged_grading"] == 1
    assert not set(PER_BENCHMARK_RULES) & set(grouped_counts)

    cfg["eval"]["group_tasks"] = False
    cfg["eval"]["judge"]["group_grading"] = False
    single_counts, single_files = _dry_run(tmp_path, cfg, "single")
    assert not {"judged_answers", "judged_grading"} & set(single_counts)
    for rule in PER_BENCHMARK_RULES[:-1]:
        assert single_counts[rule] == len(models), rule
    assert single_counts["sdq_judge"] == 3  # the judge tables are on: SDQ of gpt, smollm2-135m, tiny-random
    assert grouped_files == single_files
    for m in models:
        for name in ("answers.jsonl", "alpaca_answers.json", "mixeval_answers.json", "mtbench.json", "alpaca_lc.json",
                     "mixeval.json"):
            assert f"results/judge/{m}/{name}" in grouped_files, (m, name)
    for dgm in ("gpt", "smollm2-135m", "tiny-random"):
        assert f"results/judge/dgm/{dgm}/sdq.json" in grouped_files


def test_a_model_outside_one_benchmark_keeps_its_per_benchmark_answers() -> None:
    """Grouped answering covers the models every judged benchmark answers; a model only MT-Bench answers (a judged
    DGM the scores table does not evaluate) keeps rule judge_answers."""
    cfg = _raw()
    cfg["eval"]["evaluate_dgms"] = ["smollm2-135m"]  # tiny-random is still judged (judge.enabled) on MT-Bench
    cfg["paper"]["labels"] = {k: v for k, v in cfg["paper"]["labels"].items() if v != "dgm-tiny-random"}
    v = rc.validate(cfg)
    both = grouped.grouped_answer_models(v)
    assert "dgm-tiny-random" not in both and "dgm-smollm2-135m" in both
    assert grouped.single_answer_models(v, "mtbench") == ["dgm-tiny-random"]
    assert grouped.single_answer_models(v, "alpaca_lc") == grouped.single_answer_models(v, "mixeval") == []
    off = rc.validate({**_raw(), "eval": {**_raw()["eval"], "group_tasks": False}})
    assert grouped.grouped_answer_models(off) == []


@pytest.mark.parametrize("path,value", [
    (("judged_limit",), 3),
    (("alpaca_eval", "max_new_tokens"), 7),
    (("mixeval", "parser_attempts"), 2),
    (("judge", "grade_max_tokens"), 9),
    (("judged_benchmarks",), ["mtbench"]),
])
def test_judged_settings_rerun_no_lm_eval_job(path, value) -> None:
    """What the evaluate rule's params carry: a judged benchmark's setting changes none of them (before, every
    eval.* key did, so a new AlpacaEval budget reran every lm-eval job); lm-eval's own settings do."""
    base = rc.validate(_raw())
    cfg = _raw()
    node = cfg["eval"]
    for key in path[:-1]:
        node = node.setdefault(key, {})
    node[path[-1]] = value
    changed = rc.validate(cfg)
    assert plan.eval_params(changed) == plan.eval_params(base)
    capped = rc.validate({**_raw(), "eval": {**_raw()["eval"], "max_gen_toks": 5}})
    assert plan.eval_params(capped) != plan.eval_params(base)


def test_judged_limit_reaches_every_judged_job() -> None:
    """eval.judged_limit is in the params of each answering and grading stage (a changed limit reruns them)."""
    from rewild.judge import alpaca_eval, mixeval
    from rewild.judge import plan as judge_plan

    v = rc.validate(_raw())
    limit = v["eval"]["judged_limit"]
    assert limit == 6
    for params in (judge_plan.answer_params(v), judge_plan.grade_params(v), alpaca_eval.answer_params(v),
                   alpaca_eval.annotate_params(v), mixeval.answer_params(v), mixeval.parse_params(v)):
        assert params["limit"] == limit
    assert all(p["judge"]["limit"] == limit for b, p in grouped.grade_params(v).items() if b != "sdq")
    assert all(p["limit"] == limit for p in grouped.answer_params(v).values())
    assert judge_plan.first_n(list(range(10)), 3) == [0, 1, 2] and judge_plan.first_n([1, 2], None) == [1, 2]


def test_grouped_job_budgets_add_up() -> None:
    """A grouped job's time budget: one load, then each grouped job's work at the per-job budget less its load."""
    from rewild.judge import alpaca_eval, mixeval
    from rewild.judge import plan as judge_plan

    v = rc.validate(_raw())
    load = judge_plan.LOAD_MINUTES
    n = len(plan.models(v))
    work = (judge_plan.judge_runtime(v, "grade") - load) + (alpaca_eval.annotate_runtime(v) - load) + (
        mixeval.parse_runtime(v) - load)
    sdq = 3 * (judge_plan.judge_runtime(v, "sdq") - load)  # the SDQ judgments of the three DGMs join the job
    assert grouped.grading_runtime(v) == load + n * work + sdq
    per_job = judge_plan.answers_runtime(v, "base")
    assert grouped.answers_runtime(v, "base") == load + 3 * (per_job - load)


def test_every_graded_stage_carries_what_a_served_judge_needs() -> None:
    """A served judge starts from the stage's own params (seed, serve_local, ...): SDQ's lacked the seed, so every
    SDQ job against serve_local failed with KeyError before it sent a request."""
    from rewild.judge import alpaca_eval, mixeval
    from rewild.judge import plan as judge_plan

    v = rc.validate(_raw())
    for params in (judge_plan.grade_params(v), judge_plan.sdq_params(v), alpaca_eval.annotate_params(v),
                   mixeval.parse_params(v)):
        assert {"seed", "serve_local", "api_key_env", "model"} <= set(params)
        assert params["serve_local"]["model"] == "smollm2-135m"

"""The paper's lm-eval tasks, as installed, run offline on their replicas (data/replicas/).

Only `dataset_path` is redirected: prompts, filters, metrics and few-shot settings are lm-eval's own, so a
task that cannot load or score here (a missing extra, a column the replica lacks) fails here too.
lm-eval's task index takes seconds to build, so the module builds two: the installed one, and one redirected to
the replicas for the single simple_evaluate over every paper group (the way rewild.evaluate redirects a job's).
MBPP runs on its replica in tests/test_evaluate.py (it needs the code_eval metric, stood in there).
"""

from __future__ import annotations

import pytest
import yaml
from rewild_testlib import REPO, TEST_MODELS

from rewild import replicas

PAPER_GROUPS = {
    "leaderboard_bbh": "acc_norm,none",
    "leaderboard_gpqa": "acc_norm,none",
    "leaderboard_math_hard": "exact_match,none",
    "leaderboard_musr": "acc_norm,none",
    "leaderboard_ifeval": "prompt_level_strict_acc,none",
    "leaderboard_mmlu_pro": "acc,none",
}
# every ground-truth task of the paper preset (config.yaml) has a replica
PAPER_TASKS = [*PAPER_GROUPS, "mbpp"]


@pytest.fixture(scope="module")
def installed():
    """lm-eval's index of its installed task definitions (never redirected)."""
    from lm_eval.tasks import TaskManager

    return TaskManager()


def test_paper_preset_tasks_are_the_covered_ones():
    cfg = yaml.safe_load((REPO / "config.yaml").read_text())
    assert sorted(t["lm_eval_task"] for t in cfg["eval"]["tasks"].values()) == sorted(PAPER_TASKS)


def test_replicas_cover_every_dataset_of_the_paper_tasks(installed):
    have = replicas.available()
    for group in PAPER_TASKS:
        leaves = replicas.leaf_tasks([group], installed)
        assert leaves, group
        missing = {t: installed.task_index[t].cfg.get("dataset_path") for t in leaves}
        missing = {t: p for t, p in missing.items() if p not in have}
        assert not missing, f"{group}: no replica for {missing}"


def test_replica_has_the_configs_and_splits_the_task_reads(installed):
    """Each leaf's dataset_name is a config of the replica, and the splits it reads exist in that config."""
    have = replicas.available()
    for group in PAPER_TASKS:
        for task in replicas.leaf_tasks([group], installed):
            cfg = installed.task_index[task].cfg
            meta = yaml.safe_load((have[cfg["dataset_path"]] / "README.md").read_text().split("---")[1])
            configs = {c["config_name"]: {f["split"] for f in c["data_files"]} for c in meta["configs"]}
            name = cfg.get("dataset_name") or "default"
            assert name in configs, (task, name)
            split = cfg.get("test_split") or cfg.get("validation_split")
            assert split in configs[name], (task, split, configs[name])
            for other in ("fewshot_split", "training_split", "validation_split"):
                if cfg.get(other):
                    assert cfg[other] in configs[name], (task, other, cfg[other])


def test_overrides_change_only_the_dataset_path(tmp_path, installed):
    written = replicas.write_overrides(["leaderboard_musr"], tmp_path, task_manager=installed)
    assert set(written) == {
        "leaderboard_musr_murder_mysteries",
        "leaderboard_musr_object_placements",
        "leaderboard_musr_team_allocation",
    }
    cfg = yaml.safe_load((tmp_path / "leaderboard_musr_team_allocation.yaml").read_text())
    assert set(cfg) == {"include", "task", "dataset_path"}
    assert cfg["include"].endswith("leaderboard/musr/musr_team_allocation.yaml")
    assert cfg["dataset_path"] == str(REPO / "data" / "replicas" / "TAUR-Lab" / "MuSR")


def test_unknown_task_is_named(installed):
    with pytest.raises(KeyError, match="leaderboard_bbhh"):
        replicas.leaf_tasks(["leaderboard_bbhh"], installed)


@pytest.fixture(scope="module")
def replica_run(tmp_path_factory):
    """One simple_evaluate over every paper group (one model load, one task index), tiny model, HF backend."""
    import os

    import lm_eval
    from lm_eval.tasks import TaskManager

    tiny = TEST_MODELS["tiny"]
    if not (tiny / "config.json").exists():
        pytest.fail(f"{tiny} missing (tests/conftest.py builds it)")
    tmp = tmp_path_factory.mktemp("replicas")
    os.environ["HF_DATASETS_CACHE"] = str(tmp / "hf-datasets")
    tm = TaskManager()
    written = replicas.redirect(tm, list(PAPER_GROUPS), tmp / "tasks", replicas.REPLICAS_DIR)
    results = lm_eval.simple_evaluate(
        model="hf",
        model_args=f"pretrained={tiny},dtype=float32",
        tasks=list(PAPER_GROUPS),
        task_manager=tm,
        batch_size=8,
        device="cpu",
        # generation tasks (MATH 1,024, IFEval 1,280 tokens) would take minutes with a random model that never
        # stops: the budget is a run-time argument, not part of the task definition under test
        gen_kwargs="max_gen_toks=16",
        log_samples=True,
    )
    return written, results


@pytest.mark.slow
@pytest.mark.parametrize("group", sorted(PAPER_GROUPS))
def test_installed_task_runs_on_its_replica(group, replica_run, installed):
    """Every leaf of the group was loaded from its replica and scored with the group's reported metric."""
    written, results = replica_run
    metric = PAPER_GROUPS[group]
    leaves = replicas.leaf_tasks([group], installed)
    for task in leaves:
        assert task in written, f"{task} did not run on a replica"
        assert results["configs"][task]["dataset_path"] == written[task], task
        assert metric in results["results"][task], (task, results["results"][task])
        n_docs = len(results["samples"][task])
        assert n_docs >= 1, task
        if group == "leaderboard_math_hard":  # the task's own process_docs keeps Level 5 rows only: 1 of 2
            assert n_docs == 1, task

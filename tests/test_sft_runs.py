"""Trained runs: SFT seed replicates (sft.seeds) and per-mix students (students, mixes.<mix>.student)."""

from __future__ import annotations

import copy

import pytest
import yaml
from rewild_testlib import REPO

from rewild import config as rc
from rewild import plan


@pytest.fixture(scope="module")
def preset() -> dict:
    return rc.validate(yaml.safe_load((REPO / "config.yaml").read_text()))


def test_seed_replicates_are_named_for_grouping_and_train_with_their_seed(preset: dict) -> None:
    assert plan.sft_settings(preset, "rewild")["trl"]["seed"] == 42  # sft.seeds null: one run, trl.seed
    assert not any("~" in m for m in plan.models(preset))
    cfg = copy.deepcopy(preset)
    cfg["sft"]["seeds"] = [7, 8, 9]
    runs = plan.sft_runs(cfg)
    assert runs["rewild"] == ("rewild", 7) and runs["rewild~s8"] == ("rewild", 8) and runs["rewild~s9"] == ("rewild", 9)
    assert {"rewild", "rewild~s8", "rewild~s9"} <= set(plan.models(cfg))
    assert [plan.sft_settings(cfg, r)["trl"]["seed"] for r in ("rewild", "rewild~s8", "rewild~s9")] == [7, 8, 9]
    assert plan.sft_params(cfg, "rewild~s8") != plan.sft_params(cfg, "rewild~s9")
    assert "seeds" not in plan.sft_params(cfg, "rewild")
    assert plan.run_mix(cfg, "rewild~s8") == "rewild" and plan.replicate_group("rewild~s8") == "rewild"


def test_onpolicy_mixes_train_the_qwen2_base_student_at_2048(preset: dict) -> None:
    for dgm in ("qwen2-7b-instruct", "qwen2.5-72b-instruct", "llama-3.1-8b-instruct"):
        run = f"onpolicy-q7b-{dgm}"
        assert plan.mix_student(preset, run) == "qwen2-7b"
        assert plan.run_student_id(preset, run) == "Qwen/Qwen2-7B"
        assert plan.run_student_params(preset, run)["chat_template"] == "chatml"
        assert plan.sft_settings(preset, run)["trl"]["max_length"] == 2048
    assert plan.run_student_id(preset, "rewild") == "meta-llama/Llama-3.1-8B"
    assert plan.overlong_params(preset, "onpolicy-q7b-qwen2-7b-instruct")["max_length"] == 2048


def test_a_mix_naming_an_unknown_student_is_a_config_error() -> None:
    cfg = yaml.safe_load((REPO / "config.yaml").read_text())
    cfg["mixes"]["rewild"]["student"] = "qwen2-70b"
    with pytest.raises(rc.ConfigError, match="mixes.rewild.student"):
        rc.validate(cfg)


def test_overlong_truncate_leaves_the_mix_to_trl(preset: dict) -> None:
    cfg = copy.deepcopy(preset)
    cfg["sft"]["overlong"] = "truncate"
    assert plan.overlong_params(cfg, "rewild") is None
    assert plan.overlong_params(preset, "rewild")["max_length"] == 8192


def test_the_preset_has_the_papers_extra_runs(preset: dict) -> None:
    models = set(plan.models(preset))
    assert {"qwen2-7b-instruct-500k", "qwen2.5-72b-instruct-lc-500k", "ultrachat-sft", "magpie-align-sft",
            "rewild-personas-math-grade", "rewild-numinamath"} <= models
    assert "qwen2.5-72b-instruct-lc-250k" not in models
    lc = plan.all_mixes(preset)["qwen2.5-72b-instruct-lc-500k"]["components"][0]
    assert lc["select"] == {"first_fraction": 0.5, "seed": 0} or lc["select"]["first_fraction"] == 0.5
    assert {f"dgm-{d}" for d in ("qwen2.5-72b-instruct", "llama-3.3-70b-instruct", "qwen2-7b-instruct",
                                 "llama-3.1-8b-instruct")} <= models

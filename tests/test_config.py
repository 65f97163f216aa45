"""Config validation: errors name the key; the plan (shards, mixes, models) is derived without I/O."""

from __future__ import annotations

import copy

import pytest

from rewild import config as rc
from rewild import plan, resources


def test_paper_config_is_valid_and_complete(paper_config):
    rc.validate(paper_config)
    # spec §3: 52 named open DGMs + the original GPT responses as a pseudo-DGM
    assert len(plan.generated_dgms(paper_config)) == 52
    assert plan.source_dgms(paper_config) == ["gpt"]
    mixes = plan.all_mixes(paper_config)
    for dgm in paper_config["dgms"]:
        assert f"{dgm}-250k" in mixes
    for dgm in ["gpt", "llama-3.1-8b-instruct", "llama-3.3-70b-instruct", "qwen2.5-72b-instruct"]:
        assert {f"{dgm}-100k", f"{dgm}-500k"} <= set(mixes)
    assert {"rewild", "tulu3-sft", "blend-q72-l70-500k", "blend-l8i-q7-500k"} <= set(mixes)
    rewild = mixes["rewild"]["components"]
    assert [c["select"]["first_n"] for c in rewild] == [246750, 99800, 20000]  # spec §4: 366,550 rows
    assert sum(c["select"]["first_n"] for c in rewild) == 366550
    assert plan.models(paper_config)[-1] == plan.BASE_MODEL


def test_defaults_are_filled(demo_config):
    rc.validate(demo_config)
    assert demo_config["generation"]["engine"]["gpu_memory_utilization"] == 0.95
    assert demo_config["dgms"]["smollm2-135m"]["trust_remote_code"] is False
    assert demo_config["filters"]["languages"] is None


@pytest.mark.parametrize(
    "mutate, key",
    [
        (lambda c: c.__setitem__("bogus", 1), "bogus"),
        (lambda c: c["generation"].__setitem__("temprature", 0.7), "temprature"),
        (lambda c: c["prompts"].__setitem__("shard_size", "big"), "prompts.shard_size"),
        (lambda c: c["dgms"]["tiny-random"].__setitem__("gpus", -1), "dgms.tiny-random.gpus"),
        (lambda c: c["generation"].__setitem__("history", "mine"), "generation.history"),
    ],
)
def test_schema_errors_name_the_key(demo_config, mutate, key):
    mutate(demo_config)
    with pytest.raises(rc.ConfigError) as err:
        rc.validate(demo_config)
    assert key in str(err.value)


def test_mix_naming_a_missing_dgm_is_rejected(demo_config):
    demo_config["mixes"]["blend-smollm2-gpt"]["components"][0]["dgm"] = "no-such-dgm"
    with pytest.raises(rc.ConfigError) as err:
        rc.validate(demo_config)
    assert err.value.key == "mixes.blend-smollm2-gpt.components.0.dgm"
    assert "no-such-dgm" in str(err.value)


@pytest.mark.parametrize("bad", ['evil"; touch pwned; "', "has space", "semi;colon", "Upper"])
def test_unsafe_dgm_keys_are_rejected(demo_config, bad):
    demo_config["dgms"][bad] = copy.deepcopy(demo_config["dgms"]["tiny-random"])
    with pytest.raises(rc.ConfigError) as err:
        rc.validate(demo_config)
    assert "dgms" in str(err.value)


def test_shards_are_index_ranges(demo_config):
    rc.validate(demo_config)
    p = demo_config["prompts"]
    assert plan.shard_names(p) == ["s00000", "s00001"]
    assert plan.shard_rows(p, "s00000") == list(range(40))
    assert plan.shard_rows(p, "s00001") == list(range(40, 76))


def test_sampled_shards_are_deterministic_and_disjoint(demo_config):
    p = {**demo_config["prompts"], "sample": {"n": 30, "seed": 3}, "shard_size": 8}
    shards = plan.shard_names(p)
    assert len(shards) == 4
    rows = [r for s in shards for r in plan.shard_rows(p, s)]
    assert len(rows) == len(set(rows)) == 30
    assert rows == plan.selected_rows(p) == sorted(rows)
    assert plan.selected_rows({**p, "sample": {"n": 30, "seed": 4}}) != rows


def test_mix_grid_and_sft_overrides(demo_config):
    demo_config["mixes"]["blend-smollm2-gpt"]["sft_overrides"] = {"learning_rate": 0.5}
    rc.validate(demo_config)
    mixes = plan.all_mixes(demo_config)
    assert set(mixes) == {"blend-smollm2-gpt", "gpt-all", "smollm2-135m-all", "tiny-random-all"}
    assert plan.sft_params(demo_config, "blend-smollm2-gpt")["trl"]["learning_rate"] == 0.5
    assert plan.sft_params(demo_config, "gpt-all")["trl"]["learning_rate"] == demo_config["sft"]["trl"]["learning_rate"]
    assert plan.mix_dgm(mixes["gpt-all"]) == "gpt"
    assert plan.mix_dgm(mixes["blend-smollm2-gpt"]) is None


def test_generate_runtime_scales_with_model_size(paper_config):
    rc.validate(paper_config)
    big = resources.generate_runtime(paper_config, "qwen2.5-72b-instruct")
    small = resources.generate_runtime(paper_config, "qwen2-7b-instruct")
    assert big > small > 30
    paper_config["dgms"]["qwen2-7b-instruct"]["runtime_per_shard_min"] = 77
    assert resources.generate_runtime(paper_config, "qwen2-7b-instruct") == 77


def test_eval_threads_default_and_override(paper_config, demo_config):
    rc.validate(paper_config)
    assert resources.eval_threads(paper_config) == resources.CPUS_PER_GPU * paper_config["eval"]["gpus"]
    rc.validate(demo_config)
    assert resources.eval_threads(demo_config) == demo_config["eval"]["cpus"] == 1
    demo_config["eval"]["cpus"] = None
    assert resources.eval_threads(demo_config) == resources.CPU_JOB_THREADS  # gpus: 0

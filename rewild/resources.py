"""Slurm job shapes and costs: what one job asks the scheduler for, and what a whole run costs in GPU-hours.

Memory and time limits grow with the attempt (a retry gets more), up to the site's caps (`resources.caps` in the
config: the partitions' limits), so a retry never asks for more than any partition can give. GPUs come from config.
CPUs are Snakemake `threads` (the Slurm plugin turns them into --cpus-per-task; `--max-threads` and local `--cores`
cap them). Every GPU rule also asks for one node (`nodes=1`: the plugin sends --nodes=1), as tensor parallelism
and FSDP need their GPUs on one node. Figures are estimates for H100/A100 nodes.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from .evaluate import model_settings
from .plan import all_mixes, generated_dgms, models, n_prompt_rows, shard_names

CPUS_PER_GPU = 8  # host cores per GPU for vLLM / lm-eval workers (tokenisation, scheduling, data loading)
CPU_JOB_THREADS = 4  # a generation or evaluation that runs on CPU (gpus: 0)
PAPER_GEN_GPU_MIN_PER_1000 = 4.0  # GPU-minutes per 1,000 conversations per 7B of parameters (generate_runtime)
PAPER_SFT_GPU_HOURS_PER_250K = 5.5 * 4  # paper: ~5.5 h on 4 GPUs per 250k conversations (Llama-3.1-8B)
DEFAULT_PARAMS_B = 7.0  # a DGM whose size the registry does not give is costed as a 7B model
# Rows of HF SFT sources whose size the config cannot tell (a `first_fraction` of them); unknown: 250k.
KNOWN_SOURCE_ROWS = {
    "allenai/tulu-3-sft-mixture": 939_343,
    "cais/mmlu": 99_842,  # auxiliary_train
    "allenai/tulu-3-sft-personas-algebra": 20_000,
}
UNKNOWN_SOURCE_ROWS = 250_000
# Our estimate (not from the paper) of H100-hours to evaluate one 8B model on an lm-eval task with vLLM.
EVAL_TASK_GPU_HOURS = {
    "leaderboard_bbh": 0.3,
    "leaderboard_gpqa": 0.1,
    "leaderboard_math_hard": 0.5,
    "leaderboard_musr": 0.1,
    "leaderboard_ifeval": 0.1,
    "leaderboard_mmlu_pro": 0.6,
    "mbpp": 0.1,
}
EVAL_TASK_GPU_HOURS_DEFAULT = 0.3


def gb_to_mb(x: float) -> int:
    """Whole gigabytes (rounded up) in Slurm's MB."""
    return int(math.ceil(x)) * 1024


def _params_b(entry: Mapping[str, Any]) -> float:
    return entry["params_b"] or DEFAULT_PARAMS_B


# ---------------------------------------------------------------------------------------------- retries and caps


def partition_kind(gpus: int) -> str:
    """The `resources.caps` entry that limits a job: `gpu` when it asks for GPUs, else `cpu`."""
    return "gpu" if gpus > 0 else "cpu"


def grown(config: Mapping[str, Any], gpus: int, key: str, first: int, attempt: int) -> int:
    """`first` (attempt 1's mem_mb or runtime) times `attempt`, capped at the site's limit for such a job."""
    cap = config["resources"]["caps"][partition_kind(gpus)][key]
    value = int(first) * int(attempt)
    return min(value, cap) if cap else value


# ---------------------------------------------------------------------------------------------- generation


def generate_threads(config: Mapping[str, Any], dgm: str) -> int:
    gpus = config["dgms"][dgm]["gpus"]
    return CPUS_PER_GPU * gpus if gpus else CPU_JOB_THREADS


def generate_mem_mb(config: Mapping[str, Any], dgm: str, attempt: int = 1) -> int:
    """Host memory of a generation job: enough to load the checkpoint (bf16 on GPU, float32 on CPU) with 20%
    headroom, 8 GB per GPU worker (CUDA context, tokenisation, outputs) and 8 GB for the job itself."""
    entry = config["dgms"][dgm]
    gpus = entry["gpus"]
    bytes_per_param = 2 if gpus else 4
    return grown(config, gpus, "mem_mb", gb_to_mb(8 + 8 * gpus + 1.2 * bytes_per_param * _params_b(entry)), attempt)


def generate_runtime(config: Mapping[str, Any], dgm: str, attempt: int = 1) -> int:
    """Minutes for one generation shard (Slurm time limit; grows with the attempt in the rule).

    An estimate from the paper's costs (~10,000 H100-hours for 52 DGMs x ~990k conversations, slowest Q72
    at 3,163 tok/s): about 4 GPU-minutes per 1,000 conversations per 7B of parameters, plus engine start.
    `runtime_per_shard_min` in the registry overrides it once measured.
    """
    entry = config["dgms"][dgm]
    if entry["runtime_per_shard_min"]:
        first = int(entry["runtime_per_shard_min"])
    else:
        per_1000 = PAPER_GEN_GPU_MIN_PER_1000 * max(1.0, _params_b(entry) / 7.0) / max(1, entry["gpus"])
        first = int(30 + config["prompts"]["shard_size"] / 1000 * per_1000)
    return grown(config, entry["gpus"], "runtime", first, attempt)


def generation_gpu_hours(config: Mapping[str, Any], dgm: str) -> float:
    """GPU-hours to answer every prompt row with one DGM (the rate generate_runtime uses, engine starts aside)."""
    weight = max(1.0, _params_b(config["dgms"][dgm]) / 7.0)
    return n_prompt_rows(config["prompts"]) / 1000 * PAPER_GEN_GPU_MIN_PER_1000 * weight / 60


# ---------------------------------------------------------------------------------------------- SFT


def sft_threads(config: Mapping[str, Any]) -> int:
    return config["sft"]["cpus"]


def sft_mem_mb(config: Mapping[str, Any], attempt: int = 1) -> int:
    """Full fine-tuning of an 8B student with FSDP: 64 GB host memory per GPU (checkpoint load and the full
    state dict gathered on rank 0 when saving), 16 GB on CPU."""
    gpus = config["sft"]["gpus"]
    return grown(config, gpus, "mem_mb", gb_to_mb(16 + 64 * gpus), attempt)


def mix_rows_estimate(config: Mapping[str, Any], mix: str) -> int:
    """Rows of a mix before the hold-out, known from config alone (DGM rows = prompt rows; HF sources: their
    known size). An estimate for time limits and costs; the mix manifest has the real count."""
    n = n_prompt_rows(config["prompts"])
    total = 0
    for comp in all_mixes(config)[mix]["components"]:
        if "dgm" in comp:
            size = n
        else:
            src = config["sources"][comp["source"]]
            size = KNOWN_SOURCE_ROWS.get(src["path"], UNKNOWN_SOURCE_ROWS)
        sel = comp["select"]
        if "first_fraction" in sel:
            total += int(sel["first_fraction"] * size)
        else:
            total += min(size, int(sel.get("first_n") or sel.get("random_n")))
    return total


def sft_gpu_hours(config: Mapping[str, Any], mix: str) -> float:
    """GPU-hours of one SFT run, from the paper's ~5.5 h x 4 GPUs per 250k conversations."""
    return PAPER_SFT_GPU_HOURS_PER_250K * mix_rows_estimate(config, mix) / 250_000


def sft_runtime(config: Mapping[str, Any], mix: str, attempt: int = 1) -> int:
    """Minutes: the paper's rate with 25% headroom, plus 30 min for loading and saving. Training resumes from its
    last checkpoint, so a retry continues where the limit stopped it (and a capped limit still makes progress)."""
    gpus = config["sft"]["gpus"]
    first = int(30 + 60 * 1.25 * sft_gpu_hours(config, mix) / max(1, gpus))
    return grown(config, gpus, "runtime", first, attempt)


# ---------------------------------------------------------------------------------------------- evaluation


def eval_gpus(config: Mapping[str, Any], model: str) -> int:
    """GPUs of `model`'s evaluation job: its own (a reference DGM evaluates on the GPUs it generated with)."""
    return int(model_settings(config, model)["gpus"])


def eval_threads(config: Mapping[str, Any], model: str) -> int:
    if config["eval"]["cpus"]:
        return config["eval"]["cpus"]
    gpus = eval_gpus(config, model)
    return CPUS_PER_GPU * gpus if gpus else CPU_JOB_THREADS


def eval_mem_mb(config: Mapping[str, Any], model: str, attempt: int) -> int:
    """An 8B model in bf16 plus lm-eval's datasets: 32 GB per GPU of the model's job and 8 GB for the job."""
    gpus = eval_gpus(config, model)
    return grown(config, gpus, "mem_mb", gb_to_mb(8 + 32 * gpus), attempt)


def eval_gpu_hours(config: Mapping[str, Any], task: str) -> float:
    lm_task = config["eval"]["tasks"][task]["lm_eval_task"]
    return EVAL_TASK_GPU_HOURS.get(lm_task, EVAL_TASK_GPU_HOURS_DEFAULT)


def eval_runtime(config: Mapping[str, Any], model: str, tasks: list[str], attempt: int) -> int:
    """Minutes for one job evaluating `model` on `tasks`: twice our per-task estimates plus 30 min, once, for
    loading the model and the tasks' data."""
    gpus = eval_gpus(config, model)
    first = int(30 + 60 * 2 * sum(eval_gpu_hours(config, t) for t in tasks) / max(1, gpus))
    return grown(config, gpus, "runtime", first, attempt)


def eval_jobs_per_model(config: Mapping[str, Any]) -> int:
    return 1 if config["eval"]["group_tasks"] else len(config["eval"]["tasks"])


# ---------------------------------------------------------------------------------------------- costs


def gpu_hours_by_stage(config: Mapping[str, Any]) -> list[dict]:
    """Estimated GPU-hours of a whole run per stage, from the paper's figures (generation: ~10,000 H100-hours
    for 52 DGMs x 990k conversations; SFT: ~5.5 h x 4 GPUs per 250k conversations) and our evaluation estimate.
    Until measured: compare with benchmarks/ after a run."""
    gen = [d for d in generated_dgms(config) if config["dgms"][d]["gpus"] > 0]
    mixes = list(all_mixes(config))
    n_models = len(models(config))
    tasks = list(config["eval"]["tasks"])
    n_shards = len(shard_names(config["prompts"]))
    sft_on_gpu, eval_on_gpu = config["sft"]["gpus"] > 0, config["eval"]["gpus"] > 0
    rows = [
        {"stage": "generate", "jobs": len(gen) * n_shards,
         "gpu_hours": sum(generation_gpu_hours(config, d) for d in gen),
         "basis": "paper: ~10,000 H100-h for 52 DGMs x 990k conversations, scaled by parameters"},
        {"stage": "sft", "jobs": len(mixes) if sft_on_gpu else 0,
         "gpu_hours": sum(sft_gpu_hours(config, m) for m in mixes) if sft_on_gpu else 0.0,
         "basis": "paper: ~5.5 h x 4 GPUs per 250k conversations"},
        {"stage": "evaluate", "jobs": n_models * eval_jobs_per_model(config) if eval_on_gpu else 0,
         "gpu_hours": n_models * sum(eval_gpu_hours(config, t) for t in tasks) if eval_on_gpu else 0.0,
         "basis": "our estimate: ~1.8 H100-h per 8B model for the 6 leaderboard groups + MBPP"},
    ]
    rows.append({"stage": "total", "jobs": sum(r["jobs"] for r in rows),
                 "gpu_hours": sum(r["gpu_hours"] for r in rows), "basis": ""})
    return rows


def cost_table_markdown(config: Mapping[str, Any]) -> str:
    lines = ["| stage | GPU jobs | GPU-hours (H100) | basis |", "|---|---:|---:|---|"]
    for r in gpu_hours_by_stage(config):
        lines.append(f"| {r['stage']} | {r['jobs']:,} | {r['gpu_hours']:,.0f} | {r['basis']} |")
    return "\n".join(lines)

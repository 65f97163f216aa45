"""Supervised fine-tuning of the student on a mix (paper §4), with TRL's `SFTTrainer`.

Settings: `sft` and `student` as validated (rewild/schemas/config.schema.yaml holds every default, including the
paper recipe under `sft.trl`); nothing here re-defaults them. Pure parts: `derive_accumulation`, `checkpointing`,
`attention_implementation`, `sft_config_kwargs` (the `trl.SFTConfig` arguments), `training_settings` and
`changed_settings` (what a checkpoint's fingerprint covers), `whole_run_train_loss`, `command_for` (the
multi-GPU launch line). `run(...)` trains one student; `launch(...)` is what `scripts/sft.py` calls: in-process for
CPU / one GPU, `accelerate launch` (FSDP) when `sft.gpus > 1`.

Loss covers assistant tokens only: the student's tokenizer gets a chat template with `{% generation %}` markers
(rewild.chat_template: `llama3`, `chatml` or a file), TRL turns them into `assistant_masks`, then labels. The saved
model folder carries the *plain* template (markers removed; it renders identically) for vLLM / lm-eval.

Checkpoints go to `checkpoint_dir`, outside the rule's declared outputs (Snakemake deletes the outputs of a failed
job). `settings.json` there holds the fingerprint of every result-changing setting the checkpoints were made with
(`training_settings`: the sft section less cadence and job size as plan.sft_result_settings cuts it, the student
and its files, the mix's bytes, device, world size, attention kernel, library versions). A restarted job resumes
from the newest complete checkpoint when the fingerprint matches; checkpoints made with other settings are
discarded (logged) and training starts over. Resumes are counted in `resumes.json`; checkpoints are deleted after
success.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import logging
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from . import chat_template as templates
from .io import (
    REPO_ROOT,
    limit_cpu_threads,
    now_iso,
    provenance,
    read_json,
    setup_logging,
    sha256_file,
    stable_hash,
    write_json,
)

log = logging.getLogger("rewild.sft")

RESUMES_FILE = "resumes.json"
SETTINGS_FILE = "settings.json"
ARGS_FILE = "launch_args.json"

# Set by rewild from other config sections; `sft.trl` may not set them.
RESERVED_KEYS: dict[str, str] = {
    "output_dir": "checkpoints go to the rule's checkpoint_dir",
    "per_device_train_batch_size": "set sft.micro_batch",
    "gradient_accumulation_steps": "derived from sft.global_batch / (sft.micro_batch x world size)",
    "use_cpu": "follows sft.gpus",
    "pad_token": "set student.pad_token",
    "eos_token": "set student.eos_token",
    "chat_template_path": "set student.chat_template",
    "resume_from_checkpoint": "resuming is automatic from checkpoint_dir",
    "include_num_input_tokens_seen": "rewild counts tokens itself",
}

_MODEL_FILE_SUFFIXES = (".json", ".safetensors", ".bin", ".model", ".txt", ".jinja")


# --------------------------------------------------------------------------------------------------------------
# Batch arithmetic, device, kernels, SFTConfig
# --------------------------------------------------------------------------------------------------------------


def derive_accumulation(global_batch: int, micro_batch: int, world_size: int) -> int:
    """Gradient-accumulation steps that keep `global_batch` sequences per optimizer step on `world_size` devices."""
    for name, v in (("global_batch", global_batch), ("micro_batch", micro_batch), ("world_size", world_size)):
        if int(v) != v or v < 1:
            raise ValueError(f"{name} must be a positive integer, got {v!r}")
    per_step = micro_batch * world_size
    if global_batch % per_step:
        raise ValueError(
            f"global batch {global_batch} is not divisible by micro batch {micro_batch} x world size {world_size} "
            f"= {per_step}; choose sft.global_batch / sft.micro_batch / sft.gpus so that it is"
        )
    return global_batch // per_step


def require_device(gpus: int) -> str:
    """The device: "cuda" when the job asked for GPUs and CUDA can give them, "cpu" for `sft.gpus: 0`. A GPU job
    without CUDA fails here, before any model or data is loaded (not hours later on CPU)."""
    from .engine import require_device as engine_require_device

    return "cuda" if engine_require_device(gpus, "SFT (sft.gpus)") else "cpu"


def checkpointing(requested: bool, device: str, fsdp: bool) -> tuple[bool, bool]:
    """Who recomputes activations for `sft.trl.gradient_checkpointing`: (the Trainer, FSDP).

    CPU: neither (it costs 1.4x for the small models that train there, and memory is not the limit). One GPU: the
    Trainer (`model.gradient_checkpointing_enable`). FSDP (sft.gpus > 1 with the FSDP accelerate config): FSDP's own
    activation checkpointing, passed to `accelerate launch` as `--fsdp_activation_checkpointing`. Read against
    transformers 5.19 / accelerate 1.15: the Trainer raises when both are on ("can't be set to True simultaneously",
    Trainer.__init__), TrainingArguments warns that the Trainer's variant under FSDP "introduces a redundant
    AllGather in the backward pass" (transformers#30404), and accelerate wraps each auto-wrapped decoder layer in a
    non-reentrant checkpoint_wrapper when its FSDP plugin has activation_checkpointing (Accelerator.prepare_model).
    """
    if device == "cpu" or not requested:
        return False, False
    return (False, True) if fsdp else (True, False)


def attention_implementation(model_init: Mapping[str, Any], device: str, flash_attn_installed: bool) -> str:
    """The attention kernel: `sft.trl.model_init_kwargs.attn_implementation` when set; else FlashAttention-2 on
    GPU where flash-attn is installed (the paper trained with it), PyTorch SDPA otherwise (CPU, no flash-attn)."""
    if model_init.get("attn_implementation"):
        return str(model_init["attn_implementation"])
    return "flash_attention_2" if device == "cuda" and flash_attn_installed else "sdpa"


def sft_config_defaults() -> dict[str, Any]:
    """TRL's own defaults of the SFTConfig fields (for keys the schema leaves to TRL)."""
    from trl import SFTConfig

    return {f.name: f.default for f in dataclasses.fields(SFTConfig) if f.init}


def sft_config_fields() -> set[str]:
    return set(sft_config_defaults())


def check_trl_keys(trl: Mapping[str, Any]) -> None:
    """Unknown `sft.trl` keys (not an SFTConfig field of the installed TRL) and keys rewild sets itself raise."""
    unknown = sorted(k for k in trl if k not in sft_config_fields())
    if unknown:
        raise ValueError(f"sft.trl: unknown SFTConfig key(s) {unknown} (TRL {_version('trl')})")
    reserved = sorted(k for k in trl if k in RESERVED_KEYS)
    if reserved:
        raise ValueError("sft.trl: " + "; ".join(f"{k!r} is set by rewild ({RESERVED_KEYS[k]})" for k in reserved))


def sft_config_kwargs(
    sft: Mapping[str, Any],
    student: Mapping[str, Any],
    output_dir: str | os.PathLike,
    world_size: int,
    device: str,
    *,
    fsdp: bool,
) -> dict[str, Any]:
    """Pure: the `trl.SFTConfig` keyword arguments for the validated `sft.trl` (the paper recipe by default).

    Batch: micro = sft.micro_batch per device, accumulation = derive_accumulation(sft.global_batch, micro,
    world_size). Student: pad/eos tokens. On CPU: use_cpu, no bf16/fp16 (bf16 is ~4x slower than fp32 there).
    Gradient checkpointing: see `checkpointing`. `model_init_kwargs` is not passed on: rewild loads the model
    itself (load_model), with the pinned revision. Unknown and reserved `sft.trl` keys raise ValueError.
    """
    trl = dict(sft["trl"])
    check_trl_keys(trl)
    if device not in ("cpu", "cuda"):
        raise ValueError(f"device must be 'cpu' or 'cuda', got {device!r}")
    micro = sft["micro_batch"]
    accum = derive_accumulation(sft["global_batch"], micro, int(world_size))
    kwargs = {k: v for k, v in trl.items() if k != "model_init_kwargs"}
    on_cpu = device == "cpu"
    kwargs["gradient_checkpointing"] = checkpointing(trl["gradient_checkpointing"], device, fsdp)[0]
    if on_cpu:
        kwargs["bf16"] = False
        kwargs["fp16"] = False
    trl_default = sft_config_defaults()
    padding_free = kwargs.get("padding_free", trl_default["padding_free"]) or (
        kwargs["packing"] and kwargs.get("packing_strategy", trl_default["packing_strategy"]) in ("bfd", "bfd_split")
    )
    kwargs.setdefault("per_device_eval_batch_size", micro)  # derived: the eval batch follows the train micro batch
    kwargs.update(
        output_dir=str(output_dir),
        per_device_train_batch_size=micro,
        gradient_accumulation_steps=accum,
        use_cpu=on_cpu,
        pad_token=student["pad_token"],
        eos_token=student["eos_token"],
        # padding-free batches have no padding at all (and no attention mask to count with)
        include_num_input_tokens_seen="all" if padding_free else "non_padding",
    )
    return kwargs


def model_init_kwargs(sft: Mapping[str, Any], device: str, flash_attn_installed: bool) -> dict[str, Any]:
    """What `from_pretrained` gets besides the revision: `sft.trl.model_init_kwargs`, fp32 master weights unless
    set (bf16 is autocast: mixed precision), the attention kernel."""
    init = dict(sft["trl"].get("model_init_kwargs") or {})  # an optional SFTConfig key: no schema default
    init.setdefault("dtype", "float32")
    init["attn_implementation"] = attention_implementation(init, device, flash_attn_installed)
    return init


def build_sft_config(sft, student, output_dir, world_size, device, *, fsdp: bool):
    """`trl.SFTConfig(**sft_config_kwargs(...))`."""
    from trl import SFTConfig

    return SFTConfig(**sft_config_kwargs(sft, student, output_dir, world_size, device, fsdp=fsdp))


def _version(dist: str) -> str | None:
    from importlib import metadata

    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def flash_attn_installed() -> bool:
    import importlib.util

    return importlib.util.find_spec("flash_attn") is not None


# --------------------------------------------------------------------------------------------------------------
# What a checkpoint was made with
# --------------------------------------------------------------------------------------------------------------


def changed_settings(old: Any, new: Any, prefix: str = "") -> list[str]:
    """Dotted keys whose values differ between two settings trees."""
    if isinstance(old, Mapping) and isinstance(new, Mapping):
        out: list[str] = []
        for k in sorted(set(old) | set(new), key=str):
            out += changed_settings(old.get(k), new.get(k), f"{prefix}{k}.")
        return out
    return [] if old == new else [prefix.rstrip(".") or "<all>"]


def _model_files(path: str) -> dict[str, list[int]] | None:
    p = Path(path)
    if not p.is_dir():
        return None  # a Hub id: its identity is the id and the pinned revision
    return {
        f.name: [f.stat().st_size, f.stat().st_mtime_ns]
        for f in sorted(p.iterdir())
        if f.suffix in _MODEL_FILE_SUFFIXES
    }


def training_settings(
    sft: Mapping[str, Any],
    student: Mapping[str, Any],
    student_path_or_id: str,
    train_path: str | os.PathLike,
    heldout_path: str | os.PathLike | None,
    *,
    device: str,
    world_size: int,
    attn_implementation: str,
) -> dict[str, Any]:
    """Every result-changing setting of one SFT job, as recorded in settings.json and metrics.json."""
    from .plan import sft_result_settings, stage_versions

    template = templates.resolve(student["chat_template"])
    accelerate = None
    if world_size > 1:
        cfg = accelerate_config_path(sft["accelerate_config"])
        accelerate = {"path": str(cfg), "sha256": sha256_file(cfg)}
    return {
        "sft": sft_result_settings(sft),
        "student": dict(student),
        "student_source": student_path_or_id,
        "student_files": _model_files(student_path_or_id),
        "chat_template": template.identity() if template else None,
        "data": {
            "train_sha256": sha256_file(train_path),
            "heldout_sha256": sha256_file(heldout_path) if heldout_path else None,
        },
        "device": device,
        "world_size": world_size,
        "attn_implementation": attn_implementation,
        "accelerate_config": accelerate,
        "libraries": {**stage_versions("sft"), "flash-attn": _version("flash-attn")},
    }


# --------------------------------------------------------------------------------------------------------------
# Checkpoints and resumes
# --------------------------------------------------------------------------------------------------------------

_CKPT = re.compile(r"^checkpoint-(\d+)$")


def complete_checkpoints(checkpoint_dir: str | os.PathLike) -> list[Path]:
    """Checkpoints whose save finished (the Trainer writes trainer_state.json last), oldest first."""
    d = Path(checkpoint_dir)
    if not d.is_dir():
        return []
    found = []
    for p in d.iterdir():
        m = _CKPT.match(p.name)
        if m and p.is_dir() and (p / "trainer_state.json").is_file():
            found.append((int(m.group(1)), p))
    return [p for _, p in sorted(found)]


def latest_checkpoint(checkpoint_dir: str | os.PathLike) -> Path | None:
    done = complete_checkpoints(checkpoint_dir)
    return done[-1] if done else None


def remove_partial_checkpoints(checkpoint_dir: str | os.PathLike) -> list[Path]:
    """A kill during a save leaves a checkpoint without trainer_state.json: drop it before resuming."""
    d = Path(checkpoint_dir)
    if not d.is_dir():
        return []
    complete = set(complete_checkpoints(d))
    removed = [p for p in d.iterdir() if _CKPT.match(p.name) and p.is_dir() and p not in complete]
    for p in removed:
        shutil.rmtree(p, ignore_errors=True)
    return removed


def prepare_checkpoint_dir(checkpoint_dir: str | os.PathLike, settings: Mapping[str, Any]) -> Path | None:
    """Main process, before training: drop partial checkpoints, discard checkpoints made with other settings,
    record the current settings. Returns the checkpoint to resume from (None: train from the start)."""
    d = Path(checkpoint_dir)
    d.mkdir(parents=True, exist_ok=True)
    removed = remove_partial_checkpoints(d)
    if removed:
        log.warning("removed incomplete checkpoints: %s", [p.name for p in removed])
    fingerprint = stable_hash(settings)
    recorded = read_json(d / SETTINGS_FILE) if (d / SETTINGS_FILE).is_file() else None
    done = complete_checkpoints(d)
    if done and (recorded is None or recorded.get("fingerprint") != fingerprint):
        changed = changed_settings(recorded["settings"], settings) if recorded else ["<not recorded>"]
        log.warning(
            "discarding stale checkpoint(s) %s in %s: made with other settings (changed: %s); training from the start",
            [p.name for p in done],
            d,
            ", ".join(changed),
        )
        for p in done:
            shutil.rmtree(p, ignore_errors=True)
        (d / RESUMES_FILE).unlink(missing_ok=True)  # the attempts of that other run are not this run's
        done = []
    write_json(d / SETTINGS_FILE, {"fingerprint": fingerprint, "settings": settings})
    return done[-1] if done else None


def record_attempt(checkpoint_dir: str | os.PathLike, resuming: bool) -> dict[str, Any]:
    """Count this attempt in checkpoint_dir/resumes.json: {resumes, first_started, attempts[]}."""
    path = Path(checkpoint_dir) / RESUMES_FILE
    state = read_json(path) if path.is_file() else {"resumes": 0, "first_started": now_iso(), "attempts": []}
    if resuming:
        state["resumes"] += 1
    state["attempts"].append(now_iso())
    write_json(path, state)
    return state


def clean_checkpoints(checkpoint_dir: str | os.PathLike) -> None:
    d = Path(checkpoint_dir)
    if not d.is_dir():
        return
    for p in d.iterdir():
        if _CKPT.match(p.name) and p.is_dir():
            shutil.rmtree(p, ignore_errors=True)
        elif p.name in (RESUMES_FILE, SETTINGS_FILE, ARGS_FILE, "README.md") and p.is_file():  # README: TRL's card
            p.unlink(missing_ok=True)
    with contextlib.suppress(OSError):
        d.rmdir()  # only if nothing else lives there


# --------------------------------------------------------------------------------------------------------------
# Loss over the whole run
# --------------------------------------------------------------------------------------------------------------


def loss_curve(log_history: list[dict]) -> list[dict[str, Any]]:
    return [
        {"step": int(e["step"]), "loss": float(e["loss"]), "lr": e.get("learning_rate"), "epoch": e.get("epoch")}
        for e in log_history
        if "loss" in e and "step" in e
    ]


def whole_run_train_loss(
    log_history: list[dict], resumed_at: int, attempt_train_loss: float | None, final_step: int
) -> float | None:
    """Mean training loss per optimizer step over the whole run, across resumes.

    The Trainer's `train_loss` covers only the steps of its own `train()` call (resumed_at, final_step]. The steps
    before come from the logged loss windows in the checkpoint's log history (each "loss" is the mean over the steps
    since the previous log); the progress callback logs at every checkpoint step, so those windows tile
    (0, resumed_at] exactly. Without a resume the Trainer's value is returned as is.
    """
    if attempt_train_loss is None:
        return None
    if resumed_at == 0:
        return attempt_train_loss
    covered, total = 0, 0.0
    for point in sorted(loss_curve(log_history), key=lambda p: p["step"]):
        if point["step"] > resumed_at:
            break
        total += point["loss"] * (point["step"] - covered)
        covered = point["step"]
    if covered != resumed_at:
        log.warning("loss log ends at step %d, the resume at %d: train_loss leaves that gap out", covered, resumed_at)
    after = final_step - resumed_at
    steps = covered + after
    return (total + attempt_train_loss * after) / steps if steps else None


# --------------------------------------------------------------------------------------------------------------
# Data, tokenizer, model
# --------------------------------------------------------------------------------------------------------------


def load_messages(path: str | os.PathLike):
    """A mix parquet (`messages`: list<struct<role, content>>) as an in-memory `datasets.Dataset`."""
    import datasets
    import pyarrow.parquet as pq

    table = pq.read_table(path, columns=["messages"])
    return datasets.Dataset(table)


def load_tokenizer(student_path_or_id: str, student: Mapping[str, Any]):
    """The student's tokenizer (pinned revision) with the marked training template; returns (tokenizer, plain)."""
    from transformers import AutoTokenizer

    from .prefetch import ensure_cached

    ensure_cached(student_path_or_id, student["revision"], "model")
    tok = AutoTokenizer.from_pretrained(student_path_or_id, revision=student["revision"])
    template = templates.resolve(student["chat_template"])
    if template is None:
        own = tok.chat_template
        if isinstance(own, dict):
            own = own.get("default")
        if not own:
            raise ValueError(
                f"{student_path_or_id}: the tokenizer has no chat template; set student.chat_template (llama3, chatml "
                "or a .jinja path with {% generation %} markers)"
            )
        # TRL swaps in a marked variant for the templates it knows and errors otherwise.
        return tok, own
    if not template.has_generation_markers:
        raise ValueError(f"student.chat_template {template.source!r} has no {{% generation %}} markers")
    tok.chat_template = template.text
    return tok, template.plain


def load_model(student_path_or_id: str, student: Mapping[str, Any], init: Mapping[str, Any]):
    """The student's weights, read at the pinned revision (config and weights alike).

    rewild loads the model rather than handing TRL the id: TRL 1.16's loader reads `AutoConfig` without the
    revision (trl.trainer.utils.create_model_from_path), so an offline node holding only the pinned snapshot would
    look up `main`. No device map: the Trainer moves the model to its device, and FSDP shards it from CPU (rank 0
    reads the weights when fsdp_cpu_ram_efficient_loading is on).
    """
    import torch
    import transformers
    from transformers import AutoConfig, AutoModelForCausalLM

    kwargs = dict(init)
    if isinstance(kwargs.get("dtype"), str) and kwargs["dtype"] != "auto":
        kwargs["dtype"] = getattr(torch, kwargs["dtype"])
    revision = student["revision"]
    config = AutoConfig.from_pretrained(student_path_or_id, revision=revision)
    arch = getattr(transformers, (config.architectures or [""])[0], None) or AutoModelForCausalLM
    return arch.from_pretrained(student_path_or_id, config=config, revision=revision, **kwargs)


# --------------------------------------------------------------------------------------------------------------
# Progress logging
# --------------------------------------------------------------------------------------------------------------


def _progress_callback():
    from transformers import TrainerCallback

    class ProgressCallback(TrainerCallback):
        """Step, loss, lr and rates at every Trainer log, to the rule's log. Also logs the loss at every checkpoint
        and at the last step, so the log history tiles the run (whole_run_train_loss)."""

        def __init__(self) -> None:
            self.t0 = self.t_last = time.perf_counter()
            self.step_last = self.tok_last = 0
            self.step0 = self.tok0 = 0
            self.delay = float(os.environ.get("REWILD_SFT_STEP_DELAY", "0") or 0)  # tests: widen the kill window

        def on_train_begin(self, args, state, control, **kw):
            self.t0 = self.t_last = time.perf_counter()
            self.step0 = self.step_last = state.global_step
            self.tok0 = self.tok_last = state.num_input_tokens_seen or 0
            if state.is_world_process_zero:
                log.info("training: step %d of %d (resumed at %d)", state.global_step, state.max_steps, self.step0)

        def on_step_end(self, args, state, control, **kw):
            # runs after DefaultFlowCallback has decided this step's save
            if control.should_save or state.global_step >= state.max_steps:
                control.should_log = True
            if self.delay:
                time.sleep(self.delay)
            return control

        def on_epoch_end(self, args, state, control, **kw):
            if control.should_save:
                control.should_log = True
            return control

        def on_log(self, args, state, control, logs=None, **kw):
            if not state.is_world_process_zero or not logs:
                return
            now = time.perf_counter()
            tok = state.num_input_tokens_seen or 0
            if "loss" in logs:
                dt = max(now - self.t_last, 1e-9)
                done = state.global_step - self.step0
                rate = done / max(now - self.t0, 1e-9)
                eta = (state.max_steps - state.global_step) / rate if rate > 0 else float("nan")
                log.info(
                    "step %d/%d loss %.4f lr %.3g | %.3f steps/s %.1f tok/s (window) | %.1f tok/s overall | "
                    "tokens %d | eta %.0fs",
                    state.global_step,
                    state.max_steps,
                    logs["loss"],
                    logs.get("learning_rate", float("nan")),
                    (state.global_step - self.step_last) / dt,
                    (tok - self.tok_last) / dt,
                    (tok - self.tok0) / max(now - self.t0, 1e-9),
                    tok,
                    eta,
                )
                self.t_last, self.step_last, self.tok_last = now, state.global_step, tok
            elif "eval_loss" in logs:
                log.info("eval at step %d: eval_loss %.4f", state.global_step, logs["eval_loss"])

        def on_save(self, args, state, control, **kw):
            if state.is_world_process_zero:
                log.info("checkpoint at step %d", state.global_step)

    return ProgressCallback()


# --------------------------------------------------------------------------------------------------------------
# Training
# --------------------------------------------------------------------------------------------------------------


def _world() -> tuple[int, int]:
    return int(os.environ.get("WORLD_SIZE", "1")), int(os.environ.get("RANK", "0"))


def under_fsdp() -> bool:
    """`accelerate launch` with an FSDP config tells its processes so through the environment."""
    return os.environ.get("ACCELERATE_USE_FSDP", "false").lower() == "true"


def _wait_for_everyone(world_size: int) -> None:
    if world_size > 1:
        from accelerate import PartialState

        PartialState().wait_for_everyone()


def _save_dir_atomically(trainer, tokenizer, plain_template: str, out_dir: Path, is_main: bool) -> None:
    """Save the final HF folder next to `out_dir` and rename it into place (readers never see half a model)."""
    tmp = out_dir.parent / f".{out_dir.name}.partial"
    if is_main:
        shutil.rmtree(tmp, ignore_errors=True)
        out_dir.parent.mkdir(parents=True, exist_ok=True)
    if getattr(trainer, "is_fsdp_enabled", False):
        # Checkpoints may be sharded; the released folder must be one plain state dict for vLLM / lm-eval.
        trainer.accelerator.state.fsdp_plugin.set_state_dict_type("FULL_STATE_DICT")
    trainer.save_model(str(tmp))
    if is_main:
        tokenizer.chat_template = plain_template
        tokenizer.save_pretrained(str(tmp))
        for junk in ("training_args.bin",):
            (tmp / junk).unlink(missing_ok=True)
        if out_dir.exists():
            shutil.rmtree(out_dir)
        os.replace(tmp, out_dir)
    trainer.accelerator.wait_for_everyone()


def run(
    train_path: str | os.PathLike,
    heldout_path: str | os.PathLike | None,
    student_path_or_id: str,
    student: Mapping[str, Any],
    sft: Mapping[str, Any],
    out_dir: str | os.PathLike,
    metrics_path: str | os.PathLike,
    checkpoint_dir: str | os.PathLike,
    config_hash: str | None,
) -> dict[str, Any]:
    """Train the student on one mix; write the HF folder `out_dir` and the metrics JSON. Returns the metrics.

    Logging is the caller's (rewild.job for the rule script, `main` for the processes of `accelerate launch`).
    """
    world_size, rank = _world()
    is_main = rank == 0
    t_start = time.perf_counter()
    started = now_iso()

    device = require_device(sft["gpus"])
    fsdp = world_size > 1 and under_fsdp()
    out_dir, checkpoint_dir = Path(out_dir), Path(checkpoint_dir)
    init = model_init_kwargs(sft, device, flash_attn_installed())
    args = build_sft_config(sft, student, checkpoint_dir, world_size, device, fsdp=fsdp)
    trainer_gc, fsdp_gc = checkpointing(sft["trl"]["gradient_checkpointing"], device, fsdp)
    accum = args.gradient_accumulation_steps
    if world_size == 1 and device == "cuda" and args.n_gpu > 1:
        # transformers would wrap the model in DataParallel and silently multiply the batch
        raise RuntimeError(
            f"{args.n_gpu} GPUs visible to a single-process run (sft.gpus={sft['gpus']}); expose one GPU "
            "(CUDA_VISIBLE_DEVICES) or set sft.gpus to the GPU count so training runs under accelerate launch"
        )
    log.info(
        "SFT %s on %s: device %s, world size %d, micro %d x accum %d x world %d = %d sequences/step, max_length %s, "
        "packing %s, assistant-only %s, attention %s, activation checkpointing %s",
        student_path_or_id,
        train_path,
        device,
        world_size,
        args.per_device_train_batch_size,
        accum,
        world_size,
        args.per_device_train_batch_size * accum * world_size,
        args.max_length,
        args.packing,
        args.assistant_only_loss,
        init["attn_implementation"],
        "FSDP" if fsdp_gc else "Trainer" if trainer_gc else "off",
    )

    tokenizer, plain_template = load_tokenizer(student_path_or_id, student)
    train_ds = load_messages(train_path)
    heldout_ds = load_messages(heldout_path) if heldout_path else None
    if heldout_ds is not None and len(heldout_ds) == 0:
        heldout_ds = None
    log.info("data: %d train conversations, %d held out", len(train_ds), len(heldout_ds) if heldout_ds else 0)

    settings = training_settings(
        sft,
        student,
        student_path_or_id,
        train_path,
        heldout_path,
        device=device,
        world_size=world_size,
        attn_implementation=init["attn_implementation"],
    )
    # Resume bookkeeping on the main process; the others wait, then read the same directory.
    attempts: dict[str, Any] = {"resumes": 0}
    if is_main:
        resume_from = prepare_checkpoint_dir(checkpoint_dir, settings)
        attempts = record_attempt(checkpoint_dir, resume_from is not None)
    _wait_for_everyone(world_size)
    resume_from = latest_checkpoint(checkpoint_dir)
    tokens_before = steps_before = 0
    if resume_from is not None:
        log.warning("resuming from %s (resume #%d)", resume_from, attempts["resumes"])
        ckpt_state = read_json(resume_from / "trainer_state.json")
        tokens_before = int(ckpt_state.get("num_input_tokens_seen") or 0)
        steps_before = int(ckpt_state["global_step"])

    from transformers.trainer_callback import PrinterCallback
    from trl import SFTTrainer

    trainer = SFTTrainer(
        model=load_model(student_path_or_id, student, init),
        args=args,
        train_dataset=train_ds,
        eval_dataset=heldout_ds,
        processing_class=tokenizer,
        callbacks=[_progress_callback()],
    )
    trainer.remove_callback(PrinterCallback)  # with tqdm off it prints every log dict to stdout; we log our own line
    t_train, cpu_train = time.perf_counter(), time.process_time()
    output = trainer.train(resume_from_checkpoint=str(resume_from) if resume_from else None)
    train_seconds = time.perf_counter() - t_train
    train_cpu_seconds = time.process_time() - cpu_train  # all threads of this process: robust to a busy machine
    state = trainer.state

    eval_metrics: dict[str, Any] = {}
    if heldout_ds is not None:
        eval_metrics = trainer.evaluate()
        log.info("held-out eval: %s", {k: round(v, 4) for k, v in eval_metrics.items() if isinstance(v, float)})

    _save_dir_atomically(trainer, tokenizer, plain_template, out_dir, is_main)
    if not is_main:
        return {}

    curve = loss_curve(state.log_history)
    tokens_seen = int(state.num_input_tokens_seen or 0)
    attempt_tokens = tokens_seen - tokens_before
    wall = time.perf_counter() - t_start
    metrics: dict[str, Any] = {
        "student": student_path_or_id,
        "train_path": str(train_path),
        "heldout_path": str(heldout_path) if heldout_path else None,
        "train_conversations": len(train_ds),
        "heldout_conversations": len(heldout_ds) if heldout_ds else 0,
        "loss_curve": curve,
        "final_loss": curve[-1]["loss"] if curve else None,
        "train_loss": whole_run_train_loss(
            state.log_history, steps_before, output.metrics.get("train_loss"), int(state.global_step)
        ),
        "eval_loss": eval_metrics.get("eval_loss"),
        "eval": eval_metrics,
        "tokens_seen": tokens_seen,
        "micro_batch": args.per_device_train_batch_size,
        "grad_accumulation": accum,
        "world_size": world_size,
        "effective_batch": args.per_device_train_batch_size * accum * world_size,
        "optimizer_steps": int(state.global_step),
        "max_steps": int(state.max_steps),
        "epochs": state.epoch,
        "wall_time_s": round(wall, 3),
        "train_time_s": round(train_seconds, 3),
        "train_cpu_s": round(train_cpu_seconds, 3),
        "steps_per_s": None,
        "tokens_per_s": None,
        "resumes": int(attempts["resumes"]),
        "resumed_from": resume_from.name if resume_from else None,
        "device": device,
        "attn_implementation": init["attn_implementation"],
        "activation_checkpointing": {"trainer": trainer_gc, "fsdp": fsdp_gc},
        "chat_template": student["chat_template"],
        # same digest as lm-eval's chat_template_sha / rewild.evaluate.chat_template_hash of the saved template
        "chat_template_sha256": templates.text_sha256(plain_template),
        "sft_config": _config_summary(args),
        "model_init_kwargs": init,
        "settings": settings,  # what the run was made with, all attempts (settings.json guards the checkpoints)
        "settings_fingerprint": stable_hash(settings),
        "peak_rss_mb": _peak_rss(),
    }
    steps_this_attempt = int(state.global_step) - steps_before
    if train_seconds > 0:
        metrics["steps_per_s"] = round(steps_this_attempt / train_seconds, 4)
        metrics["tokens_per_s"] = round(attempt_tokens / train_seconds, 2)
    metrics["provenance"] = provenance(
        config_hash=config_hash,
        seeds={"seed": args.seed, "data_seed": args.data_seed, "split_seed": sft["split_seed"]},
        world_size=world_size,
        resumes=int(attempts["resumes"]),
        started=attempts["first_started"],
        attempt_started=started,
    )
    write_json(metrics_path, metrics)
    log.info(
        "done: %d optimizer steps, %d tokens, final loss %s, train loss %s, eval loss %s, %.1fs (%s tok/s), resumes %d",
        metrics["optimizer_steps"],
        tokens_seen,
        metrics["final_loss"],
        metrics["train_loss"],
        metrics["eval_loss"],
        wall,
        metrics["tokens_per_s"],
        metrics["resumes"],
    )
    clean_checkpoints(checkpoint_dir)
    return metrics


def _peak_rss() -> float:
    from rewild.io import peak_rss_mb

    return round(peak_rss_mb(), 1)


_SUMMARY_KEYS = (
    "learning_rate",
    "lr_scheduler_type",
    "warmup_steps",
    "weight_decay",
    "optim",
    "num_train_epochs",
    "max_steps",
    "max_length",
    "packing",
    "packing_strategy",
    "padding_free",
    "assistant_only_loss",
    "bf16",
    "fp16",
    "gradient_checkpointing",
    "seed",
    "data_seed",
    "logging_steps",
    "save_steps",
    "save_total_limit",
    "per_device_train_batch_size",
    "gradient_accumulation_steps",
    "use_cpu",
    "pad_token",
    "eos_token",
    "loss_type",
    "max_grad_norm",
    "adam_beta1",
    "adam_beta2",
    "adam_epsilon",
)


def _config_summary(args) -> dict[str, Any]:
    out = {}
    for k in _SUMMARY_KEYS:
        v = getattr(args, k, None)
        out[k] = v if isinstance(v, (int, float, str, bool, type(None), dict, list)) else str(v)
    return out


# --------------------------------------------------------------------------------------------------------------
# Launching: in-process, or `accelerate launch` for multi-GPU FSDP
# --------------------------------------------------------------------------------------------------------------


def accelerate_config_path(configured: str) -> Path:
    """`sft.accelerate_config`: relative to the working directory, else to the repository (the shipped configs)."""
    p = Path(configured)
    if not p.is_absolute() and not p.exists() and (REPO_ROOT / p).exists():
        p = REPO_ROOT / p
    return p


def uses_fsdp(accelerate_config: Path) -> bool:
    import yaml

    return yaml.safe_load(accelerate_config.read_text()).get("distributed_type") == "FSDP"


def command_for(sft: Mapping[str, Any], args_file: str | os.PathLike, python: str = sys.executable) -> list[str]:
    """The command that runs one SFT job for `sft.gpus` devices.

    gpus <= 1: `python -m rewild.sft --args-file F` (one process). gpus > 1: `python -m accelerate.commands.launch
    --config_file <sft.accelerate_config> --num_processes <gpus> --num_machines 1 [--fsdp_activation_checkpointing
    true|false] -m rewild.sft --args-file F`: one process per GPU, FSDP full-shard with CPU offload; each process
    reads the same args file. Under FSDP the activation checkpointing flag follows sft.trl.gradient_checkpointing
    (see `checkpointing`; the command line wins over the accelerate config file).
    """
    gpus = sft["gpus"]
    tail = ["-m", "rewild.sft", "--args-file", str(args_file)]
    if gpus <= 1:
        return [python, *tail]
    cfg = accelerate_config_path(sft["accelerate_config"])
    cmd = [
        python,
        "-m",
        "accelerate.commands.launch",
        "--config_file",
        str(cfg),
        "--num_processes",
        str(gpus),
        "--num_machines",
        "1",
    ]
    if uses_fsdp(cfg):
        fsdp_gc = checkpointing(sft["trl"]["gradient_checkpointing"], "cuda", fsdp=True)[1]
        cmd += ["--fsdp_activation_checkpointing", str(fsdp_gc).lower()]
    return [*cmd, *tail]


def limit_threads(threads: int, sft: Mapping[str, Any]) -> int:
    """The job's CPU threads shared by its training processes (one per GPU under `accelerate launch`)."""
    return limit_cpu_threads(max(1, int(threads) // max(1, sft["gpus"])))


def launch(run_kwargs: Mapping[str, Any], log_path: str | None, log_level: str) -> None:
    """What the rule script runs (logging set up by rewild.job): `run` in-process for CPU / one GPU; for
    `sft.gpus > 1`, `accelerate launch` of `python -m rewild.sft` with the same arguments, logging to the same file."""
    sft = run_kwargs["sft"]
    if sft["gpus"] <= 1:
        run(**run_kwargs)
        return
    require_device(sft["gpus"])  # before starting one process per GPU
    ckpt = Path(run_kwargs["checkpoint_dir"])
    ckpt.mkdir(parents=True, exist_ok=True)
    args_file = ckpt / ARGS_FILE
    plain = {k: (str(v) if isinstance(v, Path) else v) for k, v in run_kwargs.items()}
    write_json(args_file, {"run": plain, "log_path": log_path, "log_level": log_level})
    cmd = command_for(sft, args_file)
    log.info("launching: %s", " ".join(cmd))
    subprocess.run(cmd, check=True)


def main(argv: list[str] | None = None) -> None:
    """One training process (`python -m rewild.sft --args-file F`): sets up its own logging, then `run`."""
    parser = argparse.ArgumentParser(description="rewild SFT (one student on one mix)")
    parser.add_argument("--args-file", required=True, help="JSON: {run: rewild.sft.run kwargs, log_path, log_level}")
    ns = parser.parse_args(argv)
    spec = json.loads(Path(ns.args_file).read_text())
    is_main = _world()[1] == 0
    setup_logging(spec["log_path"] if is_main else None, spec["log_level"] if is_main else "WARNING")
    run(**spec["run"])


if __name__ == "__main__":
    main()

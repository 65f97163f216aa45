"""Supervised fine-tuning of the student on a mix (paper §4), with TRL's `SFTTrainer`.

Pure parts: template resolution, `derive_accumulation`, `build_sft_config` (paper recipe + `sft.trl` overrides),
checkpoint bookkeeping, `command_for` (multi-GPU launch line). `run(...)` trains one student; `launch(...)` is what
`scripts/sft.py` calls: in-process for CPU / one GPU, `accelerate launch` (FSDP) when `sft.gpus > 1`.

Loss covers assistant tokens only: the student's tokenizer gets a chat template with `{% generation %}` markers
(`rewild/templates/{llama3,chatml}.jinja`), TRL turns them into `assistant_masks`, then labels. The saved model
folder carries the *plain* template (markers removed; it renders identically) for vLLM / lm-eval.

Checkpoints go to `checkpoint_dir`, outside the rule's declared outputs (Snakemake deletes the outputs of a failed
job); a restarted job resumes from the newest complete checkpoint and counts the resume in
`checkpoint_dir/resumes.json`. Checkpoints are deleted after success.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import logging
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Mapping

from rewild.io import limit_cpu_threads, now_iso, provenance, read_json, setup_logging, write_json

log = logging.getLogger("rewild.sft")

TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"
REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_ACCELERATE_CONFIG = "config/accelerate/fsdp_llama8b.yaml"
RESUMES_FILE = "resumes.json"
ARGS_FILE = "launch_args.json"

# Paper §4 (Axolotl recipe) in SFTConfig terms. Anything here can be overridden through `sft.trl`.
PAPER_RECIPE: dict[str, Any] = {
    "learning_rate": 2e-5,
    "lr_scheduler_type": "cosine",
    "warmup_steps": 100,
    "weight_decay": 0.0,
    # optim: transformers' default AdamW (adamw_torch_fused): the paper's AdamW, one fused kernel
    "num_train_epochs": 1,
    "max_length": 8192,
    "packing": True,
    "assistant_only_loss": True,
    "bf16": True,
    "gradient_checkpointing": True,
    "seed": 42,
    "logging_steps": 10,
    "logging_first_step": True,
    "save_strategy": "steps",
    "save_steps": 100,  # a 250k-conversation run is several hundred steps (estimate): a few checkpoints per run
    "save_total_limit": 2,
    "eval_strategy": "no",
    "report_to": "none",
    "disable_tqdm": True,
}

# Set by rewild from other config sections; `sft.trl` may not set them.
RESERVED_KEYS: dict[str, str] = {
    "output_dir": "checkpoints go to the rule's checkpoint_dir",
    "per_device_train_batch_size": "set sft.micro_batch",
    "gradient_accumulation_steps": "derived from sft.global_batch / (sft.micro_batch x world size)",
    "use_cpu": "follows sft.gpus and the machine",
    "pad_token": "set student.pad_token",
    "eos_token": "set student.eos_token",
    "chat_template_path": "set student.chat_template",
    "resume_from_checkpoint": "resuming is automatic from checkpoint_dir",
    "include_num_input_tokens_seen": "rewild counts tokens itself",
}


# --------------------------------------------------------------------------------------------------------------
# Chat templates
# --------------------------------------------------------------------------------------------------------------

_GEN_TAG = re.compile(r"\{%-?\s*(?:end)?generation\s*-?%\}")
# A marker alone on its line: transformers renders templates with trim_blocks + lstrip_blocks, so the line's
# indentation and newline never reach the output and the whole line can go.
_GEN_LINE = re.compile(r"^[ \t]*\{%-?\s*(?:end)?generation\s*-?%\}[ \t]*\n", re.MULTILINE)


def has_generation_markers(template: str) -> bool:
    return re.search(r"\{%-?\s*generation\s*-?%\}", template) is not None


def strip_generation_markers(template: str) -> str:
    """The inference template: the training template without `{% generation %}` / `{% endgeneration %}` tags.

    The shipped templates use left-trimming tags everywhere, so removing the markers does not change the rendering
    (tests check this); vLLM and lm-eval then see a plain Jinja template.
    """
    return _GEN_TAG.sub("", _GEN_LINE.sub("", template))


def resolve_chat_template(name_or_path: str | None) -> str | None:
    """`llama3` / `chatml` (packaged, with markers), a path to a .jinja file, or None (the tokenizer's own)."""
    if name_or_path is None:
        return None
    packaged = TEMPLATES_DIR / f"{name_or_path}.jinja"
    if "/" not in name_or_path and packaged.is_file():
        return packaged.read_text(encoding="utf-8")
    path = Path(name_or_path)
    if not path.is_file() and not path.is_absolute() and (REPO_ROOT / path).is_file():
        path = REPO_ROOT / path
    if not path.is_file():
        known = sorted(p.stem for p in TEMPLATES_DIR.glob("*.jinja"))
        raise FileNotFoundError(
            f"student.chat_template {name_or_path!r}: neither a packaged template {known} nor a file"
        )
    return path.read_text(encoding="utf-8")


# --------------------------------------------------------------------------------------------------------------
# Batch arithmetic and SFTConfig
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


def sft_config_fields() -> set[str]:
    from trl import SFTConfig

    return {f.name for f in dataclasses.fields(SFTConfig) if f.init}


def sft_config_kwargs(
    sft: Mapping[str, Any],
    student: Mapping[str, Any],
    output_dir: str | os.PathLike,
    world_size: int,
    device: str,
) -> dict[str, Any]:
    """Pure: the `trl.SFTConfig` keyword arguments for the paper recipe + `sft.trl` overrides (see build_sft_config)."""
    overrides = dict(sft.get("trl") or {})
    fields = sft_config_fields()
    unknown = sorted(k for k in overrides if k not in fields)
    if unknown:
        raise ValueError(f"sft.trl: unknown SFTConfig key(s) {unknown} (TRL {_version('trl')})")
    reserved = sorted(k for k in overrides if k in RESERVED_KEYS)
    if reserved:
        raise ValueError("sft.trl: " + "; ".join(f"{k!r} is set by rewild ({RESERVED_KEYS[k]})" for k in reserved))
    if device not in ("cpu", "cuda"):
        raise ValueError(f"device must be 'cpu' or 'cuda', got {device!r}")

    micro = int(sft.get("micro_batch", 2))
    accum = derive_accumulation(int(sft.get("global_batch", 64)), micro, int(world_size))
    kwargs: dict[str, Any] = {**PAPER_RECIPE, **overrides}

    on_cpu = device == "cpu"
    model_init = dict(kwargs.pop("model_init_kwargs", None) or {})
    model_init.setdefault("dtype", "float32")  # fp32 master weights; bf16 is autocast (mixed precision)
    if student.get("revision"):
        model_init.setdefault("revision", student["revision"])
    if not on_cpu and "attn_implementation" not in model_init and _has_module("flash_attn"):
        model_init["attn_implementation"] = "flash_attention_2"  # the paper trained with flash attention
    if on_cpu:
        # bf16 is ~4x slower than fp32 on CPU, and checkpointing costs 1.4x for the small models that train here.
        kwargs["bf16"] = False
        kwargs["fp16"] = False
        kwargs["gradient_checkpointing"] = False

    padding_free = bool(kwargs.get("padding_free")) or (
        bool(kwargs.get("packing")) and kwargs.get("packing_strategy", "bfd") in ("bfd", "bfd_split")
    )
    kwargs.setdefault("per_device_eval_batch_size", micro)
    kwargs.update(
        output_dir=str(output_dir),
        per_device_train_batch_size=micro,
        gradient_accumulation_steps=accum,
        use_cpu=on_cpu,
        pad_token=student.get("pad_token"),
        eos_token=student.get("eos_token"),
        model_init_kwargs=model_init,
        # padding-free batches have no padding at all (and no attention mask to count with)
        include_num_input_tokens_seen="all" if padding_free else "non_padding",
    )
    return kwargs


def build_sft_config(
    sft: Mapping[str, Any],
    student: Mapping[str, Any],
    output_dir: str | os.PathLike,
    world_size: int,
    device: str,
):
    """Map the paper recipe (PAPER_RECIPE) + any `sft.trl` SFTConfig key onto a `trl.SFTConfig`.

    Batch: micro = sft.micro_batch per device, accumulation = derive_accumulation(sft.global_batch, micro,
    world_size). Student: pad/eos tokens, revision (model_init_kwargs). `device` is "cpu" or "cuda"; on CPU:
    use_cpu=True, bf16=False and gradient checkpointing off. Unknown `sft.trl` keys and keys rewild sets itself
    (RESERVED_KEYS) raise ValueError naming them.
    """
    from trl import SFTConfig

    return SFTConfig(**sft_config_kwargs(sft, student, output_dir, world_size, device))


def _version(dist: str) -> str | None:
    from importlib import metadata

    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def _has_module(name: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(name) is not None


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


def record_attempt(checkpoint_dir: str | os.PathLike, resuming: bool) -> dict[str, Any]:
    """Count this attempt in checkpoint_dir/resumes.json: {resumes, first_started, attempts[]}."""
    path = Path(checkpoint_dir) / RESUMES_FILE
    state = read_json(path) if path.is_file() else {"resumes": 0, "first_started": now_iso(), "attempts": []}
    if resuming:
        state["resumes"] = int(state.get("resumes", 0)) + 1
    state.setdefault("attempts", []).append(now_iso())
    write_json(path, state)
    return state


def clean_checkpoints(checkpoint_dir: str | os.PathLike) -> None:
    d = Path(checkpoint_dir)
    if not d.is_dir():
        return
    for p in d.iterdir():
        if _CKPT.match(p.name) and p.is_dir():
            shutil.rmtree(p, ignore_errors=True)
        elif p.name in (RESUMES_FILE, ARGS_FILE, "README.md") and p.is_file():  # README.md: TRL's model card
            p.unlink(missing_ok=True)
    try:
        d.rmdir()  # only if nothing else lives there
    except OSError:
        pass


# --------------------------------------------------------------------------------------------------------------
# Data, tokenizer
# --------------------------------------------------------------------------------------------------------------


def load_messages(path: str | os.PathLike):
    """A mix parquet (`messages`: list<struct<role, content>>) as an in-memory `datasets.Dataset`."""
    import datasets
    import pyarrow.parquet as pq

    table = pq.read_table(path, columns=["messages"])
    return datasets.Dataset(table)


def load_tokenizer(student_path_or_id: str, student: Mapping[str, Any]):
    """The student's tokenizer with the marked training template; returns (tokenizer, plain_template)."""
    from transformers import AutoTokenizer

    from .prefetch import ensure_cached

    ensure_cached(student_path_or_id, student.get("revision"), "model")
    tok = AutoTokenizer.from_pretrained(student_path_or_id, revision=student.get("revision"))
    marked = resolve_chat_template(student.get("chat_template"))
    if marked is None:
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
    if not has_generation_markers(marked):
        raise ValueError(f"student.chat_template {student.get('chat_template')!r} has no {{% generation %}} markers")
    tok.chat_template = marked
    return tok, strip_generation_markers(marked)


# --------------------------------------------------------------------------------------------------------------
# Progress logging
# --------------------------------------------------------------------------------------------------------------


def _progress_callback():
    from transformers import TrainerCallback

    class ProgressCallback(TrainerCallback):
        """Step, loss, lr and rates (optimizer steps/s, input tokens/s) at every Trainer log, to the rule's log."""

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
            if self.delay:
                time.sleep(self.delay)

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


def loss_curve(log_history: list[dict]) -> list[dict[str, Any]]:
    return [
        {"step": int(e["step"]), "loss": float(e["loss"]), "lr": e.get("learning_rate"), "epoch": e.get("epoch")}
        for e in log_history
        if "loss" in e and "step" in e
    ]


def _world() -> tuple[int, int]:
    return int(os.environ.get("WORLD_SIZE", "1")), int(os.environ.get("RANK", "0"))


def _device(sft: Mapping[str, Any]) -> str:
    import torch

    if int(sft.get("gpus", 0)) > 0:
        if torch.cuda.is_available():
            return "cuda"
        log.warning("sft.gpus=%s but no CUDA device is visible: training on CPU", sft.get("gpus"))
    return "cpu"


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
    log_path: str | os.PathLike | None,
) -> dict[str, Any]:
    """Train the student on one mix; write the HF folder `out_dir` and the metrics JSON. Returns the metrics."""
    world_size, rank = _world()
    is_main = rank == 0
    setup_logging(log_path if is_main else None, "INFO" if is_main else "WARNING")
    t_start = time.perf_counter()
    started = now_iso()

    from trl import SFTTrainer

    out_dir, checkpoint_dir = Path(out_dir), Path(checkpoint_dir)
    device = _device(sft)
    args = build_sft_config(sft, student, checkpoint_dir, world_size, device)
    accum = args.gradient_accumulation_steps
    if world_size == 1 and device == "cuda" and args.n_gpu > 1:
        # transformers would wrap the model in DataParallel and silently multiply the batch
        raise RuntimeError(
            f"{args.n_gpu} GPUs visible to a single-process run (sft.gpus={sft.get('gpus')}); expose one GPU "
            "(CUDA_VISIBLE_DEVICES) or set sft.gpus to the GPU count so training runs under accelerate launch"
        )
    log.info(
        "SFT %s on %s: device %s, world size %d, micro %d x accum %d x world %d = %d sequences/step, max_length %s, "
        "packing %s, assistant-only %s",
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
    )

    tokenizer, plain_template = load_tokenizer(student_path_or_id, student)
    train_ds = load_messages(train_path)
    heldout_ds = load_messages(heldout_path) if heldout_path else None
    if heldout_ds is not None and len(heldout_ds) == 0:
        heldout_ds = None
    log.info("data: %d train conversations, %d held out", len(train_ds), len(heldout_ds) if heldout_ds else 0)

    # Resume bookkeeping (main process only; the others read the same directory).
    resume_from = None
    if is_main:
        checkpoint_dir.mkdir(parents=True, exist_ok=True)
        removed = remove_partial_checkpoints(checkpoint_dir)
        if removed:
            log.warning("removed incomplete checkpoints: %s", [p.name for p in removed])
    resume_from = latest_checkpoint(checkpoint_dir)
    attempts = record_attempt(checkpoint_dir, resume_from is not None) if is_main else {"resumes": 0}
    tokens_before = steps_before = 0
    if resume_from is not None:
        log.warning("resuming from %s (resume #%d)", resume_from, attempts["resumes"])
        ckpt_state = read_json(resume_from / "trainer_state.json")
        tokens_before = int(ckpt_state.get("num_input_tokens_seen") or 0)
        steps_before = int(ckpt_state.get("global_step") or 0)

    trainer = SFTTrainer(
        model=student_path_or_id,
        args=args,
        train_dataset=train_ds,
        eval_dataset=heldout_ds,
        processing_class=tokenizer,
        callbacks=[_progress_callback()],
    )
    from transformers.trainer_callback import PrinterCallback

    trainer.remove_callback(PrinterCallback)  # with tqdm off it prints every log dict to stdout; we log our own line
    t_train, cpu_train = time.perf_counter(), time.process_time()
    trainer.train(resume_from_checkpoint=str(resume_from) if resume_from else None)
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
    summary = next((e for e in reversed(state.log_history) if "train_runtime" in e), {})
    metrics: dict[str, Any] = {
        "student": student_path_or_id,
        "train_path": str(train_path),
        "heldout_path": str(heldout_path) if heldout_path else None,
        "train_conversations": len(train_ds),
        "heldout_conversations": len(heldout_ds) if heldout_ds else 0,
        "loss_curve": curve,
        "final_loss": curve[-1]["loss"] if curve else None,
        "train_loss": summary.get("train_loss"),
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
        "chat_template": student.get("chat_template"),
        # same digest as lm-eval's chat_template_sha / rewild.evaluate.chat_template_hash of the saved template
        "chat_template_sha256": hashlib.sha256(plain_template.encode("utf-8")).hexdigest(),
        "sft_config": _config_summary(args),
        "peak_rss_mb": _peak_rss(),
    }
    steps_this_attempt = int(state.global_step) - steps_before
    if train_seconds > 0:
        metrics["steps_per_s"] = round(steps_this_attempt / train_seconds, 4)
        metrics["tokens_per_s"] = round(attempt_tokens / train_seconds, 2)
    metrics["provenance"] = provenance(
        config_hash=config_hash,
        seeds={"seed": args.seed, "data_seed": args.data_seed, "split_seed": sft.get("split_seed")},
        world_size=world_size,
        resumes=int(attempts["resumes"]),
        started=attempts.get("first_started", started),
        attempt_started=started,
    )
    write_json(metrics_path, metrics)
    log.info(
        "done: %d optimizer steps, %d tokens, final loss %s, eval loss %s, %.1fs (%s tok/s), resumes %d",
        metrics["optimizer_steps"],
        tokens_seen,
        metrics["final_loss"],
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
    "model_init_kwargs",
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


def accelerate_config_path(sft: Mapping[str, Any]) -> Path:
    p = Path(sft.get("accelerate_config") or DEFAULT_ACCELERATE_CONFIG)
    if not p.is_absolute() and not p.exists() and (REPO_ROOT / p).exists():
        p = REPO_ROOT / p
    return p


def command_for(sft: Mapping[str, Any], args_file: str | os.PathLike, python: str = sys.executable) -> list[str]:
    """The command that runs one SFT job for `sft.gpus` devices.

    gpus <= 1: `python -m rewild.sft --args-file F` (one process). gpus > 1: `python -m accelerate.commands.launch
    --config_file <sft.accelerate_config or config/accelerate/fsdp_llama8b.yaml> --num_processes <gpus> -m rewild.sft
    --args-file F`: one process per GPU, FSDP full-shard with CPU offload; each process reads the same args file
    (the `run(...)` keyword arguments as JSON).
    """
    gpus = int(sft.get("gpus", 0))
    tail = ["-m", "rewild.sft", "--args-file", str(args_file)]
    if gpus <= 1:
        return [python, *tail]
    cfg = accelerate_config_path(sft)
    return [
        python,
        "-m",
        "accelerate.commands.launch",
        "--config_file",
        str(cfg),
        "--num_processes",
        str(gpus),
        "--num_machines",
        "1",
        *tail,
    ]


def limit_threads(threads: int, sft: Mapping[str, Any]) -> int:
    """The job's CPU threads shared by its training processes (one per GPU under `accelerate launch`)."""
    return limit_cpu_threads(max(1, int(threads) // max(1, int(sft.get("gpus", 0) or 0))))


def launch(**kwargs: Any) -> None:
    """What the Snakemake rule runs: in-process for CPU / one GPU; `accelerate launch` when `sft.gpus > 1`."""
    sft = kwargs["sft"]
    if int(sft.get("gpus", 0)) <= 1:
        run(**kwargs)
        return
    ckpt = Path(kwargs["checkpoint_dir"])
    ckpt.mkdir(parents=True, exist_ok=True)
    args_file = ckpt / ARGS_FILE
    write_json(args_file, {k: (str(v) if isinstance(v, Path) else v) for k, v in kwargs.items()})
    cmd = command_for(sft, args_file)
    setup_logging(kwargs.get("log_path"))
    log.info("launching: %s", " ".join(cmd))
    subprocess.run(cmd, check=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="rewild SFT (one student on one mix)")
    parser.add_argument("--args-file", required=True, help="JSON object of rewild.sft.run keyword arguments")
    ns = parser.parse_args(argv)
    kwargs = json.loads(Path(ns.args_file).read_text())
    run(**kwargs)


if __name__ == "__main__":
    main()

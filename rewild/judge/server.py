"""A local judge: vLLM's OpenAI-compatible API server for the duration of one job, and `endpoint`, the judge a
job talks to (an external `base_url`, or a server started here from `eval.judge.serve_local`).

The paper's judge was gpt-4o-mini-2024-07-18 (an API model that changes or disappears); an open judge served by
vLLM from a pinned folder/revision keeps the reproduction free of API drift and of cost.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rewild import engine

from .client import JudgeClient, JudgeError, TokenLedger, VerdictCache, cached_chat

log = logging.getLogger("rewild.judge")

LOCALHOST = "127.0.0.1"
DEFAULT_SERVED_NAME = "judge"  # served name when neither serve_local.served_model_name nor eval.judge.model is set
MAX_LOGPROBS = 20  # the most top logprobs a request may ask for (the schema's sdq_top_logprobs maximum)


def free_port(host: str = LOCALHOST) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def server_command(
    model: str,
    *,
    port: int,
    served_model_name: str,
    max_model_len: int,
    dtype: str,
    gpus: int,
    on_gpu: bool,
    revision: str | None,
    seed: int,
    extra_args: Sequence[str],
    host: str = LOCALHOST,
) -> list[str]:
    cmd = [
        sys.executable, "-m", "vllm.entrypoints.openai.api_server",
        "--model", str(model),
        "--served-model-name", served_model_name,
        "--host", host,
        "--port", str(port),
        "--max-model-len", str(int(max_model_len)),
        "--dtype", dtype if on_gpu else "float32",  # bf16 is ~4x slower on CPU (stack facts)
        "--seed", str(int(seed)),
        "--max-logprobs", str(MAX_LOGPROBS),
        "--uvicorn-log-level", "warning",
        "--disable-uvicorn-access-log",
    ]  # fmt: skip
    if revision:
        cmd += ["--revision", revision]
    if on_gpu and gpus > 1:
        cmd += ["--tensor-parallel-size", str(int(gpus))]
    return cmd + [str(a) for a in extra_args]


def _set_pdeathsig() -> None:  # pragma: no cover - runs in the child
    """Linux: the server gets SIGTERM if the job process dies (even by SIGKILL): no orphaned judge."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except Exception:
        pass


def _healthy(base: str, timeout: float = 5.0) -> bool:
    try:
        with urllib.request.urlopen(base + "/health", timeout=timeout) as resp:
            return resp.status == 200
    except Exception:
        return False


def _tail(path: Path, n: int = 3000) -> str:
    if not path.exists():
        return ""
    return path.read_bytes()[-n:].decode("utf-8", "replace")


def _stop(proc: subprocess.Popen, grace_s: float = 30.0) -> None:
    """SIGTERM the API server (it shuts its engine core down), then SIGKILL whatever is left of its process group
    (its own session): after `grace_s` the server itself, in any case a stray engine process."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=grace_s)
        except subprocess.TimeoutExpired:
            log.warning("judge server did not stop in %.0f s: SIGKILL", grace_s)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=30)


def on_gpu(gpus: int) -> bool:
    """True when the judge is served on GPUs. A judge that asks for GPUs where CUDA cannot give them fails here
    (engine.DeviceError), before the server starts, instead of serving a large judge on CPU until the time limit."""
    return engine.require_device(gpus, "the local judge server (eval.judge.serve_local.gpus)")


@contextlib.contextmanager
def serve_local(
    model: str | os.PathLike,
    *,
    served_model_name: str,
    max_model_len: int,
    dtype: str,
    gpus: int,
    revision: str | None,
    startup_timeout_s: float,
    extra_args: Sequence[str],
    seed: int,
    cache_dir: str | os.PathLike,
    server_log: str | os.PathLike | None,
    api_key_env: str | None,
    host: str = LOCALHOST,
) -> Iterator[str]:
    """Start vLLM's OpenAI-compatible server for `model` on a free localhost port; yield its base_url (…/v1).

    CPU (gpus 0): the single-process vLLM env of the engine layer (KV cache 1 GiB, no compile) and float32. The
    server's stdout/stderr are appended to `server_log` (the rule's log; else a file in `cache_dir`). Startup is
    bounded by `startup_timeout_s`; on exit (normal, exception or SIGTERM from Snakemake) the server's whole process
    group is terminated.
    """
    gpu = on_gpu(gpus)
    engine.configure_vllm_env(cache_dir, gpu)  # sets os.environ (values already set win); the child inherits it
    env = dict(os.environ)
    if api_key_env:
        env.pop(api_key_env, None)  # the local server needs no key: it never sees (or logs) the judge key
    port = free_port(host)
    cmd = server_command(
        str(model),
        port=port,
        host=host,
        served_model_name=served_model_name,
        max_model_len=max_model_len,
        dtype=dtype,
        gpus=int(gpus),
        on_gpu=gpu,
        revision=revision,
        seed=seed,
        extra_args=extra_args,
    )
    base = f"http://{host}:{port}"
    log_file = Path(server_log) if server_log else Path(cache_dir) / "judge-server.log"
    log_file.parent.mkdir(parents=True, exist_ok=True)
    log.info("starting judge server: %s", " ".join(cmd))
    out = open(log_file, "ab")  # noqa: SIM115 (the server writes to it until the finally below closes it)
    proc = subprocess.Popen(
        cmd, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True, preexec_fn=_set_pdeathsig
    )
    # Snakemake stops a job with SIGTERM: turn it into SystemExit so the `finally` below stops the server.
    old_handler = None
    if threading.current_thread() is threading.main_thread():
        old_handler = signal.getsignal(signal.SIGTERM)

        def _on_term(signum, frame):
            raise SystemExit(128 + signum)

        signal.signal(signal.SIGTERM, _on_term)
    try:
        t0 = time.perf_counter()
        while True:
            if proc.poll() is not None:
                raise JudgeError(
                    f"judge server exited with code {proc.returncode} during startup; log tail:\n{_tail(log_file)}"
                )
            if _healthy(base):
                break
            if time.perf_counter() - t0 > startup_timeout_s:
                raise JudgeError(
                    f"judge server not ready after {startup_timeout_s:.0f} s (serve_local.startup_timeout_s); "
                    f"log tail:\n{_tail(log_file)}"
                )
            time.sleep(1.0)
        log.info(
            "judge server %s up in %.1f s at %s (pid %d)", served_model_name, time.perf_counter() - t0, base, proc.pid
        )
        yield base + "/v1"
    finally:
        _stop(proc)
        out.close()
        if old_handler is not None:
            signal.signal(signal.SIGTERM, old_handler)
        log.info("judge server stopped")


def served_name(settings: Mapping[str, Any]) -> str:
    """The name a local judge is served under: serve_local.served_model_name, else eval.judge.model, else judge."""
    return settings["serve_local"]["served_model_name"] or settings["model"] or DEFAULT_SERVED_NAME


def started_server(
    settings: Mapping[str, Any],
    *,
    server_model: str | None,
    cache_dir: str | os.PathLike,
    server_log: str | os.PathLike | None,
) -> contextlib.AbstractContextManager[str]:
    """The serve_local judge of `settings` (validated `eval.judge`), started for a `with` block that gets its URL;
    `server_model` is the folder a rule built for it, else serve_local.model as given."""
    serve = settings["serve_local"]
    return serve_local(
        server_model or serve["model"],
        served_model_name=served_name(settings),
        max_model_len=int(serve["max_model_len"]),
        dtype=str(serve["dtype"]),
        gpus=int(serve["gpus"]),
        revision=serve["revision"],
        startup_timeout_s=float(serve["startup_timeout_s"]),
        extra_args=list(serve["extra_args"]),
        seed=int(settings["seed"]),
        cache_dir=cache_dir,
        server_log=server_log,
        api_key_env=settings["api_key_env"],
    )


@contextlib.contextmanager
def endpoint(
    settings: Mapping[str, Any],
    *,
    server_model: str | None,
    cache_dir: str | os.PathLike,
    server_log: str | os.PathLike | None,
    server_url: str | None = None,
) -> Iterator[JudgeClient]:
    """The configured judge (validated `eval.judge`): an external endpoint (base_url), the serve_local server this
    job already runs at `server_url` (`serving`), or a serve_local server started here for the block."""
    if not settings["serve_local"]:
        yield JudgeClient.from_settings(settings)
        return
    with contextlib.ExitStack() as stack:
        if not server_url:
            server_url = stack.enter_context(
                started_server(settings, server_model=server_model, cache_dir=cache_dir, server_log=server_log)
            )
        client = JudgeClient.from_settings(settings, base_url=server_url, model=served_name(settings))
        client.api_key_env = None  # nothing to authenticate against locally
        yield client


@dataclass
class JudgeSession:
    """A judged job's judge: the client, the verdict cache of its identity, and the ledger of its tokens."""

    client: JudgeClient
    cache: VerdictCache
    ledger: TokenLedger
    served_locally: bool

    def chat(self, **kwargs: Any) -> dict:
        """One judge request, from the cache when this judge answered it before; tokens go to the ledger."""
        return cached_chat(self.client, self.cache, self.ledger, **kwargs)

    def describe(self) -> dict[str, Any]:
        """The endpoint as results record it (no key; only whether one was set)."""
        return {**self.client.describe(), "served_locally": self.served_locally}


@dataclass(frozen=True)
class JudgePlaces:
    """Where a judged job keeps things: the verdict cache root (rewild.judge.plan.VERDICT_CACHE; None: no cache),
    vLLM's cache folder, the folder of a served judge a rule built (None: serve_local.model as given), and the log
    a served judge writes to (the rule's log)."""

    verdict_cache: str | os.PathLike | None
    cache_dir: str | os.PathLike
    server_model: str | None = None
    server_log: str | os.PathLike | None = None
    server_url: str | None = None  # a serve_local judge this job already runs (rewild.judge.grouped)


@contextlib.contextmanager
def session(
    settings: Mapping[str, Any], identity: Mapping[str, Any], job: str, places: JudgePlaces
) -> Iterator[JudgeSession]:
    """The configured judge (`endpoint`) with the verdict cache of `identity` (this job's file: `job`) and a new
    token ledger, for one judged job."""
    with endpoint(
        settings,
        server_model=places.server_model,
        cache_dir=places.cache_dir,
        server_log=places.server_log,
        server_url=places.server_url,
    ) as client:
        yield JudgeSession(
            client=client,
            cache=VerdictCache(places.verdict_cache, identity, job=job),
            ledger=TokenLedger(),
            served_locally=bool(settings["serve_local"]),
        )


@contextlib.contextmanager
def serving(settings: Mapping[str, Any], places: JudgePlaces) -> Iterator[JudgePlaces]:
    """For a job that grades several models or benchmarks (rewild.judge.grouped): a serve_local judge started once
    for the whole block, its URL in the places every `session` of the block gets; an external endpoint needs
    nothing started (places as they are)."""
    if not settings["serve_local"] or places.server_url:
        yield places
        return
    with started_server(
        settings, server_model=places.server_model, cache_dir=places.cache_dir, server_log=places.server_log
    ) as url:
        yield dataclasses.replace(places, server_url=url)

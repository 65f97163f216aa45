"""LLM-as-judge: MT-Bench-style single-answer grading (paper §5, §6 "Judge preference") and intrinsic synthetic
data quality (SDQ) judgments of DGM responses (beyond the paper; spec §2 "Judgment mode").

Pieces (pure functions first, the `run_*` entries at the bottom take paths and plain settings):

- `JudgeClient`: a small OpenAI-compatible chat client (plain HTTP, stdlib only) for a judge at `base_url`. The API
  key is read from the environment variable *named* by `api_key_env` at each call and goes only into the request's
  Authorization header: it is never logged, never stored in params/results, and `redact` removes it from any error
  text (a server may echo it). Retries with backoff on 408/409/429/5xx and connection errors; a 400/413/422 (e.g. a
  prompt over the judge's context) fails only that request (recorded with `error`); 401/403/404 stop the job.
- `serve_local`: a context manager that starts `python -m vllm.entrypoints.openai.api_server` on a free localhost
  port (CPU env as in rewild.generate), waits (bounded) for /health, yields the base_url and terminates the server's
  process group on exit. The paper's judge was gpt-4o-mini-2024-07-18 (an API model that changes or disappears); an
  open judge served by vLLM from a pinned folder/revision keeps the reproduction free of API drift and of cost.
- MT-Bench: `answer_questions` (vLLM offline; turn 2 conditioned on the model's own turn-1 answer, FastChat's
  per-category temperatures, answers in FastChat's model_answer JSONL format so `analyse.run_style` reads them),
  `build_grade_messages` (our own single-answer prompt with the "[[rating]]" format, reference answers when a
  question has them), `grade`, `parse_score` (robust to malformed judge output; unparsable outputs are recorded and
  counted, never fatal).
- Intrinsic SDQ: one judge pass per (response, factor) on the twelve factors of the paper's released judgment mode,
  rubric + "Score: <1-10>" in the system prompt, temperature 0.2, max_tokens 10, top-10 logprobs; the score is the
  expectation of the digit distribution at the token after "Score:" (`digit_distribution`), the parsed text being
  the counted fallback. **Fix of the released code**: its judged prompt ended at the user turn, so the response under
  judgment was missing; here the response is inside the prompt (`build_sdq_messages`).
- Tables: `run_preference` (PrefRt / FlipCt with analyse.pref_rate / flip_count), `run_sdq_tables` (per-DGM
  intrinsic measures, their rank correlation with the students' extrinsic score, a plot).

Deviations from the paper (also in the report): judge = any OpenAI-compatible endpoint, by default an open model
served locally; our own prompt wording (FastChat's is not copied); per-question score = mean of the turns' scores
(a turn the judge could not score is left out); SDQ judgments additionally renormalise the digit probabilities
over 1-10 and split the mass of a "1" token between 1 and 10 when the tokenizer writes numbers digit by digit.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import math
import os
import random
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import zlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Mapping, Sequence

from rewild import io as rio

log = logging.getLogger("rewild.judge")

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_RUBRICS = REPO_ROOT / "data" / "judge" / "rubrics.yaml"

# Defaults of config.schema.yaml `eval.judge` (the pipeline passes complete dicts; tests may not).
JUDGE_DEFAULTS: dict[str, Any] = {
    "enabled": False,
    "base_url": None,
    "model": None,
    "api_key_env": "OPENAI_API_KEY",
    "questions": None,
    "serve_local": None,
    "dgms": "all",
    "concurrency": 8,
    "timeout_s": 300,
    "max_retries": 5,
    "seed": 0,
    "answer_max_tokens": 1024,
    "answer_max_model_len": 4096,
    "answer_temperature": None,
    "grade_max_tokens": 1024,
    "grade_temperature": 0.0,
    "sdq_n": 500,
    "sdq_seed": 0,
    "sdq_factors": "all",
    "sdq_max_tokens": 10,
    "sdq_temperature": 0.2,
    "sdq_top_logprobs": 10,
    "sdq_max_chars": 8000,
    "sdq_prefill": "auto",
    "rubrics": None,
    "extrinsic_metric": "avg7",
    "extrinsic_size": None,
}
# serve_local is a nullable object: Snakemake cannot fill schema defaults inside it, so they live here.
SERVE_DEFAULTS: dict[str, Any] = {
    "served_model_name": None,
    "revision": None,
    "max_model_len": 4096,
    "dtype": "auto",
    "gpus": 1,
    "startup_timeout_s": 900,
    "extra_args": [],
}
DEFAULT_SERVED_NAME = "judge"

# FastChat's MT-Bench answer temperatures per category (gen_model_answer.py temperature_config); 0.7 otherwise.
MTBENCH_TEMPERATURE: dict[str, float] = {
    "writing": 0.7,
    "roleplay": 0.7,
    "extraction": 0.0,
    "math": 0.0,
    "coding": 0.0,
    "reasoning": 0.0,
    "stem": 0.1,
    "humanities": 0.1,
    "arena-hard-200": 0.0,
}
DEFAULT_ANSWER_TEMPERATURE = 0.7

SCORE_MIN, SCORE_MAX = 1, 10


def judge_settings(judge: Mapping[str, Any] | None) -> dict[str, Any]:
    j = {**JUDGE_DEFAULTS, **(judge or {})}
    if j.get("serve_local"):
        j["serve_local"] = {**SERVE_DEFAULTS, **j["serve_local"]}
    if j["sdq_prefill"] not in ("auto", True, False):
        raise ValueError(f"eval.judge.sdq_prefill must be auto, true or false, not {j['sdq_prefill']!r}")
    return j


# The judge settings each rule sees (rules/judge.smk params): a changed key reruns only the stages it affects.
CLIENT_KEYS = ("base_url", "model", "api_key_env", "serve_local", "concurrency", "timeout_s", "max_retries")
STAGE_KEYS: dict[str, tuple[str, ...]] = {
    "answers": ("seed", "answer_max_tokens", "answer_max_model_len", "answer_temperature"),
    "grade": CLIENT_KEYS + ("seed", "grade_max_tokens", "grade_temperature"),
    "sdq": CLIENT_KEYS
    + (
        "sdq_n",
        "sdq_seed",
        "sdq_factors",
        "sdq_max_tokens",
        "sdq_temperature",
        "sdq_top_logprobs",
        "sdq_max_chars",
        "sdq_prefill",
    ),
}


def stage_params(judge: Mapping[str, Any] | None, stage: str) -> dict[str, Any]:
    """The subset of `eval.judge` one stage depends on (never a key: only the variable's name)."""
    j = judge_settings(judge)
    return {k: j[k] for k in STAGE_KEYS[stage]}


# ---------------------------------------------------------------------------------------------------------------
# Secrets
# ---------------------------------------------------------------------------------------------------------------


def read_api_key(env_name: str | None) -> str | None:
    """The key from the environment variable named `env_name`, read now (never cached, never logged)."""
    if not env_name:
        return None
    value = os.environ.get(env_name)
    return value or None


def redact(text: Any, secrets: Iterable[str | None]) -> str:
    """`text` with every secret (and any 8+ character piece of it a server might echo, e.g. its tail) masked."""
    out = "" if text is None else str(text)
    for s in secrets:
        if not s:
            continue
        out = out.replace(s, "***")
        if len(s) >= 16:  # "Incorrect API key provided: sk-abc...wxyz": mask long fragments too
            for k in range(0, len(s) - 8 + 1, 4):
                frag = s[k : k + 8]
                if frag in out:
                    out = out.replace(frag, "***")
    return out


class JudgeError(RuntimeError):
    """The judge cannot be used at all (bad endpoint, authentication, server gone): stops the job."""


class JudgeRequestError(RuntimeError):
    """One request was refused (e.g. over the judge's context): that item is recorded as failed."""


# ---------------------------------------------------------------------------------------------------------------
# Client
# ---------------------------------------------------------------------------------------------------------------

RETRY_STATUS = {408, 409, 425, 429, 500, 502, 503, 504}
ITEM_STATUS = {400, 413, 422}


@dataclass
class JudgeClient:
    """OpenAI-compatible `/chat/completions` client. Holds the *name* of the key's variable, never the key."""

    base_url: str
    model: str
    api_key_env: str | None = "OPENAI_API_KEY"
    timeout_s: float = 300.0
    max_retries: int = 5
    concurrency: int = 8
    backoff_s: float = 1.0
    _warned_no_key: bool = field(default=False, repr=False)

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any], base_url: str | None = None, model: str | None = None):
        url = base_url or settings.get("base_url")
        name = model or settings.get("model")
        if not url:
            raise JudgeError("eval.judge: no base_url and no serve_local: nowhere to send judge requests")
        if not name:
            raise JudgeError("eval.judge.model is not set")
        return cls(
            base_url=str(url),
            model=str(name),
            api_key_env=settings.get("api_key_env"),
            timeout_s=float(settings.get("timeout_s", 300)),
            max_retries=int(settings.get("max_retries", 5)),
            concurrency=int(settings.get("concurrency", 8)),
        )

    @property
    def endpoint(self) -> str:
        return self.base_url.rstrip("/") + "/chat/completions"

    def describe(self) -> dict[str, Any]:
        """What results record about the judge (no key: only whether one was set, and its variable's name)."""
        return {
            "base_url": redact(self.base_url, [read_api_key(self.api_key_env)]),
            "model": self.model,
            "api_key_env": self.api_key_env,
            "api_key_set": read_api_key(self.api_key_env) is not None,
        }

    def _headers(self, key: str | None) -> dict[str, str]:
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if key:
            headers["Authorization"] = f"Bearer {key}"
        elif not self._warned_no_key and self.api_key_env:
            self._warned_no_key = True
            log.warning(
                "environment variable %s is not set: sending judge requests without an API key", self.api_key_env
            )
        return headers

    def chat(
        self,
        messages: Sequence[Mapping[str, str]],
        *,
        max_tokens: int,
        temperature: float,
        seed: int | None = None,
        logprobs: bool = False,
        top_logprobs: int | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> dict:
        """One chat completion; returns the response JSON (first choice in `choices[0]`)."""
        body: dict[str, Any] = {
            "model": self.model,
            "messages": [dict(m) for m in messages],
            "max_tokens": int(max_tokens),
            "temperature": float(temperature),
        }
        if seed is not None:
            body["seed"] = int(seed)
        if logprobs:
            body["logprobs"] = True
            if top_logprobs:
                body["top_logprobs"] = int(top_logprobs)
        if extra:
            body.update(extra)
        return self.post(body)

    def post(self, body: Mapping[str, Any]) -> dict:
        data = json.dumps(body).encode("utf-8")
        last = ""
        for attempt in range(self.max_retries + 1):
            key = read_api_key(self.api_key_env)  # at call time: a rotated key is picked up, nothing is cached
            req = urllib.request.Request(self.endpoint, data=data, headers=self._headers(key), method="POST")
            try:
                with urllib.request.urlopen(req, timeout=self.timeout_s) as resp:
                    return json.loads(resp.read().decode("utf-8"))
            except urllib.error.HTTPError as exc:
                status = exc.code
                try:
                    detail = exc.read().decode("utf-8", "replace")[:800]
                except Exception:  # pragma: no cover
                    detail = ""
                detail = redact(detail, [key])
                msg = f"judge HTTP {status} from {redact(self.endpoint, [key])}: {detail}"
                if status in ITEM_STATUS:
                    raise JudgeRequestError(msg) from None
                if status not in RETRY_STATUS:
                    raise JudgeError(msg) from None
                last = msg
                retry_after = exc.headers.get("Retry-After") if exc.headers else None
                wait = float(retry_after) if retry_after and retry_after.replace(".", "", 1).isdigit() else None
            except (urllib.error.URLError, ConnectionError, TimeoutError, socket.timeout) as exc:
                last = redact(f"judge request to {self.endpoint} failed: {type(exc).__name__}: {exc}", [key])
                wait = None
            except json.JSONDecodeError as exc:
                last = f"judge returned invalid JSON: {exc}"
                wait = None
            if attempt < self.max_retries:
                delay = wait if wait is not None else min(60.0, self.backoff_s * 2**attempt) * (1 + random.random() / 4)
                log.warning("%s; retry %d/%d in %.1f s", last, attempt + 1, self.max_retries, delay)
                time.sleep(delay)
        raise JudgeError(f"{last} (gave up after {self.max_retries + 1} attempts)")

    def map(self, fn: Callable[[Any], Any], items: Sequence[Any], what: str = "requests") -> list[Any]:
        """fn over items with `concurrency` threads, results in input order, progress in the log."""
        n = len(items)
        if n == 0:
            return []
        done = [0]
        lock = threading.Lock()
        t0 = time.perf_counter()
        step = max(1, n // 10)

        def wrapped(item: Any) -> Any:
            out = fn(item)
            with lock:
                done[0] += 1
                k = done[0]
            if k % step == 0 or k == n:
                dt = time.perf_counter() - t0
                log.info("%s: %d/%d done in %.1f s (%.2f/s)", what, k, n, dt, k / max(dt, 1e-9))
            return out

        if self.concurrency <= 1:
            return [wrapped(x) for x in items]
        pool = ThreadPoolExecutor(max_workers=min(self.concurrency, n))
        try:
            results = list(pool.map(wrapped, items))
        except BaseException:  # a fatal judge error or SIGTERM: drop the queued requests, do not wait for them
            pool.shutdown(wait=False, cancel_futures=True)
            raise
        pool.shutdown()
        return results


def first_choice(response: Mapping[str, Any]) -> tuple[str | None, list[dict] | None, str | None]:
    """(text, logprob entries of the generated tokens, finish_reason) of a chat completion."""
    choices = response.get("choices") or []
    if not choices:
        return None, None, None
    c = choices[0]
    msg = c.get("message") or {}
    text = msg.get("content")
    lp = c.get("logprobs") or {}
    content = lp.get("content") if isinstance(lp, Mapping) else None
    return text, content, c.get("finish_reason")


class ResponseCache:
    """Completed judge responses of a job (append-only JSONL outside the declared outputs): a resumed job does
    not pay twice for requests already answered. Keyed by the hash of the request body (which has no key)."""

    def __init__(self, path: str | os.PathLike | None, fingerprint: str = "") -> None:
        self.path = Path(path) if path else None
        self.fingerprint = fingerprint
        self.entries: dict[str, dict] = {}
        self._lock = threading.Lock()
        if self.path and self.path.exists():
            for line in self.path.read_text().splitlines():
                try:
                    rec = json.loads(line)
                except json.JSONDecodeError:  # a line cut by a kill: ignore it
                    continue
                self.entries[rec["key"]] = rec["response"]
            if self.entries:
                log.info("resume: %d judge responses already cached in %s", len(self.entries), self.path)

    def key(self, body: Mapping[str, Any]) -> str:
        return rio.stable_hash({"fingerprint": self.fingerprint, "body": body})

    def get(self, key: str) -> dict | None:
        return self.entries.get(key)

    def put(self, key: str, response: dict) -> None:
        with self._lock:
            self.entries[key] = response
            if self.path:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                with open(self.path, "a") as fh:
                    fh.write(json.dumps({"key": key, "response": response}) + "\n")

    def clear(self) -> None:
        if self.path and self.path.exists():
            self.path.unlink()


def cached_chat(client: JudgeClient, cache: ResponseCache | None, **kwargs: Any) -> dict:
    if cache is None:
        return client.chat(**kwargs)
    key = cache.key({"model": client.model, **kwargs})
    hit = cache.get(key)
    if hit is not None:
        return hit
    resp = client.chat(**kwargs)
    cache.put(key, resp)
    return resp


# ---------------------------------------------------------------------------------------------------------------
# A local judge server (vLLM's OpenAI-compatible API server)
# ---------------------------------------------------------------------------------------------------------------


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def server_command(
    model: str,
    *,
    port: int,
    host: str = "127.0.0.1",
    served_model_name: str = DEFAULT_SERVED_NAME,
    max_model_len: int = 4096,
    dtype: str = "auto",
    gpus: int = 0,
    on_gpu: bool = False,
    revision: str | None = None,
    seed: int = 0,
    max_logprobs: int = 20,
    extra_args: Sequence[str] = (),
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
        "--max-logprobs", str(int(max_logprobs)),
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


def _tail(path: Path | None, n: int = 3000) -> str:
    if not path or not path.exists():
        return ""
    data = path.read_bytes()[-n:]
    return data.decode("utf-8", "replace")


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


@contextlib.contextmanager
def serve_local(
    model: str | os.PathLike,
    *,
    served_model_name: str = DEFAULT_SERVED_NAME,
    max_model_len: int = 4096,
    dtype: str = "auto",
    gpus: int = 0,
    revision: str | None = None,
    cache_dir: str | os.PathLike = ".cache/vllm",
    log_path: str | os.PathLike | None = None,
    startup_timeout_s: float = 900.0,
    extra_args: Sequence[str] = (),
    seed: int = 0,
    api_key_env: str | None = None,
    host: str = "127.0.0.1",
) -> Iterator[str]:
    """Start vLLM's OpenAI-compatible server for `model` on a free localhost port; yield its base_url (…/v1).

    CPU (no CUDA): the single-process env of rewild.generate (KV cache 1 GiB, no compile) and float32. The server's
    stdout/stderr are appended to `log_path` (the rule's log). Startup is bounded by `startup_timeout_s`; on exit
    (normal, exception or SIGTERM from Snakemake) the server's whole process group is terminated.
    """
    from rewild import generate as G

    on_gpu = int(gpus) > 0 and G.cuda_available()
    if int(gpus) > 0 and not on_gpu:
        log.warning("judge serve_local asks for %s GPU(s) but CUDA is not available: serving on CPU (float32)", gpus)
    G.configure_vllm_env(cache_dir, on_gpu)  # sets os.environ (values already set win); the child inherits it
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
        on_gpu=on_gpu,
        revision=revision,
        seed=seed,
        extra_args=extra_args,
    )
    base = f"http://{host}:{port}"
    log_file = Path(log_path) if log_path else Path(cache_dir) / "judge-server.log"
    log_file.parent.mkdir(parents=True, exist_ok=True)
    log.info("starting judge server: %s", " ".join(cmd))
    out = open(log_file, "ab")
    proc = subprocess.Popen(
        cmd, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True, preexec_fn=_set_pdeathsig
    )
    # Snakemake stops a job with SIGTERM: turn it into SystemExit so the `finally` below stops the server.
    old_handler = None
    if threading.current_thread() is threading.main_thread():
        old_handler = signal.getsignal(signal.SIGTERM)

        def _on_term(signum, frame):  # noqa: ANN001
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


@contextlib.contextmanager
def judge_client(
    settings: Mapping[str, Any],
    *,
    server_model: str | None = None,
    cache_dir: str | os.PathLike = ".cache/vllm",
    log_path: str | os.PathLike | None = None,
) -> Iterator[JudgeClient]:
    """The configured judge: an external endpoint (base_url), or a server started here (serve_local)."""
    j = judge_settings(settings)
    serve = j.get("serve_local")
    if not serve:
        yield JudgeClient.from_settings(j)
        return
    name = serve.get("served_model_name") or j.get("model") or DEFAULT_SERVED_NAME
    with serve_local(
        server_model or serve["model"],
        served_model_name=name,
        max_model_len=int(serve["max_model_len"]),
        dtype=str(serve["dtype"]),
        gpus=int(serve["gpus"]),
        revision=serve.get("revision"),
        cache_dir=cache_dir,
        log_path=log_path,
        startup_timeout_s=float(serve["startup_timeout_s"]),
        extra_args=list(serve.get("extra_args") or []),
        seed=int(j["seed"]),
        api_key_env=j.get("api_key_env"),
    ) as url:
        client = JudgeClient.from_settings(j, base_url=url, model=name)
        client.api_key_env = None  # nothing to authenticate against locally
        yield client


# ---------------------------------------------------------------------------------------------------------------
# Score parsing
# ---------------------------------------------------------------------------------------------------------------

_NUM = r"(\d+(?:\.\d+)?)"
# Highest priority first; the first pattern that matches anything decides.
_SCORE_PATTERNS: tuple[tuple[str, re.Pattern], ...] = (
    ("double_bracket", re.compile(r"\[\[\s*" + _NUM + r"\s*(?:/\s*10\s*)?\]\]")),
    (
        "labelled",
        re.compile(
            r"\b(?:rating|score|grade|rated?(?:\s+(?:it|this|the\s+(?:answer|response)))?(?:\s+(?:an?|as))?)"
            r"[\s*_\"'`]{0,4}(?:is|of|=|:)?[\s:=*_\"'`(]{0,6}?" + _NUM + r"(?!\d)",
            re.I,
        ),
    ),
    ("out_of_10", re.compile(r"(?<![\d.])" + _NUM + r"\s*(?:/|out\s+of)\s*10(?!\d|\.\d)", re.I)),
    ("bracket", re.compile(r"(?<!\[)\[\s*" + _NUM + r"\s*\](?!\])")),
    ("bare", re.compile(r"^\W*" + _NUM + r"\W*$")),
)


def parse_score_detail(text: Any, lo: float = SCORE_MIN, hi: float = SCORE_MAX) -> tuple[float | None, str]:
    """(score or None, reason). Reasons: ok:<pattern>, empty, no_number, ambiguous, out_of_range.

    Patterns by priority: "[[7]]" (also "Rating: [[7]]", "[[7/10]]") > "Rating: 7" / "score of 7" / "Score: 7" >
    "7/10" / "7 out of 10" > "[7]" > a bare number. The first pattern with any match decides; several *different*
    values there are ambiguous (None), a value outside [lo, hi] is out of range (None): a judge's number is never
    replaced by an unrelated one found further down (e.g. "3 steps" in the explanation).
    """
    if text is None or (isinstance(text, float) and math.isnan(text)):
        return None, "empty"
    s = str(text).strip()
    if not s:
        return None, "empty"
    for name, pat in _SCORE_PATTERNS:
        values = [float(m) for m in pat.findall(s)]
        if not values:
            continue
        distinct = sorted(set(values))
        if len(distinct) > 1:
            return None, "ambiguous"
        v = distinct[0]
        if not (lo <= v <= hi):
            return None, "out_of_range"
        return v, f"ok:{name}"
    return None, "no_number"


def parse_score(text: Any, lo: float = SCORE_MIN, hi: float = SCORE_MAX) -> float | None:
    """The judge's 1-10 score in `text`, or None when there is none, several different ones, or one out of range."""
    return parse_score_detail(text, lo, hi)[0]


# ---------------------------------------------------------------------------------------------------------------
# Digit logprobs → score distribution
# ---------------------------------------------------------------------------------------------------------------

_MARKER = re.compile(r"score\s*:", re.I)


def _digit_value(token: str) -> int | None:
    t = token.strip()
    if t.isdigit() and t.isascii():
        v = int(t)
        if SCORE_MIN <= v <= SCORE_MAX and str(v) == t:
            return v
    return None


def _prob_of(entries: Sequence[Mapping[str, Any]] | None, token: str) -> float:
    if not entries:
        return 0.0
    return sum(math.exp(float(e["logprob"])) for e in entries if str(e.get("token", "")).strip() == token)


def digit_distribution(
    content: Sequence[Mapping[str, Any]] | None, prefilled: bool = False
) -> tuple[dict[int, float] | None, dict[str, Any]]:
    """Distribution over scores 1-10 from the top logprobs of the token after "Score:".

    `content` is the chat completion's `logprobs.content` (one entry per generated token with `token`, `logprob`
    and `top_logprobs`). With `prefilled` the prompt already ended with "Score:", so the search starts at the first
    generated token; otherwise it starts after the first "Score:" in the generated text. Whitespace-only tokens
    are skipped (SmolLM2 writes " 7" as "Ġ" + "7"). Candidates whose stripped text is 1..10 are summed per value
    and renormalised. "10": a tokenizer with a "10" token lists it directly; one that writes digits one by one
    puts 1 and 10 together in "1": when "1" was generated, the next position's p("0") splits that mass into
    p(10) = p("1")·p("0"|"1") and p(1) = p("1")·(1 − p("0"|"1")); when another digit was generated the next
    position is unknown and "1" counts as 1 (recorded as `ten_split: unknown`).
    Returns (None, info) when there is no such position or no digit among its candidates.
    """
    info: dict[str, Any] = {"position": None, "digit_mass": 0.0, "ten_split": None}
    if not content:
        info["reason"] = "no_logprobs"
        return None, info
    start_char = 0
    if not prefilled:
        text = "".join(str(e.get("token", "")) for e in content)
        m = _MARKER.search(text)
        if not m:
            info["reason"] = "no_marker"
            return None, info
        start_char = m.end()
    pos, offset = None, 0
    for i, e in enumerate(content):
        tok = str(e.get("token", ""))
        end = offset + len(tok)
        if end > start_char and tok[max(0, start_char - offset) :].strip():
            pos = i
            break
        offset = end
    if pos is None:
        info["reason"] = "nothing_after_marker"
        return None, info
    entry = content[pos]
    top = entry.get("top_logprobs") or [{"token": entry.get("token"), "logprob": entry.get("logprob")}]
    mass: dict[int, float] = {}
    for alt in top:
        v = _digit_value(str(alt.get("token", "")))
        if v is not None and alt.get("logprob") is not None:
            mass[v] = mass.get(v, 0.0) + math.exp(float(alt["logprob"]))
    info["position"] = pos
    info["token"] = entry.get("token")
    total = sum(mass.values())
    info["digit_mass"] = total
    if total <= 0:
        info["reason"] = "no_digit_candidates"
        return None, info
    multi_digit = any(_digit_value(str(a.get("token", ""))) == 10 for a in top)
    if 1 in mass and not multi_digit:
        if str(entry.get("token", "")).strip() == "1" and pos + 1 < len(content):
            q0 = min(1.0, _prob_of(content[pos + 1].get("top_logprobs"), "0"))
            p1 = mass.pop(1)
            mass[10] = mass.get(10, 0.0) + p1 * q0
            mass[1] = p1 * (1.0 - q0)
            info["ten_split"] = q0
        else:
            info["ten_split"] = "unknown"
    total = sum(mass.values())
    probs = {d: mass.get(d, 0.0) / total for d in range(SCORE_MIN, SCORE_MAX + 1)}
    info["reason"] = "ok"
    return probs, info


def expected_score(probs: Mapping[int, float]) -> float:
    """Σ p(d)·d over 1..10 (probabilities renormalised)."""
    total = sum(probs.values())
    if total <= 0:
        raise ValueError("expected_score: empty distribution")
    return float(sum(float(d) * p for d, p in probs.items()) / total)


# ---------------------------------------------------------------------------------------------------------------
# MT-Bench: questions and answers
# ---------------------------------------------------------------------------------------------------------------


def load_questions(path: str | os.PathLike, limit: int | None = None) -> list[dict]:
    """FastChat question.jsonl: question_id, category, turns[, reference]. Validated: unique ids, >= 1 turn."""
    qs = rio.read_jsonl(path)
    seen: set[str] = set()
    for i, q in enumerate(qs):
        if "question_id" not in q or not isinstance(q.get("turns"), list) or not q["turns"]:
            raise ValueError(f"{path}: line {i + 1} needs question_id and a non-empty turns list")
        if str(q["question_id"]) in seen:
            raise ValueError(f"{path}: duplicate question_id {q['question_id']}")
        seen.add(str(q["question_id"]))
    return qs[:limit] if limit else qs


def answer_temperature(question: Mapping[str, Any], override: float | None = None) -> float:
    if override is not None:
        return float(override)
    return MTBENCH_TEMPERATURE.get(str(question.get("category", "")), DEFAULT_ANSWER_TEMPERATURE)


def _qid_int(qid: Any) -> int:
    try:
        return int(qid)
    except (TypeError, ValueError):
        return zlib.crc32(str(qid).encode())


def answer_messages(question: Mapping[str, Any], answers: Sequence[str], turn: int) -> list[dict]:
    """Chat for turn `turn` (0-based): the question's user turns with the model's own earlier answers between."""
    msgs: list[dict] = []
    for t in range(turn + 1):
        msgs.append({"role": "user", "content": str(question["turns"][t])})
        if t < turn:
            msgs.append({"role": "assistant", "content": answers[t]})
    return msgs


def resolve_template(name_or_path: str | None) -> str | None:
    """A chat template override: a packaged name (chatml, llama3) or a .jinja path, generation markers removed."""
    if not name_or_path:
        return None
    from rewild import sft

    text = sft.resolve_chat_template(name_or_path)
    return sft.strip_generation_markers(text) if text else None


def model_context_limit(model: str, revision: str | None = None, trust_remote_code: bool = False) -> int | None:
    try:
        from transformers import AutoConfig

        cfg = AutoConfig.from_pretrained(model, revision=revision, trust_remote_code=trust_remote_code)
    except Exception:
        return None
    cfg = getattr(cfg, "text_config", None) or cfg
    v = getattr(cfg, "max_position_embeddings", None)
    return int(v) if v else None


def answer_questions(
    model_path: str | os.PathLike,
    questions: Sequence[Mapping[str, Any]],
    *,
    model_name: str | None = None,
    chat_template: str | None = None,
    max_model_len: int = 4096,
    max_tokens: int = 1024,
    temperature: float | None = None,
    seed: int = 0,
    dtype: str = "auto",
    gpus: int = 0,
    revision: str | None = None,
    trust_remote_code: bool = False,
    cache_dir: str | os.PathLike = ".cache/vllm",
    engine_overrides: Mapping[str, Any] | None = None,
    llm: Any = None,
    tokenizer: Any = None,
) -> tuple[list[dict], dict]:
    """Answer every turn of every question with vLLM offline; turn k+1 sees the model's own answers to 1..k.

    One `generate` call per turn index. Requests carry their own seed (run seed, question, turn) so answers do
    not depend on batching. A prompt that leaves no room in `max_model_len` gets "" with finish "no response".
    Returns (FastChat model_answer records, stats).
    """
    from rewild import generate as G

    model = str(model_path)
    name = model_name or Path(model).name
    limit = model_context_limit(model, revision, trust_remote_code)
    L = int(min(max_model_len, limit) if limit else max_model_len)
    spec = {
        "hf_id": model,
        "revision": revision,
        "gpus": int(gpus),
        "max_model_len": L,
        "dtype": dtype,
        "trust_remote_code": bool(trust_remote_code),
        "engine_overrides": dict(engine_overrides or {}),
    }
    local = model if Path(model).is_dir() else None  # a Hub id keeps its revision
    if tokenizer is None:
        tokenizer = G.load_tokenizer(spec, local)
    template = resolve_template(chat_template)
    engine_seconds = 0.0
    if llm is None:
        t0 = time.perf_counter()
        llm = G.load_engine(spec, {"seed": seed, "batch_conversations": max(1, len(questions))}, cache_dir, local)
        engine_seconds = time.perf_counter() - t0
    from vllm import SamplingParams

    answers: dict[int, list[str]] = {i: [] for i in range(len(questions))}
    finishes: dict[int, list[str]] = {i: [] for i in range(len(questions))}
    out_tokens: dict[int, list[int]] = {i: [] for i in range(len(questions))}
    stats = {"requests": 0, "input_tokens": 0, "output_tokens": 0, "no_room": 0, "generate_seconds": 0.0}
    n_turns = max(len(q["turns"]) for q in questions) if questions else 0
    for turn in range(n_turns):
        batch: list[tuple[int, list[int], Any]] = []
        for i, q in enumerate(questions):
            if turn >= len(q["turns"]):
                continue
            msgs = answer_messages(q, answers[i], turn)
            text = G.render_text(msgs, tokenizer, template)
            ids = G._encode_batch(tokenizer, [text], add_special_tokens=False)[0]
            room = min(int(max_tokens), L - len(ids))
            if room <= 0:
                answers[i].append("")
                finishes[i].append(G.FINISH_NONE)
                out_tokens[i].append(0)
                stats["no_room"] += 1
                continue
            params = SamplingParams(
                max_tokens=room,
                temperature=answer_temperature(q, temperature),
                seed=G.request_seed(seed, _qid_int(q["question_id"]), turn),
            )
            batch.append((i, ids, params))
        if not batch:
            continue
        tg = time.perf_counter()
        outputs = llm.generate(
            [{"prompt_token_ids": ids} for _, ids, _ in batch], [p for _, _, p in batch], use_tqdm=False
        )
        stats["generate_seconds"] += time.perf_counter() - tg
        for (i, ids, _), out in zip(batch, outputs):
            content, finish, _, n_out = G.answer_from_output(out)
            answers[i].append(content)
            finishes[i].append(finish)
            out_tokens[i].append(n_out)
            stats["requests"] += 1
            stats["input_tokens"] += len(ids)
            stats["output_tokens"] += n_out
        log.info("turn %d: %d answers in %.1f s", turn + 1, len(batch), time.perf_counter() - tg)
    stats["engine_seconds"] = round(engine_seconds, 3)
    stats["max_model_len"] = L
    records = []
    for i, q in enumerate(questions):
        records.append(
            {
                "question_id": q["question_id"],
                "answer_id": hashlib.sha256(f"{name}:{q['question_id']}:{seed}".encode()).hexdigest()[:22],
                "model_id": name,
                "category": q.get("category"),
                "choices": [{"index": 0, "turns": answers[i]}],
                "finish_reasons": finishes[i],
                "output_tokens": out_tokens[i],
                "temperature": answer_temperature(q, temperature),
                "tstamp": time.time(),
            }
        )
    return records, stats


def answer_turns(record: Mapping[str, Any]) -> list[str]:
    """Turns of an answer record (FastChat's choices[0].turns, or a plain `turns`)."""
    if "choices" in record:
        return [str(t) for t in record["choices"][0]["turns"]]
    return [str(t) for t in record["turns"]]


# ---------------------------------------------------------------------------------------------------------------
# MT-Bench: grading
# ---------------------------------------------------------------------------------------------------------------

GRADE_SYSTEM = "You are a fair, careful and impartial evaluator of AI assistant responses."

_GRADE_INSTRUCTION = (
    "Please act as an impartial judge of the quality of {what}. Consider helpfulness, relevance, accuracy, depth, "
    "creativity and level of detail.{reference_clause} Start with a short explanation of a few sentences. Be as "
    "objective as possible and do not let the answer's length or style sway you. After the explanation you must "
    'rate the answer on a scale of 1 to 10, strictly in this format: "Rating: [[rating]]", for example '
    '"Rating: [[6]]".'
)
_REF_CLAUSE = " A reference answer is given: compare the assistant's answer with it and penalise mistakes."


def build_grade_messages(question: Mapping[str, Any], answers: Sequence[str], turn: int) -> list[dict]:
    """Single-answer grading prompt for turn `turn` (0-based). Turn 1: the question and the answer; later turns:
    the whole conversation so far, judging only the last answer. Reference answers (math, reasoning, coding in
    MT-Bench) are shown when the question has them."""
    refs = question.get("reference") or []
    ref = refs[turn] if turn < len(refs) else None
    clause = _REF_CLAUSE if ref else ""
    if turn == 0:
        what = "the AI assistant's answer to the user question shown below"
        parts = [
            _GRADE_INSTRUCTION.format(what=what, reference_clause=clause),
            f"[Question]\n{question['turns'][0]}",
        ]
        if ref:
            parts.append(f"[Start of the reference answer]\n{ref}\n[End of the reference answer]")
        parts.append(f"[Start of the assistant's answer]\n{answers[0]}\n[End of the assistant's answer]")
    else:
        what = (
            f"the AI assistant's answer to the user's question number {turn + 1} in the conversation below. "
            "Judge only that last answer; the earlier exchange is context"
        )
        conv = []
        for t in range(turn + 1):
            conv.append(f"### User:\n{question['turns'][t]}")
            conv.append(f"### Assistant:\n{answers[t]}")
        parts = [
            _GRADE_INSTRUCTION.format(what=what, reference_clause=clause),
            "[Start of the conversation]\n" + "\n\n".join(conv) + "\n[End of the conversation]",
        ]
        if ref:
            parts.append(
                f"[Start of the reference answer to question {turn + 1}]\n{ref}\n[End of the reference answer]"
            )
    return [{"role": "system", "content": GRADE_SYSTEM}, {"role": "user", "content": "\n\n".join(parts)}]


def grade(
    client: JudgeClient,
    questions: Sequence[Mapping[str, Any]],
    answers: Sequence[Mapping[str, Any]],
    *,
    max_tokens: int = 1024,
    temperature: float = 0.0,
    seed: int = 0,
    cache: ResponseCache | None = None,
) -> list[dict]:
    """Grade every turn of every answered question. One record per (question, turn): question_id, turn (1-based),
    category, answer, judge_output, score (1-10 or None), parse (how / why not), error (a refused request)."""
    by_id = {str(q["question_id"]): q for q in questions}
    items = []
    for a in answers:
        q = by_id.get(str(a["question_id"]))
        if q is None:
            raise ValueError(f"answer for unknown question_id {a['question_id']}")
        turns = answer_turns(a)
        for t in range(min(len(q["turns"]), len(turns))):
            items.append((q, turns, t))

    def one(item: tuple) -> dict:
        q, turns, t = item
        rec = {
            "question_id": q["question_id"],
            "turn": t + 1,
            "category": q.get("category"),
            "answer": turns[t],
            "judge_output": None,
            "score": None,
            "parse": None,
            "error": None,
        }
        try:
            resp = cached_chat(
                client,
                cache,
                messages=build_grade_messages(q, turns, t),
                max_tokens=max_tokens,
                temperature=temperature,
                seed=seed,
            )
        except JudgeRequestError as exc:
            rec["error"] = str(exc)
            rec["parse"] = "request_failed"
            return rec
        text, _, _ = first_choice(resp)
        rec["judge_output"] = text
        rec["score"], rec["parse"] = parse_score_detail(text)
        return rec

    records = client.map(one, items, what="mt-bench grading")
    _check_not_all_failed(records)
    return records


def _check_not_all_failed(records: Sequence[Mapping[str, Any]]) -> None:
    if records and all(r.get("error") for r in records):
        raise JudgeError(f"every judge request was refused; first error: {records[0]['error']}")


def summarise_grades(records: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Mean score on the 1-10 scale over all scored turns (the MT-Bench score), per-turn means, counts, 95% CI."""
    from rewild import analyse

    scored = [float(r["score"]) for r in records if r.get("score") is not None]
    failed = sum(1 for r in records if r.get("error"))
    out: dict[str, Any] = {
        "n": len(records),
        "n_scored": len(scored),
        "n_unparsed": sum(1 for r in records if r.get("score") is None and not r.get("error")),
        "n_failed": failed,
        "score": float(sum(scored) / len(scored)) if scored else None,
        "stderr": None,
        "ci95": None,
        "samples": scored,
        "unparsed_reasons": {},
    }
    for r in records:
        if r.get("score") is None:
            why = r.get("parse") or "unknown"
            out["unparsed_reasons"][why] = out["unparsed_reasons"].get(why, 0) + 1
    if len(scored) >= 2:
        m, lo, hi = analyse.ci95(scored)
        out["ci95"] = [lo, hi]
        out["stderr"] = (hi - lo) / (2 * analyse.Z95)
    turns = sorted({int(r["turn"]) for r in records})
    for t in turns:
        s = [float(r["score"]) for r in records if int(r["turn"]) == t and r.get("score") is not None]
        out[f"score_turn{t}"] = float(sum(s) / len(s)) if s else None
    return out


# ---------------------------------------------------------------------------------------------------------------
# Intrinsic SDQ
# ---------------------------------------------------------------------------------------------------------------

FACTORS: tuple[str, ...] = (
    "Logical Robustness",
    "Logical Correctness",
    "Logical Efficiency",
    "Commonsense Understanding",
    "Factuality",
    "Metacognition",
    "Insightfulness",
    "Completeness",
    "Comprehension",
    "Conciseness",
    "Readability",
    "Harmlessness",
)


def factor_slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")


def load_rubrics(path: str | os.PathLike | None = None) -> tuple[dict[str, dict], str]:
    """({slug: {name, rubric}}, scale text) from data/judge/rubrics.yaml; all twelve paper factors must be there."""
    import yaml

    data = yaml.safe_load(Path(path or DEFAULT_RUBRICS).read_text())
    factors = {
        str(k): {"name": str(v["name"]), "rubric": " ".join(str(v["rubric"]).split())}
        for k, v in data["factors"].items()
    }
    missing = [f for f in FACTORS if factor_slug(f) not in factors]
    if missing:
        raise ValueError(f"{path}: rubrics missing for {missing}")
    return factors, " ".join(str(data.get("scale", "")).split())


def select_factors(rubrics: Mapping[str, dict], wanted: str | Sequence[str] = "all") -> list[str]:
    if wanted == "all" or wanted is None:
        return list(rubrics)
    unknown = [w for w in wanted if w not in rubrics]
    if unknown:
        raise ValueError(f"eval.judge.sdq_factors: unknown factors {unknown}; known: {list(rubrics)}")
    return list(wanted)


def clip_text(text: str, max_chars: int) -> str:
    if max_chars and len(text) > max_chars:
        return text[:max_chars] + f"\n[... {len(text) - max_chars} more characters cut]"
    return text


SDQ_PREFILL = "Score:"


def sdq_system_prompt(name: str, rubric: str, scale: str = "") -> str:
    return (
        f"You are an expert evaluator of AI assistant responses. You judge exactly one factor: {name}.\n"
        f"Rubric for {name}: {rubric}\n"
        + (f"Scale: {scale}\n" if scale else "")
        + "Judge only the assistant's response (not the user's message) and only on this factor. "
        "Reply with exactly one line and nothing else:\nScore: <1-10>"
    )


def build_sdq_messages(
    factor: Mapping[str, str],
    prompt: str,
    response: str,
    *,
    scale: str = "",
    max_chars: int = 8000,
    prefill: bool = False,
) -> list[dict]:
    """System prompt with the factor's rubric and the answer format; user message with the user's prompt AND the
    response under judgment (the released code's prompt ended at the user turn, leaving the response out: fixed).
    `prefill` adds an assistant message "Score:" to continue (vLLM's continue_final_message)."""
    user = (
        f"[User message]\n{clip_text(prompt, max_chars)}\n[End of user message]\n\n"
        f"[Assistant response to evaluate]\n{clip_text(response, max_chars)}\n[End of assistant response]\n\n"
        f"Rate the assistant response on {factor['name']} (1-10)."
    )
    msgs = [
        {"role": "system", "content": sdq_system_prompt(factor["name"], factor["rubric"], scale)},
        {"role": "user", "content": user},
    ]
    if prefill:
        msgs.append({"role": "assistant", "content": SDQ_PREFILL})
    return msgs


def sample_rank(seed: int, row_id: Any) -> str:
    return hashlib.sha256(f"rewild-sdq:{int(seed)}:{row_id}".encode()).hexdigest()


def _first_exchange(messages: Any) -> tuple[str | None, str | None]:
    user = assistant = None
    for m in messages if messages is not None else []:
        if m is None:
            continue
        role, content = m.get("role"), m.get("content")
        if role == "user" and user is None:
            user = content
        elif role == "assistant" and user is not None:
            assistant = content
            break
    return user, assistant


def sample_responses(path: str | os.PathLike, n: int, seed: int = 0) -> tuple[list[dict], dict]:
    """A seeded sample of `n` conversations of a DGM: first user turn and first assistant turn (the DGM's response).

    Rows are ranked by sha256(seed, row_id) and the first n with a non-empty response are taken, so every DGM is
    judged on the same conversations wherever it has them (the sample does not depend on which other rows a DGM
    lost). Reads only row_id first, then the chosen rows' messages (paper-scale files stay out of memory).
    """
    import pyarrow.dataset as ds
    import pyarrow.parquet as pq

    schema = pq.read_schema(path)
    key = "row_id" if "row_id" in schema.names else None
    if key is None:
        raise KeyError(f"{path}: no row_id column")
    ids = pq.read_table(path, columns=[key]).column(key).to_pylist()
    ranked = sorted(ids, key=lambda r: sample_rank(seed, r))
    col = "messages" if "messages" in schema.names else "conversation"
    cols = [c for c in ("row_id", "conversation_hash", col) if c in schema.names]
    chosen: list[dict] = []
    skipped_empty = 0
    dataset = ds.dataset(str(path), format="parquet")
    # a few candidates more than n, then more if too many turned out empty
    start, batch = 0, max(n + 8, int(n * 1.2))
    while len(chosen) < n and start < len(ranked):
        cand = ranked[start : start + batch]
        start += batch
        table = dataset.to_table(columns=cols, filter=ds.field(key).isin(cand))
        rows = {r[key]: r for r in table.to_pylist()}
        for rid in cand:
            r = rows.get(rid)
            if r is None:
                continue
            prompt, response = _first_exchange(r.get(col))
            if not response or not str(response).strip() or prompt is None:
                skipped_empty += 1
                continue
            chosen.append(
                {
                    "row_id": rid,
                    "conversation_hash": r.get("conversation_hash"),
                    "prompt": str(prompt),
                    "response": str(response),
                }
            )
            if len(chosen) >= n:
                break
    return chosen, {"rows": len(ids), "sampled": len(chosen), "skipped_empty": skipped_empty}


def sdq_judge_one(
    client: JudgeClient,
    item: Mapping[str, Any],
    factor_key: str,
    factor: Mapping[str, str],
    *,
    scale: str = "",
    max_tokens: int = 10,
    temperature: float = 0.2,
    top_logprobs: int = 10,
    max_chars: int = 8000,
    prefill: bool = False,
    seed: int = 0,
    cache: ResponseCache | None = None,
) -> dict:
    rec: dict[str, Any] = {
        "row_id": item.get("row_id"),
        "conversation_hash": item.get("conversation_hash"),
        "factor": factor_key,
        "judge_output": None,
        "text_score": None,
        "probs": None,
        "digit_mass": None,
        "score": None,
        "method": None,
        "reason": None,
        "error": None,
    }
    extra = {"continue_final_message": True, "add_generation_prompt": False} if prefill else None
    try:
        resp = cached_chat(
            client,
            cache,
            messages=build_sdq_messages(
                factor, item["prompt"], item["response"], scale=scale, max_chars=max_chars, prefill=prefill
            ),
            max_tokens=max_tokens,
            temperature=temperature,
            seed=seed,
            logprobs=top_logprobs > 0,
            top_logprobs=top_logprobs or None,
            extra=extra,
        )
    except JudgeRequestError as exc:
        rec["error"] = str(exc)
        rec["reason"] = "request_failed"
        return rec
    text, content, _ = first_choice(resp)
    rec["judge_output"] = text
    full = (SDQ_PREFILL + (text or "")) if prefill else text
    rec["text_score"], parse_reason = parse_score_detail(full)
    probs, info = digit_distribution(content, prefilled=prefill)
    rec["digit_mass"] = info.get("digit_mass")
    if probs is not None:
        rec["probs"] = [round(probs[d], 6) for d in range(SCORE_MIN, SCORE_MAX + 1)]
        rec["score"] = expected_score(probs)
        rec["method"] = "logprobs"
        rec["reason"] = "ok" if info.get("ten_split") != "unknown" else "ok:ten_split_unknown"
    elif rec["text_score"] is not None:
        rec["score"] = rec["text_score"]
        rec["method"] = "text"
        rec["reason"] = f"logprobs:{info.get('reason')}"
    else:
        rec["reason"] = f"logprobs:{info.get('reason')};text:{parse_reason}"
    return rec


def summarise_sdq(records: Sequence[Mapping[str, Any]], factors: Sequence[str]) -> dict[str, Any]:
    out: dict[str, Any] = {
        "n_judgments": len(records),
        "n_responses": len({r["row_id"] for r in records}),
        "n_logprobs": sum(1 for r in records if r.get("method") == "logprobs"),
        "n_text_fallback": sum(1 for r in records if r.get("method") == "text"),
        "n_unparsed": sum(1 for r in records if r.get("score") is None and not r.get("error")),
        "n_failed": sum(1 for r in records if r.get("error")),
        "factors": {},
    }
    means = []
    for f in factors:
        s = [float(r["score"]) for r in records if r["factor"] == f and r.get("score") is not None]
        m = float(sum(s) / len(s)) if s else None
        out["factors"][f] = {"mean": m, "n": len(s)}
        if m is not None:
            means.append(m)
    out["overall"] = float(sum(means) / len(means)) if means else None
    return out


def resolve_prefill(setting: Any, served_locally: bool) -> bool:
    """auto: prefill "Score:" only on a vLLM server we started (continue_final_message is a vLLM extension)."""
    if setting == "auto":
        return bool(served_locally)
    return bool(setting)


# ---------------------------------------------------------------------------------------------------------------
# Plan helpers (called from rules/judge.smk)
# ---------------------------------------------------------------------------------------------------------------


def judged_dgms(config: Mapping[str, Any], generated_only: bool = True) -> list[str]:
    """DGMs in `eval.judge.dgms` ("all" or a list); generated_only drops source DGMs (no model to answer with)."""
    j = judge_settings(config["eval"].get("judge"))
    names = list(config["dgms"]) if j["dgms"] == "all" else list(j["dgms"])
    if generated_only:
        names = [d for d in names if config["dgms"].get(d, {}).get("kind", "model") == "model"]
    return names


JUDGE_TABLES = (
    "results/tables/judge_preference.csv",
    "results/tables/judge_mtbench.csv",
    "results/plots/judge_mtbench.png",
    "results/tables/sdq_intrinsic.csv",
    "results/tables/sdq_vs_extrinsic.csv",
    "results/plots/sdq_vs_extrinsic.png",
)


def judge_targets(config: Mapping[str, Any]) -> list[str]:
    """What `rule all` adds when eval.judge.enabled (common.smk's final_outputs())."""
    return list(JUDGE_TABLES) if judge_settings(config["eval"].get("judge"))["enabled"] else []


DGM_PREFIX = "dgm-"  # = rewild.config.REFERENCE_PREFIX: a DGM judged as a model is `dgm-<key>` (mixes cannot be)


def judged_students(config: Mapping[str, Any]) -> list[str]:
    """Students whose MT-Bench answers are judged: every trained mix, and `base` when it is evaluated."""
    from rewild import plan

    names = list(plan.all_mixes(config))
    if config["eval"].get("evaluate_base", True):
        names.append(plan.BASE_MODEL)
    return names


def judged_models(config: Mapping[str, Any]) -> list[str]:
    """The `model` wildcard values of the judge rules: students, then `dgm-<key>` for each judged generated DGM."""
    return judged_students(config) + [DGM_PREFIX + d for d in judged_dgms(config)]


def subject_dgm(subject: str) -> str | None:
    """`dgm-<key>` names a DGM (results/judge/dgm-<key>/, as results/eval/dgm-<key>/); else a student."""
    return subject[len(DGM_PREFIX) :] if subject.startswith(DGM_PREFIX) else None


def questions_input(config: Mapping[str, Any]) -> str:
    q = judge_settings(config["eval"].get("judge"))["questions"]
    if not q:
        raise ValueError(
            "config key 'eval.judge.questions' is not set: point it at a FastChat question.jsonl "
            "(MT-Bench: 80 two-turn questions; demo: data/judge/mtbench_demo.jsonl)"
        )
    return str(q)


def subject_model_input(config: Mapping[str, Any], subject: str) -> str | list:
    """The model folder a rule builds (demo DGMs and student, trained students); [] for Hub models."""
    from rewild import plan

    dgm = subject_dgm(subject)
    if dgm is not None:
        return plan.local_model_dir(config, dgm) or []
    if subject == plan.BASE_MODEL:
        return plan.local_model_dir(config, plan.STUDENT) or []
    return f"results/models/{subject}"


def subject_settings(config: Mapping[str, Any], subject: str) -> dict[str, Any]:
    """What answer_questions needs to load a subject: id or folder, revision, template override, GPUs."""
    from rewild import plan

    dgm = subject_dgm(subject)
    if dgm is not None:
        d = config["dgms"][dgm]
        return {
            "model_id": plan.model_id(config, dgm),
            "revision": d.get("revision"),
            "chat_template": d.get("chat_template"),
            "gpus": d.get("gpus", 1),
            "dtype": d.get("dtype", "auto"),
            "trust_remote_code": d.get("trust_remote_code", False),
            "engine_overrides": d.get("engine_overrides", {}),
        }
    base = subject == plan.BASE_MODEL
    return {
        "model_id": plan.student_id(config) if base else f"results/models/{subject}",
        "revision": config["student"].get("revision") if base else None,
        # the untrained student gets the template its students are trained with; trained ones saved theirs
        "chat_template": config["student"].get("chat_template") if base else None,
        "gpus": config["eval"]["gpus"],
        "dtype": "auto",
        "trust_remote_code": False,
        "engine_overrides": {},
    }


def server_model_input(config: Mapping[str, Any]) -> str | list:
    """serve_local naming a locally built demo model: its folder is an input (so it is built first)."""
    from rewild import plan

    serve = judge_settings(config["eval"].get("judge"))["serve_local"]
    return (plan.local_model_dir(config, serve["model"]) or []) if serve else []


def server_gpus(config: Mapping[str, Any]) -> int:
    serve = judge_settings(config["eval"].get("judge"))["serve_local"]
    return int(serve["gpus"]) if serve else 0


def learned_from_map(config: Mapping[str, Any], students: Sequence[str]) -> dict[str, str]:
    from rewild import plan
    from rewild import report as rr

    mixes = plan.all_mixes(config)
    return {s: rr.learned_from(s, mixes) for s in students}


def extrinsic_mixes(
    mixes: Mapping[str, Mapping[str, Any]], dgms: Sequence[str], size: str | None = None
) -> dict[str, str]:
    """{dgm: its single-source mix} for the extrinsic score; with several mixes per DGM `size` picks `{dgm}-{size}`."""
    from rewild import plan

    found: dict[str, list[str]] = {}
    for mix, spec in mixes.items():
        d = plan.mix_dgm(spec)
        if d is None or d not in dgms:
            continue
        if size is not None and mix != f"{d}-{size}":
            continue
        found.setdefault(d, []).append(mix)
    many = {d: m for d, m in found.items() if len(m) > 1}
    if many:
        raise ValueError(f"eval.judge.extrinsic_size: several single-source mixes per DGM {many}; set the size to use")
    return {d: m[0] for d, m in found.items()}


def student_dgm_pairs(
    mixes: Mapping[str, Mapping[str, Any]], students: Sequence[str], dgms: Sequence[str]
) -> list[tuple[str, str]]:
    """(student, the DGM it learned from) for every single-DGM student whose DGM is judged."""
    from rewild import plan

    out = []
    for s in students:
        spec = mixes.get(s)
        d = plan.mix_dgm(spec) if spec else None
        if d is not None and d in dgms:
            out.append((s, d))
    return out


# ---------------------------------------------------------------------------------------------------------------
# Tables
# ---------------------------------------------------------------------------------------------------------------


def per_question_scores(records: Iterable[Mapping[str, Any]]) -> dict[str, float]:
    """{question_id: mean of its turns' scores}; a turn without a score is left out, a question without any too."""
    acc: dict[str, list[float]] = {}
    for r in records:
        if r.get("score") is not None:
            acc.setdefault(str(r["question_id"]), []).append(float(r["score"]))
    return {q: sum(v) / len(v) for q, v in acc.items()}


def preference_table(
    per_question: Mapping[str, Mapping[str, float]],
    pairs: Sequence[tuple[str, str]],
    extra_pairs: Sequence[tuple[str, str]] = (),
):
    """PrefRt both ways for each (student, DGM) pair and each pair of students (with their DGMs' PrefRt and whether
    the order flips), then a `flipct` row: analyse.flip_count on mean scores, analyse.per_question_flip_count."""
    import numpy as np
    import pandas as pd

    from rewild import analyse

    def mean(name: str) -> float:
        v = list(per_question[name].values())
        return float(np.mean(v)) if v else float("nan")

    def prefs(a: str, b: str) -> tuple[float, float, int]:
        try:
            common = [q for q in per_question[a] if q in per_question[b]]
            return (
                analyse.pref_rate(per_question[a], per_question[b]),
                analyse.pref_rate(per_question[b], per_question[a]),
                len(common),
            )
        except ValueError:
            return float("nan"), float("nan"), 0

    rows = []
    for s, d in pairs:
        ab, ba, n = prefs(s, d)
        rows.append(
            {
                "kind": "student_vs_dgm",
                "a": s,
                "b": d,
                "dgm_a": d,
                "dgm_b": d,
                "n_questions": n,
                "mean_a": mean(s),
                "mean_b": mean(d),
                "prefrt_a_over_b": ab,
                "prefrt_b_over_a": ba,
            }
        )
    for i in range(len(pairs)):
        for j in range(i + 1, len(pairs)):
            (si, di), (sj, dj) = pairs[i], pairs[j]
            ab, ba, n = prefs(si, sj)
            dab, dba, _ = prefs(di, dj) if di != dj else (float("nan"), float("nan"), 0)
            s_sign = np.sign(mean(si) - mean(sj))
            d_sign = np.sign(mean(di) - mean(dj))
            rows.append(
                {
                    "kind": "student_vs_student",
                    "a": si,
                    "b": sj,
                    "dgm_a": di,
                    "dgm_b": dj,
                    "n_questions": n,
                    "mean_a": mean(si),
                    "mean_b": mean(sj),
                    "prefrt_a_over_b": ab,
                    "prefrt_b_over_a": ba,
                    "dgm_prefrt_a_over_b": dab,
                    "dgm_prefrt_b_over_a": dba,
                    "flip": bool(s_sign * d_sign < 0),
                }
            )
    for a, b in extra_pairs:
        ab, ba, n = prefs(a, b)
        rows.append(
            {
                "kind": "other",
                "a": a,
                "b": b,
                "n_questions": n,
                "mean_a": mean(a),
                "mean_b": mean(b),
                "prefrt_a_over_b": ab,
                "prefrt_b_over_a": ba,
            }
        )
    flip = {"kind": "flipct", "a": "students", "b": "dgms", "n_questions": None}
    if len(pairs) >= 2:
        flip["flipct"] = analyse.flip_count({s: mean(s) for s, _ in pairs}, {d: mean(d) for _, d in pairs}, pairs)
        try:
            flip["flipct_per_question"] = analyse.per_question_flip_count(
                {s: per_question[s] for s, _ in pairs}, {d: per_question[d] for _, d in pairs}, pairs
            )
        except ValueError:
            flip["flipct_per_question"] = float("nan")
    rows.append(flip)
    cols = [
        "kind",
        "a",
        "b",
        "dgm_a",
        "dgm_b",
        "n_questions",
        "mean_a",
        "mean_b",
        "prefrt_a_over_b",
        "prefrt_b_over_a",
        "dgm_prefrt_a_over_b",
        "dgm_prefrt_b_over_a",
        "flip",
        "flipct",
        "flipct_per_question",
    ]
    out = pd.DataFrame(rows).reindex(columns=cols)
    for col in ("n_questions", "flipct", "flipct_per_question"):
        out[col] = pd.to_numeric(out[col], errors="coerce").astype("Int64")  # integers with gaps, not 2.0
    out["flip"] = out["flip"].astype("boolean")
    return out


def mtbench_table(summaries: Mapping[str, Mapping[str, Any]], learned_from: Mapping[str, str] | None = None):
    import pandas as pd

    rows = []
    for subject, s in summaries.items():
        m = s.get("metrics") or s  # run_grade's eval-JSON shape: details under `metrics`
        ci = m.get("ci95") or [None, None]
        kind = "dgm" if subject_dgm(subject) is not None else "student"
        rows.append(
            {
                "model": subject.removeprefix(DGM_PREFIX),
                "kind": kind,
                "dgm": subject.removeprefix(DGM_PREFIX) if kind == "dgm" else (learned_from or {}).get(subject),
                "mtbench": s.get("score"),
                "mtbench_lo": ci[0],
                "mtbench_hi": ci[1],
                "score_turn1": m.get("score_turn1"),
                "score_turn2": m.get("score_turn2"),
                "n": s.get("n"),
                "n_scored": m.get("n_scored"),
                "n_unparsed": m.get("n_unparsed"),
                "n_failed": m.get("n_failed"),
            }
        )
    return pd.DataFrame(rows)


def response_stats(texts: Sequence[str]) -> dict[str, float]:
    """Mean length (characters) and Markdown structure per response (analyse.markdown_tag_counts totals / n)."""
    from rewild import analyse

    counts = analyse.markdown_tag_counts(texts)
    n = max(1, int(counts["n"]))
    out = {"len_chars": counts["len"]}
    for t in analyse.STYLE_TAGS:
        out[f"md_{t}"] = counts[t] / n
    return out


def intrinsic_table(
    sdq: Mapping[str, Sequence[Mapping[str, Any]]],
    factors: Sequence[str],
    mtbench: Mapping[str, float] | None = None,
):
    """One row per DGM: mean score per factor, sdq_overall (mean of the factor means), counts, response length and
    Markdown structure of the judged responses, and the DGM's own MT-Bench score when it was judged."""
    import numpy as np
    import pandas as pd

    rows = []
    for dgm, recs in sdq.items():
        s = summarise_sdq(recs, factors)
        row: dict[str, Any] = {"dgm": dgm}
        for f in factors:
            row[f] = s["factors"][f]["mean"]
        row["sdq_overall"] = s["overall"]
        responses = {}
        for r in recs:
            responses.setdefault(r["row_id"], r.get("response") or "")
        row.update(response_stats(list(responses.values())) if responses else {})
        if mtbench is not None:
            row["mtbench"] = mtbench.get(dgm, np.nan)
        row.update(
            {k: s[k] for k in ("n_responses", "n_judgments", "n_logprobs", "n_text_fallback", "n_unparsed", "n_failed")}
        )
        rows.append(row)
    df = pd.DataFrame(rows)
    return df.apply(lambda c: pd.to_numeric(c) if c.name != "dgm" else c)


MEASURE_EXCLUDE = ("n_responses", "n_judgments", "n_logprobs", "n_text_fallback", "n_unparsed", "n_failed")


def correlation_table(intrinsic, extrinsic: Mapping[str, float], metric: str):
    """analyse.sdq_correlation_table per measure (NaN where fewer than two DGMs have both values)."""
    import pandas as pd

    from rewild import analyse

    rows = []
    for col in intrinsic.columns:
        if col == "dgm" or col in MEASURE_EXCLUDE or not pd.api.types.is_numeric_dtype(intrinsic[col]):
            continue
        try:
            t = analyse.sdq_correlation_table(intrinsic[["dgm", col]], extrinsic)
            rec = t.iloc[0].to_dict()
        except (ValueError, IndexError):
            n = sum(1 for d, v in zip(intrinsic["dgm"], intrinsic[col]) if d in extrinsic and pd.notna(v))
            rec = {"intrinsic": col, "spearman": float("nan"), "kendall": float("nan"), "n": n}
        rec["extrinsic"] = metric
        rows.append(rec)
    return pd.DataFrame(rows, columns=["intrinsic", "extrinsic", "spearman", "kendall", "n"])


def extrinsic_scores(scores_csv: str | os.PathLike, mixes_by_dgm: Mapping[str, str], metric: str) -> dict[str, float]:
    import pandas as pd

    scores = pd.read_csv(scores_csv)
    if metric not in scores.columns:
        raise KeyError(f"{scores_csv}: no column {metric!r} (eval.judge.extrinsic_metric); have {list(scores.columns)}")
    by_model = dict(zip(scores["model"].astype(str), pd.to_numeric(scores[metric], errors="coerce")))
    out = {}
    for dgm, mix in mixes_by_dgm.items():
        v = by_model.get(mix)
        if v is not None and not math.isnan(v):
            out[dgm] = float(v)
    return out


def plot_sdq_vs_extrinsic(
    intrinsic, corr, extrinsic: Mapping[str, float], metric: str, path: str | os.PathLike
) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    from rewild import plots

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, max(4.2, 1.8 + 0.28 * len(corr))))
    t = intrinsic[intrinsic["dgm"].isin(list(extrinsic))]
    x = t["sdq_overall"].to_numpy(dtype=float) if "sdq_overall" in t else np.array([])
    y = np.array([extrinsic[d] for d in t["dgm"]], dtype=float)
    ax1.scatter(x, y, color="tab:blue", label="DGM")
    for xi, yi, d in zip(x, y, t["dgm"]):
        ax1.annotate(str(d), (xi, yi), textcoords="offset points", xytext=(4, 3), fontsize=8)
    ax1.set_xlabel("intrinsic SDQ: mean judge score over the rubric factors (1–10)")
    ax1.set_ylabel(f"student {metric} (extrinsic SDQ)")
    ax1.set_title("Intrinsic vs extrinsic SDQ per DGM")
    ax1.legend(loc="best")
    c = corr.dropna(subset=["spearman"]) if len(corr) else corr
    ypos = np.arange(len(c))
    ax2.barh(ypos, c["spearman"] if len(c) else [], color="tab:orange", label="Spearman ρ")
    ax2.set_yticks(ypos, list(c["intrinsic"]) if len(c) else [])
    ax2.axvline(0, color="black", lw=0.8)
    ax2.set_xlim(-1.05, 1.05)
    if not len(c):
        ax2.text(
            0.5,
            0.5,
            "needs at least 2 DGMs\nwith both scores",
            ha="center",
            va="center",
            transform=ax2.transAxes,
        )
    ax2.set_xlabel(f"rank correlation with student {metric}")
    ax2.set_ylabel("intrinsic measure")
    ax2.set_title(f"Spearman ρ over {int(corr['n'].max()) if len(corr) else 0} DGMs")
    ax2.legend(loc="best")
    return plots._save(fig, path)


def _write_csv(df, path: str | os.PathLike) -> None:
    with rio.atomic_path(path) as tmp:
        df.to_csv(tmp, index=False)


# ---------------------------------------------------------------------------------------------------------------
# run_* entries (rules/judge.smk → scripts/*.py)
# ---------------------------------------------------------------------------------------------------------------


def run_answers(
    questions_path: str | os.PathLike,
    subject: str,
    model: str,
    model_settings: Mapping[str, Any],
    judge: Mapping[str, Any],
    out_jsonl: str | os.PathLike,
    out_meta: str | os.PathLike,
    cache_dir: str | os.PathLike = ".cache/vllm",
    log_path: str | os.PathLike | None = None,
    config_hash: str | None = None,
) -> dict:
    """MT-Bench answers of one model (a student or a DGM) → FastChat answer JSONL + settings/provenance JSON."""
    if log_path is not None or not logging.getLogger().handlers:
        rio.setup_logging(log_path)
    j = judge_settings(judge)
    started = rio.now_iso()
    questions = load_questions(questions_path)
    m = dict(model_settings)
    log.info("answering %d questions with %s (%s)", len(questions), subject, model)
    records, stats = answer_questions(
        model,
        questions,
        model_name=subject,
        chat_template=m.get("chat_template"),
        max_model_len=int(j["answer_max_model_len"]),
        max_tokens=int(j["answer_max_tokens"]),
        temperature=j.get("answer_temperature"),
        seed=int(j["seed"]),
        dtype=str(m.get("dtype", "auto")),
        gpus=int(m.get("gpus", 0)),
        revision=m.get("revision"),
        trust_remote_code=bool(m.get("trust_remote_code", False)),
        cache_dir=cache_dir,
        engine_overrides=m.get("engine_overrides"),
    )
    rio.write_jsonl(out_jsonl, records)
    meta = {
        "model": subject,
        "model_source": model,
        "questions": str(questions_path),
        "questions_sha256": rio.sha256_file(questions_path),
        "n_questions": len(records),
        "settings": {
            "max_model_len": stats["max_model_len"],
            "max_tokens": int(j["answer_max_tokens"]),
            "temperature": j.get("answer_temperature") or "mt-bench per category",
            "seed": int(j["seed"]),
            "chat_template": m.get("chat_template"),
        },
        "stats": stats,
        "provenance": rio.provenance(config_hash=config_hash, seeds={"answers": int(j["seed"])}, started=started),
    }
    rio.write_json(out_meta, meta)
    log.info(
        "wrote %s: %d questions, %d requests, %d output tokens",
        out_jsonl,
        len(records),
        stats["requests"],
        stats["output_tokens"],
    )
    return meta


def run_grade(
    questions_path: str | os.PathLike,
    answers_path: str | os.PathLike,
    subject: str,
    judge: Mapping[str, Any],
    out_jsonl: str | os.PathLike,
    out_json: str | os.PathLike,
    server_model: str | None = None,
    progress_path: str | os.PathLike | None = None,
    cache_dir: str | os.PathLike = ".cache/vllm",
    log_path: str | os.PathLike | None = None,
    config_hash: str | None = None,
) -> dict:
    """Grade one model's MT-Bench answers → per-turn JSONL + an eval-JSON-shaped summary (task "mtbench")."""
    if log_path is not None or not logging.getLogger().handlers:
        rio.setup_logging(log_path)
    j = judge_settings(judge)
    started = rio.now_iso()
    questions = load_questions(questions_path)
    answers = rio.read_jsonl(answers_path)
    with judge_client(j, server_model=server_model, cache_dir=cache_dir, log_path=log_path) as client:
        cache = ResponseCache(progress_path, fingerprint=rio.stable_hash([client.model, j.get("serve_local")]))
        records = grade(
            client,
            questions,
            answers,
            max_tokens=int(j["grade_max_tokens"]),
            temperature=float(j["grade_temperature"]),
            seed=int(j["seed"]),
            cache=cache,
        )
        judge_info = {**client.describe(), "served_locally": bool(j.get("serve_local"))}
    summary = summarise_grades(records)
    rio.write_jsonl(out_jsonl, [{"model": subject, **r} for r in records])
    out = {
        "model": subject,
        "task": "mtbench",
        "lm_eval_task": None,
        "metric": "score",
        "score": summary["score"],
        "stderr": summary["stderr"],
        "n": summary["n"],
        "metrics": {k: v for k, v in summary.items() if k not in ("samples",)},
        "samples": summary["samples"],
        "judge": {
            **judge_info,
            "serve_local": j.get("serve_local"),
            "max_tokens": int(j["grade_max_tokens"]),
            "temperature": float(j["grade_temperature"]),
            "seed": int(j["seed"]),
        },
        "provenance": rio.provenance(config_hash=config_hash, seeds={"judge": int(j["seed"])}, started=started),
    }
    rio.write_json(out_json, out)
    if progress_path:
        Path(progress_path).unlink(missing_ok=True)
    log.info(
        "%s: MT-Bench %s over %d turns (%d unparsed, %d failed)",
        subject,
        f"{summary['score']:.3f}" if summary["score"] is not None else "n/a",
        summary["n"],
        summary["n_unparsed"],
        summary["n_failed"],
    )
    return out


def run_sdq(
    generations_path: str | os.PathLike,
    dgm: str,
    judge: Mapping[str, Any],
    out_jsonl: str | os.PathLike,
    out_json: str | os.PathLike,
    rubrics_path: str | os.PathLike | None = None,
    server_model: str | None = None,
    progress_path: str | os.PathLike | None = None,
    cache_dir: str | os.PathLike = ".cache/vllm",
    log_path: str | os.PathLike | None = None,
    config_hash: str | None = None,
) -> dict:
    """Judge a seeded sample of a DGM's first responses on the rubric factors → per-judgment JSONL + summary."""
    if log_path is not None or not logging.getLogger().handlers:
        rio.setup_logging(log_path)
    j = judge_settings(judge)
    started = rio.now_iso()
    rubrics, scale = load_rubrics(rubrics_path)
    factors = select_factors(rubrics, j["sdq_factors"])
    items, sample_info = sample_responses(generations_path, int(j["sdq_n"]), int(j["sdq_seed"]))
    log.info("SDQ %s: %d responses x %d factors (%s)", dgm, len(items), len(factors), sample_info)
    prefill = resolve_prefill(j["sdq_prefill"], bool(j.get("serve_local")))
    with judge_client(j, server_model=server_model, cache_dir=cache_dir, log_path=log_path) as client:
        cache = ResponseCache(progress_path, fingerprint=rio.stable_hash([client.model, j.get("serve_local")]))
        work = [(it, f) for it in items for f in factors]

        def one(x: tuple) -> dict:
            it, f = x
            rec = sdq_judge_one(
                client,
                it,
                f,
                rubrics[f],
                scale=scale,
                max_tokens=int(j["sdq_max_tokens"]),
                temperature=float(j["sdq_temperature"]),
                top_logprobs=int(j["sdq_top_logprobs"]),
                max_chars=int(j["sdq_max_chars"]),
                prefill=prefill,
                seed=int(j["sdq_seed"]),
                cache=cache,
            )
            return {"dgm": dgm, **rec, "prompt": it["prompt"], "response": it["response"]}

        records = client.map(one, work, what=f"SDQ judgments of {dgm}")
        _check_not_all_failed(records)
        judge_info = {**client.describe(), "served_locally": bool(j.get("serve_local"))}
    summary = summarise_sdq(records, factors)
    rio.write_jsonl(out_jsonl, records)
    out = {
        "dgm": dgm,
        **summary,
        "sample": sample_info,
        "judge": {
            **judge_info,
            "serve_local": j.get("serve_local"),
            "max_tokens": int(j["sdq_max_tokens"]),
            "temperature": float(j["sdq_temperature"]),
            "top_logprobs": int(j["sdq_top_logprobs"]),
            "prefill": prefill,
            "max_chars": int(j["sdq_max_chars"]),
            "rubrics_sha256": rio.sha256_file(rubrics_path or DEFAULT_RUBRICS),
        },
        "provenance": rio.provenance(config_hash=config_hash, seeds={"sample": int(j["sdq_seed"])}, started=started),
    }
    rio.write_json(out_json, out)
    if progress_path:
        Path(progress_path).unlink(missing_ok=True)
    log.info(
        "%s: SDQ overall %s; %d judgments (%d logprobs, %d text fallback, %d unparsed, %d failed)",
        dgm,
        f"{summary['overall']:.3f}" if summary["overall"] is not None else "n/a",
        summary["n_judgments"],
        summary["n_logprobs"],
        summary["n_text_fallback"],
        summary["n_unparsed"],
        summary["n_failed"],
    )
    return out


def run_preference(
    mtbench_jsonls: Mapping[str, str | os.PathLike],
    mtbench_jsons: Mapping[str, str | os.PathLike],
    pairs: Sequence[tuple[str, str]],
    out_csv: str | os.PathLike,
    out_mtbench_csv: str | os.PathLike | None = None,
    out_png: str | os.PathLike | None = None,
    learned_from: Mapping[str, str] | None = None,
):
    """PrefRt / FlipCt table from per-turn grades. `mtbench_jsonls` / `mtbench_jsons`: {subject: path}, DGM subjects
    written "dgm-<key>" (so a DGM and a student never collide); `pairs`: (student, DGM key)."""
    per_q = {subject: per_question_scores(rio.read_jsonl(p)) for subject, p in mtbench_jsonls.items()}
    keyed = [(s, DGM_PREFIX + d) for s, d in pairs]
    missing = sorted({x for pair in keyed for x in pair if x not in per_q})
    if missing:
        raise KeyError(f"run_preference: no grades for {missing}")
    table = preference_table(per_q, keyed)
    for col in ("a", "b", "dgm_a", "dgm_b"):
        table[col] = table[col].map(lambda v: v.removeprefix(DGM_PREFIX) if isinstance(v, str) else v)
    _write_csv(table, out_csv)
    if out_mtbench_csv or out_png:
        mt = mtbench_table({s: rio.read_json(p) for s, p in mtbench_jsons.items()}, learned_from)
        if out_mtbench_csv:
            _write_csv(mt, out_mtbench_csv)
        if out_png:
            from rewild import plots

            shown = mt.assign(model=[("DGM " if k == "dgm" else "") + m for m, k in zip(mt["model"], mt["kind"])])
            plots.bar_scores(shown, out_png, metric="mtbench", title="MT-Bench-style judge score, students and DGMs")
    return table


def run_sdq_tables(
    sdq_jsonls: Mapping[str, str | os.PathLike],
    scores_csv: str | os.PathLike,
    mixes_by_dgm: Mapping[str, str],
    metric: str,
    out_intrinsic_csv: str | os.PathLike,
    out_corr_csv: str | os.PathLike,
    out_png: str | os.PathLike | None = None,
    mtbench_jsons: Mapping[str, str | os.PathLike] | None = None,
):
    sdq = {d: rio.read_jsonl(p) for d, p in sdq_jsonls.items()}
    factors: list[str] = []
    for recs in sdq.values():
        for r in recs:
            if r["factor"] not in factors:
                factors.append(r["factor"])
    mt = None
    if mtbench_jsons:
        mt = {
            s.removeprefix(DGM_PREFIX): rio.read_json(p).get("score")
            for s, p in mtbench_jsons.items()
            if subject_dgm(s) is not None
        }
        mt = {k: (float(v) if v is not None else float("nan")) for k, v in mt.items()} or None
    intrinsic = intrinsic_table(sdq, factors, mt)
    extrinsic = extrinsic_scores(scores_csv, mixes_by_dgm, metric)
    intrinsic.insert(1, f"extrinsic_{metric}", [extrinsic.get(d, float("nan")) for d in intrinsic["dgm"]])
    corr = correlation_table(intrinsic.drop(columns=[f"extrinsic_{metric}"]), extrinsic, metric)
    _write_csv(intrinsic, out_intrinsic_csv)
    _write_csv(corr, out_corr_csv)
    if out_png:
        plot_sdq_vs_extrinsic(intrinsic, corr, extrinsic, metric, out_png)
    return intrinsic, corr

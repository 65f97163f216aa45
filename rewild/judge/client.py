"""The judge's OpenAI-compatible `/chat/completions` client (plain HTTP, stdlib only), shared by every judged
benchmark.

The API key is read from the environment variable *named* by `api_key_env` at each call and goes only into the
request's Authorization header: it is never logged, never stored in params or results, and `redact` removes it
from any error text (a server may echo it). Retries with backoff on 408/409/425/429/5xx and connection errors; a
400/413/422 (e.g. a prompt over the judge's context) fails only that request (`JudgeRequestError`, recorded by the
caller); 401/403/404 stop the job (`JudgeError`). `judge_identity` says who judges (part of every judged job's
params); `VerdictCache` keeps responses by (identity, request), so a resumed or widened run does not pay twice;
`TokenLedger` counts the judge's tokens from each response's usage.
"""

from __future__ import annotations

import json
import logging
import os
import random
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rewild import io as rio

log = logging.getLogger("rewild.judge")

RETRY_STATUS = {408, 409, 425, 429, 500, 502, 503, 504}
ITEM_STATUS = {400, 413, 422}
BACKOFF_S = 1.0  # first retry delay; doubles per attempt up to a minute


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


@dataclass
class JudgeClient:
    """OpenAI-compatible `/chat/completions` client. Holds the *name* of the key's variable, never the key."""

    base_url: str
    model: str
    api_key_env: str | None
    timeout_s: float
    max_retries: int
    concurrency: int
    backoff_s: float = BACKOFF_S
    _warned_no_key: bool = field(default=False, repr=False)

    @classmethod
    def from_settings(
        cls, settings: Mapping[str, Any], base_url: str | None = None, model: str | None = None
    ) -> JudgeClient:
        """The client of validated `eval.judge` settings; `base_url` / `model` override the configured ones."""
        url = base_url or settings["base_url"]
        name = model or settings["model"]
        if not url:
            raise JudgeError("eval.judge: no base_url and no serve_local: nowhere to send judge requests")
        if not name:
            raise JudgeError("eval.judge.model is not set")
        return cls(
            base_url=str(url),
            model=str(name),
            api_key_env=settings["api_key_env"],
            timeout_s=float(settings["timeout_s"]),
            max_retries=int(settings["max_retries"]),
            concurrency=int(settings["concurrency"]),
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

    def headers(self, key: str | None) -> dict[str, str]:
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
            req = urllib.request.Request(self.endpoint, data=data, headers=self.headers(key), method="POST")
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
            except (urllib.error.URLError, ConnectionError, TimeoutError) as exc:  # socket.timeout is TimeoutError
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


BASE_URL_KINDS = ("api", "local")


def judge_identity(settings: Mapping[str, Any], prompt_version: str) -> dict[str, Any]:
    """Who judges, as each judged job's params carry it (a change reruns exactly the judged jobs) and its results
    record it: model id, revision or API snapshot, the benchmark's prompt version, and whether the judge is an
    API (`base_url`) or served here (`serve_local`). `settings`: the validated `eval.judge` section.

    Served locally: the weights served (`serve_local.model`) at `serve_local.revision`. API: `eval.judge.model` at
    `eval.judge.revision`, else the model id itself (a dated API id such as gpt-4o-mini-2024-07-18 is the
    snapshot). Never the key, nor the URL (which may embed one)."""
    serve = settings["serve_local"]
    if serve:
        return {
            "model": str(serve["model"]),
            "revision_or_snapshot": serve["revision"],
            "prompt_version": str(prompt_version),
            "base_url_kind": "local",
        }
    model = settings["model"]
    return {
        "model": None if model is None else str(model),
        "revision_or_snapshot": settings["revision"] or model,
        "prompt_version": str(prompt_version),
        "base_url_kind": "api",
    }


def identity_hash(identity: Mapping[str, Any]) -> str:
    return rio.stable_hash(dict(identity))


class VerdictCache:
    """Judge responses cached by (judge identity, request body), shared by every job of that identity.

    One folder per identity under `root` (e.g. .cache/judge/<hash>/); each job appends to its own JSONL file in it
    (`job`, e.g. "mtbench-base"), so concurrent jobs never write the same file, and every job reads all files of
    its identity: a job rerun after a crash, or with more questions or models ("widened"), pays only for requests
    not answered before. A changed judge identity is another folder (nothing reused). The request body holds no
    key, and the cache lives outside results/ (not archived). `root` None: no cache."""

    def __init__(self, root: str | os.PathLike | None, identity: Mapping[str, Any], job: str) -> None:
        self.identity = dict(identity)
        self.dir = Path(root) / identity_hash(identity)[:24] if root else None
        self.path = self.dir / f"{job}.jsonl" if self.dir else None
        self.entries: dict[str, dict] = {}
        self.lock = threading.Lock()
        if self.dir and self.dir.is_dir():
            for f in sorted(self.dir.glob("*.jsonl")):
                for line in f.read_text(encoding="utf-8", errors="replace").splitlines():
                    try:
                        rec = json.loads(line)
                    except json.JSONDecodeError:  # a line cut by a kill: ignore it
                        continue
                    if isinstance(rec, dict) and "key" in rec and "response" in rec:
                        self.entries[rec["key"]] = rec["response"]
            if self.entries:
                log.info("judge cache: %d responses of this judge already in %s", len(self.entries), self.dir)

    def key(self, body: Mapping[str, Any]) -> str:
        return rio.stable_hash({"identity": self.identity, "body": body})

    def get(self, key: str) -> dict | None:
        return self.entries.get(key)

    def put(self, key: str, response: dict) -> None:
        with self.lock:
            self.entries[key] = response
            if self.path:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                with open(self.path, "a", encoding="utf-8") as fh:
                    fh.write(json.dumps({"key": key, "response": response}) + "\n")


class TokenLedger:
    """Judge tokens of a job, from each response's `usage`: all requests (`prompt`, `completion`: what the result
    cost, the same on a rerun) and those sent in this run (`sent_*`; a cache hit costs nothing now)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.counts = {
            "requests": 0,
            "cache_hits": 0,
            "prompt": 0,
            "completion": 0,
            "sent_prompt": 0,
            "sent_completion": 0,
            "no_usage": 0,
        }

    def record(self, response: Mapping[str, Any], cached: bool) -> None:
        usage = response.get("usage") if isinstance(response, Mapping) else None
        usage = usage if isinstance(usage, Mapping) else {}
        p = int(usage.get("prompt_tokens") or 0)
        c = int(usage.get("completion_tokens") or 0)
        with self.lock:
            self.counts["requests"] += 1
            self.counts["prompt"] += p
            self.counts["completion"] += c
            if not usage:
                self.counts["no_usage"] += 1
            if cached:
                self.counts["cache_hits"] += 1
            else:
                self.counts["sent_prompt"] += p
                self.counts["sent_completion"] += c

    def totals(self) -> dict[str, int]:
        with self.lock:
            return dict(self.counts)


def cached_chat(
    client: JudgeClient, cache: VerdictCache | None, ledger: TokenLedger | None = None, **kwargs: Any
) -> dict:
    """`client.chat(**kwargs)`, answered from `cache` when this judge already answered this request; its tokens
    go to `ledger`."""
    key = cache.key({"model": client.model, **kwargs}) if cache is not None else None
    hit = cache.get(key) if cache is not None else None
    if hit is not None:
        if ledger is not None:
            ledger.record(hit, cached=True)
        return hit
    resp = client.chat(**kwargs)
    if cache is not None:
        cache.put(key, resp)
    if ledger is not None:
        ledger.record(resp, cached=False)
    return resp


def prefilled(messages: Sequence[Mapping[str, Any]], prefill: str | None) -> tuple[list[dict], dict | None]:
    """`messages` ending in an assistant message `prefill` for the judge to continue, and the request's extra
    fields for that (vLLM's continue_final_message); without a prefill, the messages as they are and no extra."""
    msgs = [dict(m) for m in messages]
    if not prefill:
        return msgs, None
    return msgs + [{"role": "assistant", "content": prefill}], {"continue_final_message": True,
                                                                 "add_generation_prompt": False}


def check_not_all_failed(records: Sequence[Mapping[str, Any]]) -> None:
    """A refused request is recorded and counted; every request refused means the judge is unusable."""
    if records and all(r.get("error") for r in records):
        raise JudgeError(f"every judge request was refused; first error: {records[0]['error']}")

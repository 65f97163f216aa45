"""A model answers multi-turn questions with vLLM offline, as judged benchmarks need (MT-Bench; later AlpacaEval
and MixEval): turn k+1 is asked with the model's own answers to turns 1..k in the conversation.

One `generate` call per turn index over all questions. Each request carries its own seed (run seed, question key,
turn), so an answer does not depend on batching. A prompt that leaves no room in the context gets "" with finish
"no response". The engine (tokenizer, vLLM, templating, CPU/GPU environment) comes from the engine layer's public
names.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rewild import chat_template, engine

log = logging.getLogger("rewild.judge")


@dataclass(frozen=True)
class Question:
    """One question to answer: `key` (an integer, part of each request's seed), the user turns, the sampling
    temperature of its answers."""

    key: int
    turns: Sequence[str]
    temperature: float


@dataclass
class Answered:
    turns: list[str]
    finish_reasons: list[str]
    output_tokens: list[int]


def conversation(turns: Sequence[str], answers: Sequence[str], turn: int) -> list[dict]:
    """Chat for turn `turn` (0-based): the user turns with the model's own earlier answers between."""
    msgs: list[dict] = []
    for t in range(turn + 1):
        msgs.append({"role": "user", "content": str(turns[t])})
        if t < turn:
            msgs.append({"role": "assistant", "content": answers[t]})
    return msgs


def model_context_limit(model: str, revision: str | None, trust_remote_code: bool) -> int | None:
    """The model's own context (max_position_embeddings), or None when its config cannot be read."""
    try:
        from transformers import AutoConfig

        cfg = AutoConfig.from_pretrained(model, revision=revision, trust_remote_code=trust_remote_code)
    except Exception:
        return None
    cfg = getattr(cfg, "text_config", None) or cfg
    v = getattr(cfg, "max_position_embeddings", None)
    return int(v) if v else None


@dataclass
class Engine:
    """A loaded answering engine: vLLM, its tokenizer and the context it reserves (`max_model_len`), shared by the
    benchmarks one job answers (eval.group_tasks); `load_seconds` is what loading it cost."""

    llm: Any
    tokenizer: Any
    max_model_len: int
    load_seconds: float


def context_length(model: str | os.PathLike, settings: Mapping[str, Any], max_model_len: int) -> int:
    """`max_model_len` capped at the model's own context."""
    limit = model_context_limit(str(model), settings["revision"], bool(settings["trust_remote_code"]))
    return int(min(max_model_len, limit) if limit else max_model_len)


def load(
    model: str | os.PathLike,
    settings: Mapping[str, Any],
    *,
    max_model_len: int,
    n_requests: int,
    seed: int,
    cache_dir: str | os.PathLike,
    what: str,
) -> Engine:
    """Load `model` (a folder or Hub id) for answering. `settings`: revision, chat_template, dtype, quantization,
    gpus, trust_remote_code, engine_overrides, engine (rewild.judge.plan.subject_settings); the context is
    `max_model_len` capped at the model's own; `n_requests` sizes the batch; `what` names the job in a device
    error (raised before any load: a GPU job without CUDA fails at once)."""
    model = str(model)
    engine.require_device(settings["gpus"], what)
    L = context_length(model, settings, max_model_len)
    spec = {
        "hf_id": model,
        "revision": settings["revision"],
        "gpus": int(settings["gpus"]),
        "max_model_len": L,
        "dtype": settings["dtype"],
        "quantization": settings["quantization"],
        "trust_remote_code": bool(settings["trust_remote_code"]),
        "engine_overrides": dict(settings["engine_overrides"]),
    }
    local = model if Path(model).is_dir() else None  # a Hub id keeps its revision
    tokenizer = engine.load_tokenizer(spec, local)
    t0 = time.perf_counter()
    llm = engine.load_engine(
        spec,
        settings["engine"],  # the validated generation.engine section (engine settings of any vLLM job)
        seed=seed,
        batch_conversations=max(1, int(n_requests)),
        cache_dir=cache_dir,
        what=what,
        model_path=local,
    )
    return Engine(llm, tokenizer, L, time.perf_counter() - t0)


def answer_all(
    model: str | os.PathLike,
    settings: Mapping[str, Any],
    questions: Sequence[Question],
    *,
    max_model_len: int,
    max_tokens: int,
    seed: int,
    cache_dir: str | os.PathLike,
    what: str,
    shared: Engine | None = None,
) -> tuple[list[Answered], dict]:
    """Answer every turn of every question with `model` (a folder or Hub id; `settings` as for `load`), on the
    `shared` engine when a job answers several benchmarks, else on one loaded here. Prompts are fitted into this
    benchmark's own context (`max_model_len` capped at the model's), whatever context a shared engine reserves, so
    an answer is the same in a shared engine as in its own. Returns (one Answered per question, stats)."""
    if shared is None:
        shared = load(model, settings, max_model_len=max_model_len, n_requests=len(questions), seed=seed,
                      cache_dir=cache_dir, what=what)
        engine_seconds, L = shared.load_seconds, shared.max_model_len  # loaded at this benchmark's context
    else:
        engine_seconds = 0.0  # the job's load, counted once by whoever loaded it
        L = min(context_length(model, settings, max_model_len), shared.max_model_len)
    llm, tokenizer = shared.llm, shared.tokenizer
    template = chat_template.for_inference(settings["chat_template"])
    from vllm import SamplingParams

    done = [Answered([], [], []) for _ in questions]
    stats = {"requests": 0, "input_tokens": 0, "output_tokens": 0, "no_room": 0, "generate_seconds": 0.0}
    n_turns = max((len(q.turns) for q in questions), default=0)
    for turn in range(n_turns):
        asked = [i for i, q in enumerate(questions) if turn < len(q.turns)]
        texts = [
            engine.render_text(conversation(questions[i].turns, done[i].turns, turn), tokenizer, template)
            for i in asked
        ]
        batch: list[tuple[int, list[int], Any]] = []
        for i, ids in zip(asked, engine.encode_batch(tokenizer, texts, add_special_tokens=False)):
            room = min(int(max_tokens), L - len(ids))
            if room <= 0:
                done[i].turns.append("")
                done[i].finish_reasons.append(engine.FINISH_NONE)
                done[i].output_tokens.append(0)
                stats["no_room"] += 1
                continue
            params = SamplingParams(
                max_tokens=room,
                temperature=float(questions[i].temperature),
                seed=engine.request_seed(seed, questions[i].key, turn),
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
            content, finish, _, n_out = engine.answer_from_output(out)
            done[i].turns.append(content)
            done[i].finish_reasons.append(finish)
            done[i].output_tokens.append(n_out)
            stats["requests"] += 1
            stats["input_tokens"] += len(ids)
            stats["output_tokens"] += n_out
        log.info("turn %d: %d answers in %.1f s", turn + 1, len(batch), time.perf_counter() - tg)
    stats["engine_seconds"] = round(engine_seconds, 3)
    stats["max_model_len"] = L
    return done, stats

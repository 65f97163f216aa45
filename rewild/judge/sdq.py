"""Intrinsic synthetic data quality (SDQ): one judge pass per (response, factor) on the twelve factors of the
paper's released judgment mode, rubric + "Score: <1-10>" in the system prompt, few tokens, top logprobs; the score is
the expectation of the digit distribution at the token after "Score:" (rewild.judge.parse.digit_distribution), the
parsed text being the counted fallback.

**Fix of the released code**: its judged prompt ended at the user turn, so the response under judgment was missing;
here the response is inside the prompt (`build_sdq_messages`).
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from rewild import io as rio

from . import cost
from .client import (
    JudgeClient,
    JudgeRequestError,
    TokenLedger,
    VerdictCache,
    cached_chat,
    check_not_all_failed,
    first_choice,
)
from .parse import SCORE_MAX, SCORE_MIN, digit_distribution, expected_score, parse_score_detail
from .server import JudgePlaces, session

log = logging.getLogger("rewild.judge")

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


def load_rubrics(path: str | os.PathLike) -> tuple[dict[str, dict], str]:
    """({slug: {name, rubric}}, scale text) from a rubrics YAML (data/judge/rubrics.yaml); all twelve paper factors
    must be there."""
    data = yaml.safe_load(Path(path).read_text())
    factors = {
        str(k): {"name": str(v["name"]), "rubric": " ".join(str(v["rubric"]).split())}
        for k, v in data["factors"].items()
    }
    missing = [f for f in FACTORS if factor_slug(f) not in factors]
    if missing:
        raise ValueError(f"{path}: rubrics missing for {missing}")
    return factors, " ".join(str(data.get("scale", "")).split())


def select_factors(rubrics: Mapping[str, dict], wanted: str | Sequence[str]) -> list[str]:
    """eval.judge.sdq_factors: "all" or a list of factor slugs."""
    if wanted == "all":
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


def sdq_system_prompt(name: str, rubric: str, scale: str) -> str:
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
    scale: str,
    max_chars: int,
    prefill: bool,
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


def first_exchange(messages: Any) -> tuple[str | None, str | None]:
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


def sample_responses(path: str | os.PathLike, n: int, seed: int) -> tuple[list[dict], dict]:
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
            prompt, response = first_exchange(r.get(col))
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
    scale: str,
    max_tokens: int,
    temperature: float,
    top_logprobs: int,
    max_chars: int,
    prefill: bool,
    seed: int,
    cache: VerdictCache | None,
    ledger: TokenLedger | None,
) -> dict:
    """One judgment of one response on one factor: the expected score of the digit distribution after "Score:",
    else the score parsed from the text (counted as a fallback), else none (counted, with the reason)."""
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
            ledger,
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


def run_sdq(
    generations_path: str | os.PathLike,
    dgm: str,
    judge: Mapping[str, Any],
    out_jsonl: str | os.PathLike,
    out_json: str | os.PathLike,
    *,
    rubrics_path: str | os.PathLike,
    places: JudgePlaces,
    config_hash: str | None = None,
) -> dict:
    """Judge a seeded sample of a DGM's first responses on the rubric factors → per-judgment JSONL + summary.
    `judge`: plan.sdq_params plus the client's cadence; `places`: where the job keeps its caches and a served judge."""
    j = judge
    started = rio.now_iso()
    rubrics, scale = load_rubrics(rubrics_path)
    factors = select_factors(rubrics, j["sdq_factors"])
    items, sample_info = sample_responses(generations_path, int(j["sdq_n"]), int(j["sdq_seed"]))
    log.info("SDQ %s: %d responses x %d factors (%s)", dgm, len(items), len(factors), sample_info)
    prefill = resolve_prefill(j["sdq_prefill"], bool(j["serve_local"]))
    identity = dict(j["identity"])
    with session(j, identity, f"sdq-{dgm}", places) as judge_session:
        work = [(it, f) for it in items for f in factors]

        def one(x: tuple) -> dict:
            it, f = x
            rec = sdq_judge_one(
                judge_session.client,
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
                cache=judge_session.cache,
                ledger=judge_session.ledger,
            )
            return {"dgm": dgm, **rec, "prompt": it["prompt"], "response": it["response"]}

        records = judge_session.client.map(one, work, what=f"SDQ judgments of {dgm}")
        check_not_all_failed(records)
        endpoint_info = judge_session.describe()
    summary = summarise_sdq(records, factors)
    rio.write_jsonl(out_jsonl, records)
    out = {
        "dgm": dgm,
        "benchmark": "sdq",
        **summary,
        **cost.result_fields(identity, judge_session.ledger.totals(), summary["n_unparsed"]),
        "sample": sample_info,
        "endpoint": {
            **endpoint_info,
            "max_tokens": int(j["sdq_max_tokens"]),
            "temperature": float(j["sdq_temperature"]),
            "top_logprobs": int(j["sdq_top_logprobs"]),
            "prefill": prefill,
            "max_chars": int(j["sdq_max_chars"]),
            "rubrics_sha256": rio.sha256_file(rubrics_path),
        },
        "provenance": rio.provenance(config_hash=config_hash, seeds={"sample": int(j["sdq_seed"])}, started=started),
    }
    rio.write_json(out_json, out)
    log.info(
        "%s: SDQ overall %s; %d judgments (%d logprobs, %d text fallback, %d unparsed, %d failed); tokens %s",
        dgm,
        f"{summary['overall']:.3f}" if summary["overall"] is not None else "n/a",
        summary["n_judgments"],
        summary["n_logprobs"],
        summary["n_text_fallback"],
        summary["n_unparsed"],
        summary["n_failed"],
        out["tokens"],
    )
    return out

"""MT-Bench-style single-answer grading (paper §5): questions in FastChat's question.jsonl format, answers in its
model_answer JSONL format (so the style measures of rewild.style read them), FastChat's per-category answer temperatures, our
own single-answer prompt with the "[[rating]]" verdict (reference answers shown when a question has them), and the
two stage entries `run_answers` (rule judge_answers) and `run_grade` (rule judge).
"""

from __future__ import annotations

import hashlib
import logging
import os
import time
import zlib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from rewild import io as rio
from rewild import stats

from .answers import Question, answer_all
from .client import (
    JudgeClient,
    JudgeRequestError,
    TokenLedger,
    VerdictCache,
    cached_chat,
    check_not_all_failed,
    first_choice,
)
from .parse import parse_score_detail
from .server import endpoint

log = logging.getLogger("rewild.judge")

TASK = "mtbench"  # the task name of the grade summary (an eval-JSON-shaped record)

# FastChat's MT-Bench answer temperatures per category (gen_model_answer.py temperature_config) ...
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
OTHER_CATEGORY_TEMPERATURE = 0.7  # ... and its temperature for any other category


# ---------------------------------------------------------------------------------------------------------------
# Questions and answers
# ---------------------------------------------------------------------------------------------------------------


def load_questions(path: str | os.PathLike) -> list[dict]:
    """FastChat question.jsonl: question_id, category, turns[, reference]. Validated: unique ids, >= 1 turn."""
    qs = rio.read_jsonl(path)
    seen: set[str] = set()
    for i, q in enumerate(qs):
        if "question_id" not in q or not isinstance(q.get("turns"), list) or not q["turns"]:
            raise ValueError(f"{path}: line {i + 1} needs question_id and a non-empty turns list")
        if str(q["question_id"]) in seen:
            raise ValueError(f"{path}: duplicate question_id {q['question_id']}")
        seen.add(str(q["question_id"]))
    return qs


def answer_temperature(question: Mapping[str, Any], override: float | None) -> float:
    """`override` (eval.judge.answer_temperature) when set, else FastChat's temperature of the question's category."""
    if override is not None:
        return float(override)
    return MTBENCH_TEMPERATURE.get(str(question.get("category", "")), OTHER_CATEGORY_TEMPERATURE)


def question_key(qid: Any) -> int:
    """An integer per question id (part of each answer request's seed)."""
    try:
        return int(qid)
    except (TypeError, ValueError):
        return zlib.crc32(str(qid).encode())


def answer_questions(
    model: str | os.PathLike,
    settings: Mapping[str, Any],
    questions: Sequence[Mapping[str, Any]],
    *,
    model_name: str,
    max_model_len: int,
    max_tokens: int,
    temperature: float | None,
    seed: int,
    cache_dir: str | os.PathLike,
    llm: Any = None,
    tokenizer: Any = None,
) -> tuple[list[dict], dict]:
    """Answer every turn of every question (rewild.judge.answers); returns (FastChat model_answer records, stats)."""
    asked = [
        Question(question_key(q["question_id"]), [str(t) for t in q["turns"]], answer_temperature(q, temperature))
        for q in questions
    ]
    answered, stats = answer_all(
        model,
        settings,
        asked,
        max_model_len=max_model_len,
        max_tokens=max_tokens,
        seed=seed,
        cache_dir=cache_dir,
        what=f"MT-Bench answers of {model_name}",
        llm=llm,
        tokenizer=tokenizer,
    )
    records = []
    for q, a, done in zip(questions, asked, answered):
        records.append(
            {
                "question_id": q["question_id"],
                "answer_id": hashlib.sha256(f"{model_name}:{q['question_id']}:{seed}".encode()).hexdigest()[:22],
                "model_id": model_name,
                "category": q.get("category"),
                "choices": [{"index": 0, "turns": done.turns}],
                "finish_reasons": done.finish_reasons,
                "output_tokens": done.output_tokens,
                "temperature": a.temperature,
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
# Grading
# ---------------------------------------------------------------------------------------------------------------

GRADE_SYSTEM = "You are a fair, careful and impartial evaluator of AI assistant responses."

GRADE_INSTRUCTION = (
    "Please act as an impartial judge of the quality of {what}. Consider helpfulness, relevance, accuracy, depth, "
    "creativity and level of detail.{reference_clause} Start with a short explanation of a few sentences. Be as "
    "objective as possible and do not let the answer's length or style sway you. After the explanation you must "
    'rate the answer on a scale of 1 to 10, strictly in this format: "Rating: [[rating]]", for example '
    '"Rating: [[6]]".'
)
REFERENCE_CLAUSE = " A reference answer is given: compare the assistant's answer with it and penalise mistakes."


def build_grade_messages(question: Mapping[str, Any], answers: Sequence[str], turn: int) -> list[dict]:
    """Single-answer grading prompt for turn `turn` (0-based). Turn 1: the question and the answer; later turns:
    the whole conversation so far, judging only the last answer. Reference answers (math, reasoning, coding in
    MT-Bench) are shown when the question has them."""
    refs = question.get("reference") or []
    ref = refs[turn] if turn < len(refs) else None
    clause = REFERENCE_CLAUSE if ref else ""
    if turn == 0:
        what = "the AI assistant's answer to the user question shown below"
        parts = [
            GRADE_INSTRUCTION.format(what=what, reference_clause=clause),
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
            GRADE_INSTRUCTION.format(what=what, reference_clause=clause),
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
    max_tokens: int,
    temperature: float,
    seed: int,
    cache: VerdictCache | None,
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
    check_not_all_failed(records)
    return records


def summarise_grades(records: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Mean score on the 1-10 scale over all scored turns (the MT-Bench score), per-turn means, counts, 95% CI."""
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
        m, lo, hi = stats.ci95(scored)
        out["ci95"] = [lo, hi]
        out["stderr"] = (hi - lo) / (2 * stats.Z95)
    turns = sorted({int(r["turn"]) for r in records})
    for t in turns:
        s = [float(r["score"]) for r in records if int(r["turn"]) == t and r.get("score") is not None]
        out[f"score_turn{t}"] = float(sum(s) / len(s)) if s else None
    return out


# ---------------------------------------------------------------------------------------------------------------
# Stage entries (rules/judge.smk → scripts/judge_answers.py, scripts/judge.py)
# ---------------------------------------------------------------------------------------------------------------


def run_answers(
    questions_path: str | os.PathLike,
    subject: str,
    model: str,
    model_settings: Mapping[str, Any],
    judge: Mapping[str, Any],
    out_jsonl: str | os.PathLike,
    out_meta: str | os.PathLike,
    *,
    cache_dir: str | os.PathLike,
    config_hash: str | None = None,
) -> dict:
    """MT-Bench answers of one model (a student or a DGM) → FastChat answer JSONL + settings/provenance JSON.
    `model`: the folder or Hub id to load; `model_settings`: plan.subject_settings; `judge`: plan.stage_params
    of the answers stage."""
    j = judge
    started = rio.now_iso()
    questions = load_questions(questions_path)
    log.info("answering %d questions with %s (%s)", len(questions), subject, model)
    records, stats = answer_questions(
        model,
        model_settings,
        questions,
        model_name=subject,
        max_model_len=int(j["answer_max_model_len"]),
        max_tokens=int(j["answer_max_tokens"]),
        temperature=j["answer_temperature"],
        seed=int(j["seed"]),
        cache_dir=cache_dir,
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
            "temperature": "mt-bench per category" if j["answer_temperature"] is None else j["answer_temperature"],
            "seed": int(j["seed"]),
            "chat_template": model_settings["chat_template"],
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
    *,
    cache_dir: str | os.PathLike,
    server_model: str | None = None,
    progress_path: str | os.PathLike | None = None,
    server_log: str | os.PathLike | None = None,
    config_hash: str | None = None,
) -> dict:
    """Grade one model's MT-Bench answers → per-turn JSONL + an eval-JSON-shaped summary (task "mtbench").
    `judge`: plan.stage_params of the grade stage; `progress_path`: the response cache of a resumed job."""
    j = judge
    started = rio.now_iso()
    questions = load_questions(questions_path)
    answers = rio.read_jsonl(answers_path)
    with endpoint(j, server_model=server_model, cache_dir=cache_dir, server_log=server_log) as client:
        cache = VerdictCache(progress_path, j["identity"], job=f"mtbench-{subject}")
        records = grade(
            client,
            questions,
            answers,
            max_tokens=int(j["grade_max_tokens"]),
            temperature=float(j["grade_temperature"]),
            seed=int(j["seed"]),
            cache=cache,
        )
        judge_info = {**client.describe(), "served_locally": bool(j["serve_local"])}
    summary = summarise_grades(records)
    rio.write_jsonl(out_jsonl, [{"model": subject, **r} for r in records])
    out = {
        "model": subject,
        "task": TASK,
        "lm_eval_task": None,
        "metric": "score",
        "score": summary["score"],
        "stderr": summary["stderr"],
        "n": summary["n"],
        "metrics": {k: v for k, v in summary.items() if k not in ("samples",)},
        "samples": summary["samples"],
        "judge": {
            **judge_info,
            "serve_local": j["serve_local"],
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

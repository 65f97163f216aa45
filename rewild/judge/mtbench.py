"""MT-Bench as the paper scored it (Evalchemy's FastChat llm_judge): FastChat's single-answer grading over its
questions (question.jsonl), with its judge prompts (judge_prompts.jsonl: single-v1 and the reference-based
single-math-v1, each with a multi-turn variant) and reference answers for the math/reasoning/coding categories, the
"[[rating]]" verdict on 1-10, and answers in FastChat's model_answer format with its per-category temperatures.
Those files are data of a pinned FastChat commit (eval.judge.mtbench; rewild.judge.plan), read here, never copied.
Stage entries: `run_answers` (rule judge_answers) and `run_grade` (rule judge).
"""

from __future__ import annotations

import hashlib
import logging
import os
import time
import zlib
from collections.abc import Mapping, Sequence
from typing import Any

from rewild import io as rio
from rewild import stats

from . import cost
from .answers import Engine, Question, answer_all
from .client import (
    JudgeClient,
    JudgeRequestError,
    TokenLedger,
    VerdictCache,
    cached_chat,
    check_not_all_failed,
    first_choice,
    prefilled,
)
from .parse import parse_rating
from .plan import first_n
from .server import JudgePlaces, session

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
    shared: Engine | None = None,
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
        shared=shared,
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
# Grading: FastChat's single-answer grading with the judge prompts of its data (judge_prompts.jsonl)
# ---------------------------------------------------------------------------------------------------------------

# Categories whose questions are graded against a reference answer (FastChat's NEED_REF_CATS)
NEED_REF_CATEGORIES = ("math", "reasoning", "coding", "arena-hard-200")
# The judge prompt of a turn: (reference-based, second turn) -> the prompt's `name` in judge_prompts.jsonl
PROMPT_NAMES: dict[tuple[bool, bool], str] = {
    (False, False): "single-v1",
    (True, False): "single-math-v1",
    (False, True): "single-v1-multi-turn",
    (True, True): "single-math-v1-multi-turn",
}
PROMPT_FIELDS = ("name", "type", "system_prompt", "prompt_template", "output_format")
VERDICT_FORMAT = "[[rating]]"


def load_judge_prompts(path: str | os.PathLike) -> dict[str, dict]:
    """{name: prompt} of a FastChat judge_prompts.jsonl; the four single-answer prompts must be there, with the
    "[[rating]]" verdict format."""
    prompts = {}
    for i, rec in enumerate(rio.read_jsonl(path)):
        missing = [f for f in PROMPT_FIELDS if f not in rec]
        if missing:
            raise ValueError(f"{path}: line {i + 1} lacks {missing}")
        prompts[str(rec["name"])] = rec
    for name in PROMPT_NAMES.values():
        rec = prompts.get(name)
        if rec is None:
            raise ValueError(f"{path}: no judge prompt named {name!r} (have {sorted(prompts)})")
        if rec["type"] != "single" or rec["output_format"] != VERDICT_FORMAT:
            raise ValueError(f"{path}: {name} is not a single-answer prompt with the {VERDICT_FORMAT} verdict")
    return prompts


def load_reference_answers(path: str | os.PathLike) -> dict[str, list[str]]:
    """{question_id: reference turns} of a FastChat reference-answer file (model_answer format)."""
    return {str(r["question_id"]): answer_turns(r) for r in rio.read_jsonl(path)}


def needs_reference(question: Mapping[str, Any]) -> bool:
    return str(question.get("category", "")) in NEED_REF_CATEGORIES


def check_references(questions: Sequence[Mapping[str, Any]], references: Mapping[str, Sequence[str]]) -> None:
    """Every reference-graded question has a reference turn per question turn (FastChat's check_data)."""
    short = [
        q["question_id"]
        for q in questions
        if needs_reference(q) and len(references.get(str(q["question_id"]), ())) < len(q["turns"])
    ]
    if short:
        raise ValueError(f"reference answers missing for the reference-graded questions {short}")


def build_grade_messages(
    prompts: Mapping[str, Mapping[str, Any]],
    question: Mapping[str, Any],
    answers: Sequence[str],
    turn: int,
    reference: Sequence[str] | None,
) -> list[dict]:
    """The judge's chat for turn `turn` (0-based) as FastChat builds it: the system prompt and the prompt template
    of the turn's prompt (second turn: the multi-turn prompt with both turns; math/reasoning/coding: the
    reference-based one with the reference answer), filled with the question, the answers and the references."""
    if turn not in (0, 1):
        raise ValueError(f"MT-Bench grading has two turns; turn index {turn} asked")
    ref = bool(reference) and needs_reference(question)
    prompt = prompts[PROMPT_NAMES[(ref, turn == 1)]]
    fill: dict[str, str] = {}
    if ref:
        fill["ref_answer_1"] = str(reference[0])
        if turn == 1:
            fill["ref_answer_2"] = str(reference[1])
    if turn == 1:
        fill.update(
            question_1=str(question["turns"][0]),
            question_2=str(question["turns"][1]),
            answer_1=str(answers[0]),
            answer_2=str(answers[1]),
        )
    else:
        fill.update(question=str(question["turns"][0]), answer=str(answers[0]))
    user = str(prompt["prompt_template"]).format(**fill)
    return [{"role": "system", "content": str(prompt["system_prompt"])}, {"role": "user", "content": user}]


def grade(
    client: JudgeClient,
    prompts: Mapping[str, Mapping[str, Any]],
    questions: Sequence[Mapping[str, Any]],
    answers: Sequence[Mapping[str, Any]],
    references: Mapping[str, Sequence[str]],
    *,
    max_tokens: int,
    temperature: float,
    seed: int,
    cache: VerdictCache | None,
    ledger: TokenLedger | None,
    prefill: str | None = None,
) -> list[dict]:
    """Grade every turn of every answered question, in question order. One record per (question, turn):
    question_id, turn (1-based), category, answer, judge_output, score (1-10 or None), parse (how / why not),
    error (a refused request). A verdict without a rating is counted, never fatal. `prefill`
    (eval.judge.verdict_prefill): the text each verdict starts with; the rating is read from it plus the reply."""
    check_references(questions, references)
    by_answer = {str(a["question_id"]): a for a in answers}
    unknown = sorted(set(by_answer) - {str(q["question_id"]) for q in questions})
    if unknown:
        raise ValueError(f"answers for unknown question_ids {unknown}")
    items = []
    for q in questions:
        a = by_answer.get(str(q["question_id"]))
        if a is None:
            raise ValueError(f"no answer for question_id {q['question_id']}")
        turns = answer_turns(a)
        for t in range(min(len(q["turns"]), len(turns), 2)):
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
        ref = references.get(str(q["question_id"])) if needs_reference(q) else None
        messages, extra = prefilled(build_grade_messages(prompts, q, turns, t, ref), prefill)
        # `extra` only when set: the verdict cache keys requests by their arguments, so the unprefilled requests
        # keep the keys they had
        request = {"extra": extra} if extra else {}
        try:
            resp = cached_chat(
                client,
                cache,
                ledger,
                messages=messages,
                max_tokens=max_tokens,
                temperature=temperature,
                seed=seed,
                **request,
            )
        except JudgeRequestError as exc:
            rec["error"] = str(exc)
            rec["parse"] = "request_failed"
            return rec
        text, _, _ = first_choice(resp)
        rec["judge_output"] = (prefill or "") + (text or "") if prefill else text
        rec["score"], rec["parse"] = parse_rating(rec["judge_output"])
        return rec

    records = client.map(one, items, what="mt-bench grading")
    check_not_all_failed(records)
    return records


def summarise_grades(records: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The MT-Bench score as FastChat's show_result computes it: the mean over every (question, turn) the judge
    rated (a turn without a rating is left out and counted: n_malformed, n_failed), per-turn and per-category
    means, the standard error of the rated turns, and `samples`: one value per graded turn in record order (the
    same for every model) with an unrated turn set to the model's score, so that the samples' mean is the score
    and every model's samples align for a paired bootstrap."""
    scored = [float(r["score"]) for r in records if r.get("score") is not None]
    score = float(sum(scored) / len(scored)) if scored else None
    out: dict[str, Any] = {
        "n": len(records),
        "n_scored": len(scored),
        "n_malformed": sum(1 for r in records if r.get("score") is None and not r.get("error")),
        "n_failed": sum(1 for r in records if r.get("error")),
        "score": score,
        "stderr": None,
        "ci95": None,
        "samples": [float(r["score"]) if r.get("score") is not None else score for r in records] if scored else [],
        "malformed_reasons": {},
        "by_category": {},
    }
    for r in records:
        if r.get("score") is None:
            why = r.get("parse") or "unknown"
            out["malformed_reasons"][why] = out["malformed_reasons"].get(why, 0) + 1
    if len(scored) >= 2:
        _, lo, hi = stats.ci95(scored)
        out["ci95"] = [lo, hi]
        out["stderr"] = (hi - lo) / (2 * stats.Z95)
    for t in sorted({int(r["turn"]) for r in records}):
        v = [float(r["score"]) for r in records if int(r["turn"]) == t and r.get("score") is not None]
        out[f"score_turn{t}"] = float(sum(v) / len(v)) if v else None
    for c in sorted({str(r.get("category")) for r in records}):
        v = [float(r["score"]) for r in records if str(r.get("category")) == c and r.get("score") is not None]
        out["by_category"][c] = float(sum(v) / len(v)) if v else None
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
    shared: Engine | None = None,
) -> dict:
    """MT-Bench answers of one model (a student or a DGM) → FastChat answer JSONL + settings/provenance JSON.
    `model`: the folder or Hub id to load; `model_settings`: plan.subject_settings; `judge`: plan.stage_params
    of the answers stage; `shared`: the job's engine when it answers several benchmarks."""
    j = judge
    started = rio.now_iso()
    questions = first_n(load_questions(questions_path), j["limit"])
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
        shared=shared,
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
    paths: Mapping[str, str | os.PathLike],
    answers_path: str | os.PathLike,
    subject: str,
    judge: Mapping[str, Any],
    out_jsonl: str | os.PathLike,
    out_json: str | os.PathLike,
    *,
    places: JudgePlaces,
    config_hash: str | None = None,
) -> dict:
    """Grade one model's MT-Bench answers → per-turn JSONL + results/judge/{model}/mtbench.json (the judged-score
    contract: score 1-10, stderr, n, samples, judge identity, tokens, cost estimate, n_malformed).
    `paths`: questions, references, prompts (plan.mtbench_inputs); `judge`: plan.grade_params plus the client's
    cadence; `places`: where the job keeps its caches and a served judge."""
    j = judge
    started = rio.now_iso()
    questions = first_n(load_questions(paths["questions"]), j["limit"])
    references = load_reference_answers(paths["references"])
    prompts = load_judge_prompts(paths["prompts"])
    answers = rio.read_jsonl(answers_path)
    identity = dict(j["identity"])
    with session(j, identity, f"{TASK}-{subject}", places) as judge_session:
        records = grade(
            judge_session.client,
            prompts,
            questions,
            answers,
            references,
            max_tokens=int(j["grade_max_tokens"]),
            temperature=float(j["grade_temperature"]),
            seed=int(j["seed"]),
            cache=judge_session.cache,
            ledger=judge_session.ledger,
            prefill=j["verdict_prefill"],
        )
        endpoint_info = judge_session.describe()
    summary = summarise_grades(records)
    rio.write_jsonl(out_jsonl, [{"model": subject, **r} for r in records])
    out = {
        "model": subject,
        "benchmark": TASK,
        "task": TASK,
        "metric": "score",
        "score": summary["score"],
        "stderr": summary["stderr"],
        "n": len(summary["samples"]),
        "samples": summary["samples"],
        **cost.result_fields(identity, judge_session.ledger.totals(), summary["n_malformed"]),
        "n_failed": summary["n_failed"],
        "metrics": {k: v for k, v in summary.items() if k != "samples"},
        "endpoint": {
            **endpoint_info,
            "max_tokens": int(j["grade_max_tokens"]),
            "temperature": float(j["grade_temperature"]),
            "seed": int(j["seed"]),
        },
        "data": {role: {"path": str(p), "sha256": rio.sha256_file(p)} for role, p in paths.items()},
        "provenance": rio.provenance(config_hash=config_hash, seeds={"judge": int(j["seed"])}, started=started),
    }
    rio.write_json(out_json, out)
    log.info(
        "%s: MT-Bench %s over %d turns (%d malformed, %d failed); judge tokens %s, est. cost %s USD",
        subject,
        f"{summary['score']:.3f}" if summary["score"] is not None else "n/a",
        summary["n"],
        summary["n_malformed"],
        summary["n_failed"],
        out["tokens"],
        out["cost_usd_estimate"],
    )
    return out

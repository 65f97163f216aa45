"""rewild.judge: score parsing, digit-logprob expectations, prompts, secret handling, the judge client against a
stub OpenAI-compatible server, tables, the rules' DAG (fast); one slow test against a real local vLLM server."""

from __future__ import annotations

import http.server
import json
import math
import os
import secrets
import subprocess
import sys
import threading
import time
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml
from rewild_testlib import REPO, TEST_MODELS, run_snakemake, workdir_copy

from rewild import engine, preference, stats
from rewild import io as rio
from rewild.judge import answers as A
from rewild.judge import client as C
from rewild.judge import mtbench as M
from rewild.judge import parse as P
from rewild.judge import plan as JP
from rewild.judge import sdq as S
from rewild.judge import server as SV
from rewild.judge import tables as T

MT_DATA = REPO / "data" / "replicas" / "lm-sys" / "FastChat" / "fastchat" / "llm_judge" / "data"  # the replica
MT_PATHS = {
    "questions": MT_DATA / "mt_bench" / "question.jsonl",
    "references": MT_DATA / "mt_bench" / "reference_answer" / "gpt-4.jsonl",
    "prompts": MT_DATA / "judge_prompts.jsonl",
}
QUESTIONS = MT_PATHS["questions"]
MT_LOCAL = {"source": "local", "path": str(MT_DATA)}  # eval.judge.mtbench of the replica
RUBRICS = REPO / "data" / "judge" / "rubrics.yaml"
SMOLLM2 = TEST_MODELS["smollm2"]  # built at session start (conftest), so CI runs the real judge
# made per test session, so that no file (this test's source in an archive included) holds it unless it leaked
SECRET = "sk-rewild-TEST-" + secrets.token_hex(16)
KEY_ENV = "REWILD_JUDGE_TEST_KEY"


def validated(judge: dict) -> dict:
    """The demo config with `eval.judge` = `judge`, validated: every judge setting filled from the schema."""
    from rewild import config as rc

    cfg = yaml.safe_load((REPO / "config" / "demo.yaml").read_text())
    cfg["eval"]["judge"] = judge
    return rc.validate(cfg)


def judge_settings(**judge) -> dict:
    """Validated `eval.judge` settings (what the rules hand the stage entries, every stage's keys included, with the
    items each judged benchmark takes: eval.judged_limit)."""
    cfg = validated(judge)
    return {**cfg["eval"]["judge"], "limit": cfg["eval"]["judged_limit"]}


# one SDQ judgment's settings as the schema's defaults give them (sdq.run_sdq passes them from eval.judge)
SDQ_KW = dict(
    scale="",
    max_tokens=10,
    temperature=0.2,
    top_logprobs=10,
    max_chars=8000,
    prefill=False,
    seed=0,
    cache=None,
    ledger=None,
)
GRADE_KW = dict(max_tokens=2048, temperature=0.0, seed=0, cache=None, ledger=None)


def _mt() -> tuple[dict, list[dict], dict]:
    """(judge prompts, questions, reference answers) of the replica."""
    return (
        M.load_judge_prompts(MT_PATHS["prompts"]),
        M.load_questions(MT_PATHS["questions"]),
        M.load_reference_answers(MT_PATHS["references"]),
    )


def _client(base_url: str, key_env: str | None = KEY_ENV, **kw) -> C.JudgeClient:
    return C.JudgeClient(base_url, "stub-judge", key_env, **{"timeout_s": 10, "max_retries": 0, "concurrency": 1, **kw})


# --------------------------------------------------------------------------------------------------------------
# parse_score
# --------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, expected",
    [
        ("Rating: [[7]]", 7.0),
        ("The answer is fine.\n\nRating: [[8]]", 8.0),
        ("[[10]]", 10.0),
        ("[[ 6 ]]", 6.0),
        ("Rating: [[7.5]]", 7.5),
        ("Rating: [[7/10]]", 7.0),
        ("[[7]] ... to restate: Rating: [[7]]", 7.0),
        ("7/10", 7.0),
        ("I would give it 7 / 10.", 7.0),
        ("7 out of 10", 7.0),
        ("10/10, flawless", 10.0),
        ("Rating: 7", 7.0),
        ("Score: 9", 9.0),
        ("**Score:** 4", 4.0),
        ("score of 5", 5.0),
        ("My rating is 6.", 6.0),
        ("I'd rate it 3", 3.0),
        ("Score: 10.", 10.0),
        ("Rating: 7.5/10", 7.5),
        ("[5]", 5.0),
        ("8", 8.0),
        ("  8.  ", 8.0),
        # the explanation's numbers are never taken for the rating
        ("The answer lists 3 steps out of 5 and is correct. Rating: [[9]]", 9.0),
        ("It covers 3 of 4 points. Rating: 6", 6.0),
    ],
)
def test_parse_score_reads_the_rating(text, expected):
    assert P.parse_score(text) == pytest.approx(expected)


@pytest.mark.parametrize(
    "text, reason",
    [
        (None, "empty"),
        ("", "empty"),
        ("   \n", "empty"),
        ("The answer is helpful and accurate.", "no_number"),
        ("Rating: [[seven]]", "no_number"),
        ("It has 3 steps and 2 mistakes.", "no_number"),
        ("Rating: [[3]] ... on reflection, Rating: [[8]]", "ambiguous"),
        ("7/10 compared with 9/10 for a perfect answer", "ambiguous"),
        ("Rating: [[0]]", "out_of_range"),
        ("Rating: [[11]]", "out_of_range"),
        ("Rating: [[100]]", "out_of_range"),
        ("Score: 85", "out_of_range"),
        ("Rating: -3", "no_number"),
        ("7/100", "no_number"),
        ("[[rating]]", "no_number"),
    ],
)
def test_parse_score_survives_malformed_output(text, reason):
    score, why = P.parse_score_detail(text)
    assert score is None and why == reason


def test_parse_score_never_raises_on_junk():
    for junk in ["[[", "]]", "[[]]", "Rating:", "Score: [[", "\x00\x01", "١٠", "NaN", "∞/10", "[[1e9]]", 7, 7.5]:
        s = P.parse_score(junk)
        assert s is None or 1 <= s <= 10


# --------------------------------------------------------------------------------------------------------------
# digit logprobs
# --------------------------------------------------------------------------------------------------------------


def _entry(token, alts):
    """A logprobs.content entry; alts = {token: prob}."""
    return {
        "token": token,
        "logprob": math.log(alts.get(token, 1e-9)),
        "top_logprobs": [{"token": t, "logprob": math.log(p)} for t, p in alts.items()],
    }


def test_digit_distribution_llama_style_single_tokens():
    # "Score: 7" with " 7" one token; "10" is a token of its own (Llama-3 / GPT-4o style)
    content = [
        _entry("Score", {"Score": 0.99}),
        _entry(":", {":": 0.99}),
        _entry(" 7", {" 7": 0.5, " 8": 0.3, " 10": 0.1, " 6": 0.05, " the": 0.05}),
    ]
    probs, info = P.digit_distribution(content)
    assert info["position"] == 2 and info["digit_mass"] == pytest.approx(0.95)
    assert probs[7] == pytest.approx(0.5 / 0.95) and probs[10] == pytest.approx(0.1 / 0.95)
    assert sum(probs.values()) == pytest.approx(1.0)
    assert P.expected_score(probs) == pytest.approx((0.5 * 7 + 0.3 * 8 + 0.1 * 10 + 0.05 * 6) / 0.95)


def test_digit_distribution_splits_one_and_ten_for_digit_tokenizers():
    # SmolLM2 / Qwen style: " 10" is "Ġ" + "1" + "0"; the "1" mass holds 1 and 10
    content = [
        _entry("Score", {"Score": 1.0}),
        _entry(":", {":": 1.0}),
        _entry(" ", {" ": 0.9, " [": 0.1}),
        _entry("1", {"1": 0.6, "9": 0.3, "8": 0.1}),
        _entry("0", {"0": 0.75, "\n": 0.25}),
    ]
    probs, info = P.digit_distribution(content)
    assert info["position"] == 3 and info["ten_split"] == pytest.approx(0.75)
    assert probs[10] == pytest.approx(0.45) and probs[1] == pytest.approx(0.15)
    assert probs[9] == pytest.approx(0.3) and probs[8] == pytest.approx(0.1)
    assert P.expected_score(probs) == pytest.approx(0.45 * 10 + 0.15 * 1 + 0.3 * 9 + 0.1 * 8)


def test_digit_distribution_one_without_continuation_counts_as_one():
    content = [_entry(" 7", {" 7": 0.6, " 1": 0.4})]
    probs, info = P.digit_distribution(content, prefilled=True)
    assert info["ten_split"] == "unknown"
    assert probs[1] == pytest.approx(0.4) and probs[10] == 0.0


def test_digit_distribution_prefilled_starts_at_first_generated_token():
    content = [_entry(" ", {" ": 0.7, " [": 0.3}), _entry("8", {"8": 0.8, "9": 0.2}), _entry("\n", {"\n": 1.0})]
    probs, info = P.digit_distribution(content, prefilled=True)
    assert info["position"] == 1
    assert P.expected_score(probs) == pytest.approx(8.2)


def test_digit_distribution_absent_or_useless():
    assert P.digit_distribution(None)[0] is None
    assert P.digit_distribution([])[1]["reason"] == "no_logprobs"
    no_marker = [_entry("Seven", {"Seven": 1.0})]
    assert P.digit_distribution(no_marker)[1]["reason"] == "no_marker"
    no_digits = [_entry("Score", {"Score": 1.0}), _entry(":", {":": 1.0}), _entry(" good", {" good": 0.9, " ok": 0.1})]
    probs, info = P.digit_distribution(no_digits)
    assert probs is None and info["reason"] == "no_digit_candidates"
    # "0" and "11" are not scores
    probs, _ = P.digit_distribution([_entry("0", {"0": 0.5, "11": 0.3, "5": 0.2})], prefilled=True)
    assert probs[5] == pytest.approx(1.0)


def test_expected_score_bounds():
    for d in range(1, 11):
        assert P.expected_score({d: 1.0}) == d
    with pytest.raises(ValueError):
        P.expected_score({})


# --------------------------------------------------------------------------------------------------------------
# prompts
# --------------------------------------------------------------------------------------------------------------


def test_sdq_prompt_contains_the_response_and_the_rubric():
    rubrics, scale = S.load_rubrics(RUBRICS)
    assert [S.factor_slug(f) for f in S.FACTORS] == list(rubrics)  # all 12 paper factors, in order
    f = rubrics["factuality"]
    msgs = S.build_sdq_messages(
        f, "What is the capital of France?", "UNIQUE-RESPONSE-TEXT Paris.", scale=scale, max_chars=8000, prefill=False
    )
    assert msgs[0]["role"] == "system" and "Factuality" in msgs[0]["content"] and f["rubric"] in msgs[0]["content"]
    assert "Score: <1-10>" in msgs[0]["content"]
    assert "UNIQUE-RESPONSE-TEXT Paris." in msgs[1]["content"]  # the released code's bug: response missing
    assert "What is the capital of France?" in msgs[1]["content"]
    assert len(msgs) == 2
    pre = S.build_sdq_messages(f, "q", "r", scale=scale, max_chars=8000, prefill=True)
    assert pre[-1] == {"role": "assistant", "content": "Score:"}
    long = S.build_sdq_messages(f, "q", "x" * 500, scale=scale, max_chars=100, prefill=False)
    assert (
        "x" * 100 in long[1]["content"]
        and "x" * 101 not in long[1]["content"]
        and "400 more characters" in long[1]["content"]
    )


def test_grade_prompts_follow_fastchat_single_answer_grading():
    """Turn 1: single-v1 (or single-math-v1 with the reference for math/reasoning/coding); turn 2: the multi-turn
    variant with both turns and both references; the system prompt comes from judge_prompts.jsonl."""
    prompts, qs, refs = _mt()
    math_q = next(q for q in qs if q["category"] == "math")
    ref = refs[str(math_q["question_id"])]
    m1 = M.build_grade_messages(prompts, math_q, ["FIRST-ANSWER", "SECOND-ANSWER"], 0, ref)
    assert m1[0] == {"role": "system", "content": prompts["single-math-v1"]["system_prompt"]}
    assert m1[1]["content"] == prompts["single-math-v1"]["prompt_template"].format(
        question=math_q["turns"][0], answer="FIRST-ANSWER", ref_answer_1=ref[0]
    )
    assert "SECOND-ANSWER" not in m1[1]["content"] and ref[1] not in m1[1]["content"]
    m2 = M.build_grade_messages(prompts, math_q, ["FIRST-ANSWER", "SECOND-ANSWER"], 1, ref)
    assert m2[0]["content"] == prompts["single-math-v1-multi-turn"]["system_prompt"]
    assert all(x in m2[1]["content"] for x in (*math_q["turns"], "FIRST-ANSWER", "SECOND-ANSWER", *ref))
    plain = next(q for q in qs if q["category"] == "writing")
    # a writing question never gets a reference, even if one were passed
    w1 = M.build_grade_messages(prompts, plain, ["a", "b"], 0, ["REF-LEAK", "REF-LEAK"])
    assert w1[0]["content"] == prompts["single-v1"]["system_prompt"] and "REF-LEAK" not in w1[1]["content"]
    assert (
        M.build_grade_messages(prompts, plain, ["a", "b"], 1, None)[0]["content"]
        == (prompts["single-v1-multi-turn"]["system_prompt"])
    )
    assert {M.needs_reference(q) for q in qs if q["category"] in ("math", "reasoning", "coding")} == {True}
    # a reference-graded question without its reference is a data error before any request
    with pytest.raises(ValueError, match="reference answers missing"):
        M.check_references(qs, {})


def test_judge_prompts_file_is_checked(tmp_path):
    bad = tmp_path / "judge_prompts.jsonl"
    rows = rio.read_jsonl(MT_PATHS["prompts"])
    rio.write_jsonl(bad, [r for r in rows if r["name"] != "single-math-v1-multi-turn"])
    with pytest.raises(ValueError, match="single-math-v1-multi-turn"):
        M.load_judge_prompts(bad)
    rio.write_jsonl(bad, [{**r, "output_format": "[[A]]"} if r["name"] == "single-v1" else r for r in rows])
    with pytest.raises(ValueError, match="single-v1 is not a single-answer prompt"):
        M.load_judge_prompts(bad)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("The answer is fine. Rating: [[7]]", (7.0, "ok:double_bracket")),
        ("Rating: [[8.5]] (not [[3]])", (8.5, "ok:double_bracket")),
        ("mentions step [2] and then [[6]]", (6.0, "ok:double_bracket")),  # [[x]] first, [x] only as a backup
        ("Rating: [4]", (4.0, "ok:bracket")),
        ("", (None, "empty")),
        (None, (None, "empty")),
        ("   \n", (None, "empty")),
        ("I would give it a seven.", (None, "no_rating")),
        ("Rating: 7/10", (None, "no_rating")),  # FastChat reads only the bracket formats
        ("Rating: [[0]]", (None, "out_of_range")),
        ("Rating: [[11]]", (None, "out_of_range")),
    ],
)
def test_parse_rating_reads_the_verdict_as_fastchat(text, expected):
    assert P.parse_rating(text) == expected


def test_answer_messages_condition_turn2_on_own_answer():
    turns = ["Q1", "Q2"]
    assert A.conversation(turns, [], 0) == [{"role": "user", "content": "Q1"}]
    assert A.conversation(turns, ["MY-A1"], 1) == [
        {"role": "user", "content": "Q1"},
        {"role": "assistant", "content": "MY-A1"},
        {"role": "user", "content": "Q2"},
    ]
    assert M.answer_temperature({"category": "writing"}, None) == 0.7
    assert M.answer_temperature({"category": "math"}, None) == 0.0
    assert M.answer_temperature({"category": "unknown-category"}, None) == 0.7
    assert M.answer_temperature({"category": "math"}, 0.0) == 0.0  # an override of 0 is an override
    assert M.answer_temperature({"category": "math"}, 0.3) == 0.3


def test_load_questions_validates(tmp_path):
    qs = M.load_questions(QUESTIONS)
    assert len(qs) == 8 and all(len(q["turns"]) == 2 for q in qs)
    bad = tmp_path / "q.jsonl"
    bad.write_text('{"question_id": 1, "turns": ["a"]}\n{"question_id": 1, "turns": ["b"]}\n')
    with pytest.raises(ValueError, match="duplicate"):
        M.load_questions(bad)


# --------------------------------------------------------------------------------------------------------------
# A stub OpenAI-compatible server
# --------------------------------------------------------------------------------------------------------------


class Stub:
    """Records requests; answers grading prompts with a rating and SDQ prompts with "Score: N" plus logprobs."""

    def __init__(self):
        self.requests: list[dict] = []
        self.auth: list[str | None] = []
        self.script: list[tuple[int, dict | str]] = []  # forced (status, body) responses, consumed first
        self.lock = threading.Lock()

    def reply(self, body: dict) -> tuple[int, dict | str]:
        user = body["messages"][1]["content"] if len(body["messages"]) > 1 else ""
        # the judge's own token counts: one per 4 characters of the prompt, 7 per verdict
        usage = {"prompt_tokens": len(json.dumps(body["messages"])) // 4, "completion_tokens": 7}
        if "REFUSE-ME" in user:
            return 400, {"error": {"message": "This model's maximum context length is 1024 tokens"}}
        if "[[rating]]" in json.dumps(body["messages"]):  # MT-Bench grading (the format is in the judge prompt)
            n = len(self.requests) - 1
            text = ["Solid answer. Rating: [[8]]", "Rating: [5]", "no idea", ""][n % 4]
            return 200, {
                "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
                "usage": usage,
            }
        content = [
            _entry("Score", {"Score": 1.0}),
            _entry(":", {":": 1.0}),
            _entry(" 7", {" 7": 0.6, " 8": 0.4}),
        ]
        if "NO-LOGPROBS" in user:
            return 200, {"choices": [{"index": 0, "message": {"role": "assistant", "content": "Score: 6"}}]}
        return 200, {
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": "Score: 7"},
                    "logprobs": {"content": content},
                    "finish_reason": "stop",
                }
            ],
            "usage": usage,
        }


@pytest.fixture
def stub():
    state = Stub()

    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args):  # keep test output clean
            pass

        def do_POST(self):
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            with state.lock:
                state.requests.append(body)
                state.auth.append(self.headers.get("Authorization"))
                forced = state.script.pop(0) if state.script else None
            status, payload = forced or state.reply(body)
            data = (payload if isinstance(payload, str) else json.dumps(payload)).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.base_url = f"http://127.0.0.1:{server.server_address[1]}/v1"
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


class _Files(list):
    """What a Snakemake job sees as `snakemake.input`/`output`: every file in order, and each name as an attribute."""

    def __init__(self, **named):
        super().__init__(str(x) for v in named.values() for x in (v if isinstance(v, list) else [v]))
        self.__dict__.update(named)


class _Params(dict):
    """`snakemake.params`: names as attributes (a missing one is an AttributeError, as getattr expects)."""

    def __getattr__(self, name):
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None


def run_script(name: str, rule: str, *, input: dict, output: dict, params: dict, log: Path, config: dict) -> None:
    """scripts/<name> as Snakemake runs it: as __main__ with a `snakemake` object, through rewild.job.run."""
    import runpy
    from types import SimpleNamespace

    smk = SimpleNamespace(
        rule=rule,
        input=_Files(**input),
        output=_Files(**output),
        params=_Params(params),
        wildcards=SimpleNamespace(),
        threads=1,
        config=config,
        log=[str(log)],
    )
    runpy.run_path(str(REPO / "scripts" / name), init_globals={"snakemake": smk}, run_name="__main__")


def _config(stub, **kw) -> dict:
    """A validated config whose judge is the stub."""
    judge = dict(base_url=stub.base_url, model="stub-judge", api_key_env=KEY_ENV, concurrency=3, max_retries=2)
    return validated({**judge, "timeout_s": 10, **kw})


def _stage(stub, stage: str, **kw) -> dict:
    """What a rule's script hands one stage's entry: that stage's params plus the client's cadence."""
    cfg = _config(stub, **kw)
    params = {"grade": JP.grade_params, "sdq": JP.sdq_params}[stage](cfg)
    return {**params, **JP.client_cadence(cfg)}


def _answers(tmp_path, n=4):
    qs = M.load_questions(QUESTIONS)[:n]
    recs = [
        {
            "question_id": q["question_id"],
            "model_id": "m",
            "choices": [{"index": 0, "turns": [f"A1-{q['question_id']}", f"A2-{q['question_id']}"]}],
        }
        for q in qs
    ]
    path = tmp_path / "answers.jsonl"
    rio.write_jsonl(path, recs)
    return path


def _generations(path: Path, n: int, empty: set[int] = frozenset(), skip: set[int] = frozenset()) -> Path:
    rows = []
    for i in range(n):
        if i in skip:
            continue
        rows.append(
            {
                "row_id": i,
                "conversation_hash": f"h{i}",
                "messages": [
                    {"role": "user", "content": f"prompt {i}"},
                    {"role": "assistant", "content": "" if i in empty else f"**Answer** {i}\n\n- a\n- b"},
                    {"role": "user", "content": "follow-up"},
                    {"role": "assistant", "content": "second"},
                ],
            }
        )
    pq.write_table(pa.Table.from_pylist(rows), path)
    return path


def _all_text(root: Path) -> str:
    return "\n".join(p.read_text(errors="replace") for p in root.rglob("*") if p.is_file() and p.suffix != ".parquet")


def _grade_job(tmp_path, cfg, n, subject="mymodel", out="out") -> dict:
    """scripts/judge.py as rule judge runs it (rewild.job.run: rule log, provenance) on the first `n` questions
    of the replica and their answers."""
    questions = tmp_path / f"questions-{n}.jsonl"
    rio.write_jsonl(questions, M.load_questions(QUESTIONS)[:n])
    run_script(
        "judge.py",
        "judge",
        input={**MT_PATHS, "questions": questions, "answers": _answers(tmp_path, n)},
        output={"grades": tmp_path / out / "mtbench.jsonl", "summary": tmp_path / out / "mtbench.json"},
        params={
            "subject": subject,
            "judge": JP.grade_params(cfg),
            "verdict_cache": str(tmp_path / "verdicts"),
            "cache_dir": str(tmp_path / "cache"),
            "config_hash": JP.stage_config_hash(cfg, "grade"),
        },
        log=tmp_path / "logs" / f"judge-{subject}.log",
        config=cfg,
    )
    return rio.read_json(tmp_path / out / "mtbench.json")


def test_verdict_prefill_is_continued_and_read_with_the_reply(tmp_path, stub, monkeypatch):
    """eval.judge.verdict_prefill: each grading request ends in an assistant message the judge continues (vLLM's
    continue_final_message), and the rating is read from the prefill plus the reply; without it the requests are
    FastChat's own (no extra fields)."""
    monkeypatch.setenv(KEY_ENV, SECRET)
    with stub.lock:
        stub.script = [(200, {"choices": [{"index": 0, "message": {"role": "assistant", "content": "7]] fine"}}],
                              "usage": {"prompt_tokens": 9, "completion_tokens": 3}})] * 4
    cfg = _config(stub, concurrency=1, mtbench=MT_LOCAL, verdict_prefill="[[")
    out = _grade_job(tmp_path, cfg, 2)
    assert out["score"] == 7.0 and out["n_malformed"] == 0
    recs = rio.read_jsonl(tmp_path / "out" / "mtbench.jsonl")
    assert [r["judge_output"] for r in recs] == ["[[7]] fine"] * 4
    for body in stub.requests:
        assert body["messages"][-1] == {"role": "assistant", "content": "[["}
        assert body["continue_final_message"] is True and body["add_generation_prompt"] is False
    plain = tmp_path / "plain"
    plain.mkdir()
    n = len(stub.requests)
    _grade_job(plain, _config(stub, concurrency=1, mtbench=MT_LOCAL), 1)
    assert all("continue_final_message" not in b and b["messages"][-1]["role"] == "user" for b in stub.requests[n:])


def test_grade_against_stub_counts_malformed_and_keeps_the_key_secret(tmp_path, stub, monkeypatch, caplog):
    monkeypatch.setenv(KEY_ENV, SECRET)
    caplog.set_level("DEBUG")
    cfg = _config(stub, concurrency=1, mtbench=MT_LOCAL)
    out = _grade_job(tmp_path, cfg, 4)
    log = tmp_path / "logs" / "judge-mymodel.log"
    assert "mt-bench grading: 8/8 done" in log.read_text()  # the package logs into the rule's log
    recs = rio.read_jsonl(tmp_path / "out" / "mtbench.jsonl")
    assert [(r["question_id"], r["turn"]) for r in recs] == [(q, t) for q in (81, 91, 101, 111) for t in (1, 2)]
    assert [r["score"] for r in recs] == [8.0, 5.0, None, None] * 2  # the stub's fixed cycle
    assert [r["parse"] for r in recs][:4] == ["ok:double_bracket", "ok:bracket", "no_rating", "empty"]
    # the contract of results/judge/{model}/mtbench.json
    assert out["model"] == "mymodel" and out["benchmark"] == "mtbench"
    assert out["n_malformed"] == 4 and out["n_failed"] == 0 and out["metrics"]["n_scored"] == 4
    assert out["metrics"]["malformed_reasons"] == {"no_rating": 2, "empty": 2}
    assert out["score"] == pytest.approx(6.5)  # FastChat: the mean over rated turns
    assert out["n"] == 8 and out["samples"] == [8.0, 5.0, 6.5, 6.5] * 2  # unrated turns at the score: aligned
    assert out["stderr"] == pytest.approx(math.sqrt(3.0) / 2)  # sd of the rated turns (ddof 1) / sqrt(4)
    assert out["judge"] == {
        "model": "stub-judge",
        "revision_or_snapshot": "stub-judge",
        "prompt_version": f"fastchat-single-v1:local:{MT_DATA}",
        "base_url_kind": "api",
    }
    by_cat = {"writing": 6.5, "roleplay": None, "reasoning": 6.5, "math": None}  # a category without a rating: None
    assert out["metrics"]["by_category"] == by_cat
    assert out["metrics"]["score_turn1"] == 8.0 and out["metrics"]["score_turn2"] == 5.0
    # tokens from the responses' usage; no price for an unknown model id
    sent = [len(json.dumps(b["messages"])) // 4 for b in stub.requests]
    assert out["tokens"] == {"prompt": sum(sent), "completion": 7 * 8} and out["cost_usd_estimate"] is None
    # reference-graded questions (101 reasoning, 111 math) were sent the reference answers
    refs = M.load_reference_answers(MT_PATHS["references"])
    assert refs["111"][1] in json.dumps(stub.requests[7]["messages"])
    assert all(b["max_tokens"] == 2048 and b["temperature"] == 0.0 for b in stub.requests)
    # the key travels in the Authorization header, and nowhere else
    assert stub.auth and all(a == f"Bearer {SECRET}" for a in stub.auth)
    assert all(SECRET not in json.dumps(b) for b in stub.requests)
    assert out["endpoint"]["api_key_env"] == KEY_ENV and out["endpoint"]["api_key_set"] is True
    text = _all_text(tmp_path) + caplog.text
    assert SECRET not in text and SECRET[3:20] not in text


def test_verdict_cache_resume_widened_run_and_judge_change(tmp_path, stub, monkeypatch):
    """A rerun pays for nothing; a widened run (more questions) pays only for the new ones, also from another job
    of the same judge; another judge identity reuses nothing. Token totals do not depend on the cache."""
    cfg = _config(stub, concurrency=2, mtbench=MT_LOCAL)
    first = _grade_job(tmp_path, cfg, 2, out="a")
    assert len(stub.requests) == 4 and first["judge_cache_hits"] == 0
    again = _grade_job(tmp_path, cfg, 2, out="a")
    assert len(stub.requests) == 4 and again["judge_cache_hits"] == 4 and again["tokens_sent"]["prompt"] == 0
    assert again["tokens"] == first["tokens"] and again["samples"] == first["samples"]
    wide = _grade_job(tmp_path, cfg, 3, out="b")  # one more question, same model answers
    assert len(stub.requests) == 6 and wide["judge_cache_hits"] == 4
    # a crash mid-job: its file keeps what was answered (a cut last line is ignored)
    cache_dir = next((tmp_path / "verdicts").iterdir())
    (cache_dir / "mtbench-mymodel.jsonl").open("a").write('{"key": "cut')
    C.VerdictCache(tmp_path / "verdicts", JP.grade_params(cfg)["identity"], "x")  # loads without error
    other = _config(stub, concurrency=2, mtbench=MT_LOCAL, revision="stub-judge-2025-01-01")
    _grade_job(tmp_path, other, 2, out="c")
    assert len(stub.requests) == 10
    assert len(list((tmp_path / "verdicts").iterdir())) == 2


def test_judge_identity_and_cost(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    paper = validated({"model": "gpt-4o-mini-2024-07-18", "base_url": f"https://api.example/v1?key={SECRET}"})
    ident = JP.grade_params(paper)["identity"]
    assert ident["model"] == "gpt-4o-mini-2024-07-18" and ident["revision_or_snapshot"] == "gpt-4o-mini-2024-07-18"
    assert ident["base_url_kind"] == "api" and ident["prompt_version"].endswith(
        "lm-sys/FastChat@0e6d3e4beaab66f4d3f93db72541a4abab8af28d"
    )
    assert SECRET not in json.dumps(JP.grade_params(paper)["identity"]) + json.dumps(JP.sdq_params(paper)["identity"])
    # 1M prompt + 1M completion tokens of gpt-4o-mini at list price
    assert cost_of(ident, 1_000_000, 1_000_000) == pytest.approx(0.75)
    local = validated({"serve_local": {"model": "some/open-judge", "revision": "abc123"}})
    li = JP.grade_params(local)["identity"]
    assert li == {**li, "model": "some/open-judge", "revision_or_snapshot": "abc123", "base_url_kind": "local"}
    assert cost_of(li, 10**6, 10**6) is None
    rows = T.cost_rows(
        [
            {"model": "a", "benchmark": "mtbench", "judge": ident, "tokens": {"prompt": 2000, "completion": 100}},
            {"model": "b", "benchmark": "mtbench", "judge": ident, "tokens": {"prompt": 1000, "completion": 300}},
            {"dgm": "q7", "benchmark": "sdq", "judge": li, "tokens": {"prompt": 5, "completion": 1}},
        ]
    )
    by = {(r["benchmark"], r["model"]): r for r in rows}
    assert by[("mtbench", "TOTAL")]["prompt_tokens"] == 3000
    assert by[("mtbench", "TOTAL")]["cost_usd_estimate"] == pytest.approx((3000 * 0.15 + 400 * 0.6) / 1e6)
    assert by[("sdq", "q7")]["cost_usd_estimate"] is None and by[("ALL", "TOTAL")]["cost_usd_estimate"] is None


def cost_of(identity: dict, prompt: int, completion: int):
    from rewild.judge import cost

    return cost.estimate_usd(identity, {"prompt": prompt, "completion": completion})


def test_sdq_against_stub_logprobs_fallback_and_refusals(tmp_path, stub, monkeypatch, caplog):
    monkeypatch.setenv(KEY_ENV, SECRET)
    gens = _generations(tmp_path / "gens.parquet", 6, empty={2})
    out = S.run_sdq(
        gens,
        "dgm-a",
        _stage(stub, "sdq", sdq_n=4, sdq_factors=["factuality", "readability"]),
        tmp_path / "sdq.jsonl",
        tmp_path / "sdq.json",
        rubrics_path=RUBRICS,
        places=SV.JudgePlaces(tmp_path / "verdicts", tmp_path / "cache"),
    )
    assert out["tokens"]["completion"] == 7 * 8 and out["judge"]["prompt_version"] == JP.SDQ_PROMPT_VERSION
    recs = rio.read_jsonl(tmp_path / "sdq.jsonl")
    assert len(recs) == 8 and out["n_responses"] == 4 and out["sample"]["skipped_empty"] >= 0
    assert 2 not in {r["row_id"] for r in recs}  # the empty response is not judged
    for r in recs:
        assert r["method"] == "logprobs" and r["score"] == pytest.approx(7.4) and r["text_score"] == 7.0
        assert r["response"] == f"**Answer** {r['row_id']}\n\n- a\n- b" and r["prompt"] == f"prompt {r['row_id']}"
    # every request carried the response under judgment and asked for logprobs
    assert all("[Assistant response to evaluate]\n**Answer**" in b["messages"][1]["content"] for b in stub.requests)
    assert all(b["logprobs"] is True and b["top_logprobs"] == 10 and b["max_tokens"] == 10 for b in stub.requests)
    assert all(b["temperature"] == 0.2 and "continue_final_message" not in b for b in stub.requests)
    assert out["factors"]["factuality"]["mean"] == pytest.approx(7.4) and out["overall"] == pytest.approx(7.4)
    assert SECRET not in _all_text(tmp_path) + caplog.text

    # text fallback (no logprobs) and a refused request (over the judge's context) are counted, not fatal
    client = _client(stub.base_url)
    rubric = S.load_rubrics(RUBRICS)[0]["factuality"]
    item = {"row_id": 1, "prompt": "p", "response": "NO-LOGPROBS"}
    r = S.sdq_judge_one(client, item, "factuality", rubric, **SDQ_KW)
    assert r["method"] == "text" and r["score"] == 6.0 and r["reason"].startswith("logprobs:")
    item = {"row_id": 1, "prompt": "p", "response": "REFUSE-ME"}
    r = S.sdq_judge_one(client, item, "factuality", rubric, **SDQ_KW)
    assert r["score"] is None and r["error"] and "maximum context length" in r["error"]
    item = {"row_id": 1, "prompt": "p", "response": "x"}
    pre = S.sdq_judge_one(client, item, "factuality", rubric, **{**SDQ_KW, "prefill": True})
    assert (
        stub.requests[-1]["continue_final_message"] is True and stub.requests[-1]["messages"][-1]["content"] == "Score:"
    )
    assert pre["score"] is not None


def test_client_errors_never_carry_the_key(stub, monkeypatch):
    monkeypatch.setenv(KEY_ENV, SECRET)
    client = _client(stub.base_url)
    echo = {
        "error": {"message": f"Incorrect API key provided: {SECRET}. Also {SECRET[:3]}...{SECRET[-4:]} {SECRET[5:30]}"}
    }
    stub.script.append((401, echo))
    with pytest.raises(C.JudgeError) as exc:
        client.chat([{"role": "user", "content": "hi"}], max_tokens=5, temperature=0)
    assert "401" in str(exc.value) and SECRET not in str(exc.value) and SECRET[5:30] not in str(exc.value)
    assert SECRET not in repr(client) and SECRET not in json.dumps(client.describe())
    # retries: 503 twice, then success
    client = _client(stub.base_url, max_retries=3, backoff_s=0.01)
    stub.script += [(503, {"error": "busy"}), (503, {"error": "busy"})]
    resp = client.chat(
        [{"role": "system", "content": "s"}, {"role": "user", "content": "[[rating]]"}], max_tokens=5, temperature=0
    )
    assert C.first_choice(resp)[0] is not None  # answered after the retries (the stub cycle may be empty)
    # the key is read at call time: unset → no header (a warning names the variable, not a value)
    monkeypatch.delenv(KEY_ENV)
    client.chat(
        [{"role": "system", "content": "s"}, {"role": "user", "content": "[[rating]]"}], max_tokens=5, temperature=0
    )
    assert stub.auth[-1] is None
    # nothing listening: a clear JudgeError after the retries
    dead = _client(f"http://127.0.0.1:{SV.free_port()}/v1", None, max_retries=1, backoff_s=0.01, timeout_s=2)
    with pytest.raises(C.JudgeError, match="gave up after 2 attempts"):
        dead.chat([{"role": "user", "content": "hi"}], max_tokens=1, temperature=0)


def test_all_requests_refused_stops_the_job(tmp_path, stub):
    qs = [{"question_id": 1, "category": "writing", "turns": ["REFUSE-ME", "again"]}]
    ans = [{"question_id": 1, "choices": [{"index": 0, "turns": ["a", "b"]}]}]
    client = _client(stub.base_url, None)
    with pytest.raises(C.JudgeError, match="every judge request was refused"):
        M.grade(client, _mt()[0], qs, ans, {}, **GRADE_KW)


def test_stage_params_hold_no_secret_and_no_switch(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    cfg = validated({"enabled": True, "model": "m"})
    for stage in JP.STAGE_KEYS:
        p = JP.stage_params(cfg, stage)
        assert "enabled" not in p and SECRET not in json.dumps(p)
        # how requests are sent changes no verdict: not in params, so changing it reruns nothing
        assert not set(p) & {"concurrency", "timeout_s", "max_retries"}
    assert JP.stage_params(validated({}), "grade")["api_key_env"] == "OPENAI_API_KEY"


def test_judge_settings_come_from_the_schema():
    """A config silent about the judge gives each stage the schema's defaults, serve_local's included: the package
    has no defaults of its own to disagree with them."""
    from rewild import config as rc

    schema = rc.load_schema()["properties"]["eval"]["properties"]["judge"]["properties"]
    defaults = {k: v["default"] for k, v in schema.items() if "default" in v}
    serve_defaults = {k: v["default"] for k, v in schema["serve_local"]["properties"].items() if "default" in v}
    assert serve_defaults == {
        "revision": None,
        "served_model_name": None,
        "max_model_len": 4096,
        "dtype": "auto",
        "gpus": 1,
        "startup_timeout_s": 900,
        "extra_args": [],
    }
    cfg = validated({"serve_local": {"model": "smollm2-135m"}})
    for stage, keys in JP.STAGE_KEYS.items():
        p = JP.stage_params(cfg, stage)
        assert set(p) == set(keys)
        for k in keys:
            expect = {"model": "smollm2-135m", **serve_defaults} if k == "serve_local" else defaults[k]
            assert p[k] == expect, (stage, k)
    import rewild.judge.client
    import rewild.judge.mtbench
    import rewild.judge.server

    for mod in (rewild.judge.client, rewild.judge.mtbench, rewild.judge.server):
        assert not [n for n in vars(mod) if n.endswith("_DEFAULTS")]


# --------------------------------------------------------------------------------------------------------------
# Sampling and tables
# --------------------------------------------------------------------------------------------------------------


def test_sample_is_seeded_and_shared_across_dgms(tmp_path):
    a = _generations(tmp_path / "a.parquet", 40)
    b = _generations(tmp_path / "b.parquet", 40, skip={5, 17})  # b lost two rows
    sa, _ = S.sample_responses(a, 10, seed=3)
    sa2, _ = S.sample_responses(a, 10, seed=3)
    sb, _ = S.sample_responses(b, 10, seed=3)
    assert [x["row_id"] for x in sa] == [x["row_id"] for x in sa2]
    assert len({x["row_id"] for x in sa} & {x["row_id"] for x in sb}) >= 8
    assert [x["row_id"] for x in S.sample_responses(a, 10, seed=4)[0]] != [x["row_id"] for x in sa]
    assert sa[0]["prompt"].startswith("prompt ") and sa[0]["response"].startswith("**Answer**")
    few, info = S.sample_responses(_generations(tmp_path / "c.parquet", 5, empty={0, 1}), 10, seed=0)
    assert len(few) == 3 and info["skipped_empty"] == 2


def _grades(scores: dict) -> list[dict]:
    return [{"question_id": q, "turn": t + 1, "score": s} for q, pair in scores.items() for t, s in enumerate(pair)]


def test_preference_table_matches_analyse(tmp_path):
    grades = {
        "s-a": {1: (8, 8), 2: (5, 7), 3: (4, None), 4: (6, 6)},
        "s-b": {1: (7, 7), 2: (6, 6), 3: (4, 4), 4: (None, None)},
        "dgm-a": {1: (9, 9), 2: (8, 8), 3: (7, 7), 4: (9, 9)},
        "dgm-b": {1: (9, 10), 2: (9, 9), 3: (8, 8), 4: (9, 9)},
    }
    paths = {}
    for s, g in grades.items():
        paths[s] = tmp_path / f"{s}.jsonl"
        rio.write_jsonl(paths[s], _grades(g))
    summaries = {}
    for s in grades:
        summaries[s] = tmp_path / f"{s}.json"
        rio.write_json(summaries[s], {"score": 6.0, "metrics": {"n_scored": 1}, "n": 8})
    table = T.run_preference(
        paths,
        summaries,
        [("s-a", "a"), ("s-b", "b")],
        tmp_path / "pref.csv",
        tmp_path / "mt.csv",
        tmp_path / "mt.png",
        learned_from={"s-a": "a", "s-b": "b"},
    )
    assert T.per_question_scores(_grades(grades["s-a"])) == {"1": 8.0, "2": 6.0, "3": 4.0, "4": 6.0}
    # PrefRt / FlipCt use the first judgment per question (paper-tables §6.3), not the mean of the turns
    pq_a = preference.first_judgment_per_question(_grades(grades["s-a"]))
    assert pq_a == {"1": 8.0, "2": 5.0, "3": 4.0, "4": 6.0}
    pq_b = preference.first_judgment_per_question(_grades(grades["s-b"]))
    row = table[(table["kind"] == "student_vs_student")].iloc[0]
    assert row["prefrt_a_over_b"] == pytest.approx(preference.pref_rate(pq_a, pq_b))
    # q1 a wins, q2 b wins, q3 tie, q4 b unscored (counted, never wins)
    assert row["prefrt_a_over_b"] == pytest.approx(25.0) and row["prefrt_b_over_a"] == pytest.approx(25.0)
    assert row["n_questions"] == 4 and row["dgm_a"] == "a" and row["dgm_b"] == "b"
    sd = table[table["kind"] == "student_vs_dgm"].set_index("a")
    assert sd.loc["s-a", "b"] == "a" and sd.loc["s-a", "prefrt_a_over_b"] == 0.0
    # first-turn means: s-a 5.75 > s-b 5.667, a 8.25 < b 8.75 → one flip
    flip = table[table["kind"] == "flipct"].iloc[0]
    assert flip["flipct"] == 1 and bool(row["flip"]) is True
    assert flip["flipct_per_question"] == preference.per_question_flip_count(
        {"s-a": pq_a, "s-b": pq_b},
        {"a": preference.first_judgment_per_question(_grades(grades["dgm-a"])),
         "b": preference.first_judgment_per_question(_grades(grades["dgm-b"]))},
        [("s-a", "a"), ("s-b", "b")],
    )
    on_disk = pd.read_csv(tmp_path / "pref.csv")
    # then Table 4's other pairs: each student with the other DGM, and the two DGMs
    assert list(on_disk["kind"]) == ["student_vs_dgm", "student_vs_dgm", "student_vs_student", "other", "other",
                                     "other", "flipct"]
    other = on_disk[on_disk["kind"] == "other"]
    assert list(zip(other["a"], other["b"])) == [("s-a", "b"), ("s-b", "a"), ("a", "b")]
    dgm_a = preference.first_judgment_per_question(_grades(grades["dgm-a"]))
    dgm_b = preference.first_judgment_per_question(_grades(grades["dgm-b"]))
    assert other["prefrt_a_over_b"].iloc[2] == pytest.approx(preference.pref_rate(dgm_a, dgm_b))
    assert (tmp_path / "mt.png").stat().st_size > 1000
    assert set(pd.read_csv(tmp_path / "mt.csv")["kind"]) == {"student", "dgm"}


def _sdq_records(dgm: str, base: float, n: int = 3) -> list[dict]:
    recs = []
    for i in range(n):
        for j, f in enumerate(["factuality", "readability"]):
            recs.append(
                {
                    "dgm": dgm,
                    "row_id": i,
                    "factor": f,
                    "score": base + j + 0.1 * i,
                    "method": "logprobs",
                    "response": "# Title\n\n**bold** text " * (1 + int(base)),
                    "error": None,
                }
            )
    recs.append(
        {
            "dgm": dgm,
            "row_id": 0,
            "factor": "factuality",
            "score": None,
            "method": None,
            "response": "# Title",
            "error": None,
        }
    )
    return recs


def test_judge_tables_script_writes_tables_and_their_provenance(tmp_path):
    """scripts/judge_tables.py as the judge_tables rule runs it: both table families, then the provenance sidecar."""
    subjects = {"s-a": {1: (8, 8), 2: (5, 7)}, "dgm-a": {1: (9, 9), 2: (8, 8)}}  # DGMs graded as dgm-<key>
    grades, summaries = [], []
    for name, g in subjects.items():
        grades.append(tmp_path / f"{name}.jsonl")
        rio.write_jsonl(grades[-1], _grades(g))
        summaries.append(tmp_path / f"{name}.json")
        rio.write_json(summaries[-1], {"score": 7.0, "metrics": {"n_scored": 4}, "n": 4})
    sdq = []
    for d, base in (("a", 3.0), ("b", 6.0)):
        sdq.append(tmp_path / f"sdq-{d}.jsonl")
        rio.write_jsonl(sdq[-1], _sdq_records(d, base))
    scores = tmp_path / "scores.csv"
    pd.DataFrame({"model": ["s-a", "b-all"], "dgm": ["a", "b"], "demo-mc": [0.4, 0.6]}).to_csv(scores, index=False)
    out = {
        k: tmp_path / f"{k}{ext}"
        for k, ext in (
            ("preference", ".csv"),
            ("mtbench", ".csv"),
            ("mtbench_plot", ".png"),
            ("intrinsic", ".csv"),
            ("correlation", ".csv"),
            ("plot", ".png"),
            ("provenance", ".json"),
        )
    }
    params = dict(
        models=list(subjects),
        sdq_dgms=["a", "b"],
        pairs=[["s-a", "a"]],
        learned_from={"s-a": "a"},
        extrinsic_mixes={"a": "s-a", "b": "b-all"},
        extrinsic_metric="demo-mc",
    )
    run_script(
        "judge_tables.py",
        "judge_tables",
        input=dict(grades=grades, summaries=summaries, sdq=sdq, scores=scores),
        output=out,
        params=params,
        log=tmp_path / "judge_tables.log",
        config=validated({}),
    )
    assert set(pd.read_csv(out["intrinsic"])["dgm"]) == {"a", "b"}
    assert "student_vs_dgm" in set(pd.read_csv(out["preference"])["kind"])
    record = json.loads(out["provenance"].read_text())
    assert set(record["inputs"]) == {str(p) for p in [*grades, *summaries, *sdq, scores]}
    assert set(record["outputs"]) == {str(p) for k, p in out.items() if k != "provenance"}
    assert record["outputs"][str(out["intrinsic"])]["sha256"] == rio.sha256_file(out["intrinsic"])
    assert record["provenance"]["config_hash"] and record["provenance"]["git_commit"]


def test_sdq_tables_and_correlation(tmp_path):
    sdq = {}
    for d, base in (("a", 3.0), ("b", 5.0), ("c", 7.0)):
        sdq[d] = tmp_path / f"{d}.jsonl"
        rio.write_jsonl(sdq[d], _sdq_records(d, base))
    scores = tmp_path / "scores.csv"
    pd.DataFrame(
        {
            "model": ["a-all", "b-all", "c-all", "base"],
            "dgm": ["a", "b", "c", "(untrained)"],
            "demo-mc": [0.2, 0.3, 0.5, 0.1],
        }
    ).to_csv(scores, index=False)
    mixes = {
        "a-all": {"components": [{"dgm": "a", "select": {"first_fraction": 1.0}}]},
        "b-all": {"components": [{"dgm": "b", "select": {"first_fraction": 1.0}}]},
        "c-all": {"components": [{"dgm": "c", "select": {"first_fraction": 1.0}}]},
        "blend": {"components": [{"dgm": "a", "select": {"random_n": 3}}, {"dgm": "b", "select": {"random_n": 3}}]},
    }
    by_dgm = JP.extrinsic_mixes(mixes, ["a", "b", "c"], None)
    assert by_dgm == {"a": "a-all", "b": "b-all", "c": "c-all"}
    intrinsic, corr = T.run_sdq_tables(
        sdq, scores, by_dgm, "demo-mc", tmp_path / "int.csv", tmp_path / "corr.csv", tmp_path / "sdq.png"
    )
    row = intrinsic.set_index("dgm").loc["a"]
    assert row["factuality"] == pytest.approx(3.1) and row["readability"] == pytest.approx(4.1)
    assert row["sdq_overall"] == pytest.approx(3.6) and row["n_unparsed"] == 1 and row["n_responses"] == 3
    assert row["extrinsic_demo-mc"] == 0.2 and row["len_chars"] > 0 and row["md_strong"] >= 1 and row["md_h1"] >= 1
    c = corr.set_index("intrinsic")
    assert c.loc["sdq_overall", "spearman"] == pytest.approx(1.0) and c.loc["sdq_overall", "n"] == 3
    assert c.loc["sdq_overall", "kendall"] == pytest.approx(1.0) and set(c["extrinsic"]) == {"demo-mc"}
    assert "n_judgments" not in c.index
    expect = stats.rank_correlation_table(intrinsic[["dgm", "factuality"]], {"a": 0.2, "b": 0.3, "c": 0.5}, "dgm")
    assert c.loc["factuality", "spearman"] == pytest.approx(expect.iloc[0]["spearman"])
    assert (tmp_path / "sdq.png").stat().st_size > 1000
    # one DGM only: no correlation, but no crash either
    _, one = T.run_sdq_tables(
        {"a": sdq["a"]},
        scores,
        {"a": "a-all"},
        "demo-mc",
        tmp_path / "i1.csv",
        tmp_path / "c1.csv",
        tmp_path / "p1.png",
    )
    assert one["spearman"].isna().all()
    with pytest.raises(KeyError, match="avg7"):
        T.extrinsic_scores(scores, by_dgm, "avg7")
    grid = {**mixes, "a-big": {"components": [{"dgm": "a", "select": {"first_fraction": 1.0}}]}}
    with pytest.raises(ValueError, match="extrinsic_size"):
        JP.extrinsic_mixes(grid, ["a"], None)
    assert JP.extrinsic_mixes(grid, ["a"], size="big") == {"a": "a-big"}


# --------------------------------------------------------------------------------------------------------------
# serve_local without vLLM: the bounded wait, early exit, termination
# --------------------------------------------------------------------------------------------------------------

# serve_local's settings as the schema's defaults give them, on CPU (endpoint() passes them from the config)
SERVE_KW = dict(
    served_model_name="judge",
    max_model_len=4096,
    dtype="auto",
    gpus=0,
    revision=None,
    extra_args=[],
    seed=0,
    api_key_env=None,
)


def test_server_command_is_cpu_safe():
    kw = dict(served_model_name="judge", revision=None, seed=0, extra_args=[])
    cmd = SV.server_command("m", port=1234, max_model_len=1024, dtype="bfloat16", gpus=0, on_gpu=False, **kw)
    assert cmd[:3] == [sys.executable, "-m", "vllm.entrypoints.openai.api_server"]
    assert cmd[cmd.index("--dtype") + 1] == "float32" and cmd[cmd.index("--host") + 1] == "127.0.0.1"
    gpu = SV.server_command("m", port=1, max_model_len=1024, dtype="bfloat16", gpus=4, on_gpu=True, **kw)
    assert gpu[gpu.index("--dtype") + 1] == "bfloat16" and gpu[gpu.index("--tensor-parallel-size") + 1] == "4"


def test_serve_local_bounded_startup_and_cleanup(tmp_path, monkeypatch):
    log = tmp_path / "serve.log"
    pidfile = tmp_path / "pid"
    sleeper = [
        sys.executable,
        "-c",
        f"import os, time; open({str(pidfile)!r}, 'w').write(str(os.getpid())); time.sleep(120)",
    ]
    monkeypatch.setattr(SV, "server_command", lambda *a, **k: sleeper)
    t0 = time.time()
    with (
        pytest.raises(C.JudgeError, match="not ready after 3 s"),
        SV.serve_local("x", **SERVE_KW, cache_dir=tmp_path / "cache", server_log=log, startup_timeout_s=3),
    ):
        pass
    assert time.time() - t0 < 30
    pid = int(pidfile.read_text())
    time.sleep(0.2)
    assert not Path(f"/proc/{pid}").exists() or "zombie" in Path(f"/proc/{pid}/status").read_text().lower()
    crasher = [sys.executable, "-c", "import sys; print('engine exploded: no KV cache'); sys.exit(3)"]
    monkeypatch.setattr(SV, "server_command", lambda *a, **k: crasher)
    with (
        pytest.raises(C.JudgeError, match="exited with code 3(.|\n)*engine exploded"),
        SV.serve_local("x", **SERVE_KW, cache_dir=tmp_path / "cache", server_log=log, startup_timeout_s=60),
    ):
        pass


def test_gpu_judge_without_cuda_fails_fast(tmp_path, monkeypatch):
    """A judge (server or answering model) asking for GPUs where CUDA is not usable is an error naming the
    setting, before any process starts or model loads; it used to log a warning and run on CPU."""
    assert not engine.cuda_available()  # this machine has no GPU
    started = []
    monkeypatch.setattr(SV, "server_command", lambda *a, **k: started.append(a) or [sys.executable, "-c", "pass"])
    t0 = time.time()
    with (
        pytest.raises(engine.DeviceError, match="serve_local.gpus"),
        SV.serve_local(
            "x", **{**SERVE_KW, "gpus": 1}, cache_dir=tmp_path / "cache", server_log=None, startup_timeout_s=60
        ),
    ):
        pass
    assert not started and time.time() - t0 < 5
    settings = JP.subject_settings(validated({}), "base")
    with pytest.raises(engine.DeviceError, match="MT-Bench answers of base asks for 1 GPU"):
        A.answer_all(
            tmp_path / "no-such-model",
            {**settings, "gpus": 1},
            [A.Question(1, ["hi"], 0.0)],
            max_model_len=512,
            max_tokens=8,
            seed=0,
            cache_dir=tmp_path / "cache",
            what="MT-Bench answers of base",
        )


# --------------------------------------------------------------------------------------------------------------
# The rules
# --------------------------------------------------------------------------------------------------------------


def _dry_run(tmp_path: Path, cfg: dict, name: str) -> dict:
    from test_workflow import job_counts

    workdir, cfg_path = workdir_copy(tmp_path, cfg, name)
    snakefile = tmp_path / "Snakefile"
    snakefile.write_text(f'include: "{REPO / "Snakefile"}"\n\n\nrule judge_all:\n    input:\n        JUDGE_TARGETS,\n')
    args = ["-s", str(snakefile), "-d", str(workdir), "--configfile", str(cfg_path), "--replace-workflow-config"]
    proc = run_snakemake(args + ["-n", "--cores", "1", "--quiet", "rules", "--", "judge_all"])
    return job_counts(proc.stdout) if "Job stats:" in proc.stdout else {}


def test_judge_rules_call_named_functions():
    """rules/judge.smk holds no logic: its input, params and resource functions are named, live in common.smk (so
    snakemake --lint finds no rules mixed with functions) and call rewild.judge.plan."""
    text = (REPO / "rules" / "judge.smk").read_text()
    common = (REPO / "rules" / "common.smk").read_text()
    assert "lambda" not in text and "\ndef " not in text
    names = ("judge_mtbench_inputs", "judge_subject_settings", "judge_answers_mem_mb", "judge_extrinsic_mixes")
    for name in (*names, "judge_cost_inputs", "judge_mtbench_questions"):
        assert f"{name}" in text and f"\ndef {name}(wildcards" in common, name
    for rule in ("judge_answers", "judge", "sdq_judge", "judge_tables", "judge_cost", "mtbench_data"):
        body = text.split(f"rule {rule}:")[1].split("\nrule ")[0]
        assert "log:" in body and "benchmark:" in body, rule
    for rule in ("judge_answers", "judge", "sdq_judge"):
        body = text.split(f"rule {rule}:")[1].split("\nrule ")[0]
        assert all(k in body for k in ("threads:", "gpu=", "nodes=1", "mem_mb=", "runtime=")), rule


def test_judge_job_shapes_come_from_config(paper_config):
    """Paper preset with a 4-GPU served judge: the judge jobs ask for their GPUs, CPUs, memory and time (not the
    profile's 4,000 MB / 60 min), and a student's answers job its evaluation GPUs; an API judge needs no GPU."""
    from rewild import config as rc

    cfg = paper_config
    cfg["eval"]["judge"] = {"enabled": True, "serve_local": {"model": "org/judge", "gpus": 4}}
    rc.validate(cfg)
    assert JP.server_gpus(cfg) == 4 and JP.judge_threads(cfg) == 32
    assert JP.judge_mem_mb(cfg, 1) == (8 + 4 * 32) * 1024 and JP.judge_mem_mb(cfg, 2) == 2 * (8 + 4 * 32) * 1024
    assert JP.judge_runtime(cfg, "grade") > 30 and JP.judge_runtime(cfg, "sdq") > JP.judge_runtime(cfg, "grade")
    # 500 responses x 12 factors at 8 requests in flight, 5 s each: 6,000 / 8 x 5 s = 63 min, plus the load
    assert JP.judge_runtime(cfg, "sdq") == 30 + 63
    student = next(m for m in JP.judged_students(cfg) if m != "base")
    assert JP.answers_gpus(cfg, student) == cfg["eval"]["gpus"] == 1 and JP.answers_threads(cfg, student) == 8
    dgm = JP.judged_models(cfg)[-1]
    key = JP.subject_dgm(dgm)
    assert JP.answers_gpus(cfg, dgm) == cfg["dgms"][key]["gpus"]
    assert JP.answers_mem_mb(cfg, dgm, 1) > 4000 and JP.answers_runtime(cfg, dgm) >= 60
    api = paper_config
    api["eval"]["judge"] = {"enabled": True, "model": "gpt-4o-mini-2024-07-18", "base_url": "https://api/v1"}
    rc.validate(api)
    assert JP.server_gpus(api) == 0 and JP.judge_threads(api) == 2 and JP.judge_mem_mb(api, 1) == 4096


def test_judge_rules_dry_run(tmp_path, demo_config):
    """rules/judge.smk on the demo config: every rule and the tables in the DAG, enabled only by config."""
    from rewild import plan

    assert JP.DGM_PREFIX == plan.REFERENCE_PREFIX  # results/judge/dgm-x/ next to results/eval/dgm-x/
    cfg = demo_config
    wheel = (cfg["student"].get("local_build") or {}).get("wheel")
    if wheel and not os.path.isabs(wheel):  # workdir_copy fixes the DGMs' wheel paths only
        cfg["student"]["local_build"]["wheel"] = str(REPO / wheel)
    cfg["eval"]["judge"] = {
        "enabled": True,
        "mtbench": MT_LOCAL,
        "rubrics": str(REPO / "data" / "judge" / "rubrics.yaml"),
        "serve_local": {"model": "smollm2-135m", "max_model_len": 1024, "gpus": 0},
        "extrinsic_metric": "demo-mc",
    }
    # DGMs answer MT-Bench whether or not they are also evaluated as reference models
    cfg["eval"]["evaluate_dgms"] = []
    counts = _dry_run(tmp_path, cfg, "on.yaml")
    # students: 4 mixes + base; DGMs answering: smollm2, tiny-random (gpt has no model); SDQ: all three DGMs
    assert counts["judge_answers"] == counts["judge"] == 5 + 2
    assert counts["sdq_judge"] == 3 and counts["judge_tables"] == 1 and counts["judge_cost"] == 1
    assert "mtbench_data" not in counts  # a local replica: nothing to download
    upstream = {**cfg, "eval": {**cfg["eval"], "judge": {**cfg["eval"]["judge"], "mtbench": {}}}}
    counts = _dry_run(tmp_path, upstream, "upstream.yaml")
    assert counts["mtbench_data"] == 1 and counts["judge"] == 5 + 2  # the pinned FastChat files, downloaded once
    cfg["eval"]["judge"]["dgms"] = ["tiny-random"]
    counts = _dry_run(tmp_path, cfg, "one.yaml")
    assert counts["judge_answers"] == 5 + 1 and counts["sdq_judge"] == 1
    cfg["eval"]["judge"]["enabled"] = False
    off = _dry_run(tmp_path, cfg, "off.yaml")
    assert not {"judge_answers", "judge", "sdq_judge", "judge_tables", "judge_cost"} & set(off)


def test_judge_rules_run_against_an_api_judge_and_keep_the_key_out_of_every_file(tmp_path, stub, demo_config):
    """The judge, sdq_judge and judge_cost rules through real Snakemake (their scripts, rewild.job, params, logs)
    against an OpenAI-compatible endpoint: the key reaches the judge in the Authorization header and no file under
    results/, logs/, .snakemake/, nor the reproduction archive (rewild.archive) or `snakemake --archive`, holds
    it; changing the judge plans exactly the judged jobs and the cost table (dry runs)."""
    import copy
    import tarfile

    from rewild import archive
    from rewild import config as rc

    cfg = demo_config
    cfg["eval"]["judge"] = {
        "enabled": True,
        "base_url": stub.base_url,
        "model": "stub-judge",
        "api_key_env": KEY_ENV,
        "mtbench": MT_LOCAL,
        "dgms": ["gpt"],  # SDQ of the source DGM; no DGM answers (those need a model built)
        "sdq_n": 2,
        "sdq_factors": ["factuality"],
        "max_retries": 0,
    }
    workdir, cfg_path = workdir_copy(tmp_path, cfg, "api.yaml")
    models = JP.mtbench_models(rc.validate(copy.deepcopy(cfg)))
    every = rio.read_jsonl(QUESTIONS)
    n_q = len(every)
    for m in models:  # what judge_answers wrote, for every replica question
        (workdir / "results" / "judge" / m).mkdir(parents=True)
        turns = [{"index": 0, "turns": [f"{m} answer 1", f"{m} answer 2"]}]
        rio.write_jsonl(
            workdir / "results" / "judge" / m / "answers.jsonl",
            [{"question_id": q["question_id"], "choices": turns} for q in every],
        )
    (workdir / "results" / "generations").mkdir(parents=True)
    _generations(workdir / "results" / "generations" / "gpt.parquet", 4)  # what merge_generations wrote
    targets = [f"results/judge/{m}/mtbench.json" for m in models] + ["results/judge/dgm/gpt/sdq.json"]
    targets.append("results/tables/judge_cost.csv")
    base = ["-s", str(REPO / "Snakefile"), "-d", str(workdir), "--replace-workflow-config"]
    allowed = ["--allowed-rules", "judge", "sdq_judge", "judge_cost"]
    run_snakemake(
        [*base, "--configfile", str(cfg_path), "--cores", "1", *allowed, "--", *targets], env={KEY_ENV: SECRET}
    )
    summary = rio.read_json(workdir / "results" / "judge" / "base" / "mtbench.json")
    assert summary["n"] == 2 * n_q and summary["endpoint"]["api_key_set"] is True
    assert summary["judge"]["model"] == "stub-judge" and summary["n_malformed"] > 0  # the stub's empty verdicts
    assert rio.read_json(workdir / "results" / "judge" / "dgm" / "gpt" / "sdq.json")["n_judgments"] == 2
    assert len(stub.requests) == 2 * n_q * len(models) + 2 and set(stub.auth) == {f"Bearer {SECRET}"}
    assert f"mt-bench grading: {2 * n_q}/{2 * n_q} done" in (workdir / "logs" / "judge" / "base.log").read_text()
    table = pd.read_csv(workdir / "results" / "tables" / "judge_cost.csv")
    assert set(table["benchmark"]) == {"mtbench", "sdq", "ALL"} and len(table) == len(models) + 1 + 3
    all_row = table[table["benchmark"] == "ALL"].iloc[0]
    assert all_row["requests"] == len(stub.requests) and all_row["completion_tokens"] == 7 * len(stub.requests)

    # no key in any tree a run leaves, nor in either archive
    arc = archive.run(workdir, rc.validate(copy.deepcopy(cfg)), tmp_path / "reproduction.tar.gz", code_root=REPO)
    wf_arc = tmp_path / "workflow.tar.gz"
    run_snakemake([*base, "--configfile", str(cfg_path), "--archive", str(wf_arc)], env={KEY_ENV: SECRET})
    names = {}
    for tarball in (arc, wf_arc):
        with tarfile.open(tarball) as tf:
            names[tarball] = tf.getnames()
            blob = b"".join(tf.extractfile(m).read() for m in tf.getmembers() if m.isfile())
        assert blob and SECRET.encode() not in blob and SECRET[5:30].encode() not in blob, tarball
    assert any(n.endswith("judge/base/mtbench.json") for n in names[arc])  # the judged results are archived
    # snakemake --archive packs the config (which names the key's variable only) and the workdir's tracked files
    assert any(n.endswith("api.yaml") for n in names[wf_arc]), names[wf_arc][:20]
    for tree in ("results", "logs", ".snakemake"):
        assert (workdir / tree).is_dir()
        assert SECRET not in _all_text(workdir / tree) and SECRET[5:30] not in _all_text(workdir / tree), tree

    def planned(**judge) -> dict[str, int]:
        """The jobs a dry run plans after changing `judge` settings (same targets)."""
        edited = {**cfg, "eval": {**cfg["eval"], "judge": {**cfg["eval"]["judge"], **judge}}}
        _, path = workdir_copy(tmp_path, edited, "edited.yaml")
        out = run_snakemake([*base, "--configfile", str(path), "-n", *allowed, "--", *targets]).stdout
        return job_counts(out) if "Job stats:" in out else {}

    from test_workflow import job_counts

    k = len(models)
    assert planned(concurrency=3, timeout_s=30, max_retries=4) == {}  # cadence: nothing reruns
    assert planned(grade_temperature=0.5) == {"judge": k, "judge_cost": 1, "total": k + 1}  # grading + descendant
    judged = {"judge": k, "sdq_judge": 1, "judge_cost": 1, "total": k + 2}
    assert planned(model="another-judge") == judged  # the judge itself: every judged job and the cost table
    assert planned(revision="stub-judge-2099-01-01") == judged  # its snapshot too


# --------------------------------------------------------------------------------------------------------------
# Slow: a real vLLM OpenAI-compatible server (SmolLM2-135M-Instruct on CPU)
# --------------------------------------------------------------------------------------------------------------

ANSWER_RUNNER = "import json, sys; from rewild.judge.mtbench import run_answers; run_answers(**json.loads(sys.argv[1]))"


@pytest.mark.slow
def test_real_local_judge_end_to_end(tmp_path, monkeypatch):
    if not (SMOLLM2 / "config.json").exists():
        pytest.skip(f"{SMOLLM2} not built")
    try:
        import vllm  # noqa: F401
    except Exception as exc:  # pragma: no cover
        pytest.skip(f"vllm not importable: {exc}")
    monkeypatch.setenv(KEY_ENV, SECRET)
    cache = REPO / ".cache" / "vllm-test"
    qpath = tmp_path / "questions.jsonl"
    every = M.load_questions(QUESTIONS)
    rio.write_jsonl(qpath, [every[0], next(q for q in every if q["category"] == "math")])  # one reference-graded
    t0 = time.time()
    # 1. answers with vLLM offline (a subprocess, as under Snakemake): turn 2 sees the model's own turn-1 answer
    cfg = validated({"answer_max_tokens": 40, "answer_max_model_len": 1024})
    cfg["eval"]["gpus"] = 0
    args = {
        "questions_path": str(qpath),
        "subject": "dgm-smollm2",
        "model": str(SMOLLM2),
        "model_settings": JP.subject_settings(cfg, "base"),  # what a student's answers job receives
        "judge": JP.answer_params(cfg),  # what rule judge_answers hands run_answers
        "out_jsonl": str(tmp_path / "answers.jsonl"),
        "out_meta": str(tmp_path / "answers.json"),
        "cache_dir": str(cache),
    }
    proc = subprocess.run(
        [sys.executable, "-c", ANSWER_RUNNER, json.dumps(args)], cwd=REPO, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    answers = rio.read_jsonl(tmp_path / "answers.jsonl")
    assert len(answers) == 2 and all(len(M.answer_turns(a)) == 2 for a in answers)
    assert all(a["finish_reasons"][0] in ("stop", "length") for a in answers)
    t_answers = time.time() - t0

    # 2. one judge server for grading and SDQ; the run_* entries talk to it through base_url
    gens = _generations(tmp_path / "gens.parquet", 5)
    log = tmp_path / "judge.log"
    rio.setup_logging(log)
    with SV.serve_local(
        SMOLLM2,
        **{**SERVE_KW, "max_model_len": 1024, "api_key_env": KEY_ENV},
        cache_dir=cache,
        server_log=log,
        startup_timeout_s=240,
    ) as url:
        t_up = time.time() - t0
        settings = judge_settings(
            base_url=url, model="judge", api_key_env=KEY_ENV, concurrency=6, grade_max_tokens=32, timeout_s=120
        )
        settings = {**settings, "identity": C.judge_identity(settings, "test")}
        places = SV.JudgePlaces(tmp_path / "verdicts", cache)
        graded = M.run_grade(
            {**MT_PATHS, "questions": qpath},
            tmp_path / "answers.jsonl",
            "dgm-smollm2",
            settings,
            tmp_path / "mtbench.jsonl",
            tmp_path / "mtbench.json",
            places=places,
        )
        sdq = S.run_sdq(
            gens,
            "smollm2",
            {
                **settings,
                "sdq_n": 3,
                "sdq_factors": ["factuality", "readability"],
                "sdq_prefill": True,
                "sdq_max_tokens": 4,
            },
            tmp_path / "sdq.jsonl",
            tmp_path / "sdq.json",
            rubrics_path=RUBRICS,
            places=places,
        )
    t_total = time.time() - t0
    print(f"answers {t_answers:.0f} s, server up at {t_up:.0f} s, total {t_total:.0f} s")

    grades = rio.read_jsonl(tmp_path / "mtbench.jsonl")
    assert len(grades) == 4
    m = graded["metrics"]
    assert m["n_scored"] + graded["n_malformed"] + m["n_failed"] == 4 == m["n"]
    assert graded["n"] == len(graded["samples"]) == (4 if m["n_scored"] else 0)  # no rated turn: no score
    for r in grades:
        assert (r["score"] is not None and 1 <= r["score"] <= 10) or r["parse"] in (
            "empty",
            "no_rating",
            "out_of_range",
            "request_failed",
        )
    # the real server's usage counts; a local model id has no price
    assert graded["tokens"]["prompt"] > 100 and 0 < graded["tokens"]["completion"] <= 4 * 32
    assert graded["cost_usd_estimate"] is None
    recs = rio.read_jsonl(tmp_path / "sdq.jsonl")
    assert len(recs) == 6 and sdq["n_judgments"] == 6
    assert sdq["n_logprobs"] + sdq["n_text_fallback"] + sdq["n_unparsed"] + sdq["n_failed"] == 6
    assert sdq["n_logprobs"] >= 1  # with "Score:" prefilled, digits are among the top-10 candidates
    for r in recs:
        if r["method"] == "logprobs":
            assert 1 <= r["score"] <= 10 and len(r["probs"]) == 10 and sum(r["probs"]) == pytest.approx(1, abs=1e-4)
        elif r["score"] is not None:
            assert 1 <= r["score"] <= 10
    assert SECRET not in _all_text(tmp_path)
    # the server is gone
    import urllib.request

    with pytest.raises(OSError):  # connection refused (URLError)
        urllib.request.urlopen(url.removesuffix("/v1") + "/health", timeout=2)


def test_mtbench_data_download_is_pinned_and_checked(tmp_path, paper_config):
    """The prefetch plan of the paper preset lists the three FastChat files at the pinned commit with their
    SHA-256; the download (rule mtbench_data, prefetch) writes a file only when its hash matches."""
    import functools

    from rewild import config as rc
    from rewild import prefetch

    paper_config = rc.validate(paper_config)
    items = [i for i in prefetch.plan(paper_config)["items"] if i["repo_id"] == "lm-sys/FastChat"]
    commit = "0e6d3e4beaab66f4d3f93db72541a4abab8af28d"
    assert {i["path"] for i in items} == {
        "fastchat/llm_judge/data/mt_bench/question.jsonl",
        "fastchat/llm_judge/data/mt_bench/reference_answer/gpt-4.jsonl",
        "fastchat/llm_judge/data/judge_prompts.jsonl",
    }
    assert all(i["kind"] == "raw_file" and i["revision"] == commit and i["sha256"] for i in items)
    assert {i["dest"] for i in items} == set(JP.mtbench_inputs(paper_config).values())
    # a GitHub-raw-like server holding the replica's bytes under <repo>/<commit>/<path>
    served = tmp_path / "raw" / "lm-sys" / "FastChat" / commit / "fastchat" / "llm_judge" / "data"
    served.mkdir(parents=True)
    (served / "judge_prompts.jsonl").write_bytes(MT_PATHS["prompts"].read_bytes())
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(tmp_path / "raw"))
    handler.log_message = lambda *a: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    item = {
        "repo": "lm-sys/FastChat",
        "commit": commit,
        "path": "fastchat/llm_judge/data/judge_prompts.jsonl",
        "dest": str(tmp_path / "dl" / "judge_prompts.jsonl"),
        "sha256": rio.sha256_file(MT_PATHS["prompts"]),
    }
    try:
        got = prefetch.fetch_raw_file(item, base=base)
        assert got["downloaded"] and Path(item["dest"]).read_bytes() == MT_PATHS["prompts"].read_bytes()
        assert prefetch.fetch_raw_file(item, base=base)["downloaded"] is False  # already there, hash checked
        bad = {**item, "dest": str(tmp_path / "dl2" / "x.jsonl"), "sha256": "0" * 64}
        with pytest.raises(prefetch.PrefetchError, match="SHA-256"):
            prefetch.fetch_raw_file(bad, base=base)
        assert not Path(bad["dest"]).exists() and not Path(bad["dest"]).parent.exists()
    finally:
        server.shutdown()
        server.server_close()

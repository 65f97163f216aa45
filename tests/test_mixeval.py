"""MixEval (rewild/judge/mixeval.py): the pure protocol parts (model inputs, parser prompts, verdict reading, item
values, overall score), the replica's schema, the parsing job against a stub OpenAI-compatible judge (malformed,
retried and refused verdicts counted, cache), planning and prefetch, and one slow real run through Snakemake: a tiny
model answers the replica with vLLM, a real local vLLM judge server parses the answers."""

from __future__ import annotations

import copy
import http.server
import json
import math
import re
import threading
import time

import pytest
import yaml
from rewild_testlib import REPO, TEST_MODELS, run_snakemake, workdir_copy

from rewild import io as rio
from rewild.config import ConfigError
from rewild.judge import mixeval as M
from rewild.judge import mixeval_data as D
from rewild.judge.server import JudgePlaces

REPLICA = REPO / "data" / "replicas" / "MixEval" / "MixEval"
PATHS = {s: str(REPLICA / "README.md") for s in M.SPLITS}
SMOLLM2 = TEST_MODELS["smollm2"]


def validated(mixeval: dict | None = None, judge: dict | None = None, judged=("mixeval",)) -> dict:
    from rewild import config as rc

    cfg = yaml.safe_load((REPO / "config" / "demo.yaml").read_text())
    cfg["eval"]["judged_benchmarks"] = list(judged)
    cfg["eval"]["mixeval"] = mixeval if mixeval is not None else {"source": "local", "path": str(REPLICA)}
    if judge is not None:
        cfg["eval"]["judge"] = judge
    return rc.validate(cfg)


# ---------------------------------------------------------------------------------------------- pure: prompts


def test_model_inputs_follow_mixeval_formats():
    mc = {"prompt": "Which is a prime?", "options": ["21", "29"], "context": None, "benchmark_name": "MMLU"}
    assert M.multichoice_input(mc) == (
        "Which is a prime?\nA. 21\nB. 29\nAnswer with the option letter from the given choices directly.")
    assert M.multichoice_input({**mc, "context": "Numbers."}).startswith("Numbers.\nWhich is a prime?\nA. 21")
    assert M.multichoice_input({**mc, "context": "  "}).startswith("Which")  # blank, "none", "null": no context
    assert M.multichoice_input({**mc, "context": "NULL"}).startswith("Which")
    ff = {"prompt": "Capital of Peru?", "context": None, "benchmark_name": "TriviaQA"}
    assert M.freeform_input(ff) == "Question: Capital of Peru?\nAnswer the question shortly."
    assert M.freeform_input({**ff, "context": "Geo."}) == "Question: Geo.\nCapital of Peru?\nAnswer the question shortly."
    for bench in ("BBH", "GSM8k", "MATH"):
        assert M.freeform_input({**ff, "benchmark_name": bench}).endswith(
            "Capital of Peru?\nAnswer the question. \nLet's think step by step.")
    with pytest.raises(ValueError, match="QuAc"):
        M.freeform_input({**ff, "benchmark_name": "QuAc"})


def test_parser_prompts_carry_the_bare_question_gold_answers_and_options():
    ff = M.freeform_parser_messages("Who wrote it?", ["Thomas Mann", "MANN, THOMAS"], "Mann, I think.")
    assert ff[0] == {"role": "system", "content": "In this task, I want you to act as a judge."}
    u = ff[1]["content"]
    assert u.endswith("Question: Who wrote it?\nGolden Answer(s): <answer 1> Thomas Mann; <answer 2> MANN, THOMAS\n"
                      "Model's Answer: Mann, I think.\nYour Judgment: \n")
    assert "[[score]]" in u and "0.0 (totally wrong)" in u and "1.0 (totally right)" in u
    mc = M.multichoice_parser_messages("Pick one", ["x", "y", "z"], "I pick y")
    assert "option extractor" in mc[0]["content"]
    assert mc[1]["content"].endswith("Question: Pick one\nOptions: \nA. x\nB. y\nC. z\nModel's Answer: I pick y\n"
                                     "Your Judgment: \n")


# ---------------------------------------------------------------------------------------------- pure: verdicts


@pytest.mark.parametrize("text, want", [
    ("Close enough. The correctness score: [[0.8]].", 0.8),
    ("score [[1]] then [[0.2]]", 1.0),               # the first double-bracket one
    ("only single brackets [0.3]", 0.3),
    ("[0.9] but also [[0.1]]", 0.1),                 # double brackets win over an earlier single one
    ("The correctness score: [[1.5]]", None),        # outside [0, 1]: unreadable
    ("The correctness score: 0.7", None),            # no brackets
    ("[[-0.5]]", None),
    ("", None),
    (None, None),
])  # fmt: skip
def test_score_from_verdict(text, want):
    assert M.score_from_verdict(text) == want


@pytest.mark.parametrize("text, want", [
    ("The option chosen by the model: [[B]].", "B"),
    ("[A] at first, finally [[C]]", "C"),
    ("maybe [D]", "D"),
    ("[[b]] lower case", None),
    ("The model chose option B.", None),
    ("[[AB]]", None),
    (None, None),
])  # fmt: skip
def test_option_from_verdict(text, want):
    assert M.option_from_verdict(text) == want


def test_item_values_and_the_malformed_expectation():
    mc = {"options": ["p", "q", "r", "s"], "target": ["2"]}
    assert M.target_letter(mc) == "C" and M.target_letter({**mc, "target": [2]}) == "C"  # Hub str / GitHub int
    assert M.item_value("multiple_choice", mc, "C") == 1.0
    assert M.item_value("multiple_choice", mc, "A") == 0.0
    assert M.item_value("multiple_choice", mc, "Z") == 0.0  # a letter outside the options: wrong, not malformed
    assert M.item_value("multiple_choice", mc, None) == pytest.approx(0.25)  # random letter's expectation
    assert M.item_value("free_form", {}, 0.7) == 0.7
    assert M.item_value("free_form", {}, None) == 0.5  # round(random(), 1)'s expectation


def test_overall_weights_the_splits_by_their_item_counts():
    s = M.overall({"free_form": [1.0, 0.5, 0.0, 0.5], "multiple_choice": [1.0, 1.0]})
    assert s["splits"] == {"free_form": 0.5, "multiple_choice": 1.0}
    assert s["overall"] == pytest.approx(0.5 * 4 / 6 + 1.0 * 2 / 6)  # compute_metrics.py's weighting
    assert s["overall"] == pytest.approx(sum([1.0, 0.5, 0.0, 0.5, 1.0, 1.0]) / 6)  # = mean over all items
    assert M.overall({"free_form": [], "multiple_choice": [0.0, 1.0]})["overall"] == 0.5
    with pytest.raises(ValueError):
        M.overall({"free_form": [], "multiple_choice": []})
    rows = [{"benchmark_name": "A"}, {"benchmark_name": "B"}, {"benchmark_name": "A"}]
    assert M.by_benchmark(rows, [1.0, 0.0, 0.0]) == {"A": 0.5, "B": 0.0}
    assert M.sem([0.0, 1.0]) == pytest.approx(0.5) and M.sem([1.0]) is None


# ---------------------------------------------------------------------------------------------- data


def test_replica_is_schema_true():
    import datasets

    for config in ("MixEval", "MixEval_Hard"):
        for split in M.SPLITS:
            ds = datasets.load_dataset(str(REPLICA), config, split=split)
            assert list(ds.features) == list(M.COLUMNS)
            assert {r["problem_type"] for r in ds} == {M.KIND[split]}
    rows = {s: M.load_split("local", PATHS[s], s) for s in M.SPLITS}
    assert len(rows["free_form"]) == 10 and len(rows["multiple_choice"]) == 10
    assert {len(r["options"]) for r in rows["multiple_choice"]} >= {2, 3, 4, 5}
    assert any(not M.has_context(r) and r["context"] is not None for r in rows["free_form"])  # "none", ""
    for r in rows["multiple_choice"]:
        M.target_letter(r)


def test_a_subset_folder_reads_its_own_rows_not_a_cached_copy(tmp_path):
    """Same README, fewer rows: `datasets` would serve the replica's cached rows for the copy (its cache key is the
    README's relative data_files); each load reads the folder it is given."""
    import shutil

    M.load_split("local", PATHS["free_form"], "free_form")
    copy_dir = tmp_path / "MixEval"
    shutil.copytree(REPLICA, copy_dir)
    for split in M.SPLITS:
        f = copy_dir / "MixEval" / f"{split}.jsonl"
        f.write_text("\n".join(f.read_text().splitlines()[:2]) + "\n")
    assert [len(M.load_split("local", copy_dir / "README.md", s)) for s in M.SPLITS] == [2, 2]
    assert len(M.load_split("local", PATHS["free_form"], "free_form")) == 10


def test_upstream_layout_rows_and_bad_files(tmp_path):
    f = tmp_path / "multiple-choice.json"
    f.write_text(json.dumps({"0": {"problem_type": "multiple-choice", "context": None, "prompt": "p?",
                                   "options": ["a", "b"], "target": [1], "benchmark_name": "MMLU"}}))
    rows = M.load_split("github", f, "multiple_choice")
    assert rows[0]["id"] == "0" and M.target_letter(rows[0]) == "B"
    f.write_text(json.dumps({"0": {"prompt": "p?", "options": ["a"], "target": [0], "benchmark_name": "MMLU"}}))
    with pytest.raises(ValueError, match="options"):
        M.load_split("github", f, "multiple_choice")
    f.write_text(json.dumps([]))
    with pytest.raises(ValueError, match="JSON object"):
        M.load_split("github", f, "multiple_choice")


# ---------------------------------------------------------------------------------------------- planning


def test_plan_params_identity_and_switch():
    cfg = validated()
    assert M.models(cfg) and M.data_inputs(cfg) == PATHS
    assert M.answer_params(cfg) == {"temperature": 1.0, "max_new_tokens": 512, "max_model_len": 4096, "seed": 0,
                                    "limit": None}
    p = M.parse_params(cfg)
    assert p["identity"]["prompt_version"].startswith(M.PROMPT_VERSION) and p["parser_attempts"] == 10
    assert M.models(validated(judged=())) == []
    with pytest.raises(ConfigError, match="eval.mixeval.path"):
        M.data_inputs(validated(mixeval={"source": "local"}))
    other = validated(judge={"serve_local": {"model": "someone/other-judge"}})
    assert M.parse_params(other)["identity"] != p["identity"]
    assert M.answers_config_hash(other, "base") == M.answers_config_hash(cfg, "base")  # answers keep


def test_paper_preset_runs_mixeval_from_the_pinned_commit():
    from rewild import config as rc
    from rewild import prefetch

    cfg = rc.validate(yaml.safe_load((REPO / "config.yaml").read_text()))
    assert "mixeval" in cfg["eval"]["judged_benchmarks"]
    m = cfg["eval"]["mixeval"]
    assert (m["source"], m["version"], m["temperature"]) == ("github", "2024-06-01", 1.0)
    assert cfg["eval"]["judge"]["model"].startswith("gpt-4o-mini")
    files = D.upstream_files(cfg)
    assert [f["path"] for f in files] == ["mix_eval/data/mixeval-2024-06-01/mixeval/free-form.json",
                                          "mix_eval/data/mixeval-2024-06-01/mixeval/multiple-choice.json"]
    assert all(f["sha256"] and f["commit"] == M.UPSTREAM_COMMIT for f in files)
    items = [it for it in prefetch.plan(cfg)["items"] if "eval.mixeval" in it["used_by"]]
    assert [(it["kind"], it["repo_id"], it["dest"]) for it in items] == [
        ("raw_file", D.GITHUB_REPO, f["dest"]) for f in files]


# ---------------------------------------------------------------------------------------------- stub judge


class Stub:
    """An OpenAI-compatible parser: for an answer containing "LETTER=X" it replies [[X]], "SCORE=x" [[x]];
    "GARBLE" gets prose without brackets (malformed, asked again), "REFUSE" a 400 (refused, not asked again)."""

    def __init__(self):
        self.requests: list[dict] = []
        self.lock = threading.Lock()

    def reply(self, body: dict) -> tuple[int, dict]:
        user = body["messages"][-1]["content"]
        answer = user.rsplit("Model's Answer: ", 1)[1]
        if "REFUSE" in answer:
            return 400, {"error": {"message": "content policy"}}
        m = re.search(r"LETTER=([A-Z])|SCORE=([0-9.]+)", answer)
        text = f"Reasoning. Verdict: [[{m.group(1) or m.group(2)}]]." if m and "GARBLE" not in answer else "Unsure."
        return 200, {
            "id": "x", "object": "chat.completion", "created": 1, "model": body["model"],
            "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": text}}],
            "usage": {"prompt_tokens": len(user) // 4, "completion_tokens": 7, "total_tokens": len(user) // 4 + 7},
        }  # fmt: skip


@pytest.fixture
def stub():
    state = Stub()

    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_POST(self):
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            with state.lock:
                state.requests.append(body)
            status, payload = state.reply(body)
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    state.base_url = f"http://127.0.0.1:{server.server_address[1]}/v1"
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


def _answers(tmp_path):
    """Answers: multiple choice right (target letter) except item 1 (A, wrong unless target A), item 2 garbled,
    item 3 refused; free form SCORE=0.6 except item 0 garbled."""
    items = M.load_items("local", PATHS, None)
    out = []
    for k, (s, r) in enumerate(items):
        if s == "multiple_choice":
            i = k - 10
            resp = {1: "LETTER=A", 2: "GARBLE", 3: "REFUSE"}.get(i, f"LETTER={M.target_letter(r)}")
        else:
            resp = "GARBLE" if k == 0 else "SCORE=0.6"
        out.append({"split": s, "id": r["id"], "response": resp, "finish_reason": "stop"})
    path = tmp_path / "mixeval_answers.json"
    rio.write_json(path, {"model": "base", "items": out})
    return path, items


def _parse(tmp_path, stub, out: str, attempts: int = 3) -> dict:
    cfg = validated(mixeval={"source": "local", "path": str(REPLICA), "parser_attempts": attempts},
                    judge={"base_url": stub.base_url, "model": "stub-parser", "concurrency": 3})  # fmt: skip
    from rewild.judge import plan as JP

    path, _ = _answers(tmp_path)
    return M.run_parse(
        "local", PATHS, path, "base", {**M.parse_params(cfg), **JP.client_cadence(cfg)},
        tmp_path / f"{out}.json", tmp_path / f"{out}.verdicts.json",
        places=JudgePlaces(tmp_path / "verdicts", tmp_path / "cache"),
    )  # fmt: skip


def test_parsing_counts_malformed_and_refused_never_fatal(tmp_path, stub):
    s = _parse(tmp_path, stub, "a")
    _, items = _answers(tmp_path)
    mc = [r for sp, r in items if sp == "multiple_choice"]
    assert s["n"] == 20 and len(s["samples"]) == 20 and s["n_malformed"] == 3  # 2 garbled + 1 refused
    assert s["n_refused"] == 1
    assert s["samples"][0] == 0.5 and s["samples"][1:10] == [0.6] * 9
    assert s["samples"][11] == (1.0 if M.target_letter(mc[1]) == "A" else 0.0)
    assert s["samples"][12] == pytest.approx(1 / len(mc[2]["options"]))
    assert s["samples"][13] == pytest.approx(1 / len(mc[3]["options"]))
    assert s["score"] == pytest.approx(sum(s["samples"]) / 20)
    assert s["splits"]["free_form"] == pytest.approx((0.5 + 9 * 0.6) / 10)
    assert s["stderr"] == pytest.approx(M.sem(s["samples"]))
    # garbled verdicts asked 3 times each (new seed each time), a refusal once, the rest once
    assert len(stub.requests) == 17 + 2 * 3 + 1 and s["parser_attempts"] == 24
    assert {q["seed"] for q in stub.requests} == {0, 1, 2} and {q["max_tokens"] for q in stub.requests} == {999}
    assert s["judge"]["model"] == "stub-parser" and s["tokens"]["completion"] == 7 * 23
    assert s["benchmark"] == "mixeval" and s["model"] == "base" and s["cost_usd_estimate"] is None
    v = rio.read_json(tmp_path / "a.verdicts.json")
    assert [x["id"] for x in v] == [r["id"] for _, r in items] and v[2 + 10]["verdict"] is None
    # a rerun is answered from the verdict cache, except the refused request (refusals are not cached)
    again = _parse(tmp_path, stub, "b")
    assert len(stub.requests) == 24 + 1 and again["samples"] == s["samples"]


def test_answers_must_match_the_data(tmp_path, stub):
    path, _ = _answers(tmp_path)
    d = rio.read_json(path)
    d["items"] = d["items"][::-1]
    rio.write_json(path, d)
    cfg = validated(judge={"base_url": stub.base_url, "model": "stub-parser"})
    with pytest.raises(ValueError, match="items differ"):
        M.run_parse("local", PATHS, path, "base", {**M.parse_params(cfg), "concurrency": 1, "timeout_s": 5,
                    "max_retries": 0}, tmp_path / "x.json", tmp_path / "y.json",
                    places=JudgePlaces(None, tmp_path / "cache"))  # fmt: skip


# ---------------------------------------------------------------------------------------------- slow: real path

N_SLOW = 2  # items per split of the slow real run


@pytest.mark.slow
def test_real_run_through_snakemake_with_a_local_vllm_judge(tmp_path):
    """Snakemake on a demo-style config: the student (SmolLM2-135M-Instruct) answers a replica subset with vLLM at
    temperature 1.0, a real local vLLM server of the same model parses the answers, mixeval.json follows the
    contract; a changed judge then reruns only the parsing."""
    if not (SMOLLM2 / "config.json").exists():
        pytest.skip(f"{SMOLLM2} not built")
    data = tmp_path / "MixEval"
    (data / "MixEval").mkdir(parents=True)
    (data / "README.md").write_text((REPLICA / "README.md").read_text())
    (data / "MixEval_Hard").mkdir()
    for cfg_name in ("MixEval", "MixEval_Hard"):
        for split in M.SPLITS:
            lines = (REPLICA / cfg_name / f"{split}.jsonl").read_text().splitlines()[:N_SLOW]
            (data / cfg_name / f"{split}.jsonl").write_text("\n".join(lines) + "\n")
    cfg = yaml.safe_load((REPO / "config" / "demo.yaml").read_text())
    cfg["student"] = {"hf_id": str(SMOLLM2), "chat_template": "chatml"}
    cfg["eval"]["evaluate_dgms"] = []
    cfg["eval"]["judged_benchmarks"] = ["mixeval"]
    cfg["eval"]["mixeval"] = {"source": "local", "path": str(data), "max_new_tokens": 24, "max_model_len": 1024,
                              "parser_max_tokens": 32, "parser_attempts": 2}  # fmt: skip
    cfg["eval"]["judge"] = {
        "serve_local": {"model": str(SMOLLM2), "max_model_len": 2048, "gpus": 0, "startup_timeout_s": 240},
        "concurrency": 4,
        "timeout_s": 120,
    }
    workdir, cfg_path = workdir_copy(tmp_path, cfg, "mixeval.yaml")
    target = "results/judge/base/mixeval.json"
    base = ["-s", str(REPO / "Snakefile"), "-d", str(workdir), "--replace-workflow-config"]
    t0 = time.time()
    run_snakemake(base + ["--configfile", str(cfg_path), "--cores", "2", "--", target], timeout=900)
    took = time.time() - t0
    s = rio.read_json(workdir / target)
    n = 2 * N_SLOW
    assert s["n"] == n and len(s["samples"]) == n and 0 <= s["score"] <= 1 and math.isfinite(s["score"])
    assert all(0 <= v <= 1 for v in s["samples"]) and 0 <= s["n_malformed"] <= n
    assert s["split_counts"] == {"free_form": N_SLOW, "multiple_choice": N_SLOW}
    assert s["judge"]["base_url_kind"] == "local" and s["judge"]["model"] == str(SMOLLM2)
    assert s["tokens"]["prompt"] > n * 400 and s["cost_usd_estimate"] is None
    answers = rio.read_json(workdir / "results" / "judge" / "base" / "mixeval_answers.json")
    assert len(answers["items"]) == n and answers["settings"]["temperature"] == 1.0
    assert "MixEval overall of base" in (workdir / "logs" / "mixeval" / "base.log").read_text()
    print(f"mixeval snakemake run: {took:.0f} s, overall {s['score']:.3f}, malformed {s['n_malformed']}")

    def planned(edit) -> set[str]:
        edited = copy.deepcopy(cfg)
        edit(edited)
        _, path = workdir_copy(tmp_path, edited, "edited.yaml")
        proc = run_snakemake(base + ["--configfile", str(path), "-n", "--", target])
        return set(re.findall(r"^rule (\w+):", proc.stdout, re.M))

    assert planned(lambda c: c["eval"]["judge"]["serve_local"].update(revision="other")) == {"mixeval"}
    assert planned(lambda c: c["eval"]["mixeval"].update(temperature=0.5)) == {"mixeval_answers", "mixeval"}


class _RecordingJudge:
    """The judge session a parse talks to, answering every request with `reply` (a stand-in for the server)."""

    def __init__(self, reply: str) -> None:
        self.reply, self.requests = reply, []

    def chat(self, **kwargs):
        self.requests.append(kwargs)
        return {"choices": [{"index": 0, "message": {"role": "assistant", "content": self.reply}}]}


def test_parser_verdict_prefill_is_read_with_the_reply():
    """eval.judge.verdict_prefill reaches MixEval's parser: the request ends in the prefill for the judge to
    continue, and the verdict is read from prefill + reply; without one, MixEval's own request."""
    items = M.load_items("local", PATHS, 1)
    (split, entry), = [i for i in items if i[0] == "multiple_choice"]
    judge = {"parser_attempts": 1, "parser_max_tokens": 8, "parser_temperature": 0.0, "seed": 0,
             "verdict_prefill": "[["}
    js = _RecordingJudge("B]]")
    rec = M.parse_one(js, split, entry, "I think B", judge)
    assert rec["verdict"] == "B" and rec["judge_response"] == "[[B]]"
    (req,) = js.requests
    assert req["messages"][-1] == {"role": "assistant", "content": "[["}
    assert req["extra"] == {"continue_final_message": True, "add_generation_prompt": False}
    plain = _RecordingJudge("[[B]]")
    assert M.parse_one(plain, split, entry, "I think B", {**judge, "verdict_prefill": None})["verdict"] == "B"
    assert "extra" not in plain.requests[0] and plain.requests[0]["messages"][-1]["role"] == "user"

"""AlpacaEval 2.0 LC (rewild/judge/alpaca_eval.py): the pure parts, the replica's schema, the real alpaca-eval
annotator + GLM against a stub OpenAI-compatible judge (fast), and one slow real run through Snakemake: a tiny model
answers the replica with vLLM, alpaca-eval annotates against a real local vLLM judge server."""

from __future__ import annotations

import copy
import hashlib
import http.server
import json
import math
import re
import secrets
import threading
import time
from pathlib import Path

import pytest
import yaml
from rewild_testlib import REPO, TEST_MODELS, run_snakemake, workdir_copy

from rewild import io as rio
from rewild.config import ConfigError
from rewild.judge import alpaca_data as D
from rewild.judge import alpaca_eval as A
from rewild.judge import plan as JP
from rewild.judge.server import JudgePlaces

REPLICA = REPO / "data" / "replicas" / "tatsu-lab" / "alpaca_eval"
PATHS = {"reference": str(REPLICA / A.REFERENCE_FILE), "gamed": str(REPLICA / A.GAMED_FILE)}
SECRET = "sk-rewild-AE-" + secrets.token_hex(16)
KEY_ENV = "REWILD_ALPACA_TEST_KEY"
SMOLLM2 = TEST_MODELS["smollm2"]
N_SLOW = 12  # instructions of the slow real run


def validated(alpaca: dict | None = None, judge: dict | None = None, judged=("alpaca_lc",)) -> dict:
    from rewild import config as rc

    cfg = yaml.safe_load((REPO / "config" / "demo.yaml").read_text())
    cfg["eval"]["judged_benchmarks"] = list(judged)
    cfg["eval"]["alpaca_eval"] = alpaca if alpaca is not None else {"source": "local", "path": str(REPLICA)}
    if judge is not None:
        cfg["eval"]["judge"] = judge
    return rc.validate(cfg)


# ---------------------------------------------------------------------------------------------- pure functions


def test_lc_samples_keep_the_mean_order_and_count_the_missing():
    instr = ["a", "b", "c", "d"]
    samples, missing = A.lc_samples(instr, {"d": 0.9, "a": 0.2, "c": 0.4})
    assert missing == 1
    assert samples[0] == pytest.approx(20.0) and samples[2] == pytest.approx(40.0) and samples[3] == pytest.approx(90)
    assert samples[1] == pytest.approx(50.0)  # the missing verdict takes the mean of the others
    assert sum(samples) / 4 == pytest.approx(50.0)  # ... so the samples' mean is alpaca-eval's LC win rate
    with pytest.raises(ValueError, match="every verdict malformed"):
        A.lc_samples(instr, {})


def test_by_instruction_drops_nan_and_none():
    recs = [{"instruction": "x", "p": 1.5}, {"instruction": "y", "p": float("nan")}, {"instruction": "z", "p": None}]
    assert A.by_instruction(recs, "p") == {"x": 1.5}
    assert A.raw_preferences(["y", "x"], A.by_instruction(recs, "p")) == [None, 1.5]
    assert A.sem([1.0, 3.0]) == pytest.approx(1.0) and A.sem([2.0]) is None
    assert A.is_preference(1.7) and A.is_preference(0) and not A.is_preference(float("nan"))
    assert not A.is_preference(2.5) and not A.is_preference("m")


def test_jsonable_turns_nan_into_null():
    import numpy as np

    out = A.jsonable({"a": np.float64(1.5), "b": [float("nan"), np.int64(3)], "c": "s"})
    assert out == {"a": 1.5, "b": [None, 3], "c": "s"}
    json.dumps(out, allow_nan=False)


def test_model_output_records_follow_the_eval_set():
    ref = A.load_reference(PATHS["reference"])
    recs = A.model_output_records(ref, [f"o{i}" for i in range(len(ref))], "base")
    assert [r["instruction"] for r in recs] == [r["instruction"] for r in ref]
    assert recs[3] == {"instruction": ref[3]["instruction"], "output": "o3", "generator": "base",
                       "dataset": ref[3]["dataset"]}  # fmt: skip
    with pytest.raises(ValueError, match="outputs for"):
        A.model_output_records(ref, ["x"], "base")


def test_load_reference_rejects_bad_files(tmp_path):
    bad = tmp_path / "r.json"
    bad.write_text(json.dumps([{"instruction": "a", "output": "b", "generator": "g"}]))
    with pytest.raises(ValueError, match="dataset"):
        A.load_reference(bad)
    row = {"instruction": "a", "output": "b", "generator": "g", "dataset": "d"}
    bad.write_text(json.dumps([row, row]))
    with pytest.raises(ValueError, match="duplicate"):
        A.load_reference(bad)


# ---------------------------------------------------------------------------------------------- replica, config


def test_replica_is_schema_true():
    """The replica loads with `datasets` under the Hub's config and split name with the Hub's four string
    columns, and its df_gamed.csv has the columns alpaca-eval's GLM reads, one difficulty per instruction."""
    import datasets
    import pandas as pd

    ds = datasets.load_dataset(str(REPLICA), "alpaca_eval_gpt4_baseline", split="eval")
    assert ds.column_names == list(A.COLUMNS) and ds.num_rows == 24
    assert all(ds.features[c].dtype == "string" for c in A.COLUMNS)
    assert set(ds["generator"]) == {"gpt4_1106_preview"}
    assert set(ds["dataset"]) <= {"helpful_base", "koala", "oasst", "selfinstruct", "vicuna"}
    assert any(re.search(r"[\u4e00-\u9fff]", t) for t in ds["instruction"])  # several scripts
    assert any(re.search(r"[\u0600-\u06ff]", t) for t in ds["instruction"])
    gamed = pd.read_csv(PATHS["gamed"])
    cols = ["model", "index", "preference", "std_delta_len", "instruction_difficulty", "not_gamed_baseline"]
    assert list(gamed.columns) == cols
    assert gamed["index"].nunique() == ds.num_rows and not gamed["not_gamed_baseline"].any()
    assert gamed.groupby("index")["instruction_difficulty"].nunique().max() == 1
    assert gamed["preference"].between(0, 1).all()


def test_plan_paths_params_and_switch():
    cfg = validated()
    assert D.wanted(cfg) and A.models(cfg) == JP.workflow.models(cfg)
    assert A.data_inputs(cfg) == PATHS and D.upstream_files(cfg) == []
    assert A.answer_params(cfg) == {"temperature": 0.5, "max_new_tokens": 1024, "max_model_len": 4096, "seed": 0,
                                    "limit": None}
    hub = validated(alpaca={})
    assert hub["eval"]["alpaca_eval"]["annotator"] == "weighted_alpaca_eval_gpt-4o-mini-2024-07-18"
    files = D.upstream_files(hub)
    assert [f["filename"] for f in files] == [A.REFERENCE_FILE, A.GAMED_FILE]
    assert all(f["sha256"] and f["repo"] == "tatsu-lab/alpaca_eval" for f in files)
    assert files[0]["dest"].endswith(
        f"tatsu-lab/alpaca_eval/{hub['eval']['alpaca_eval']['revision']}/{A.REFERENCE_FILE}"
    )
    assert A.prompt_version(hub).startswith("alpaca_eval-0.6.6:weighted_alpaca_eval_gpt-4o-mini-2024-07-18:")
    assert not D.wanted(validated(judged=())) and A.models(validated(judged=())) == []
    with pytest.raises(ConfigError, match="eval.alpaca_eval.path"):
        A.data_inputs(validated(alpaca={"source": "local"}))
    api = validated(judge={"model": "gpt-4o-mini-2024-07-18", "base_url": "https://api/v1", "api_key_env": KEY_ENV})
    p = A.annotate_params(api)
    assert p["identity"]["model"] == "gpt-4o-mini-2024-07-18" and p["identity"]["base_url_kind"] == "api"
    assert "alpaca_eval-0.6.6" in p["identity"]["prompt_version"] and p["api_key_env"] == KEY_ENV
    assert A.annotate_runtime(api) > JP.LOAD_MINUTES


def test_prefetch_plans_the_two_hub_files():
    from rewild import prefetch

    items = [i for i in prefetch.plan(validated(alpaca={}))["items"] if i["kind"] == "hub_file"]
    assert sorted(i["name"] for i in items) == sorted([A.REFERENCE_FILE, A.GAMED_FILE])
    skipped = prefetch.plan(validated())["skipped"]
    assert any(s["what"] == "eval.alpaca_eval" for s in skipped)


def test_annotator_config_keeps_the_package_protocol(tmp_path):
    pkg, root = A.package_annotator_config("weighted_alpaca_eval_gpt-4o-mini-2024-07-18")
    cfg = A.annotator_config(pkg, model="judge", client_config_path="/x/c.yaml", num_procs=3, evaluators_dir=root)
    assert (
        Path(cfg["prompt_template"]).is_file() and "Best Model Identifier" in Path(cfg["prompt_template"]).read_text()
    )
    kw = cfg["completions_kwargs"]
    assert kw == {**pkg["completions_kwargs"], "model_name": "judge", "client_config_path": "/x/c.yaml",
                  "num_procs": 3, "requires_chatml": True}  # fmt: skip
    assert (kw["max_tokens"], kw["temperature"], kw["logprobs"], kw["top_logprobs"]) == (1, 1, True, 5)
    assert {k: v for k, v in cfg.items() if k not in ("prompt_template", "completions_kwargs")} == {
        k: v for k, v in pkg.items() if k not in ("prompt_template", "completions_kwargs")
    }
    assert cfg["fn_completion_parser"] == "logprob_parser"
    assert A.client_config("s1") == {"default": [{"client_class": A.CLIENT_CLASS, "session": "s1"}]}
    with pytest.raises(ConfigError, match="annotator"):
        A.package_annotator_config("no-such-annotator")


# ---------------------------------------------------------------------------------------------- stub judge


class Stub:
    """An OpenAI-compatible judge: answers alpaca-eval's 1-token verdicts with top logprobs for m/M drawn from the
    request; an instruction with "hi" gets no m/M candidates (malformed), one with "haiku" a 400 (refused)."""

    def __init__(self):
        self.requests: list[dict] = []
        self.auth: list[str | None] = []
        self.lock = threading.Lock()

    def reply(self, body: dict) -> tuple[int, dict]:
        user = body["messages"][-1]["content"]
        usage = {"prompt_tokens": len(user) // 4, "completion_tokens": 1, "total_tokens": len(user) // 4 + 1}
        if '"""Write a haiku about autumn leaves."""' in user:
            return 400, {"error": {"message": "maximum context length exceeded"}}
        # the model's output (marked "Answer <i>.") wins 4 times in 5, whichever position alpaca-eval gave it
        h = int(hashlib.sha256(user.encode()).hexdigest()[:8], 16) / 0xFFFFFFFF
        first = user.index('"model_identifier": "m"') < user.find("Answer ") < user.index('"model_identifier": "M"')
        p_m = (0.9 if first else 0.1) if h < 0.8 else (0.1 if first else 0.9)
        top = [{"token": "m", "logprob": math.log(p_m)}, {"token": "M", "logprob": math.log(1 - p_m)}]
        if '"""hi"""' in user:
            top = [{"token": "The", "logprob": -0.1}, {"token": "Both", "logprob": -2.5}]
        entry = {"token": top[0]["token"], "logprob": top[0]["logprob"], "bytes": None, "top_logprobs": top}
        return 200, {
            "id": "x", "object": "chat.completion", "created": 1, "model": body["model"],
            "choices": [{"index": 0, "finish_reason": "length", "logprobs": {"content": [entry]},
                         "message": {"role": "assistant", "content": top[0]["token"]}}],
            "usage": usage,
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
                state.auth.append(self.headers.get("Authorization"))
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


def _answers(tmp_path) -> Path:
    """Model outputs of varied length (the GLM has a length effect to remove)."""
    ref = A.load_reference(PATHS["reference"])
    outs = [("Sure. " * (1 + 7 * (i % 5))) + f"Answer {i}." for i in range(len(ref))]
    path = tmp_path / "alpaca_answers.json"
    rio.write_json(path, A.model_output_records(ref, outs, "mymodel"))
    return path


def _annotate(tmp_path, stub, out: str, **judge) -> dict:
    cfg = validated(judge={"base_url": stub.base_url, "model": "stub-judge", "api_key_env": KEY_ENV,
                           "max_retries": 0, "concurrency": 3, **judge})  # fmt: skip
    params = {**A.annotate_params(cfg), **JP.client_cadence(cfg)}
    return A.run_annotate(
        _answers(tmp_path),
        PATHS,
        "mymodel",
        params,
        tmp_path / out / "alpaca_lc.json",
        tmp_path / out / "alpaca_lc.annotations.json",
        places=JudgePlaces(tmp_path / "verdicts", tmp_path / "cache"),
    )


def test_annotation_through_alpaca_eval_against_a_stub_judge(tmp_path, stub, monkeypatch):
    """alpaca-eval's real annotator and GLM, its requests through our client config to the stub: the package's
    protocol reaches the judge, a malformed and a refused verdict are counted (not fatal), the LC win rate is
    finite and equals the samples' mean, tokens are the judge's usage, the key only in the header, a rerun is
    answered from the verdict cache."""
    monkeypatch.setenv(KEY_ENV, SECRET)
    s = _annotate(tmp_path, stub, "a")
    assert s["benchmark"] == "alpaca_lc" and s["model"] == "mymodel" and s["n"] == 24
    assert s["n_malformed"] == 2 and s["n_refused"] == 1 and s["n_annotated"] == 22 and s["n_without_lc"] == 0
    assert math.isfinite(s["score"]) and 50 < s["score"] < 100 and s["stderr"] > 0  # the model wins most verdicts
    assert s["win_rate"] > 50
    assert sum(s["samples"]) / len(s["samples"]) == pytest.approx(s["score"])
    assert s["raw_preferences"].count(None) == 2 and math.isfinite(s["win_rate"])
    ref = A.load_reference(PATHS["reference"])
    assert s["raw_preferences"][[r["instruction"] for r in ref].index("hi")] is None
    assert len(stub.requests) == 24 and set(stub.auth) == {f"Bearer {SECRET}"}
    b = stub.requests[0]
    assert (b["model"], b["max_tokens"], b["temperature"], b["logprobs"], b["top_logprobs"]) == (
        "stub-judge", 1, 1.0, True, 5)  # fmt: skip
    assert [m["role"] for m in b["messages"]] == ["system", "user"]
    assert "## Best Model Identifier" in b["messages"][1]["content"]
    ok = [q for q in stub.requests if "haiku" not in q["messages"][1]["content"]]
    assert s["tokens"]["prompt"] == sum(len(q["messages"][-1]["content"]) // 4 for q in ok)
    assert s["tokens"]["completion"] == 23 and s["judge"]["model"] == "stub-judge"
    assert s["judge"]["base_url_kind"] == "api" and s["endpoint"]["api_key_set"] is True
    text = "\n".join(p.read_text() for p in tmp_path.rglob("*") if p.is_file())
    assert SECRET not in text and SECRET[8:30] not in text
    ann = rio.read_json(tmp_path / "a" / "alpaca_lc.annotations.json")
    assert len(ann) == 24 and all(a["glm_preference"] is not None for a in ann)
    # a rerun (e.g. after a crash): every verdict from the cache, the same result, nothing sent
    again = _annotate(tmp_path, stub, "b")
    assert len(stub.requests) == 24 + 1  # only the refused request is asked again (refusals are not cached)
    assert again["score"] == pytest.approx(s["score"]) and again["samples"] == pytest.approx(s["samples"])
    assert again["judge_cache_hits"] == 23 and again["tokens"] == s["tokens"]
    assert again["tokens_sent"] == {"prompt": 0, "completion": 0}


def test_a_judge_without_usable_verdicts_stops_with_a_clear_error(tmp_path, stub, monkeypatch):
    """Malformed verdicts are counted; when too few are left for the GLM, the job says so instead of failing deep
    inside scikit-learn."""
    from rewild.judge.client import JudgeError

    monkeypatch.setattr(stub, "reply", lambda body: (400, {"error": {"message": "context length exceeded"}}))
    with pytest.raises(JudgeError, match="only 0 of 24 AlpacaEval verdicts are usable"):
        _annotate(tmp_path, stub, "a")
    assert len(stub.requests) == 24  # every instruction was asked: a refusal is per item, never fatal by itself


def test_annotation_never_writes_into_the_package(tmp_path, stub, monkeypatch):
    """alpaca-eval's defaults save annotations, leaderboards and GLM weights next to its own code: none appear."""
    import alpaca_eval

    root = Path(alpaca_eval.__file__).parent
    before = {p for p in root.rglob("*") if p.is_file() and "__pycache__" not in p.parts}
    monkeypatch.setenv(KEY_ENV, SECRET)
    _annotate(tmp_path, stub, "a")
    after = {p for p in root.rglob("*") if p.is_file() and "__pycache__" not in p.parts}
    assert after == before


# ---------------------------------------------------------------------------------------------- slow: real path


@pytest.mark.slow
def test_real_run_through_snakemake_with_a_local_vllm_judge(tmp_path):
    """Snakemake on a demo-style config: the student (SmolLM2-135M-Instruct) answers the replica with vLLM, then
    alpaca-eval's annotator runs against a real local vLLM server of the same model and its GLM gives a finite LC
    win rate; a changed judge then reruns only the annotation, a changed answer setting both jobs (the
    cadence case is tests/test_judge.py's)."""
    import pandas as pd

    if not (SMOLLM2 / "config.json").exists():
        pytest.skip(f"{SMOLLM2} not built")
    # the replica's first 12 instructions (CI time; the GLM fits from 4 valid verdicts up), same files and schema
    data = tmp_path / "alpaca_eval"
    data.mkdir()
    rio.write_json(data / A.REFERENCE_FILE, A.load_reference(PATHS["reference"])[:N_SLOW])
    gamed = pd.read_csv(PATHS["gamed"])
    gamed[gamed["index"] < N_SLOW].to_csv(data / A.GAMED_FILE, index=False)
    cfg = yaml.safe_load((REPO / "config" / "demo.yaml").read_text())
    cfg["student"] = {"hf_id": str(SMOLLM2), "chat_template": "chatml"}
    cfg["eval"]["evaluate_dgms"] = []
    cfg["eval"]["judged_benchmarks"] = ["alpaca_lc"]
    cfg["eval"]["alpaca_eval"] = {"source": "local", "path": str(data), "max_new_tokens": 24, "max_model_len": 1024}
    cfg["eval"]["judge"] = {
        "serve_local": {"model": str(SMOLLM2), "max_model_len": 2048, "gpus": 0, "startup_timeout_s": 240},
        "concurrency": 4,
        "timeout_s": 120,
    }
    workdir, cfg_path = workdir_copy(tmp_path, cfg, "alpaca.yaml")
    target = "results/judge/base/alpaca_lc.json"
    base = ["-s", str(REPO / "Snakefile"), "-d", str(workdir), "--replace-workflow-config"]
    t0 = time.time()
    run_snakemake(base + ["--configfile", str(cfg_path), "--cores", "2", "--", target], timeout=900)
    took = time.time() - t0
    s = rio.read_json(workdir / target)
    n = N_SLOW
    assert s["n"] == n and len(s["samples"]) == n and math.isfinite(s["score"]) and 0 <= s["score"] <= 100
    assert s["n_annotated"] + s["n_malformed"] == n and s["n_annotated"] >= 4  # enough verdicts for the GLM
    assert s["judge"]["base_url_kind"] == "local" and s["judge"]["model"] == str(SMOLLM2)
    assert s["tokens"]["prompt"] > n * 300 and s["cost_usd_estimate"] is None
    answers = rio.read_json(workdir / "results" / "judge" / "base" / "alpaca_answers.json")
    assert len(answers) == n and all(a["generator"] == "base" for a in answers)
    meta = rio.read_json(workdir / "results" / "judge" / "base" / "alpaca_answers.meta.json")
    assert meta["settings"]["temperature"] == 0.5 and meta["settings"]["max_new_tokens"] == 24
    assert "AlpacaEval LC win rate of base" in (workdir / "logs" / "alpaca_eval" / "base.log").read_text()
    print(f"alpaca-eval snakemake run: {took:.0f} s, LC {s['score']:.2f}, malformed {s['n_malformed']}")

    def planned(edit) -> set[str]:
        edited = copy.deepcopy(cfg)
        edit(edited)
        _, path = workdir_copy(tmp_path, edited, "edited.yaml")
        proc = run_snakemake(base + ["--configfile", str(path), "-n", "--", target])
        return set(re.findall(r"^rule (\w+):", proc.stdout, re.M))

    assert planned(lambda c: c["eval"]["judge"]["serve_local"].update(revision="other")) == {"alpaca_eval"}
    assert planned(lambda c: c["eval"]["alpaca_eval"].update(temperature=0.7)) == {"alpaca_answers", "alpaca_eval"}

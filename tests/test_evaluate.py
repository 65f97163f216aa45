"""rewild.evaluate: metric-key resolution, samples, hashes (fast); real lm-eval runs on the local tasks (slow)."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import shutil
from pathlib import Path

import pytest

from rewild import evaluate as E

REPO = Path(__file__).resolve().parent.parent
TINY = REPO / ".cache" / "tiny-random-hf"
TASKS = REPO / "data" / "tasks"

needs_real = pytest.mark.skipif(
    not (TINY / "config.json").is_file() or not (TASKS / "demo_mc.yaml").is_file(),
    reason="tiny random model or local lm-eval tasks not built",
)

# ------------------------------------------------------------------------------------------------ pure parts


def test_resolve_metric_key_bare_name_prefers_none():
    entry = {"acc,none": 0.4, "acc_stderr,none": 0.1, "acc_norm,none": 0.5, "acc_norm_stderr,none": 0.1}
    assert E.resolve_metric_key(entry, "acc") == "acc,none"
    assert E.resolve_metric_key(entry, "acc_norm") == "acc_norm,none"
    assert E.resolve_metric_key(entry, "acc_norm,none") == "acc_norm,none"


def test_resolve_metric_key_filters():
    one = {"exact_match,strict-match": 0.1, "exact_match_stderr,strict-match": 0.01, "alias": "x"}
    assert E.resolve_metric_key(one, "exact_match") == "exact_match,strict-match"
    two = {**one, "exact_match,flexible-extract": 0.2}
    assert E.resolve_metric_key(two, "exact_match,flexible-extract") == "exact_match,flexible-extract"
    with pytest.raises(KeyError, match="several filters"):
        E.resolve_metric_key(two, "exact_match")


def test_resolve_metric_key_absent_lists_available():
    entry = {"acc,none": 0.4, "acc_stderr,none": 0.1, "alias": "t", "name": "t"}
    with pytest.raises(KeyError, match=r"'acc_norm' not in .*available: \['acc,none'\]"):
        E.resolve_metric_key(entry, "acc_norm", "t")
    with pytest.raises(KeyError, match="available"):
        E.resolve_metric_key(entry, "acc,strict-match", "t")


def test_stderr_key():
    assert E.stderr_key("acc,none") == "acc_stderr,none"
    assert E.stderr_key("exact_match,strict-match") == "exact_match_stderr,strict-match"
    assert E.stderr_key("prompt_level_strict_acc,none") == "prompt_level_strict_acc_stderr,none"


def test_leaf_tasks_nested_groups():
    gs = {"lb": ["lb_bbh", "lb_gpqa"], "lb_bbh": ["bbh_a", "bbh_b"], "lb_gpqa": ["gpqa_main"]}
    assert E.leaf_tasks("lb", gs) == ["bbh_a", "bbh_b", "gpqa_main"]
    assert E.leaf_tasks("bbh_a", gs) == ["bbh_a"]
    assert E.leaf_tasks("solo", {}) == ["solo"]


def test_sample_values_filter_order_and_lists():
    samples = {
        "t1": [
            {"doc_id": 1, "filter": "strict", "em": 0.0},
            {"doc_id": 0, "filter": "strict", "em": 1.0},
            {"doc_id": 0, "filter": "flex", "em": 0.0},
        ],
        "t2": [{"doc_id": 0, "filter": "none", "inst": [True, False, True]}],
    }
    assert E.sample_values(samples, ["t1"], "em,strict") == [1.0, 0.0]
    assert E.sample_values(samples, ["t1"], "em,flex") == [0.0]
    assert E.sample_values(samples, ["t2"], "inst,none") == [1.0, 0.0, 1.0]  # IFEval inst-level: one per instruction


def test_chat_template_hash_matches_lm_eval():
    from lm_eval.utils import hash_string

    tpl = "{% for m in messages %}{{ m['content'] }}{% endfor %}"
    assert E.chat_template_hash(tpl) == hash_string(tpl) == hashlib.sha256(tpl.encode()).hexdigest()
    assert E.chat_template_hash(None) is None and E.chat_template_hash("") is None


def test_task_config_hash_is_machine_independent():
    a = {"t": {"task": "t", "doc_to_text": "Q", "metadata": {"version": 1.0, "config_source": "/a/t.yaml"}}}
    b = {"t": {"task": "t", "doc_to_text": "Q", "metadata": {"version": 1.0, "config_source": "/b/t.yaml"}}}
    c = {"t": {"task": "t", "doc_to_text": "Question", "metadata": {"version": 1.0}}}
    assert E.task_config_hash(a, ["t"]) == E.task_config_hash(b, ["t"]) != E.task_config_hash(c, ["t"])


def test_model_args_for():
    assert E.model_args_for("hf", "/m", revision=None, on_gpu=False) == {"pretrained": "/m", "dtype": "float32"}
    gpu = E.model_args_for("hf", "org/m", revision="abc", on_gpu=True, gpus=2)
    assert gpu == {"pretrained": "org/m", "dtype": "bfloat16", "revision": "abc", "parallelize": True}
    v = E.model_args_for("vllm", "org/m", revision=None, on_gpu=True, gpus=4, seed=7)
    assert v["tensor_parallel_size"] == 4 and v["seed"] == 7 and v["dtype"] == "bfloat16"
    assert E.model_args_for("vllm", "/m", revision=None, on_gpu=False)["dtype"] == "float32"
    with pytest.raises(ValueError, match="backend"):
        E.model_args_for("openai", "/m", revision=None, on_gpu=False)


def test_resolve_include_path(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert E.resolve_include_path(None) is None
    (tmp_path / "tasks").mkdir()
    assert E.resolve_include_path("tasks") == str(tmp_path / "tasks")
    if TASKS.is_dir():  # relative to the repository when not under the cwd
        assert E.resolve_include_path("data/tasks") == str(TASKS)
    with pytest.raises(FileNotFoundError):
        E.resolve_include_path("nowhere")


def _fake_result():
    return {
        "results": {
            "grp": {"alias": "grp", "acc_norm,none": 0.5, "acc_norm_stderr,none": "N/A"},
            "a": {"alias": " - a", "acc_norm,none": 1.0, "acc_norm_stderr,none": 0.0},
            "b": {"alias": " - b", "acc_norm,none": 1 / 3, "acc_norm_stderr,none": 0.3},
        },
        "group_subtasks": {"grp": ["a", "b"]},
        "samples": {
            "a": [{"doc_id": 0, "filter": "none", "acc_norm": 1.0}],
            "b": [{"doc_id": i, "filter": "none", "acc_norm": float(i == 0)} for i in range(3)],
        },
    }


def test_build_eval_json_group_aggregate():
    body = E.build_eval_json(_fake_result(), model_name="m", task_key="g", lm_eval_task="grp", metric="acc_norm")
    assert body["score"] == 0.5 and body["stderr"] is None and body["n"] == 4
    assert body["samples"] == [1.0, 1.0, 0.0, 0.0]
    assert body["metrics"] == {"acc_norm,none": 0.5, "acc_norm_stderr,none": "N/A"}
    with pytest.raises(KeyError, match="no results"):
        E.build_eval_json(_fake_result(), model_name="m", task_key="g", lm_eval_task="nope", metric="acc")


# ----------------------------------------------------------------------------------------------- real runs

EVAL_CFG = {
    "backend": "hf",
    "apply_chat_template": True,
    "batch_size": 8,
    "seed": 1234,
    "limit": 6,
    "include_path": str(TASKS),
    "gpus": 0,
}


@needs_real
@pytest.mark.slow
@pytest.mark.parametrize("task,metric", [("demo_mc", "acc"), ("demo_gen", "exact_match")])
def test_real_lm_eval_run(tmp_path, task, metric):
    out = tmp_path / "eval" / "base" / f"{task}.json"
    E.run(
        str(TINY),
        "base",
        task,
        {"lm_eval_task": task, "metric": metric, "num_fewshot": None},
        EVAL_CFG,
        out,
        "cfg-hash",
        tmp_path / "eval.log",
    )
    body = json.loads(out.read_text())
    assert set(body) == {
        "model",
        "task",
        "lm_eval_task",
        "metric",
        "score",
        "stderr",
        "n",
        "metrics",
        "samples",
        "provenance",
    }
    key = f"{metric},none"
    assert body["metrics"][key] == body["score"] and body["metric"] == metric and body["task"] == task
    assert len(body["samples"]) == body["n"] == 6
    assert body["score"] == pytest.approx(sum(body["samples"]) / body["n"])
    assert body["stderr"] is not None
    p = body["provenance"]
    assert p["config_hash"] == "cfg-hash" and p["lm_eval_version"] == "0.4.13" and p["backend"] == "hf"
    assert p["metric_key"] == key and len(p["task_config_hash"]) == 64 and p["batch_size"] == 8
    assert p["chat_template_sha256"] == E.chat_template_hash((TINY / "chat_template.jinja").read_text())
    assert p["seeds"]["fewshot"] == 1234 and p["model_revision"] is None


@needs_real
@pytest.mark.slow
def test_group_aggregate_and_saved_sft_template(tmp_path):
    """A group reports its aggregate with the samples of both subtasks; the model folder carries the plain ChatML
    template that rewild.sft saves, and lm-eval applies exactly that template."""
    from transformers import AutoTokenizer

    from rewild.sft import resolve_chat_template, strip_generation_markers

    tasks = tmp_path / "tasks"
    tasks.mkdir()
    for f in ("demo_mc.yaml", "demo_mc.jsonl", "utils.py"):
        shutil.copy(TASKS / f, tasks / f)
    (tasks / "demo_mc_b.yaml").write_text("include: demo_mc.yaml\ntask: demo_mc_b\n")
    (tasks / "demo_grp.yaml").write_text(
        "group: demo_grp\ntask:\n  - demo_mc\n  - demo_mc_b\naggregate_metric_list:\n"
        "  - metric: acc_norm\n    aggregation: mean\n    weight_by_size: true\nmetadata:\n  version: 1.0\n"
    )
    model = tmp_path / "model"
    shutil.copytree(TINY, model)
    tok = AutoTokenizer.from_pretrained(model)
    plain = strip_generation_markers(resolve_chat_template("chatml"))
    tok.chat_template = plain
    tok.save_pretrained(model)

    out = tmp_path / "grp.json"
    cfg = {**EVAL_CFG, "include_path": str(tasks), "limit": 3}
    E.run(str(model), "m", "grp", {"lm_eval_task": "demo_grp", "metric": "acc_norm"}, cfg, out, None, None)
    body = json.loads(out.read_text())
    assert body["n"] == 6 and body["provenance"]["subtasks"] == ["demo_mc", "demo_mc_b"]
    assert body["score"] == pytest.approx(sum(body["samples"]) / 6)
    assert body["samples"][:3] == body["samples"][3:]  # the same three questions twice
    assert body["provenance"]["chat_template_sha256"] == E.chat_template_hash(plain)


@needs_real
@pytest.mark.slow
@pytest.mark.skipif(importlib.util.find_spec("vllm") is None, reason="vLLM not installed")
def test_real_lm_eval_run_vllm(tmp_path, monkeypatch):
    from rewild.generate import CACHE_ENV, CPU_ENV

    for k in [*CPU_ENV, *CACHE_ENV]:  # run() sets vLLM's env vars; give them back after the test
        monkeypatch.setenv(k, os.environ[k]) if k in os.environ else monkeypatch.delenv(k, raising=False)
    monkeypatch.setenv("REWILD_VLLM_CACHE", str(tmp_path / "vllm-cache"))
    out = tmp_path / "demo_mc.json"
    E.run(
        str(TINY),
        "base",
        "demo_mc",
        {"lm_eval_task": "demo_mc", "metric": "acc"},
        {**EVAL_CFG, "backend": "vllm", "limit": 4},
        out,
        None,
        None,
    )
    body = json.loads(out.read_text())
    assert body["n"] == 4 and body["provenance"]["backend"] == "vllm"
    assert body["score"] == pytest.approx(sum(body["samples"]) / 4)

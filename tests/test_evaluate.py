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


STUDENT = {"revision": None, "gpus": 1, "max_model_len": 8192, "trust_remote_code": False}


def test_model_args_for_student_on_gpu_caps_the_context_at_the_training_length():
    v = E.model_args_for("vllm", "results/models/q72-250k", STUDENT, on_gpu=True, seed=7)
    assert v == {"pretrained": "results/models/q72-250k", "dtype": "bfloat16", "trust_remote_code": False,
                 "tensor_parallel_size": 1, "seed": 7, "max_model_len": 8192, "gpu_memory_utilization": 0.85}
    assert E.model_args_for("vllm", "/m", STUDENT, on_gpu=False, seed=1)["dtype"] == "float32"
    assert E.model_args_for("hf", "/m", STUDENT, on_gpu=False, seed=1) == {
        "pretrained": "/m", "dtype": "float32", "trust_remote_code": False}
    with pytest.raises(ValueError, match="backend"):
        E.model_args_for("openai", "/m", STUDENT, on_gpu=False, seed=1)


def test_model_args_for_pins_the_revision_of_model_and_tokenizer():
    base = {**STUDENT, "revision": "d04e592bb4f6aa9cfee91e2e20afa771667e1d4b"}
    v = E.model_args_for("vllm", "meta-llama/Llama-3.1-8B", base, on_gpu=True, seed=1)
    assert v["revision"] == v["tokenizer_revision"] == base["revision"]
    h = E.model_args_for("hf", "meta-llama/Llama-3.1-8B", base, on_gpu=True, seed=1)
    assert h["revision"] == base["revision"]  # HFLM loads its tokenizer at `revision`
    assert "revision" not in E.model_args_for("vllm", "/m", STUDENT, on_gpu=True, seed=1)


def test_model_args_for_reference_dgm_uses_its_gpus_and_remote_code():
    glm = {"revision": "abc123", "gpus": 4, "max_model_len": 8192, "trust_remote_code": True}
    v = E.model_args_for("vllm", "THUDM/glm-4-9b-chat", glm, on_gpu=True, seed=1)
    assert v["tensor_parallel_size"] == 4 and v["trust_remote_code"] is True and v["max_model_len"] == 8192
    h = E.model_args_for("hf", "THUDM/glm-4-9b-chat", glm, on_gpu=True, seed=1)
    assert h["parallelize"] is True and h["trust_remote_code"] is True
    assert E.model_args_for("vllm", "/m", glm, on_gpu=False, seed=1)["tensor_parallel_size"] == 1


def paper(**eval_overrides):
    import yaml

    from rewild import config as rc

    cfg = yaml.safe_load((REPO / "config.yaml").read_text())
    cfg["eval"].update(eval_overrides)
    return rc.validate(cfg)


def test_model_settings_in_the_paper_preset():
    cfg = paper(evaluate_dgms=["glm-4-9b-chat", "qwen2.5-72b-instruct", "llama-2-7b-chat-hf"])
    cfg["student"]["revision"] = "8b-rev"
    cfg["dgms"]["glm-4-9b-chat"]["revision"] = "glm-rev"
    assert E.model_settings(cfg, "base") == {"id": "meta-llama/Llama-3.1-8B", "revision": "8b-rev", "gpus": 1,
                                             "max_model_len": 8192, "trust_remote_code": False}
    assert E.model_settings(cfg, "rewild") == {"id": "results/models/rewild", "revision": None, "gpus": 1,
                                               "max_model_len": 8192, "trust_remote_code": False}
    assert E.model_settings(cfg, "dgm-glm-4-9b-chat") == {"id": "THUDM/glm-4-9b-chat", "revision": "glm-rev",
                                                          "gpus": 1, "max_model_len": 8192,
                                                          "trust_remote_code": True}
    q72 = E.model_settings(cfg, "dgm-qwen2.5-72b-instruct")
    assert q72["gpus"] == 4 and q72["max_model_len"] == 20000 and q72["trust_remote_code"] is False
    assert E.model_settings(cfg, "dgm-llama-2-7b-chat-hf")["max_model_len"] == 2048
    # a mix that trains at another length is evaluated at that length; CPU evaluation keeps every model on CPU
    cfg["mixes"]["rewild"]["sft_overrides"] = {"max_length": 4096}
    assert E.model_settings(cfg, "rewild")["max_model_len"] == 4096
    cfg["eval"]["gpus"] = 0
    assert E.model_settings(cfg, "dgm-qwen2.5-72b-instruct")["gpus"] == 0
    args = E.model_args_for("vllm", "Qwen/Qwen2.5-72B-Instruct", q72, on_gpu=True, seed=1)
    assert args["tensor_parallel_size"] == 4 and args["max_model_len"] == 20000


def test_gpu_evaluation_without_cuda_fails_before_loading(tmp_path, monkeypatch):
    """gpus > 0 where CUDA cannot give them: a clear error, not an 8B model on CPU until the time limit."""
    from rewild import engine

    monkeypatch.setattr(engine, "cuda_device_count", lambda: 0)
    with pytest.raises(engine.DeviceError, match=r"asks for 1 GPU\(s\) but 0 usable"):
        E.run(model_path="meta-llama/Llama-3.1-8B", model_name="base", settings=STUDENT,
              tasks={"bbh": {"lm_eval_task": "leaderboard_bbh", "metric": "acc_norm", "num_fewshot": None, "limit": None}},
              eval_cfg={**EVAL_CFG, "backend": "vllm"}, out_paths={"bbh": tmp_path / "x.json"}, config_hash=None)
    assert not (tmp_path / "x.json").exists()


def test_eval_job_shape_follows_the_model():
    """A 4-GPU reference DGM's job asks for 4 GPUs' CPUs and memory, a student's for 1 GPU's (before: every job was
    sized from eval.gpus, so the 72B DGM's job had one GPU's CPUs and memory)."""
    from rewild import resources as R

    cfg = paper(evaluate_dgms=["qwen2.5-72b-instruct"])
    q72 = "dgm-qwen2.5-72b-instruct"
    assert R.eval_threads(cfg, q72) == 4 * R.CPUS_PER_GPU and R.eval_threads(cfg, "base") == R.CPUS_PER_GPU
    assert R.eval_mem_mb(cfg, q72, 1) == R.gb_to_mb(8 + 4 * 32) and R.eval_mem_mb(cfg, "base", 1) == R.gb_to_mb(40)
    # one job over several tasks: one load allowance, the tasks' estimates added; 4 GPUs share the work
    one = R.eval_runtime(cfg, "base", ["bbh"], 1)
    both = R.eval_runtime(cfg, "base", ["bbh", "gpqa"], 1)
    assert (one, both) == (30 + 36, 30 + 48)  # bbh 0.3 h, gpqa 0.1 h, twice, in minutes
    assert R.eval_runtime(cfg, q72, ["bbh"], 1) < one
    cfg["eval"]["gpus"] = 0  # CPU evaluation: every model's job on CPU
    assert R.eval_threads(cfg, q72) == R.CPU_JOB_THREADS and R.eval_mem_mb(cfg, q72, 1) == R.gb_to_mb(8)


def test_group_tasks_counts_one_job_per_model():
    from rewild import resources as R

    cfg = paper()
    per_task = {r["stage"]: r["jobs"] for r in R.gpu_hours_by_stage(cfg)}["evaluate"]
    cfg["eval"]["group_tasks"] = True
    grouped = {r["stage"]: r["jobs"] for r in R.gpu_hours_by_stage(cfg)}["evaluate"]
    assert per_task == grouped * len(cfg["eval"]["tasks"])


def test_replicas_hash_follows_every_replica_file(tmp_path):
    from rewild import plan

    root = tmp_path / "replicas"
    shutil.copytree(REPO / "data" / "replicas" / "TAUR-Lab", root / "TAUR-Lab")
    (root / "lm-sys" / "mt_bench").mkdir(parents=True)  # a judge benchmark's data: no lm-eval task reads it
    (root / "lm-sys" / "mt_bench" / "README.md").write_text("---\nconfigs: []\n---\n")
    cfg = {"eval": {"replicas": str(root), "include_path": None}}
    first = plan.replicas_hash(cfg)
    assert plan.replicas_hash({"eval": {"replicas": None, "include_path": None}}) is None
    (root / "lm-sys" / "mt_bench" / "README.md").write_text("---\nconfigs: []\n---\nedited\n")
    assert plan.replicas_hash(cfg) == first and len(first) == 64
    row = root / "TAUR-Lab" / "MuSR" / "default" / "team_allocation.jsonl"
    row.write_text(row.read_text().replace("Ana", "Ann"))
    assert plan.replicas_hash(cfg) != first
    with pytest.raises(FileNotFoundError, match="eval.replicas"):
        plan.replicas_hash({"eval": {"replicas": str(tmp_path / "nowhere"), "include_path": None}})


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


def test_build_eval_json_keeps_every_metrics_samples():
    """IFEval: the configured prompt-level metric's samples, and the instruction-level loose values (one per
    instruction, flattened) that Avg-8 and its CI need (rewild.report reads them as ifeval_il)."""
    res = {
        "results": {"ifeval": {"prompt_level_strict_acc,none": 0.5, "inst_level_loose_acc,none": 0.6,
                               "inst_level_loose_acc_stderr,none": "N/A"}},
        "samples": {"ifeval": [
            {"doc_id": 1, "filter": "none", "prompt_level_strict_acc": False, "inst_level_loose_acc": [True, False, True]},
            {"doc_id": 0, "filter": "none", "prompt_level_strict_acc": True, "inst_level_loose_acc": [True, False]},
        ]},
    }
    body = E.build_eval_json(res, model_name="m", task_key="ifeval", lm_eval_task="ifeval",
                             metric="prompt_level_strict_acc")
    assert body["samples"] == [1.0, 0.0]
    assert body["samples_by_metric"] == {"inst_level_loose_acc,none": [1.0, 0.0, 1.0, 0.0, 1.0]}


# ----------------------------------------------------------------------------------------------- real runs

EVAL_CFG = {
    "backend": "hf",
    "apply_chat_template": True,
    "batch_size": 8,
    "seed": 1234,
    "limit": 6,
    "max_gen_toks": None,
    "include_path": str(TASKS),
    "replicas": None,
    "group_tasks": False,
    "gpus": 0,
    "cpus": None,
    "allow_code_execution": False,
    "evaluate_dgms": [],
}
CPU = {"revision": None, "gpus": 0, "max_model_len": 512, "trust_remote_code": False}


def run_eval(model, name, key, task, cfg, out, config_hash=None):
    return E.run(model_path=str(model), model_name=name, settings=CPU, tasks={key: {"num_fewshot": None, "limit": None, **task}},
                 eval_cfg=cfg, out_paths={key: out}, config_hash=config_hash)[key]


@needs_real
@pytest.mark.slow
def test_one_job_for_several_tasks_scores_each_as_alone(tmp_path):
    """eval.group_tasks: one model load and task index for both tasks, each task its own JSON, with the samples,
    score and n-shot it gets in a job of its own (each simple_evaluate is seeded at its start)."""
    tasks = {"mc": {"lm_eval_task": "demo_mc", "metric": "acc", "num_fewshot": None, "limit": None},
             "gen": {"lm_eval_task": "demo_gen", "metric": "exact_match", "num_fewshot": 1, "limit": None}}
    cfg = {**EVAL_CFG, "limit": 4}
    outs = {k: tmp_path / "grouped" / f"{k}.json" for k in tasks}
    grouped = E.run(model_path=str(TINY), model_name="base", settings=CPU, tasks=tasks, eval_cfg=cfg,
                    out_paths=outs, config_hash="h")
    for key, task in tasks.items():
        alone = run_eval(TINY, "base", key, task, cfg, tmp_path / "alone" / f"{key}.json")
        written = json.loads(outs[key].read_text())
        assert written["task"] == key and written["samples"] == alone["samples"] == grouped[key]["samples"]
        assert written["score"] == alone["score"] and written["n"] == alone["n"] == 4
        p, q = written["provenance"], alone["provenance"]
        assert p["task_config_hash"] == q["task_config_hash"] and p["n_shot"] == q["n_shot"]
        assert p["job_tasks"] == ["mc", "gen"] and q["job_tasks"] == [key]
    # each task gets its own num_fewshot (one simple_evaluate per task); these tasks pin 0 in their YAML
    assert [json.loads(outs[k].read_text())["provenance"]["num_fewshot"] for k in tasks] == [None, 1]
    setups = {json.loads(o.read_text())["provenance"]["job_setup_seconds"] for o in outs.values()}
    assert len(setups) == 1  # one load, shared


@needs_real
@pytest.mark.slow
def test_max_gen_toks_caps_generative_tasks_only(tmp_path):
    """eval.max_gen_toks reaches lm-eval as gen_kwargs: the generative task runs with that budget (lm-eval's own
    resolved config says so, and the task config hash changes), the loglikelihood task is untouched; a task's own
    limit wins over eval.limit."""
    tasks = {"mc": {"lm_eval_task": "demo_mc", "metric": "acc", "num_fewshot": None, "limit": 3},
             "gen": {"lm_eval_task": "demo_gen", "metric": "exact_match", "num_fewshot": None, "limit": None}}
    runs = {}
    for cap in (None, 3):
        outs = {k: tmp_path / str(cap) / f"{k}.json" for k in tasks}
        runs[cap] = E.run(model_path=str(TINY), model_name="base", settings=CPU, tasks=tasks,
                          eval_cfg={**EVAL_CFG, "limit": 2, "max_gen_toks": cap}, out_paths=outs, config_hash=None)
    own = runs[None]["gen"]["provenance"]["generation_kwargs"]["demo_gen"]
    capped = runs[3]["gen"]["provenance"]["generation_kwargs"]["demo_gen"]
    assert own.get("max_gen_toks") != 3 and capped["max_gen_toks"] == 3
    assert capped["until"] == own["until"]  # merged into the task's kwargs, not replacing them
    assert runs[3]["gen"]["provenance"]["max_gen_toks"] == 3
    assert runs[3]["gen"]["provenance"]["task_config_hash"] != runs[None]["gen"]["provenance"]["task_config_hash"]
    assert runs[3]["mc"]["provenance"]["task_config_hash"] == runs[None]["mc"]["provenance"]["task_config_hash"]
    assert runs[3]["mc"]["samples"] == runs[None]["mc"]["samples"]
    assert runs[3]["mc"]["n"] == 3 and runs[3]["gen"]["n"] == 2  # the task's limit, eval.limit


@needs_real
@pytest.mark.slow
def test_replicas_setting_runs_the_installed_task_on_its_replica(tmp_path):
    """eval.replicas: the paper's task name (leaderboard_musr, lm-eval's installed definition) runs offline, each
    leaf reading its replica; eval.include_path still serves the local tasks in the same job."""
    tasks = {"musr": {"lm_eval_task": "leaderboard_musr", "metric": "acc_norm", "num_fewshot": None, "limit": None},
             "mc": {"lm_eval_task": "demo_mc", "metric": "acc", "num_fewshot": None, "limit": None}}
    cfg = {**EVAL_CFG, "replicas": "data/replicas", "limit": 2}
    outs = {k: tmp_path / f"{k}.json" for k in tasks}
    bodies = E.run(model_path=str(TINY), model_name="base", settings=CPU, tasks=tasks, eval_cfg=cfg,
                   out_paths=outs, config_hash=None)
    p = bodies["musr"]["provenance"]
    assert p["subtasks"] == ["leaderboard_musr_murder_mysteries", "leaderboard_musr_object_placements",
                             "leaderboard_musr_team_allocation"]
    assert set(p["dataset_paths"].values()) == {str(REPO / "data" / "replicas" / "TAUR-Lab" / "MuSR")}
    assert bodies["musr"]["n"] == 3 and p["replicas"] == str(REPO / "data" / "replicas")
    assert bodies["mc"]["n"] == 2 and "replicas" not in str(bodies["mc"]["provenance"]["dataset_paths"])


@needs_real
@pytest.mark.slow
@pytest.mark.parametrize("task,metric", [("demo_mc", "acc"), ("demo_gen", "exact_match")])
def test_real_lm_eval_run(tmp_path, task, metric):
    out = tmp_path / "eval" / "base" / f"{task}.json"
    run_eval(TINY, "base", task, {"lm_eval_task": task, "metric": metric}, EVAL_CFG, out, "cfg-hash")
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
        "samples_by_metric",
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

    from rewild import chat_template

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
    plain = chat_template.for_inference("chatml")
    tok.chat_template = plain
    tok.save_pretrained(model)

    out = tmp_path / "grp.json"
    cfg = {**EVAL_CFG, "include_path": str(tasks), "limit": 3}
    run_eval(model, "m", "grp", {"lm_eval_task": "demo_grp", "metric": "acc_norm"}, cfg, out)
    body = json.loads(out.read_text())
    assert body["n"] == 6 and body["provenance"]["subtasks"] == ["demo_mc", "demo_mc_b"]
    assert body["score"] == pytest.approx(sum(body["samples"]) / 6)
    assert body["samples"][:3] == body["samples"][3:]  # the same three questions twice
    assert body["provenance"]["chat_template_sha256"] == E.chat_template_hash(plain)


@needs_real
@pytest.mark.slow
@pytest.mark.skipif(importlib.util.find_spec("vllm") is None, reason="vLLM not installed")
def test_real_lm_eval_run_vllm(tmp_path, monkeypatch):
    from rewild.engine import CACHE_ENV, CPU_ENV

    for k in [*CPU_ENV, *CACHE_ENV]:  # run() sets vLLM's env vars; give them back after the test
        monkeypatch.setenv(k, os.environ[k]) if k in os.environ else monkeypatch.delenv(k, raising=False)
    monkeypatch.setenv("REWILD_VLLM_CACHE", str(tmp_path / "vllm-cache"))
    out = tmp_path / "demo_mc.json"
    run_eval(TINY, "base", "demo_mc", {"lm_eval_task": "demo_mc", "metric": "acc"},
             {**EVAL_CFG, "backend": "vllm", "limit": 4}, out)
    body = json.loads(out.read_text())
    assert body["n"] == 4 and body["provenance"]["backend"] == "vllm"
    assert body["score"] == pytest.approx(sum(body["samples"]) / 4)


# ------------------------------------------------------------------------------------- MBPP (unsafe code)

MBPP_REPLICA = REPO / "data" / "replicas" / "google-research-datasets" / "mbpp"

# A stand-in for the `code_eval` metric script that `evaluate.load("code_eval")` takes from the Hub (the prefetch
# step caches it on the login node; this machine has no Hub). Same interface and the same refusal without
# HF_ALLOW_CODE_EVAL=1; it runs each candidate with its tests in a fresh interpreter and returns
# ({"pass@k": ...}, per-candidate results) as the Hub metric does.
CODE_EVAL_STANDIN = '''
import os, subprocess, sys
from math import comb

import datasets
import evaluate


class CodeEval(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description="test stand-in for evaluate-metric/code_eval", citation="", inputs_description="",
            features=datasets.Features({"predictions": datasets.Sequence(datasets.Value("string")),
                                        "references": datasets.Value("string")}))

    def _compute(self, predictions, references, k=[1, 10, 100], num_workers=4, timeout=3.0):
        if os.getenv("HF_ALLOW_CODE_EVAL", "0") != "1":
            raise ValueError("code_eval executes untrusted model-generated code: set HF_ALLOW_CODE_EVAL=1")
        results = []
        for candidates, test in zip(predictions, references):
            row = []
            for code in candidates:
                try:
                    done = subprocess.run([sys.executable, "-c", code + "\\n" + test], capture_output=True,
                                          timeout=timeout)
                    row.append(done.returncode == 0)
                except subprocess.TimeoutExpired:
                    row.append(False)
            results.append(row)

        def estimate(n, c, kk):
            return 1.0 if n - c < kk else 1.0 - comb(n - c, kk) / comb(n, kk)

        out = {f"pass@{kk}": sum(estimate(len(r), sum(r), kk) for r in results) / len(results)
               for kk in k if all(len(r) >= kk for r in results)}
        return out, results
'''


def install_code_eval(modules_cache: Path) -> None:
    """Put the stand-in where evaluate's offline loader looks for a cached Hub metric."""
    digest = hashlib.sha256(CODE_EVAL_STANDIN.encode()).hexdigest()
    d = modules_cache / "evaluate_modules" / "metrics" / "evaluate-metric--code_eval" / digest
    d.mkdir(parents=True)
    (d / "code_eval.py").write_text(CODE_EVAL_STANDIN)
    for p in (d, d.parent, d.parent.parent, d.parent.parent.parent):
        (p / "__init__.py").touch()


def mbpp_on_the_replica(tmp_path) -> Path:
    """lm-eval's installed `mbpp` definition with only its data source redirected to the replica."""
    import lm_eval

    installed = Path(lm_eval.__file__).parent / "tasks" / "mbpp" / "mbpp.yaml"
    tasks = tmp_path / "tasks"
    tasks.mkdir()
    (tasks / "mbpp.yaml").write_text(f"include: {installed}\ntask: mbpp\ndataset_path: {MBPP_REPLICA}\n")
    return tasks


@pytest.fixture
def offline_code_eval(tmp_path, monkeypatch):
    import evaluate

    cache = tmp_path / "hf-modules"
    install_code_eval(cache)
    monkeypatch.setenv("HF_MODULES_CACHE", str(cache))
    monkeypatch.setattr(evaluate.config, "HF_MODULES_CACHE", cache)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    for var in ("HF_ALLOW_CODE_EVAL", "HF_EVALUATE_OFFLINE"):  # run() sets them; give them back afterwards
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setattr(evaluate.config, "HF_EVALUATE_OFFLINE", evaluate.config.HF_EVALUATE_OFFLINE)
    return cache


def test_mbpp_replica_has_the_hub_schema():
    from datasets import load_dataset

    ds = load_dataset(str(MBPP_REPLICA), "full")
    assert set(ds) == {"train", "test", "validation", "prompt"}
    for split in ds.values():
        assert split.column_names == ["task_id", "text", "code", "test_list", "test_setup_code",
                                      "challenge_test_list"]
        assert all(len(r["test_list"]) == 3 for r in split)


@needs_real
@pytest.mark.slow
def test_real_mbpp_task_runs_with_code_execution_allowed(tmp_path, offline_code_eval):
    """The installed `mbpp` task (unsafe_code: true, pass@1 through code_eval) on its replica: lm-eval gets its
    confirmation and the metric its HF_ALLOW_CODE_EVAL (before the fix, every MBPP job raised)."""
    import yaml

    assert yaml.safe_load((Path(__import__("lm_eval").__file__).parent / "tasks/mbpp/mbpp.yaml").read_text()
                          .replace("!function", ""))["unsafe_code"] is True
    cfg = {**EVAL_CFG, "replicas": str(REPO / "data" / "replicas"), "limit": 3, "allow_code_execution": True}
    out = tmp_path / "mbpp.json"
    body = run_eval(TINY, "base", "mbpp", {"lm_eval_task": "mbpp", "metric": "pass_at_1"}, cfg, out)
    assert body["metric"] == "pass_at_1" and body["n"] == 3 and len(body["samples"]) == 3
    assert body["score"] == pytest.approx(sum(body["samples"]) / 3)
    assert set(body["samples"]) <= {0.0, 1.0}
    p = json.loads(out.read_text())["provenance"]
    assert p["allow_code_execution"] is True and p["n_shot"] == {"mbpp": 3}
    assert p["task_env"] == {"HF_ALLOW_CODE_EVAL": "1", "HF_EVALUATE_OFFLINE": "1"}
    assert p["dataset_paths"] == {"mbpp": str(MBPP_REPLICA)}


@needs_real
@pytest.mark.slow
def test_real_mbpp_task_is_refused_without_the_switch(tmp_path, offline_code_eval):
    cfg = {**EVAL_CFG, "replicas": str(REPO / "data" / "replicas"), "limit": 1}
    with pytest.raises(Exception, match="unsafe|HF_ALLOW_CODE_EVAL"):
        run_eval(TINY, "base", "mbpp", {"lm_eval_task": "mbpp", "metric": "pass_at_1"}, cfg, tmp_path / "m.json")
    assert not (tmp_path / "m.json").exists()


def test_unsafe_code_tasks_read_from_lm_eval_yaml(tmp_path):
    from rewild import lm_eval_tasks as T

    (tmp_path / "mine.yaml").write_text(f"include: {mbpp_on_the_replica(tmp_path) / 'mbpp.yaml'}\ntask: my_mbpp\n")
    (tmp_path / "grp.yaml").write_text("group: my_code\ntask:\n  - my_mbpp\n  - demo_mc\n")
    names = ["mbpp", "mbpp_plus", "humaneval", "leaderboard_bbh", "leaderboard_ifeval", "leaderboard_math_hard",
             "demo_mc", "my_mbpp", "my_code"]
    assert T.unsafe_code_tasks(names, str(tmp_path)) == {"mbpp", "mbpp_plus", "humaneval", "my_mbpp", "my_code"}


def test_unsafe_task_without_the_switch_is_a_config_error_before_any_job():
    from rewild.config import ConfigError

    with pytest.raises(ConfigError, match=r"eval.tasks.mbpp.*eval.allow_code_execution") as err:
        paper(allow_code_execution=False)
    assert err.value.key == "eval.tasks.mbpp"
    cfg = paper()  # the paper preset allows it (MBPP pass@1 is one of its benchmarks)
    assert cfg["eval"]["allow_code_execution"] is True


def test_code_execution_is_off_by_default():
    from rewild.config import load_schema

    assert load_schema()["properties"]["eval"]["properties"]["allow_code_execution"]["default"] is False


# ---------------------------------------------------------------------------------- job shapes in the workflow


def test_group_tasks_makes_one_evaluate_job_per_model_with_every_task_output(tmp_path):
    """snakemake -n on the demo with eval.group_tasks and eval.replicas: one evaluate job per model writing each
    task's usual JSON (downstream unchanged), one log per model; the replicas setting resolves and hashes."""
    import re

    import yaml
    from rewild_testlib import run_snakemake, workdir_copy

    from rewild import config as rc
    from rewild import plan

    cfg = yaml.safe_load((REPO / "config" / "demo.yaml").read_text())
    cfg["eval"].update(group_tasks=True, replicas="data/replicas")
    workdir, path = workdir_copy(tmp_path, cfg)
    out = run_snakemake(["--profile", "profiles/local", "-d", str(workdir), "--configfile", str(path), "-n",
                         "--printshellcmds"]).stdout
    blocks = [b for b in re.split(r"\n(?=rule \w+:)", out) if b.startswith("rule evaluate:")]
    models = plan.models(rc.validate(cfg))
    tasks = list(cfg["eval"]["tasks"])
    assert len(blocks) == len(models) > 1
    for block in blocks:
        model = re.search(r"wildcards: model=(\S+)", block).group(1)
        outputs = {o.strip() for o in re.search(r"output: (.*)", block).group(1).split(",")}
        assert outputs == {f"results/eval/{model}/{t}.json" for t in tasks}
        assert f"log: logs/evaluate/{model}.log" in block
    assert plan.replicas_hash(rc.validate(cfg)) is not None

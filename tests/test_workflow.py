"""The Snakemake side: lint/format clean, the paper DAG, config errors before any job, no shell strings."""

from __future__ import annotations

import re
import subprocess
from collections import Counter

import pytest
import yaml
from rewild_testlib import REPO, SNAKEMAKE, VENV_BIN, run_snakemake, workdir_copy

OFFLINE = {"HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}


def job_counts(stdout: str) -> Counter:
    """Parse the 'Job stats' table of a dry run."""
    counts: Counter = Counter()
    block = stdout.split("Job stats:", 1)[1]
    for line in block.splitlines()[3:]:
        parts = line.split()
        if len(parts) != 2 or not parts[1].isdigit():
            break
        counts[parts[0]] = int(parts[1])
    return counts


def test_lint_is_clean():
    proc = subprocess.run([SNAKEMAKE, "--lint"], cwd=REPO, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Congratulations" in proc.stdout + proc.stderr


def test_snakefmt_is_clean():
    proc = subprocess.run([str(VENV_BIN / "snakefmt"), "--check", "Snakefile", "rules"], cwd=REPO,
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_paper_dag_dry_run_offline(tmp_path):
    """The whole paper DAG from config.yaml, with no network, GPU or HF credentials."""
    proc = run_snakemake(["-s", str(REPO / "Snakefile"), "-d", str(tmp_path), "--configfile", str(REPO / "config.yaml"),
                          "-n", "--cores", "1", "--quiet", "rules"], env={**OFFLINE, "HF_TOKEN": ""})
    counts = job_counts(proc.stdout)
    cfg = yaml.safe_load((REPO / "config.yaml").read_text())
    n_shards = -(-cfg["prompts"]["n_conversations"] // cfg["prompts"]["shard_size"])
    assert counts["prompts"] == n_shards == 20
    assert counts["generate"] == 52 * n_shards  # every open DGM x every shard
    assert counts["source_responses"] == n_shards  # GPT: read, not generated
    assert counts["merge_generations"] == counts["filter"] == 53
    # 250k for all; 100k/500k scaling for 4 and Q7 at 500k (blend parent); Re-Wild and its two math candidates;
    # Tulu-3, Ultrachat and Magpie baselines; 2 blends; -lc; the three on-policy Qwen2-7B students
    n_mixes = 53 + 4 * 2 + 1 + 3 + 3 + 2 + 1 + 3
    assert counts["mix"] == counts["sft"] == n_mixes
    n_models = n_mixes + 1 + len(cfg["eval"]["evaluate_dgms"])  # + the untrained student and the DGMs as models
    assert counts["evaluate"] == n_models * 7  # 6 leaderboard groups + MBPP
    # every judged benchmark of the paper for every model: MT-Bench grading, AlpacaEval-LC, MixEval
    assert cfg["eval"]["judged_benchmarks"] == ["mtbench", "alpaca_lc", "mixeval"]
    for rule in ("judge_answers", "judge", "alpaca_answers", "alpaca_eval", "mixeval_answers", "mixeval"):
        assert counts[rule] == n_models, rule
    assert "build_demo_model" not in counts


def test_demo_dag_dry_run(tmp_path, demo_config):
    workdir, cfg = workdir_copy(tmp_path, demo_config)
    proc = run_snakemake(["--profile", "profiles/local", "-s", str(REPO / "Snakefile"), "-d", str(workdir),
                          "--configfile", str(cfg), "-n", "--quiet", "rules"])
    counts = job_counts(proc.stdout)
    assert counts["build_demo_model"] == 3  # SmolLM2, tiny random DGM, student
    assert counts["generate"] == 4 and counts["source_responses"] == 2
    assert counts["sft"] == 4 and counts["evaluate"] == (4 + 1 + 2) * 2  # mixes, base, 2 reference DGMs


@pytest.mark.parametrize(
    "mutate, key",
    [
        (lambda c: c["generation"].__setitem__("temprature", 0.5), "generation.temprature"),
        (lambda c: c["prompts"].__setitem__("shard_size", "ten"), "prompts.shard_size"),
        (lambda c: c["mixes"]["blend-smollm2-gpt"]["components"][0].__setitem__("dgm", "ghost"),
         "mixes.blend-smollm2-gpt.components.0.dgm"),
        (lambda c: c["dgms"].__setitem__('x"; touch PWNED; "', {"hf_id": "a"}), "dgms"),
    ],
)
def test_bad_config_fails_before_any_job(tmp_path, demo_config, mutate, key):
    mutate(demo_config)
    workdir, cfg = workdir_copy(tmp_path, demo_config)
    proc = run_snakemake(
        ["-s", str(REPO / "Snakefile"), "-d", str(workdir), "--configfile", str(cfg), "--replace-workflow-config",
         "--cores", "1"],
        check=False,
    )
    assert proc.returncode != 0
    assert f"config key '{key}" in proc.stderr + proc.stdout
    assert not (workdir / "results").exists() and not (workdir / "PWNED").exists()


def test_rules_never_build_shell_strings():
    """Config values reach jobs only as Python objects (script:), never interpolated into a shell command."""
    for smk in (REPO / "rules").glob("*.smk"):
        text = smk.read_text()
        assert not re.search(r"^\s+(shell|run):", text, re.M), f"{smk.name} has a shell:/run: block"
        assert "shell(" not in text


def test_unsafe_strings_in_values_stay_data(tmp_path, demo_config):
    """Quotes, spaces and ';' in DGM ids/paths are allowed as values and never reach a shell."""
    evil = "Smol\"LM'; touch PWNED; echo $(id) `id` x"
    demo_config["dgms"]["smollm2-135m"]["hf_id"] = evil
    workdir, cfg = workdir_copy(tmp_path, demo_config)
    proc = run_snakemake(
        ["-s", str(REPO / "Snakefile"), "-d", str(workdir), "--configfile", str(cfg), "--replace-workflow-config",
         "-n", "--printshellcmds", "--cores", "1"],
    )
    assert "touch PWNED" not in proc.stdout.replace(repr(evil), "")
    assert not (workdir / "PWNED").exists()

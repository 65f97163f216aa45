"""The Slurm profiles without a cluster (fast): the installer, and the sbatch arguments of the PAPER preset's jobs.

`tools/install-slurm-profile` writes the global profile `slurm` (here into a temporary XDG_CONFIG_HOME with a
paper-like site file); `snakemake -n --profile slurm` from the project then prints each job's resolved `threads`
and `resources` (the workflow profile profiles/default applies by itself); the plugin's own code (2.8.0:
partition selection from the installed partitions.yaml, get_submit_command, set_gres_string) turns them into the
sbatch arguments a cluster would get.
"""

from __future__ import annotations

import importlib.util
import os
import re
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests"))
from rewild_testlib import run_snakemake  # noqa: E402

from rewild import config as rc  # noqa: E402
from rewild import plan  # noqa: E402
from rewild import resources as rr  # noqa: E402

_spec = importlib.util.spec_from_file_location("install_slurm_profile", REPO / "tools" / "install_slurm_profile.py")
isp = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(isp)

EXAMPLE_SITE = yaml.safe_load((REPO / "profiles" / "slurm" / "site.example.yaml").read_text())
SITE = {**EXAMPLE_SITE, "account": None}  # the example's partitions: cpu and gpu-h100 (4 GPUs per node)
Q72 = "qwen2.5-72b-instruct"
TARGETS = [
    f"results/generations/{Q72}/s00000.parquet",
    "results/generations/llama-3.1-8b-instruct/s00000.parquet",
    "results/generations/gpt/s00000.parquet",
    "results/models/rewild.metrics.json",
    "results/models/tulu3-sft.metrics.json",
    "results/eval/base/bbh.json",
    "results/judge/base/answers.jsonl",
]


# ------------------------------------------------------------------------------------------------ installer


def test_requeue_exit_codes_are_read_from_scontrol():
    text = "JobRequeue              = 1\nRequeueExit             = 1,100-102\nRequeueExitHold         = 137\n"
    assert isp.site_requeue_codes(text) == {1, 100, 101, 102, 137}
    assert isp.site_requeue_codes("RequeueExit             = (null)\nRequeueExitHold         = (null)\n") == set()
    assert isp.site_requeue_codes("") == set()


def test_failed_jobs_exit_with_a_code_the_site_does_not_requeue():
    assert isp.failure_exit_code(set()) == 1
    assert isp.failure_exit_code({1, 2, 137}) == 3
    with pytest.raises(SystemExit, match="every exit code"):
        isp.failure_exit_code(set(range(1, 256)))


def test_precommand_maps_a_failure_to_that_code_and_keeps_success():
    """The precommand as the job's shell sees it (the plugin's --wrap="..." drops one level of `\\$`)."""
    import subprocess

    pre = isp.failure_precommand(3).replace("\\$", "$")
    for body, want in (("false", 3), ("exit 137", 3), ("true", 0)):
        assert subprocess.run(["sh", "-c", f"{pre} && {body}"]).returncode == want, body


def test_installed_profile_carries_the_site_values(tmp_path):
    site = tmp_path / "site.yaml"
    site.write_text(yaml.safe_dump({"account": "proj42", "hub_offline": False, "status_command": "sacct"}))
    dest, code = isp.install(site, tmp_path / "slurm", "RequeueExit             = 1\n")
    prof = yaml.safe_load((dest / "config.yaml").read_text())
    assert code == 2 and prof["precommand"] == "trap '[ \\$? -eq 0 ] || exit 2' EXIT"  # hub_offline: false
    assert prof["default-resources"]["slurm_account"] == "'proj42'"
    assert prof["slurm-status-command"] == "sacct" and prof["slurm-requeue"] is True
    assert prof["slurm-partition-config"] == str(dest / "partitions.yaml")
    assert yaml.safe_load((dest / "partitions.yaml").read_text()) == {"partitions": EXAMPLE_SITE["partitions"]}
    site.write_text("acount: typo\n")
    with pytest.raises(SystemExit, match="acount"):
        isp.install(site, tmp_path / "other", "")


def test_install_command_writes_under_xdg_config_home(tmp_path):
    import subprocess

    env = {**os.environ, "XDG_CONFIG_HOME": str(tmp_path / "xdg"), "HOME": str(tmp_path / "home")}
    res = subprocess.run([str(REPO / "tools" / "install-slurm-profile")], env=env, capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    assert (tmp_path / "xdg" / "snakemake" / "slurm" / "config.yaml").is_file()
    assert not (tmp_path / "home").exists()
    assert "snakemake --profile slurm" in res.stdout


def test_workflow_profile_sets_only_keys_the_local_executor_ignores():
    """profiles/default applies to every run from the project (the demo too) and replaces the same key of the
    other profiles: only `set-resources`, and only for rules that do not size their jobs themselves."""
    prof = yaml.safe_load((REPO / "profiles" / "default" / "config.yaml").read_text())
    assert set(prof) == {"set-resources"}
    rules_text = "\n".join(p.read_text() for p in sorted((REPO / "rules").glob("*.smk")))
    parts = re.split(r"^\s*rule (\w+):$", rules_text, flags=re.M)
    sized = {name for name, body in zip(parts[1::2], parts[2::2]) if re.search(r"^\s+mem_mb=", body, re.M)}
    assert {"generate", "sft", "evaluate"} <= sized
    assert not sized & set(prof["set-resources"]), "set-resources would override the rule's own sizes"


# ------------------------------------------------------------------------------------------------ paper dry run


@pytest.fixture(scope="module")
def paper() -> dict:
    cfg = yaml.safe_load((REPO / "config.yaml").read_text())
    rc.validate(cfg)
    return cfg


def parse_resources(text: str) -> dict:
    out = {}
    for key, value in re.findall(r"(\w+)=(.*?)(?=, \w+=|$)", text):
        out[key] = int(value) if re.fullmatch(r"-?\d+", value) else value
    return out


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> dict:
    home = tmp_path_factory.mktemp("xdg")
    site = home / "site.yaml"
    site.write_text(yaml.safe_dump(SITE))
    dest, _ = isp.install(site, home / "snakemake" / "slurm", "")
    return {"home": home, "profile": yaml.safe_load((dest / "config.yaml").read_text()),
            "partitions": dest / "partitions.yaml"}


def dry_run_jobs(workdir: Path, installed: dict, attempt: int) -> list[dict]:
    """Jobs of `snakemake -n --profile slurm`: rule, wildcards, threads, resources as resolved for `attempt`."""
    # --cores caps threads in a dry run (a real Slurm run has no such cap): lift it to see the real request
    proc = run_snakemake(
        ["--profile", "slurm", "-s", str(REPO / "Snakefile"), "-d", str(workdir),
         "--configfile", str(REPO / "config.yaml"), "-n", "--cores", "100000",
         "--attempt", str(attempt), "--", *TARGETS],
        cwd=workdir, env={"XDG_CONFIG_HOME": str(installed["home"])}, timeout=600,
    )
    out = proc.stdout + proc.stderr
    assert "workflow specific profile" in out and "profiles/default" in out, out[:2000]
    jobs = []
    for block in re.split(r"\n(?=\[[^\]]+\]\n)", out):
        m = re.search(r"^(local)?rule (\w+):", block, re.M)
        if not m:
            continue
        res = re.search(r"^\s+resources: (.*)$", block, re.M)
        thr = re.search(r"^\s+threads: (\d+)$", block, re.M)
        wc = re.search(r"^\s+wildcards: (.*)$", block, re.M)
        jobs.append({
            "rule": m.group(2),
            "wildcards": dict(kv.split("=", 1) for kv in wc.group(1).split(", ")) if wc else {},
            "threads": int(thr.group(1)) if thr else 1,
            "resources": parse_resources(res.group(1)) if res else {},
        })
    assert jobs, out[-3000:]
    return jobs


class _Res(dict):
    __getattr__ = dict.get


def sbatch_args(job: dict, installed: dict) -> str:
    """The sbatch arguments plugin 2.8.0 builds for these resolved resources, with the installed profile's
    partitions and requeue setting (its own functions)."""
    from snakemake_executor_plugin_slurm import Executor, ExecutorSettings
    from snakemake_executor_plugin_slurm.partitions import read_partition_file
    from snakemake_executor_plugin_slurm.submit_string import get_submit_command
    from snakemake_executor_plugin_slurm.utils import set_gres_string

    fake = SimpleNamespace(resources=_Res(job["resources"]), threads=job["threads"], is_group=lambda: False,
                           name=job["rule"])
    logger = SimpleNamespace(info=lambda *a: None, debug=lambda *a: None, warning=lambda *a: None)
    executor = SimpleNamespace(_partitions=read_partition_file(installed["partitions"]), _fallback_partition=None,
                               logger=logger)
    params = {"run_uuid": "uuid", "slurm_logfile": "log", "comment_str": "c", "account": "",
              "partition": Executor.get_partition_arg(executor, fake), "workdir": "/w"}
    settings = ExecutorSettings(requeue=installed["profile"]["slurm-requeue"])
    return get_submit_command(fake, params, settings=settings) + set_gres_string(fake)


@pytest.fixture(scope="module")
def jobs(tmp_path_factory, installed) -> list[dict]:
    return dry_run_jobs(tmp_path_factory.mktemp("paper-dry"), installed, attempt=1)


@pytest.fixture(scope="module")
def jobs_attempt3(tmp_path_factory, installed) -> list[dict]:
    return dry_run_jobs(tmp_path_factory.mktemp("paper-dry3"), installed, attempt=3)


def one(jobs, rule, **wildcards):
    found = [j for j in jobs if j["rule"] == rule and all(j["wildcards"].get(k) == v for k, v in wildcards.items())]
    assert found, (rule, wildcards, sorted({j["rule"] for j in jobs}))
    return found[0]


def assert_gpu_job(args: str, job: dict, gpus: int) -> None:
    r = job["resources"]
    assert f"--gpus={gpus}" in args and "--gres" not in args, args
    assert "--nodes=1" in args, f"a {gpus}-GPU job must stay on one node: {args}"  # rules: nodes=1
    assert "-p gpu-h100" in args, args
    assert f"--cpus-per-task={job['threads']}" in args and job["threads"] >= gpus
    assert f"--mem {r['mem_mb']}" in args and f"-t {r['runtime']}" in args
    assert "--requeue" in args and "--ntasks" not in args


def test_tp4_generation_job(jobs, paper, installed):
    job = one(jobs, "generate", dgm=Q72, shard="s00000")
    assert paper["dgms"][Q72]["gpus"] == 4
    assert job["threads"] == 4 * rr.CPUS_PER_GPU
    r = job["resources"]
    assert r["mem_mb"] == rr.generate_mem_mb(paper, Q72, 1) >= 1024 * 2 * 72.7  # the bf16 checkpoint fits
    assert r["runtime"] == rr.generate_runtime(paper, Q72, 1)
    assert_gpu_job(sbatch_args(job, installed), job, 4)


def test_8b_generation_job_asks_for_one_gpu(jobs, installed):
    job = one(jobs, "generate", dgm="llama-3.1-8b-instruct")
    assert_gpu_job(sbatch_args(job, installed), job, 1)
    assert job["resources"]["mem_mb"] < one(jobs, "generate", dgm=Q72)["resources"]["mem_mb"]


def test_four_gpu_sft_job(jobs, paper, installed):
    job = one(jobs, "sft", mix="rewild")
    assert paper["sft"]["gpus"] == 4 and job["threads"] == paper["sft"]["cpus"] == 32
    assert job["resources"]["mem_mb"] == rr.sft_mem_mb(paper, 1)
    assert job["resources"]["runtime"] == rr.sft_runtime(paper, "rewild", 1)
    assert_gpu_job(sbatch_args(job, installed), job, 4)


def test_evaluation_job(jobs, paper, installed):
    job = one(jobs, "evaluate", model="base", task="bbh")
    assert job["resources"]["runtime"] == rr.eval_runtime(paper, "base", ["bbh"], 1)
    assert_gpu_job(sbatch_args(job, installed), job, paper["eval"]["gpus"])


def test_judge_job_has_its_own_shape(jobs, installed):
    """The judge's answering job asks for its GPU, one node, and memory/time of its own (not the 2,000 MB /
    30 min fallback of the global profile)."""
    job = one(jobs, "judge_answers", model="base")
    r = job["resources"]
    assert r["mem_mb"] != 2000 and r["runtime"] != 30, r
    assert_gpu_job(sbatch_args(job, installed), job, r["gpu"])


def test_cpu_jobs_go_to_the_cpu_partition(jobs, installed):
    prof = yaml.safe_load((REPO / "profiles" / "default" / "config.yaml").read_text())["set-resources"]
    for rule in ("prompts", "source_responses", "merge_generations", "filter", "mix"):
        job = one(jobs, rule)
        assert "gpu" not in job["resources"], job
        args = sbatch_args(job, installed)
        assert "--gpus" not in args and "--gres" not in args and "-C " not in args
        want_mem, want_time = (eval(prof[rule][k], {"attempt": 1}) for k in ("mem_mb", "runtime"))
        assert "-p cpu " in args and "--ntasks=1" in args and f"--mem {want_mem}" in args and f"-t {want_time}" in args


def test_gpu_rule_with_zero_gpus_goes_to_the_cpu_partition(installed):
    """A GPU rule whose config count is 0 (demo, CPU runs) asks for no GPU and takes no GPU node."""
    job = {"rule": "generate", "threads": rr.CPU_JOB_THREADS,
           "resources": {"gpu": 0, "nodes": 1, "mem_mb": 8192, "runtime": 30}}
    args = sbatch_args(job, installed)
    assert "--gpus" not in args and "--gres" not in args and "-p cpu " in args
    assert f"--cpus-per-task={rr.CPU_JOB_THREADS}" in args


def test_retries_grow_up_to_the_site_limits(jobs, jobs_attempt3, paper, installed):
    """Attempt 3 asks for more than attempt 1, never more than the partition takes (resources.caps, the
    limits of the site's partitions)."""
    gpu_part = SITE["partitions"]["gpu-h100"]
    caps = paper["resources"]["caps"]["gpu"]
    assert caps == {"mem_mb": gpu_part["max_mem_mb"], "runtime": gpu_part["max_runtime"]}, \
        "config.yaml's resources.caps and profiles/slurm/site.example.yaml disagree"
    for rule, wc in (("generate", {"dgm": Q72}), ("sft", {"mix": "tulu3-sft"}), ("evaluate", {"task": "bbh"}),
                     ("judge_answers", {"model": "base"})):
        first, third = one(jobs, rule, **wc), one(jobs_attempt3, rule, **wc)
        for key in ("mem_mb", "runtime"):
            assert third["resources"][key] <= caps[key], (rule, key, third["resources"])
            assert third["resources"][key] >= first["resources"][key], (rule, key)
        args = sbatch_args(third, installed)
        assert "-p gpu-h100" in args, (rule, args)  # still fits the partition, so still submitted there
    # the paper's long jobs hit the caps: tulu3-sft (26 h at attempt 1) and Q72 generation (215 GB)
    assert one(jobs_attempt3, "sft", mix="tulu3-sft")["resources"]["runtime"] == caps["runtime"]


def test_cost_table_in_the_readme_is_current(paper):
    """profiles/slurm/README.md shows rr.cost_table_markdown(config.yaml); regenerate it when config changes."""
    table = rr.cost_table_markdown(paper)
    readme = (REPO / "profiles" / "slurm" / "README.md").read_text()
    assert table in readme, f"update the cost table in profiles/slurm/README.md:\n{table}"
    rows = {r["stage"]: r for r in rr.gpu_hours_by_stage(paper)}
    # the generation rate reproduces the paper's ~10,000 H100-hours for its 52 DGMs x 990k conversations
    assert 9_000 <= rows["generate"]["gpu_hours"] <= 11_000
    n_mixes = len(plan.all_mixes(paper))
    assert rows["generate"]["jobs"] == 52 * 20 and rows["sft"]["jobs"] == n_mixes == 74
    assert rows["evaluate"]["jobs"] == (n_mixes + 1 + len(paper["eval"]["evaluate_dgms"])) * 7

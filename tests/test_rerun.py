"""Rerun only what changed: one real run of the mini config, then a dry run per config edit on a copy of it.

`finished_run` runs `config/mini.yaml` to completion once per session (several minutes on 2 cores). Each test
copies the finished run directory (results, logs and the `.snakemake` metadata, mtimes preserved), edits the
copied config and asserts the exact set of jobs (rule + wildcards) `snakemake -n` plans, and the reason it
gives, parsed from the per-job blocks of the dry run.

Per-mix SFT settings (`sft_overrides`) exist only for entries of `mixes`, so the test config declares `gpt-all`
in `mixes`; `tiny-random-all` stays a `mix_grid` mix (same jobs and names as `config/mini.yaml`). Decontamination
is on, which adds the one `decontamination_index` job.

REWILD_RERUN_BASELINE=<dir> reuses a finished run of this module's config instead of running one.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tarfile
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml
from rewild_testlib import REPO, have, run_snakemake, workdir_copy

pytestmark = pytest.mark.slow

CONFIG_NAME = "config.test.yaml"
TASK = "demo-mc"

# ------------------------------------------------------------------------------------------------ helpers


def rerun_config() -> dict:
    cfg = yaml.safe_load((REPO / "config" / "mini.yaml").read_text())
    cfg["mix_grid"] = [{"sizes": {"all": 1.0}, "dgms": ["tiny-random"]}]
    cfg["mixes"] = {"gpt-all": {"components": [{"dgm": "gpt", "select": {"first_fraction": 1.0}}]}}
    # decontamination on, so the eval-prompt n-gram index is part of the DAG (an eval setting must not rerun it)
    cfg["filters"] = {"decontaminate": {"enabled": True}}
    return cfg


def smk_args(workdir: Path) -> list[str]:
    return ["--profile", "profiles/local", "-d", str(workdir), "--configfile", str(workdir / CONFIG_NAME)]


@pytest.fixture(scope="session")
def finished_run(tmp_path_factory) -> Path:
    """The finished baseline run; REWILD_RERUN_BASELINE=<dir> reuses one (only ever copied, never modified)."""
    workdir, cfg_path = workdir_copy(tmp_path_factory.mktemp("rerun-baseline"), rerun_config(), name=CONFIG_NAME)
    reuse = os.environ.get("REWILD_RERUN_BASELINE")
    if reuse:
        reuse_cfg = Path(reuse) / CONFIG_NAME
        assert reuse_cfg.is_file() and yaml.safe_load(reuse_cfg.read_text()) == yaml.safe_load(
            cfg_path.read_text()), f"{reuse} is not a run of this module's config"
        return Path(reuse)
    run_snakemake(smk_args(workdir))
    return workdir


def _copy_file(src: str, dst: str) -> str:
    # A dry run only reads results: big files (model weights) are hard-linked (same inode, so same mtime);
    # everything else, the `.snakemake` metadata included, is a real copy with its mtime (copy2).
    if os.path.getsize(src) > (1 << 20):
        try:
            os.link(src, dst)
            return dst
        except OSError:
            pass
    return shutil.copy2(src, dst)


def copy_run(finished: Path, tmp_path: Path) -> Path:
    dest = tmp_path / "run"
    shutil.copytree(finished, dest, symlinks=True, copy_function=_copy_file)
    assert (dest / ".snakemake" / "metadata").is_dir()
    return dest


def edit_config(workdir: Path, mutate: Callable[[dict], None]) -> None:
    path = workdir / CONFIG_NAME
    cfg = yaml.safe_load(path.read_text())
    mutate(cfg)
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))


JOB_HEADER = re.compile(r"^(?:local)?rule (\S+):$")


def planned_jobs(output: str) -> dict[str, str]:
    """`rule[wc=value,...]` -> reason, from the per-job blocks of a dry run.

    A block starts with `rule NAME:` (`localrule NAME:` for local rules) and holds indented `key: value` lines
    (`wildcards: dgm=gpt, shard=s00000`, `reason: ...`); it ends at the first line that is not indented.
    """
    jobs: dict[str, str] = {}
    block: dict | None = None

    def close() -> None:
        if block is not None:
            wc = ",".join(w.strip() for w in block.get("wildcards", "").split(",") if w.strip())
            name = f"{block['rule']}[{wc}]" if wc else block["rule"]
            assert name not in jobs, f"job {name} planned twice"
            jobs[name] = block.get("reason", "")

    for line in output.splitlines():
        m = JOB_HEADER.match(line)
        if m:
            close()
            block = {"rule": m.group(1)}
        elif block is not None:
            if not line.startswith(" "):
                close()
                block = None
            else:
                key, _, value = line.strip().partition(": ")
                if key in ("wildcards", "reason"):
                    block[key] = value
    close()
    return jobs


def job_total(output: str) -> int:
    """The `total` line of the dry run's "Job stats" table (0 when there is nothing to do)."""
    m = re.search(r"^total\s+(\d+)\s*$", output, re.M)
    return int(m.group(1)) if m else 0


def dry_run(workdir: Path, *extra: str) -> tuple[dict[str, str], str]:
    proc = run_snakemake(smk_args(workdir) + ["-n", *extra])
    out = proc.stdout + proc.stderr
    jobs = planned_jobs(out)
    assert len(jobs) == job_total(out), f"parsed {len(jobs)} job blocks, Job stats says {job_total(out)}:\n{out}"
    return jobs, out


def plan_after(finished: Path, tmp_path: Path, mutate: Callable[[dict], None]) -> tuple[Path, dict[str, str], str]:
    workdir = copy_run(finished, tmp_path)
    edit_config(workdir, mutate)
    jobs, out = dry_run(workdir)
    return workdir, jobs, out


PARAMS_CHANGED = "Params have changed since last execution"
INPUT_UPDATED = "Input files updated by another job"
MISSING = "Missing output files"
# the comparison with the paper reads the scores table; the significance tests read every eval JSON
AGGREGATES = {"scores_table", "study_tables", "paper_comparison", "significance", "summary", "all"}
# the report's loss-curve plot reads every student's training metrics: it reruns with any training
TRAINED = AGGREGATES | {"training_curves"}


def dgm_chain(dgm: str, mix: str, build: bool = False) -> set[str]:
    """A generated DGM's jobs from its generation down to its student's evaluation."""
    jobs = {
        f"generate[dgm={dgm},shard=s00000]",
        f"merge_generations[dgm={dgm}]",
        f"filter[dgm={dgm}]",
        f"mix[mix={mix}]",
        f"sft[mix={mix}]",
        f"evaluate[model={mix},task={TASK}]",
    }
    return jobs | ({f"build_demo_model[name={dgm}]"} if build else set())


def assert_jobs(jobs: dict[str, str], expected: set[str], out: str) -> None:
    planned = set(jobs)
    assert planned == expected, (
        f"reruns too much: {sorted(planned - expected)}; misses: {sorted(expected - planned)}\n{out[-6000:]}"
    )


# ------------------------------------------------------------------------------------------------ tests


def test_finished_run_has_nothing_to_do(finished_run, tmp_path):
    """The control: an unedited copy of the finished run is up to date (the copy keeps what Snakemake needs)."""
    workdir = copy_run(finished_run, tmp_path)
    jobs, out = dry_run(workdir)
    assert jobs == {} and "Nothing to be done" in out, out[-4000:]


def test_sampling_setting_of_one_dgm_reruns_only_that_dgm(finished_run, tmp_path):
    def mutate(cfg):
        cfg["dgms"]["tiny-random"]["generation_overrides"] = {"temperature": 0.7}

    _, jobs, out = plan_after(finished_run, tmp_path, mutate)
    # the similarity table reads every DGM's generations; the efficiency table every generated DGM's metrics
    expected = dgm_chain("tiny-random", "tiny-random-all") | {"efficiency_table", "similarity"} | TRAINED
    assert_jobs(jobs, expected, out)
    gen = jobs["generate[dgm=tiny-random,shard=s00000]"]
    assert gen.startswith(PARAMS_CHANGED) and "'temperature': 1.0" in gen and "'temperature': 0.7" in gen
    for job, reason in jobs.items():
        if not job.startswith("generate["):
            assert reason.startswith(INPUT_UPDATED), (job, reason)


def test_filter_setting_reruns_filtering_and_downstream(finished_run, tmp_path):
    def mutate(cfg):
        cfg.setdefault("filters", {})["drop_length"] = True

    _, jobs, out = plan_after(finished_run, tmp_path, mutate)
    expected = {
        "filter[dgm=gpt]", "filter[dgm=tiny-random]",
        "mix[mix=gpt-all]", "mix[mix=tiny-random-all]",
        "sft[mix=gpt-all]", "sft[mix=tiny-random-all]",
        f"evaluate[model=gpt-all,task={TASK}]", f"evaluate[model=tiny-random-all,task={TASK}]",
    } | TRAINED  # not prompts, generation, the untrained student's evaluation, efficiency or similarity
    assert_jobs(jobs, expected, out)
    for dgm in ("gpt", "tiny-random"):
        reason = jobs[f"filter[dgm={dgm}]"]
        assert reason.startswith(PARAMS_CHANGED) and "'drop_length': True" in reason
    for job, reason in jobs.items():
        if not job.startswith("filter["):
            assert reason.startswith(INPUT_UPDATED), (job, reason)


def test_sft_hyperparameter_of_one_mix_reruns_only_its_training(finished_run, tmp_path):
    """Needs the mix rule's params to leave `sft_overrides` out (they belong to the sft job, not the mix)."""

    def mutate(cfg):
        cfg["mixes"]["gpt-all"]["sft_overrides"] = {"learning_rate": 5.0e-5}

    _, jobs, out = plan_after(finished_run, tmp_path, mutate)
    expected = {"sft[mix=gpt-all]", f"evaluate[model=gpt-all,task={TASK}]"} | TRAINED
    assert_jobs(jobs, expected, out)
    sft = jobs["sft[mix=gpt-all]"]
    assert sft.startswith(PARAMS_CHANGED) and "'learning_rate': 5e-05" in sft


def test_eval_setting_reruns_only_evaluations(finished_run, tmp_path):
    """Every evaluation and the tables, not the data or the training: the decontamination index must carry
    only what decides the eval prompts (`eval.include_path`), not every eval setting."""

    def mutate(cfg):
        cfg["eval"]["batch_size"] = 4

    _, jobs, out = plan_after(finished_run, tmp_path, mutate)
    evals = {f"evaluate[model={m},task={TASK}]" for m in ("base", "gpt-all", "tiny-random-all")}
    assert_jobs(jobs, evals | AGGREGATES, out)
    for job in evals:
        assert jobs[job].startswith(PARAMS_CHANGED) and "'batch_size': 4" in jobs[job], (job, jobs[job])


def test_new_dgm_runs_only_its_own_jobs(finished_run, tmp_path):
    def mutate(cfg):
        new = {k: v for k, v in cfg["dgms"]["tiny-random"].items() if k != "local_build"}
        new["hf_id"] = "rewild/tiny-random-b"
        new["local_build"] = {"recipe": "tiny_random", "tokenizer_from": "student", "seed": 2}
        cfg["dgms"]["tiny-random-b"] = new
        cfg["mix_grid"][0]["dgms"].append("tiny-random-b")

    _, jobs, out = plan_after(finished_run, tmp_path, mutate)
    new_jobs = dgm_chain("tiny-random-b", "tiny-random-b-all", build=True)
    tables = {"efficiency_table", "similarity"} | TRAINED
    assert_jobs(jobs, new_jobs | tables, out)
    for job in new_jobs:
        assert MISSING in jobs[job], (job, jobs[job])
    for job in tables:
        assert jobs[job].startswith(INPUT_UPDATED), (job, jobs[job])


def _yaml_comment(workdir: Path) -> None:
    path = workdir / CONFIG_NAME
    path.write_text("# a comment changes nothing\n" + path.read_text().replace("\nsft:", "\n# SFT\nsft:", 1))


def _log_level(workdir: Path) -> None:
    edit_config(workdir, lambda c: c["run"].__setitem__("log_level", "DEBUG"))


def _checkpoint_every(workdir: Path) -> None:
    edit_config(workdir, lambda c: c["generation"].__setitem__("checkpoint_every", 3))


def _sft_cadence(workdir: Path) -> None:
    def mutate(c):
        c["sft"]["trl"].update(save_steps=7, logging_steps=2)
        c["mixes"]["gpt-all"]["sft_overrides"] = {"save_steps": 3}

    edit_config(workdir, mutate)


def _job_sizes(workdir: Path) -> None:
    def mutate(c):
        c["sft"]["cpus"] = 2
        c["eval"]["cpus"] = 2
        c["resources"] = {"caps": {"cpu": {"mem_mb": 1000, "runtime": 20}}}

    edit_config(workdir, mutate)


# docs/settings.md has every setting's class; tests/test_settings_table.py checks each on a touched run
@pytest.mark.parametrize("edit", [_yaml_comment, _log_level, _checkpoint_every, _sft_cadence, _job_sizes],
                         ids=["yaml-comment", "run.log_level", "generation.checkpoint_every",
                              "sft.trl save_steps/logging_steps", "sft.cpus, eval.cpus, resources.caps"])
def test_cosmetic_change_reruns_nothing(finished_run, tmp_path, edit):
    workdir = copy_run(finished_run, tmp_path)
    edit(workdir)
    jobs, out = dry_run(workdir)
    assert jobs == {} and "Nothing to be done" in out, out[-4000:]


def test_rerun_explanation_names_the_changed_params(finished_run, tmp_path):
    """The documented "what would rerun and why": `snakemake -n` (each job's `reason:` shows the params before
    and now) and `snakemake --summary` (per output file: status `params changed`, plan `update pending`)."""

    def mutate(cfg):
        cfg["dgms"]["tiny-random"]["generation_overrides"] = {"temperature": 0.7}

    workdir, jobs, _ = plan_after(finished_run, tmp_path, mutate)
    assert "'temperature': 0.7" in jobs["generate[dgm=tiny-random,shard=s00000]"]

    proc = run_snakemake(smk_args(workdir) + ["--summary"])
    rows = [line.split("\t") for line in proc.stdout.splitlines() if line.count("\t") >= 5]
    header, rows = rows[0], rows[1:]
    assert header[:6] == ["output_file", "date", "rule", "log-file(s)", "status", "plan"]
    status = {r[0]: (r[2], r[4], r[5]) for r in rows}
    params_changed = {f for f, (_, st, _) in status.items() if st == "params changed"}
    assert params_changed == {
        "results/generations/tiny-random/s00000.parquet",
        "results/generations/tiny-random/s00000.rejects.jsonl",
        "results/efficiency/tiny-random/s00000.json",
        # the efficiency table's params hold only the DGMs' sizes (plan.dgm_sizes): it reruns for its new input
    }
    pending_rules = {rule for rule, _, plan in status.values() if plan == "update pending"}
    assert pending_rules == {job.split("[")[0] for job in jobs} - {"all"}
    assert status["results/generations/gpt/s00000.parquet"][2] == "no update"
    assert status["results/models/gpt-all.metrics.json"][2] == "no update"


# ------------------------------------------------------------------------------------- snakemake --archive


def _workflow_checkout(dest: Path) -> Path:
    """A throwaway git repository holding the working tree's files (tracked + untracked, not ignored)."""
    ls = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=REPO,
                        capture_output=True, text=True)
    if ls.returncode != 0:
        pytest.skip("the workflow is not a git checkout")
    for rel in filter(None, ls.stdout.split("\0")):
        src = REPO / rel
        if src.is_file():
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / rel)
    # the student's wheel is an input of the mini config (ignored in git, archived as an external input)
    wheel = yaml.safe_load((REPO / "config" / "mini.yaml").read_text())["student"]["local_build"]["wheel"]
    (dest / wheel).parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(REPO / wheel, dest / wheel)
    git = ["git", "-c", "user.name=rewild-test", "-c", "user.email=test@rewild.invalid", "-c", "init.defaultBranch=main"]
    for cmd in (["init", "-q"], ["add", "-A"], ["commit", "-q", "-m", "workflow"]):
        subprocess.run(git + cmd, cwd=dest, check=True, capture_output=True)
    return dest


def _job_counts(out: str) -> dict[str, int]:
    """rule -> count from the "Job stats" table of a dry run."""
    table = out.split("Job stats:", 1)[1]
    return {m.group(1): int(m.group(2)) for m in re.finditer(r"^(\w+)\s+(\d+)\s*$", table, re.M)}


MINI_ARGS = ["--configfile", "config/mini.yaml", "--replace-workflow-config", "--cores", "1"]


def test_snakemake_archive_packs_a_rerunnable_workflow(tmp_path):
    """`snakemake --archive FILE` without conda deployment: git-tracked files (code, configs, envs/*.yaml, lock)
    and the external inputs; unpacked on its own, the archive plans the same jobs as the checkout it came from."""
    code = _workflow_checkout(tmp_path / "code")
    target = tmp_path / "workflow.tar.gz"
    proc = run_snakemake([*MINI_ARGS, "--archive", str(target)], cwd=code)
    with tarfile.open(target) as tar:
        names = set(tar.getnames())
        for name in ("Snakefile", "rules/common.smk", "rules/generate.smk", "scripts/generate.py",
                     "rewild/generate.py", "rewild/schemas/config.schema.yaml", "config/mini.yaml",
                     "envs/vllm.yaml", "requirements.lock", "profiles/slurm/config.yaml",
                     "data/demo/wildchat_demo.jsonl", "data/tasks/demo_mc.yaml"):
            assert name in names, (name, proc.stderr[-3000:])
        # the student's wheel is not tracked by git: archived as an external input of the DAG
        wheel = yaml.safe_load((REPO / "config" / "mini.yaml").read_text())["student"]["local_build"]["wheel"]
        assert wheel in names
        assert not any(n.startswith((".git/", "results/", ".snakemake/")) for n in names)
        unpacked = tmp_path / "unpacked"
        tar.extractall(unpacked, filter="data")
    original = run_snakemake([*MINI_ARGS, "-n"], cwd=code)
    again = run_snakemake([*MINI_ARGS, "-n"], cwd=unpacked)
    counts = _job_counts(again.stdout)
    assert counts == _job_counts(original.stdout) and counts["generate"] >= 1 and counts["sft"] >= 1


def test_snakemake_archive_with_conda_deployment_needs_conda(tmp_path):
    """With `--software-deployment-method conda` the archive also builds and packs every rule's env
    (envs/*.yaml), which needs conda (and its channels); without it Snakemake stops and writes no archive."""
    if have("conda"):
        pytest.skip("conda present: --archive would create and pack every envs/*.yaml environment (GBs)")
    code = _workflow_checkout(tmp_path / "code")
    target = tmp_path / "workflow.tar.gz"
    proc = run_snakemake([*MINI_ARGS, "--software-deployment-method", "conda", "--archive", str(target)],
                         cwd=code, check=False)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert "Error running conda info. Is conda installed and accessible?" in out, out[-3000:]
    assert not target.exists()

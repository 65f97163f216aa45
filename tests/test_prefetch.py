"""Prefetch for offline compute nodes (rewild.prefetch): the plan, the offline check, the manifest. No network:
a fake HF hub cache laid out as huggingface_hub writes it, and fake download functions."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path

import pytest
from rewild_testlib import REPO, run_snakemake, workdir_copy

from rewild import config as rc
from rewild import plan
from rewild import prefetch as rp

COMMIT = "0123456789abcdef0123456789abcdef01234567"
OTHER = "fedcba9876543210fedcba9876543210fedcba98"


@pytest.fixture
def offline(monkeypatch):
    for var in rp.OFFLINE_VARS:
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


@pytest.fixture
def online(monkeypatch):
    for var in rp.OFFLINE_VARS:
        monkeypatch.delenv(var, raising=False)


def fake_cache(root: Path, repo_id: str, kind: str = "model", refs: dict | None = None,
               commits: tuple = (COMMIT,), files: tuple = ("config.json",)) -> Path:
    """The hub cache layout huggingface_hub writes: <kind>s--org--name/{refs/<rev>, snapshots/<commit>/...}."""
    folder = root / rp.repo_folder(repo_id, kind)
    for rev, commit in (refs if refs is not None else {"main": COMMIT}).items():
        (folder / "refs" / rev).parent.mkdir(parents=True, exist_ok=True)
        (folder / "refs" / rev).write_text(commit)
    for commit in commits:
        for f in files:
            p = folder / "snapshots" / commit / f
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_text("{}")
    return folder


# ------------------------------------------------------------------------------------------------ the plan


def test_paper_plan_names_every_model_and_dataset(paper_config):
    rc.validate(paper_config)
    p = rp.plan(paper_config)
    models = [i for i in p["items"] if i["kind"] == "model"]
    datasets = [i for i in p["items"] if i["kind"] == "dataset"]
    tasks = [i for i in p["items"] if i["kind"] == "eval_task"]

    generated = plan.generated_dgms(paper_config)
    assert len(generated) == 52
    assert len(models) == 52 + 2  # every open DGM, the student (Llama-3.1-8B) and the on-policy study's Qwen2-7B
    by_repo = {m["repo_id"]: m for m in models}
    for dgm in generated:
        entry = paper_config["dgms"][dgm]
        assert by_repo[entry["hf_id"]]["revision"] == entry["revision"]
        assert f"dgms.{dgm}" in by_repo[entry["hf_id"]]["used_by"]
    assert by_repo["meta-llama/Llama-3.1-8B"]["used_by"] == ["student"]
    # a student of `students` that a mix trains (mixes.<mix>.student) is downloaded like the main student
    assert by_repo["Qwen/Qwen2-7B"]["used_by"] == ["students.qwen2-7b"]

    # WildChat (prompts) + the SFT sources of Re-Wild and its math candidates, the Tulu-3 baseline, and the
    # UltraChat / Magpie SFT baselines
    assert len(datasets) == 9
    assert {d["repo_id"] for d in datasets} == {
        "allenai/WildChat-1M-Full", "cais/mmlu", "allenai/tulu-3-sft-personas-algebra", "allenai/tulu-3-sft-mixture",
        "allenai/tulu-3-sft-personas-math-grade", "AI-MO/NuminaMath-CoT", "HuggingFaceH4/ultrachat_200k",
        "Magpie-Align/Magpie-Pro-MT-300K-v0.1", "Magpie-Align/Magpie-Reasoning-150K"}
    mmlu = next(d for d in datasets if d["repo_id"] == "cais/mmlu")
    assert mmlu["name"] == "auxiliary_train" and mmlu["split"] == "train"
    assert {t["repo_id"] for t in tasks} == {t["lm_eval_task"] for t in paper_config["eval"]["tasks"].values()}
    assert len(tasks) == 7
    # + the MT-Bench files of FastChat at a commit and AlpacaEval's two files of its Hub dataset
    assert rp.summary(p) == {"model": 54, "dataset": 9, "eval_task": 7, "raw_file": 5, "hub_file": 2, "skipped": 1}
    # GPT's responses come with the prompts: nothing more to fetch for it
    assert p["skipped"] == [{"what": "dgms.gpt", "reason": "responses are read from the prompt source"}]


def test_demo_plan_skips_local_paths(demo_config):
    rc.validate(demo_config)
    p = rp.plan(demo_config)
    assert p["items"] == []
    reasons = {s["what"]: s["reason"] for s in p["skipped"]}
    assert reasons["prompts.source"].startswith("local file")
    assert reasons["student"].startswith("built locally")
    assert reasons["dgms.smollm2-135m"].startswith("built locally")
    assert all(reasons[f"eval.tasks.{t}"].startswith("local lm-eval task") for t in demo_config["eval"]["tasks"])


def test_plan_deduplicates_and_skips(paper_config, tmp_path):
    cfg = copy.deepcopy(paper_config)
    cfg["dgms"]["same-as-l8i"] = dict(cfg["dgms"]["llama-3.1-8b-instruct"])
    cfg["dgms"]["on-disk"] = {"hf_id": str(tmp_path), "gpus": 1}
    cfg["dgms"]["pinned"] = {"hf_id": "meta-llama/Llama-3.1-8B-Instruct", "revision": OTHER, "gpus": 1}
    cfg["sources"]["unused"] = {"type": "hf", "path": "org/unused"}
    cfg["sources"]["local-src"] = {"type": "local", "path": "data/x.jsonl"}
    cfg["mixes"]["with-local"] = {"components": [{"source": "local-src", "select": {"first_n": 10}}]}
    rc.validate(cfg)
    p = rp.plan(cfg)
    l8i = [i for i in p["items"] if i["repo_id"] == "meta-llama/Llama-3.1-8B-Instruct"]
    # one download per (repo, revision); a different pinned revision is its own item
    assert sorted((i["revision"] or "", tuple(i["used_by"])) for i in l8i) == [
        ("", ("dgms.llama-3.1-8b-instruct", "dgms.same-as-l8i")), (OTHER, ("dgms.pinned",))]
    reasons = {s["what"]: s["reason"] for s in p["skipped"]}
    assert reasons["dgms.on-disk"] == f"local path {tmp_path}"
    assert reasons["sources.unused"] == "not used by any mix"
    assert reasons["sources.local-src"] == "local file data/x.jsonl"
    assert not any(i["repo_id"] == "org/unused" for i in p["items"])


def test_students_are_fetched_only_when_a_mix_trains_them(paper_config):
    cfg = copy.deepcopy(paper_config)
    cfg["students"]["idle"] = {"hf_id": "org/idle-base"}
    cfg["students"]["local"] = {"hf_id": "/models/local-base"}
    cfg["mixes"]["on-local"] = {"components": [{"dgm": "qwen2.5-72b-instruct", "select": {"first_n": 10}}],
                                "student": "local"}
    rc.validate(cfg)
    p = rp.plan(cfg)
    reasons = {s["what"]: s["reason"] for s in p["skipped"]}
    assert reasons["students.idle"] == "not trained by any mix"
    assert reasons["students.local"] == "local path /models/local-base"
    assert not any(i["repo_id"] == "org/idle-base" for i in p["items"])
    assert [i["used_by"] for i in p["items"] if i["repo_id"] == "Qwen/Qwen2-7B"] == [["students.qwen2-7b"]]


def test_model_ignore_patterns():
    assert rp.model_ignore_patterns(["config.json", "model.safetensors", "pytorch_model.bin", "original/x.pth"]) \
        == rp.DUPLICATE_WEIGHTS
    assert rp.model_ignore_patterns(["config.json", "pytorch_model.bin"]) == []  # .bin only: keep it


# ------------------------------------------------------------------------------------------------ the check


def test_cached_model_passes_offline(tmp_path, offline):
    fake_cache(tmp_path, "org/model")
    snap = rp.ensure_cached("org/model", None, "model", cache_dir=tmp_path)
    assert snap == tmp_path / "models--org--model" / "snapshots" / COMMIT
    assert rp.ensure_cached("org/model", "main", "model", cache_dir=tmp_path) == snap
    assert rp.ensure_cached("org/model", COMMIT, "model", cache_dir=tmp_path) == snap  # pinned commit


def test_cache_layout_matches_huggingface_hub(tmp_path):
    """Our fake layout is what huggingface_hub itself resolves offline (local_files_only)."""
    from huggingface_hub import snapshot_download

    fake_cache(tmp_path, "org/model")
    fake_cache(tmp_path, "org/data", kind="dataset", files=("README.md",))
    assert Path(snapshot_download("org/model", cache_dir=tmp_path, local_files_only=True)) == \
        rp.cached_snapshot("org/model", None, "model", tmp_path)
    assert Path(snapshot_download("org/data", repo_type="dataset", cache_dir=tmp_path, local_files_only=True)) == \
        rp.cached_snapshot("org/data", None, "dataset", tmp_path)


def test_missing_model_fails_offline_with_the_prefetch_command(tmp_path, offline):
    fake_cache(tmp_path, "org/other")
    with pytest.raises(rp.NotPrefetchedError) as err:
        rp.ensure_cached("meta-llama/Llama-3.1-8B", None, "model", cache_dir=tmp_path)
    msg = str(err.value)
    assert "model 'meta-llama/Llama-3.1-8B'" in msg and "revision main" in msg
    assert "snakemake --profile slurm prefetch" in msg
    assert str(tmp_path) in msg and "HF_HUB_OFFLINE" in msg


@pytest.mark.parametrize("revision, refs, commits", [
    ("v2", {"main": COMMIT}, (COMMIT,)),  # another branch was prefetched
    (OTHER, {"main": COMMIT}, (COMMIT,)),  # another commit was prefetched
    (None, {"main": COMMIT}, ()),  # ref written, files never arrived
])
def test_wrong_revision_fails_offline(tmp_path, offline, revision, refs, commits):
    fake_cache(tmp_path, "org/model", refs=refs, commits=commits)
    with pytest.raises(rp.NotPrefetchedError, match=f"revision {revision or 'main'}"):
        rp.ensure_cached("org/model", revision, "model", cache_dir=tmp_path)


def test_dataset_kind_and_hf_home(tmp_path, offline, monkeypatch):
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    monkeypatch.delenv("HUGGINGFACE_HUB_CACHE", raising=False)
    monkeypatch.setenv("HF_HOME", str(tmp_path))
    fake_cache(tmp_path / "hub", "allenai/WildChat-1M-Full", kind="dataset", files=("README.md",))
    assert rp.ensure_cached("allenai/WildChat-1M-Full", None, "dataset") is not None
    with pytest.raises(rp.NotPrefetchedError, match="model 'allenai/WildChat-1M-Full'"):
        rp.ensure_cached("allenai/WildChat-1M-Full", None, "model")  # a model of that name was never fetched


def test_online_missing_is_left_to_the_library(tmp_path, online):
    assert rp.ensure_cached("org/model", None, "model", cache_dir=tmp_path) is None


def test_local_paths_pass_through(tmp_path, offline):
    assert rp.ensure_cached(str(tmp_path), None, "model", cache_dir=tmp_path / "empty") == tmp_path


@pytest.mark.parametrize("value, expected", [("1", True), ("TRUE", True), ("yes", True), ("0", False), ("", False)])
def test_offline_flag_values(value, expected):
    assert rp.hub_offline({"HF_DATASETS_OFFLINE": value}) is expected


# ------------------------------------------------------------------------------------------------ the manifest


def fake_fetchers(calls: list):
    def fetch(item):
        calls.append(item["repo_id"])
        return {"commit": COMMIT, "path": f"/cache/{item['repo_id']}/snapshots/{COMMIT}"}

    # raw_file: the MT-Bench files of FastChat and the MixEval files of Psycoy/MixEval at a commit; hub_file: AlpacaEval's files of its Hub dataset
    return {"model": fetch, "dataset": fetch, "eval_task": fetch, "raw_file": fetch, "hub_file": fetch}


def test_manifest_of_the_paper_config(paper_config, tmp_path, online):
    rc.validate(paper_config)
    p = rp.plan(paper_config)
    calls: list = []
    out = tmp_path / "results/prefetch/manifest.json"
    rp.run(p, out, fetchers=fake_fetchers(calls))
    manifest = json.loads(out.read_text())
    assert len(calls) == len(manifest["items"]) == 54 + 9 + 7 + 5 + 2
    assert manifest["counts"] == {
        "model": 54, "dataset": 9, "eval_task": 7, "raw_file": 5, "hub_file": 2, "skipped": 1
    }
    for item in manifest["items"]:
        assert item["commit"] == COMMIT and item["path"].endswith(COMMIT)
        if item["kind"] in ("model", "dataset"):
            assert item["revision"] == "main"  # null in config: the Hub's main, resolved to a commit
    assert manifest["skipped"] == p["skipped"]


def test_failed_downloads_are_all_reported_and_no_manifest(paper_config, tmp_path, online):
    rc.validate(paper_config)
    p = rp.plan(paper_config)
    calls: list = []

    def gated(item):
        calls.append(item["repo_id"])
        if item["repo_id"].startswith("meta-llama/"):
            raise PermissionError("gated repo")
        return {"commit": COMMIT, "path": "/x"}

    out = tmp_path / "manifest.json"
    with pytest.raises(rp.PrefetchError) as err:
        rp.run(p, out, fetchers=dict.fromkeys(("model", "dataset", "eval_task", "raw_file", "hub_file"), gated))
    assert len(calls) == len(p["items"])  # kept going after the first failure
    n_meta = sum(1 for i in p["items"] if i["repo_id"].startswith("meta-llama/"))
    assert n_meta == 6 and f"{n_meta} of {len(p['items'])} downloads failed" in str(err.value)
    assert "meta-llama/Llama-3.1-8B" in str(err.value)
    assert not out.exists()


def test_prefetch_refuses_to_run_offline(tmp_path, offline):
    with pytest.raises(rp.PrefetchError, match="HF_HUB_OFFLINE"):
        rp.run({"items": [], "skipped": []}, tmp_path / "m.json", fetchers={})


# ------------------------------------------------------------------------------------------------ the rule


def test_prefetch_runs_as_a_local_rule_through_the_slurm_profile(tmp_path, demo_config):
    """`snakemake --profile profiles/slurm prefetch` runs on the login node: a local rule, so no sbatch (no
    cluster here). The demo needs nothing from the Hub: the manifest lists only what it skipped."""
    workdir, cfg = workdir_copy(tmp_path, demo_config)
    proc = run_snakemake(["--profile", str(REPO / "profiles/slurm"), "-s", str(REPO / "Snakefile"), "-d",
                          str(workdir), "--replace-workflow-config", "--configfile", str(cfg),
                          "--slurm-init-seconds-before-status-checks", "1", "--seconds-between-status-checks", "1",
                          "--", "prefetch"], cwd=workdir, env={"REWILD_SLURM_ACCOUNT": "", "HF_HUB_OFFLINE": "0", "HF_DATASETS_OFFLINE": "0", "TRANSFORMERS_OFFLINE": "0"}, timeout=300)
    out = proc.stdout + proc.stderr
    assert "localrule prefetch:" in out, out[-3000:]
    assert "submitted with SLURM jobid" not in out
    manifest = json.loads((workdir / rp.MANIFEST).read_text())
    assert manifest["items"] == [] and manifest["counts"] == {"skipped": 7}
    assert {s["what"] for s in manifest["skipped"]} == {
        "prompts.source", "dgms.gpt", "dgms.smollm2-135m", "dgms.tiny-random", "student",
        "eval.tasks.demo-mc", "eval.tasks.demo-gen"}


def test_prefetch_is_not_part_of_all(tmp_path):
    proc = run_snakemake(["-s", str(REPO / "Snakefile"), "-d", str(tmp_path), "--configfile",
                          str(REPO / "config.yaml"), "-n", "--quiet", "rules", "--cores", "1"])
    assert re.search(r"^generate\s+\d+$", proc.stdout, re.M)  # the job table of `rule all`
    assert not re.search(r"^prefetch\s+\d+$", proc.stdout, re.M)

"""Archive and verify: a small but real results tree is archived, verified, corrupted and tampered with."""

from __future__ import annotations

import copy
import gzip
import hashlib
import io
import json
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pandas as pd
import pytest
import yaml
from rewild_testlib import REPO, SNAKEMAKE, run_snakemake, workdir_copy

from rewild import archive, efficiency, paper, plan, report, score_plan, significance, study
from rewild import config as rc

# Built at run time so this file (which is archived as code) holds no token-shaped string itself.
HF_SECRET = "hf_" + "abcdefghijklmnopqrstuvwxyz0123456789"
SK_SECRET = "sk-" + "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123"

needs_git = pytest.mark.skipif(shutil.which("git") is None, reason="git not installed")


# ------------------------------------------------------------------------------------------------- fixtures


def small_config(demo_config: dict) -> dict:
    """The demo config cut to 2 models (one mix + the untrained student) x 2 tasks, defaults filled."""
    cfg = copy.deepcopy(demo_config)
    cfg["mix_grid"] = []
    cfg["eval"]["evaluate_dgms"] = []
    return rc.validate(cfg)


def write_json(path: Path, obj) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj, indent=2, sort_keys=True) + "\n")
    return path


def build_results(root: Path, cfg: dict) -> None:
    """A finished run's results tree in the architecture.md formats, tables computed by the real code."""
    models, tasks = plan.models(cfg), cfg["eval"]["tasks"]
    assert len(models) == 2 and len(tasks) == 2
    evals = []
    for i, model in enumerate(models):
        for j, (task, spec) in enumerate(tasks.items()):
            samples = [(k + i + j) % 3 == 0 for k in range(12)]
            score = sum(samples) / len(samples)
            evals.append(write_json(root / f"results/eval/{model}/{task}.json", {
                "model": model, "task": task, "lm_eval_task": spec["lm_eval_task"], "metric": spec["metric"],
                "score": score, "stderr": 0.01 * (i + j + 1), "n": len(samples),
                "metrics": {f"{spec['metric']},none": score, f"{spec['metric']}_stderr,none": 0.01 * (i + j + 1)},
                "samples": [int(s) for s in samples],
                "provenance": {"git_commit": "0" * 40, "git_dirty": False, "config_hash": "abc",
                               "model_revision": f"rev-{model}", "HF_TOKEN": HF_SECRET},
            }))
    report.run_scores([str(p) for p in evals], [], plan.all_mixes(cfg), tasks, score_plan.score_columns(cfg),
                      str(root / "results/tables/scores.csv"), str(root / "results/tables/scores.md"))

    shards = plan.shard_names(cfg["prompts"])
    eff: dict[str, list[str]] = {}
    for d in plan.generated_dgms(cfg):
        for k, shard in enumerate(shards):
            eff.setdefault(d, []).append(str(write_json(root / f"results/efficiency/{d}/{shard}.json", {
                "dgm": d, "shard": shard, "max_model_len": 320, "n_conversations": 40 - k,
                "input_tokens": 1000 + 37 * k, "output_tokens": 300 + 11 * k, "wall_seconds": 3.5 + k,
                "gpus": 0, "provenance": {"revision": None, "git_commit": "0" * 40},
            })))
    efficiency.run_efficiency([p for paths in eff.values() for p in paths], cfg["dgms"],
                              root / "results/tables/efficiency.csv",
                              root / "results/tables/efficiency_correlations.csv",
                              root / "results/plots/efficiency.png")
    (root / "results/plots/efficiency.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)))

    stats = [write_json(root / f"results/prompts/{s}.stats.json",
                        {"shard": s, "input_rows": 40, "kept": 38, "skipped_odd": 1, "rejected": 1,
                         "by_reason": {"bad": 1}}) for s in shards]
    filt = [write_json(root / f"results/filtered/{d}.report.json",
                       {"dgm": d, "input": 76, "kept": 75, "dropped": {"empty": 1}}) for d in cfg["dgms"]]
    metrics = [write_json(root / f"results/models/{m}.metrics.json",
                          {"loss_curve": [{"step": 1, "loss": 2.5}, {"step": 2, "loss": 2.0}],
                           "optimizer_steps": 2, "effective_batch": 8, "tokens_seen": 4096, "resumes": 0,
                           "wall_seconds": 12.0, "eval_loss": 2.1})
               for m in plan.all_mixes(cfg)]
    study.run_study(root / "results/tables/scores.csv", plan.mix_info(cfg), list(tasks), root / "results/tables",
                    root / "results/plots", metric=cfg["analyses"]["metric"])
    import pandas as pd

    from rewild import plots

    # an analysis table verify() only checksums (its inputs, the generations, are not archived by default)
    pd.DataFrame([{"dgm": "gpt", "rouge1": 0.3}]).to_csv(root / "results/tables/similarity.csv", index=False)

    plots.loss_curve({"m": pd.DataFrame([{"step": 1, "loss": 2.5}, {"step": 2, "loss": 2.0}])},
                     root / "results/plots/sft_loss.png")
    report.run_summary(str(root / "results/tables/scores.csv"), [str(p) for p in metrics],
                       [str(p) for p in stats], [str(p) for p in filt],
                       str(root / "results/report/summary.md"), run_name=cfg["run"]["name"], tables={})
    write_json(root / "results/mixes/blend-smollm2-gpt/manifest.json", {"rows": 60, "sources": {}})
    # the comparison with the paper and the significance tests (rule all's targets), by the real code
    t, p = root / "results/tables", root / "results/plots"
    paper.run_comparison(t / "scores.csv", REPO / "data/paper/reference.csv", {}, t / "paper_comparison.csv",
                         t / "paper_comparison_summary.csv", p / "paper_comparison.png", similarity_csv=None,
                         efficiency_csv=t / "efficiency.csv", efficiency_corr_csv=t / "efficiency_correlations.csv",
                         inheritance_csv=None)
    significance.run_significance([str(e) for e in evals], [], tasks, score_plan.score_columns(cfg),
                                  plan.mix_info(cfg), {}, str(REPO / "data/paper/reference.csv"),
                                  str(t / "significance.csv"), str(t / "significance_claims.csv"),
                                  str(p / "significance.png"), n_resamples=200, seed=0)

    (root / "logs/evaluate/base").mkdir(parents=True)
    (root / "logs/evaluate/base/demo-mc.log").write_text(
        f"2025-01-01 INFO rewild: starting\nenv: HF_TOKEN={HF_SECRET}\nopenai key {SK_SECRET} in a message\n")
    (root / "benchmarks/evaluate/base").mkdir(parents=True)
    (root / "benchmarks/evaluate/base/demo-mc.tsv").write_text("s\th:m:s\tmax_rss\n1.0\t0:00:01\t100\n")

    # heavy classes: archived only when asked
    (root / "results/models/blend-smollm2-gpt").mkdir(parents=True)
    (root / "results/models/blend-smollm2-gpt/config.json").write_text("{}\n")
    (root / "results/models/blend-smollm2-gpt/model.safetensors").write_bytes(b"\x08\x00\x00\x00weights")
    (root / "results/generations/smollm2-135m").mkdir(parents=True)
    (root / "results/generations/smollm2-135m/s00000.parquet").write_bytes(b"PAR1\x00data")
    (root / "results/mixes/blend-smollm2-gpt/train.parquet").write_bytes(b"PAR1\x00train")
    (root / "results/filtered/smollm2-135m.parquet").write_bytes(b"PAR1\x00filtered")
    # never archived: progress state, temporary files, the archive rule's own outputs
    (root / "results/.progress/generate").mkdir(parents=True)
    (root / "results/.progress/generate/state.json").write_text("{}")
    (root / "logs/archive").mkdir(parents=True)
    (root / "logs/archive/reproduction.log").write_text("being written\n")


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@example.org", *args], cwd=cwd,
                          capture_output=True, text=True, check=True).stdout


@pytest.fixture
def code_repo(tmp_path) -> Path:
    """A small workflow checkout with one commit (standing in for the repo)."""
    code = tmp_path / "code"
    (code / "rules").mkdir(parents=True)
    (code / "envs").mkdir()
    (code / "Snakefile").write_text('include: "rules/common.smk"\n')
    (code / "rules/common.smk").write_text("# rules\n")
    (code / "envs/analysis.yaml").write_text("name: rewild-analysis\ndependencies: [python=3.11]\n")
    (code / "requirements.lock").write_text("pandas==3.1.1\n")
    (code / "run.sh").write_text("#!/bin/sh\necho hi\n")
    (code / "run.sh").chmod(0o755)
    git(code, "init", "-q")
    git(code, "add", ".")
    git(code, "commit", "-q", "-m", "initial")
    return code


@pytest.fixture
def run_tree(tmp_path, demo_config) -> tuple[Path, dict]:
    cfg = small_config(demo_config)
    root = tmp_path / "run"
    build_results(root, cfg)
    return root, cfg


def make_archive(tmp_path: Path, root: Path, cfg: dict, code_repo: Path, name: str = "a.tar.gz", **kw) -> Path:
    staging = tmp_path / f"staging-{name}"
    members = archive.collect(root, cfg, staging=staging, code_root=code_repo, **kw)
    return archive.create(tmp_path / name, members)


def read_members(path: Path) -> dict[str, bytes]:
    with tarfile.open(path, "r:gz") as tf:
        return {m.name: tf.extractfile(m).read() for m in tf if m.isreg()}


def rewrite(path: Path, members: dict[str, bytes]) -> None:
    """Write a tar.gz holding exactly `members` (tampering, independent of the module under test)."""
    with tarfile.open(path, "w:gz") as tf:
        for name, data in members.items():
            ti = tarfile.TarInfo(name)
            ti.size = len(data)
            tf.addfile(ti, io.BytesIO(data))


def with_manifest_line(members: dict[str, bytes], name: str) -> dict[str, bytes]:
    """Update `name`'s line in MANIFEST.sha256 to its current bytes (a consistent tamper)."""
    lines = []
    for line in members[archive.MANIFEST].decode().splitlines():
        sha, path = line.split("  ", 1)
        if path == name:
            sha = hashlib.sha256(members[name]).hexdigest()
        lines.append(f"{sha}  {path}\n")
    return {**members, archive.MANIFEST: "".join(lines).encode()}


# ---------------------------------------------------------------------------------------------------- tests


@needs_git
def test_archive_verifies_and_holds_the_run(tmp_path, run_tree, code_repo):
    root, cfg = run_tree
    path = make_archive(tmp_path, root, cfg, code_repo)
    rep = archive.verify(path)
    assert rep.ok, str(rep)
    assert any(c.startswith("results/tables/scores.csv") for c in rep.checked)
    assert any(c.startswith("results/tables/efficiency.csv") for c in rep.checked)
    assert any(c.startswith("results/tables/efficiency_correlations.csv") for c in rep.checked)
    assert any(c.startswith("results/report/summary.md") and "training summary" in c for c in rep.checked)

    members = read_members(path)
    names = set(members)
    expected = {
        "config.yaml", "git.json", "revisions.json", "archive.json", "scrubbed.json", archive.MANIFEST,
        "env/requirements.lock", "env/pip-freeze.txt", "env/envs/analysis.yaml",
        "code/Snakefile", "code/rules/common.smk", "code/run.sh",
        "results/eval/base/demo-mc.json", "results/eval/blend-smollm2-gpt/demo-gen.json",
        "results/tables/scores.csv", "results/tables/scores.md", "results/tables/efficiency.csv",
        "results/plots/efficiency.png", "results/models/blend-smollm2-gpt.metrics.json",
        "results/efficiency/smollm2-135m/s00000.json", "results/prompts/s00001.stats.json",
        "results/filtered/gpt.report.json", "results/mixes/blend-smollm2-gpt/manifest.json",
        "results/report/summary.md", "logs/evaluate/base/demo-mc.log", "benchmarks/evaluate/base/demo-mc.tsv",
    }
    assert expected <= names, expected - names
    # weights, datasets, progress state and the archive rule's own log stay out unless asked
    assert not [n for n in names if n.endswith((".parquet", ".safetensors")) or "/.progress/" in n]
    assert "results/models/blend-smollm2-gpt/config.json" not in names
    assert "logs/archive/reproduction.log" not in names

    # MANIFEST.sha256: one sha256sum line per member, the manifest itself excluded, and last
    with tarfile.open(path, "r:gz") as tf:
        order = [m.name for m in tf]
        assert all(m.mtime == archive.FIXED_MTIME for m in tf.getmembers())
    assert order[-1] == archive.MANIFEST and order[:-1] == sorted(order[:-1])
    listed = dict(reversed(line.split("  ", 1)) for line in members[archive.MANIFEST].decode().splitlines())
    assert set(listed) == names - {archive.MANIFEST}
    assert all(hashlib.sha256(members[n]).hexdigest() == sha for n, sha in listed.items())

    config = yaml.safe_load(members["config.yaml"])
    assert config["eval"]["tasks"] == cfg["eval"]["tasks"] and config["archive"]["include_models"] is False
    assert members["env/requirements.lock"] == b"pandas==3.1.1\n"
    assert b"pandas==" in members["env/pip-freeze.txt"]
    meta = json.loads(members["archive.json"])
    assert meta["run_name"] == cfg["run"]["name"] and meta["git_commit"] == git(code_repo, "rev-parse", "HEAD").strip()


@needs_git
def test_revisions_come_from_config_and_eval_provenance(tmp_path, run_tree, code_repo):
    root, cfg = run_tree
    cfg["dgms"]["smollm2-135m"]["revision"] = "abc123"
    cfg["prompts"]["source"]["revision"] = "dataset-rev"
    cfg["student"]["revision"] = "student-rev"
    cfg["prompts"]["source"]["path"] = str(REPO / "data/demo/wildchat_demo.jsonl")  # a local source: its sha256
    rev = json.loads(read_members(make_archive(tmp_path, root, cfg, code_repo))["revisions.json"])
    smol = cfg["dgms"]["smollm2-135m"]
    assert rev["dgms"]["smollm2-135m"] == {"kind": "model", "hf_id": smol["hf_id"], "revision": "abc123",
                                           "local_build": smol["local_build"]}
    assert rev["dgms"]["gpt"]["kind"] == "source" and set(rev["dgms"]) == set(cfg["dgms"])
    assert rev["student"]["hf_id"] == cfg["student"]["hf_id"] and rev["student"]["revision"] == "student-rev"
    assert rev["prompts"]["revision"] == "dataset-rev" and rev["prompts"]["path"] == cfg["prompts"]["source"]["path"]
    source = Path(cfg["prompts"]["source"]["path"])
    assert rev["prompts"]["path_sha256"] == hashlib.sha256(source.read_bytes()).hexdigest()
    assert rev["recorded"]["results/eval/base/demo-mc.json"] == {"provenance.model_revision": "rev-base"}


@needs_git
def test_archive_is_deterministic(tmp_path, run_tree, code_repo):
    root, cfg = run_tree
    members = archive.collect(root, cfg, staging=tmp_path / "s", code_root=code_repo)
    a = archive.create(tmp_path / "a.tar.gz", members)
    b = archive.create(tmp_path / "b.tar.gz", list(reversed(members)))
    assert a.read_bytes() == b.read_bytes()
    with gzip.open(a) as gz:  # no file name or time in the gzip header either
        gz.read(1)
    assert a.read_bytes()[4:8] == b"\x00\x00\x00\x00"


@needs_git
def test_corrupted_member_fails_naming_it(tmp_path, run_tree, code_repo):
    root, cfg = run_tree
    path = make_archive(tmp_path, root, cfg, code_repo)
    members = read_members(path)
    name = "results/eval/blend-smollm2-gpt/demo-mc.json"
    data = bytearray(members[name])
    i = data.index(b'"score": ') + len(b'"score": ')
    data[i] = ord("9") if data[i] != ord("9") else ord("8")  # one byte changed, old manifest kept
    members[name] = bytes(data)
    rewrite(path, members)
    rep = archive.verify(path)
    assert not rep.ok and name in rep.failing
    assert "differs from MANIFEST.sha256" in str(rep)


@needs_git
def test_consistent_tamper_is_caught_by_recomputing_the_scores(tmp_path, run_tree, code_repo):
    root, cfg = run_tree
    path = make_archive(tmp_path, root, cfg, code_repo)
    members = read_members(path)
    name = "results/eval/base/demo-gen.json"
    ev = json.loads(members[name])
    ev["score"] += 0.125
    members[name] = (json.dumps(ev, indent=2, sort_keys=True) + "\n").encode()
    rewrite(path, with_manifest_line(members, name))
    rep = archive.verify(path)
    assert not rep.ok
    assert rep.failing[0] == "results/tables/scores.csv", str(rep)
    assert name not in rep.failing  # its checksum is consistent: only the recomputation catches it
    why = next(p.reason for p in rep.problems if p.member == "results/tables/scores.csv")
    assert "model=base demo-gen" in why


@needs_git
def test_consistent_tamper_of_efficiency_is_caught(tmp_path, run_tree, code_repo):
    root, cfg = run_tree
    path = make_archive(tmp_path, root, cfg, code_repo)
    members = read_members(path)
    name = "results/efficiency/tiny-random/s00001.json"
    rec = json.loads(members[name])
    rec["output_tokens"] += 1
    members[name] = json.dumps(rec).encode()
    rewrite(path, with_manifest_line(members, name))
    rep = archive.verify(path)
    assert "results/tables/efficiency.csv" in rep.failing and name not in rep.failing, str(rep)


@needs_git
def test_missing_and_extra_members_fail(tmp_path, run_tree, code_repo):
    root, cfg = run_tree
    path = make_archive(tmp_path, root, cfg, code_repo)
    members = read_members(path)
    del members["logs/evaluate/base/demo-mc.log"]
    members["results/tables/extra.csv"] = b"a\n1\n"
    rewrite(path, members)
    rep = archive.verify(path)
    assert {"logs/evaluate/base/demo-mc.log", "results/tables/extra.csv"} <= set(rep.failing)
    assert "missing from the archive" in str(rep) and "not listed in MANIFEST.sha256" in str(rep)


def test_unreadable_archive_fails(tmp_path):
    bad = tmp_path / "x.tar.gz"
    bad.write_bytes(b"not a tarball")
    rep = archive.verify(bad)
    assert not rep.ok and str(bad) in rep.failing


@needs_git
def test_secrets_never_enter(tmp_path, run_tree, code_repo):
    root, cfg = run_tree
    cfg = copy.deepcopy(cfg)
    cfg["eval"]["judge"]["OPENAI_API_KEY"] = SK_SECRET  # a secret in the config as run
    path = make_archive(tmp_path, root, cfg, code_repo)
    with gzip.open(path) as gz:
        raw = gz.read()
    for secret in (HF_SECRET, SK_SECRET, HF_SECRET[3:], SK_SECRET[3:]):
        assert secret.encode() not in raw and secret.encode() not in path.read_bytes()
    members = read_members(path)
    assert b"HF_TOKEN=***" in members["logs/evaluate/base/demo-mc.log"]
    assert json.loads(members["results/eval/base/demo-mc.json"])["provenance"]["HF_TOKEN"] == "***"
    assert yaml.safe_load(members["config.yaml"])["eval"]["judge"]["OPENAI_API_KEY"] == "***"
    assert set(json.loads(members["scrubbed.json"])) >= {"logs/evaluate/base/demo-mc.log",
                                                        "results/eval/base/demo-mc.json"}
    assert archive.verify(path).ok  # scrubbing touches no number the tables are computed from


@needs_git
def test_binary_member_with_a_token_is_refused(tmp_path, run_tree, code_repo):
    root, cfg = run_tree
    weights = root / "results/models/blend-smollm2-gpt/model.safetensors"
    weights.write_bytes(b"\x00" * 5000 + HF_SECRET.encode() + b"\x00" * 10)
    out = tmp_path / "refused.tar.gz"
    with pytest.raises(archive.SecretFoundError, match="results/models/blend-smollm2-gpt/model.safetensors"):
        make_archive(tmp_path, root, cfg, code_repo, name=out.name, include_models=True)
    assert not out.exists() and not list(tmp_path.glob(".refused.tar.gz.*"))


def test_token_split_across_read_chunks_is_found(tmp_path):
    f = tmp_path / "blob.bin"
    f.write_bytes(b"\x00" * ((1 << 20) - 10) + HF_SECRET.encode() + b"\x00")  # straddles tarfile's 1 MiB reads
    with pytest.raises(archive.SecretFoundError):
        archive.create(tmp_path / "x.tar.gz", [("blob.bin", f)])


@needs_git
def test_include_flags_add_models_and_generations(tmp_path, run_tree, code_repo):
    root, cfg = run_tree
    names = set(read_members(make_archive(tmp_path, root, cfg, code_repo, include_models=True,
                                          include_generations=True)))
    assert {"results/models/blend-smollm2-gpt/model.safetensors", "results/models/blend-smollm2-gpt/config.json",
            "results/generations/smollm2-135m/s00000.parquet", "results/mixes/blend-smollm2-gpt/train.parquet",
            "results/filtered/smollm2-135m.parquet"} <= names
    assert "results/.progress/generate/state.json" not in names and "logs/archive/reproduction.log" not in names


@needs_git
def test_git_state_and_dirty_diff_are_recorded(tmp_path, run_tree, code_repo):
    root, cfg = run_tree
    clean = json.loads(read_members(make_archive(tmp_path, root, cfg, code_repo, name="clean.tar.gz"))["git.json"])
    assert clean["commit"] == git(code_repo, "rev-parse", "HEAD").strip()
    assert clean["dirty"] is False and clean["diff"] is None

    (code_repo / "rules/common.smk").write_text("# rules, edited after the commit\n")
    (code_repo / "notes.txt").write_text("untracked\n")
    members = read_members(make_archive(tmp_path, root, cfg, code_repo, name="dirty.tar.gz"))
    info = json.loads(members["git.json"])
    assert info["dirty"] is True and info["commit"] == clean["commit"]
    assert "+# rules, edited after the commit" in info["diff"] and info["untracked"] == ["notes.txt"]
    assert members["code/rules/common.smk"] == b"# rules\n"  # code/ is the commit; the edit is in the diff
    assert "code/notes.txt" not in members
    assert json.loads(members["archive.json"])["git_dirty"] is True


@pytest.mark.parametrize(
    "text, leaked",
    [
        ("HF_TOKEN=hf_x1 rest", "hf_x1"),
        ("  export OPENAI_API_KEY='abc def'", "abc def"),
        ('{"MY_SERVICE_API_KEY": "k3y"}', "k3y"),
        ("db PASSWORD: hunter2", "hunter2"),
        ("INFO x: AWS_SECRET_ACCESS_KEY=s3cr3t", "s3cr3t"),
        ("lm_eval --hf-token t0k3n --limit 5", "t0k3n"),
        ("Authorization: Bearer abcdefgh1234", "abcdefgh1234"),
        ("git+https://me:pa55@github.com/x/y", "pa55"),
        (f"pasted {HF_SECRET}", HF_SECRET[3:]),
        (f"key={SK_SECRET[:3]}proj-{SK_SECRET[3:]}_x-y", SK_SECRET[3:]),
    ],
)
def test_scrub_text_removes_secret_values(text, leaked):
    assert leaked not in archive.scrub_text(text)


@pytest.mark.parametrize(
    "text",
    ["max_tokens: 64", "pad_token: <|im_end|>", "input_tokens=1000", "api_key_env: OPENAI_API_KEY", "HF_TOKEN=",
     "tokenizer=gpt2", "task-abcdefghijklmnopqrstuvwxyz", "score: 0.5"],
)
def test_scrub_text_keeps_ordinary_text(text):
    assert archive.scrub_text(text) == text


def test_scrub_json_keeps_valid_json_and_untouched_bytes():
    plain = '{"a": 1,   "input_tokens": 5}'
    assert archive.scrub_json_text(plain) == plain
    out = json.loads(archive.scrub_json_text('{"env": {"HF_TOKEN": 123, "PATH": "/bin"}, "n": null}'))
    assert out == {"env": {"HF_TOKEN": "***", "PATH": "/bin"}, "n": None}


def test_compare_frames_tolerance():
    a = pd.DataFrame({"model": ["m"], "x": [0.1 + 0.2], "y": [float("nan")]})
    assert archive.compare_frames(a, pd.DataFrame({"model": ["m"], "x": [0.3], "y": [float("nan")]})) == []
    diffs = archive.compare_frames(a, pd.DataFrame({"model": ["m"], "x": [0.3 + 1e-6], "y": [float("nan")]}))
    assert diffs and "model=m x" in diffs[0]
    assert archive.compare_frames(a, pd.DataFrame({"model": ["m"], "x": [0.3]})) != []


@needs_git
def test_cli_create_and_verify(tmp_path, run_tree, code_repo, demo_config):
    root, cfg = run_tree
    cfg_path = root / "config.yaml"
    cfg_path.write_text(yaml.safe_dump(small_config(demo_config), sort_keys=False))
    out = tmp_path / "cli.tar.gz"
    cmd = [sys.executable, "-m", "rewild.archive"]
    proc = subprocess.run([*cmd, "create", "--out", str(out), "--root", str(root), "--code-root", str(code_repo)],
                          capture_output=True, text=True, cwd=REPO)
    assert proc.returncode == 0, proc.stderr
    ok = subprocess.run([*cmd, "verify", str(out)], capture_output=True, text=True, cwd=REPO)
    assert ok.returncode == 0 and ok.stdout.startswith("OK"), ok.stdout + ok.stderr

    members = read_members(out)
    name = "results/eval/base/demo-mc.json"
    members[name] = members[name].replace(b'"n": 12', b'"n": 13')
    rewrite(out, members)
    bad = subprocess.run([*cmd, "verify", str(out)], capture_output=True, text=True, cwd=REPO)
    assert bad.returncode == 1 and f"FAIL {name}:" in bad.stdout


def _snakefile_with_archive(tmp_path: Path) -> Path:
    """The repo's Snakefile, with rules/archive.smk included when the Snakefile does not include it yet."""
    if "rules/archive.smk" in (REPO / "Snakefile").read_text():
        return REPO / "Snakefile"
    d = tmp_path / "workflow"
    (d / "data" / "paper").mkdir(parents=True)
    shutil.copy(REPO / "data/paper/reference.csv", d / "data/paper/reference.csv")  # found via workflow.basedir
    (d / "Snakefile").write_text(f'include: "{REPO / "Snakefile"}"\ninclude: "{REPO / "rules/archive.smk"}"\n')
    return d / "Snakefile"


@needs_git
def test_archive_rule_runs_on_a_finished_run(tmp_path, demo_config):
    """`snakemake archive` on a finished run's tree: one job, and its archive verifies."""
    cfg = small_config(demo_config)
    workdir, cfg_path = workdir_copy(tmp_path, cfg)
    build_results(workdir, cfg)
    snakefile = _snakefile_with_archive(tmp_path)
    common = ["-s", str(snakefile), "-d", str(workdir), "--configfile", str(cfg_path), "--replace-workflow-config",
              "--cores", "1", "--rerun-triggers", "mtime", "--allowed-rules", "archive"]
    dry = run_snakemake(["archive", *common, "-n"])  # the target first: --allowed-rules takes every name after it
    assert "archive" in dry.stdout and "evaluate" not in dry.stdout.split("Job stats:")[-1]
    run_snakemake(["archive", *common])
    out = workdir / "results/archive/reproduction.tar.gz"
    rep = archive.verify(out)
    assert rep.ok, str(rep)
    members = read_members(out)
    assert yaml.safe_load(members["config.yaml"])["run"]["name"] == cfg["run"]["name"]
    assert json.loads(members["git.json"])["commit"] and "code/Snakefile" in members
    assert (workdir / "logs/archive/reproduction.log").exists()
    assert (workdir / "benchmarks/archive/reproduction.tsv").exists()


def test_archive_rule_style():
    text = (REPO / "rules/archive.smk").read_text()
    for key in ("log:", "benchmark:", "conda:", "params:", "script:", "final_outputs()", "eval_jsons"):
        assert key in text
    proc = subprocess.run([str(Path(SNAKEMAKE).parent / "snakefmt"), "--check", "rules/archive.smk"], cwd=REPO,
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_code_outside_git_is_archived_as_files(tmp_path, run_tree):
    root, cfg = run_tree
    code = tmp_path / "release"
    (code / "rules").mkdir(parents=True)
    (code / "Snakefile").write_text("# workflow\n")
    (code / "rules/a.smk").write_text(f"# {HF_SECRET}\n")
    (code / "rules/__pycache__").mkdir()
    (code / "rules/__pycache__/a.pyc").write_bytes(b"\x00")
    members = read_members(make_archive(tmp_path, root, cfg, code))
    info = json.loads(members["git.json"])
    assert info["commit"] is None and info["dirty"] is None and "not a git checkout" in info["source"]
    assert members["code/Snakefile"] == b"# workflow\n" and "code/rules/__pycache__/a.pyc" not in members
    assert HF_SECRET.encode() not in members["code/rules/a.smk"] and "code/rules/a.smk" in json.loads(
        members["scrubbed.json"])


def test_cli_create_needs_the_config(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "rewild.archive", "create", "--out", str(tmp_path / "x.tar.gz"),
                           "--root", str(tmp_path)], capture_output=True, text=True, cwd=REPO)
    assert proc.returncode == 2 and "--configfile" in proc.stderr

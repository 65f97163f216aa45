"""Where MixEval's data comes from (eval.mixeval): the close-ended free-form and multiple-choice files of one
MixEval version, either as the MixEval repository publishes them (GitHub `Psycoy/MixEval`,
mix_eval/data/mixeval-<version>/mixeval/{free-form,multiple-choice}.json at a pinned commit, SHA-256 checked; the
prefetch step or the local rule mixeval_data downloads them), or a local folder in the Hub dataset's layout
(`MixEval/MixEval`: config MixEval, splits free_form and multiple_choice; the test/demo replica
data/replicas/MixEval/MixEval). Config reading only, no package imports (rewild.prefetch reads it; no cycle)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

BENCHMARK = "mixeval"  # its name in eval.judged_benchmarks and results/judge/{model}/mixeval.json
GITHUB_REPO = "Psycoy/MixEval"
HUB_REPO = "MixEval/MixEval"
HUB_CONFIG = "MixEval"  # the Hub dataset's config of the (non-hard) benchmark
# the Hub dataset's split names (MixEval calls them close_freeform / close_multichoice)
SPLITS = ("free_form", "multiple_choice")
UPSTREAM_NAMES = {"free_form": "free-form.json", "multiple_choice": "multiple-choice.json"}
UPSTREAM_ROOT = Path(".cache") / "upstream"
# SHA-256 of the files at the pinned commit (read from a clone of the repository at that commit)
GITHUB_SHA256 = {
    ("7c52b41929d461df7733573528bdfb08774b0c53", "2024-06-01"): {
        "free_form": "060d12102514316d4965191a31a83e4aa7f76d3f5686b2fc4101e00719c31715",
        "multiple_choice": "3c7b1ebab4c19c3297c56fb7fe758fbf857c24f1bc72895fcd78382716135643",
    }
}


def wanted(config: Mapping[str, Any]) -> bool:
    """MixEval runs when the scores table takes it (eval.judged_benchmarks lists mixeval)."""
    return BENCHMARK in config["eval"]["judged_benchmarks"]


def upstream_path(version: str, split: str) -> str:
    """The file's path inside the MixEval repository."""
    return f"mix_eval/data/mixeval-{version}/mixeval/{UPSTREAM_NAMES[split]}"


def upstream_dir(commit: str) -> Path:
    return UPSTREAM_ROOT / GITHUB_REPO / commit


def upstream_files(config: Mapping[str, Any]) -> list[dict[str, Any]]:
    """What the prefetch step (and rule mixeval_data) downloads: repo, commit, path, dest, sha256 (None for a
    commit/version other than the pinned one), split. Empty for a local source or when MixEval is not run."""
    m = config["eval"]["mixeval"]
    if not wanted(config) or m["source"] != "github":
        return []
    known = GITHUB_SHA256.get((m["revision"], m["version"]), {})
    root = upstream_dir(m["revision"])
    return [
        {"repo": GITHUB_REPO, "commit": m["revision"], "path": upstream_path(m["version"], s),
         "dest": str(root / upstream_path(m["version"], s)), "sha256": known.get(s), "split": s}
        for s in SPLITS
    ]  # fmt: skip

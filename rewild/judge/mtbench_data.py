"""Where MT-Bench's data comes from (eval.judge.mtbench): the raw files of FastChat's llm_judge data folder at a
pinned commit of lm-sys/FastChat (question.jsonl, the gpt-4 reference answers, judge_prompts.jsonl) with their
SHA-256, downloaded by the prefetch step or the local rule mtbench_data. Config reading only, and no imports of
the package (rewild.prefetch, which the engine imports, reads it without an import cycle)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

FASTCHAT_REPO = "lm-sys/FastChat"
FASTCHAT_DATA = "fastchat/llm_judge/data"  # the data folder inside the repository
UPSTREAM_ROOT = Path(".cache") / "upstream"  # downloads of pinned upstream files (the workdir, not results/)
# SHA-256 of the files at the pinned commit (checked after download; another commit's are recorded, not checked)
FASTCHAT_SHA256 = {
    "0e6d3e4beaab66f4d3f93db72541a4abab8af28d": {
        "mt_bench/question.jsonl": "119565adbab82227089cefdb44c8d7e2cf04dc0a0ec233634c82e7d4e2a944f7",
        "mt_bench/reference_answer/gpt-4.jsonl": "f957a5bc977badb66885ec970e6cd08527845780313f0995764260e5777b9b3f",
        "judge_prompts.jsonl": "fd283293406d024f44c174b094ef48031d0687a4682fd3a56b29b138f80281b6",
    }
}


def wanted(config: Mapping[str, Any]) -> bool:
    """MT-Bench is graded when the judge tables are on, or when the scores table takes it (eval.judged_benchmarks)."""
    return bool(config["eval"]["judge"]["enabled"]) or "mtbench" in config["eval"]["judged_benchmarks"]


def relpaths(config: Mapping[str, Any]) -> dict[str, str]:
    """{role: path inside the data folder} of the three MT-Bench files."""
    ref = config["eval"]["judge"]["mtbench"]["reference_model"]
    return {
        "questions": "mt_bench/question.jsonl",
        "references": f"mt_bench/reference_answer/{ref}.jsonl",
        "prompts": "judge_prompts.jsonl",
    }


def upstream_dir(commit: str) -> Path:
    """Where the data folder of FastChat at `commit` is downloaded to."""
    return UPSTREAM_ROOT / FASTCHAT_REPO / commit / FASTCHAT_DATA


def upstream_files(config: Mapping[str, Any]) -> list[dict[str, Any]]:
    """What the prefetch step (and the local rule mtbench_data) downloads: repo, commit, path, dest, sha256 (None
    when the commit is not the pinned one). Empty for a local source."""
    m = config["eval"]["judge"]["mtbench"]
    if m["source"] != "fastchat":
        return []
    known = FASTCHAT_SHA256.get(m["revision"], {})
    root = upstream_dir(m["revision"])
    return [
        {
            "repo": FASTCHAT_REPO,
            "commit": m["revision"],
            "path": f"{FASTCHAT_DATA}/{rel}",
            "dest": str(root / rel),
            "sha256": known.get(rel),
        }
        for rel in relpaths(config).values()
    ]

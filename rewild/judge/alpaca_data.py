"""AlpacaEval's data as the prefetch step and the workflow need it: which files of the Hub dataset
`tatsu-lab/alpaca_eval`, at which revision, where they land, and their download. Light on purpose (no rewild
imports): rewild.prefetch imports it, and rewild.judge.alpaca_eval builds on it."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

BENCHMARK = "alpaca_lc"  # its name in eval.judged_benchmarks and results/judge/{model}/alpaca_lc.json
HUB_REPO = "tatsu-lab/alpaca_eval"
REFERENCE_FILE = "alpaca_eval_gpt4_baseline.json"  # config alpaca_eval_gpt4_baseline, split eval (GPT-4-turbo)
GAMED_FILE = "df_gamed.csv"  # the length-controlled GLM's regularisation data
ROLES = (("reference", REFERENCE_FILE), ("gamed", GAMED_FILE))
# SHA-256 of the files at a pinned revision, as another public reproduction recorded them (not verified here:
# no Hub access on this machine); a download that differs fails, naming this table.
HUB_SHA256 = {
    "2edc6fad8be6b14ea7230aabfd08188da6b8b814": {
        REFERENCE_FILE: "83db546b872ddebee8965fd05fa48461ee3c32bc695c62fb57f2d214ff741ec4",
        GAMED_FILE: "97aeec3f1c7de6dee6fd31fe66f1702623f4614c3efe1c6fc5f4927cd5fd674d",
    }
}
UPSTREAM_ROOT = Path(".cache") / "upstream"  # downloads of pinned upstream files (as MT-Bench's; not results/)


def wanted(config: Mapping[str, Any]) -> bool:
    """AlpacaEval runs when the scores table takes it (eval.judged_benchmarks lists alpaca_lc)."""
    return BENCHMARK in config["eval"]["judged_benchmarks"]


def upstream_dir(revision: str) -> Path:
    return UPSTREAM_ROOT / HUB_REPO / revision


def upstream_files(config: Mapping[str, Any]) -> list[dict[str, Any]]:
    """What the prefetch step (and the local rule alpaca_eval_data) downloads from the Hub: repo, revision,
    filename, dest, sha256 (None for a revision other than the pinned one). Empty for a local source."""
    a = config["eval"]["alpaca_eval"]
    if not wanted(config) or a["source"] != "hub":
        return []
    known = HUB_SHA256.get(a["revision"], {})
    root = upstream_dir(a["revision"])
    return [
        {"repo": HUB_REPO, "revision": a["revision"], "filename": name, "dest": str(root / name),
         "sha256": known.get(name)}
        for _, name in ROLES
    ]  # fmt: skip


def fetch_hub_file(item: Mapping[str, Any]) -> dict:
    """Download `filename` of the Hub dataset `repo` at `revision` to `dest` (checking `sha256` when set; a
    mismatch leaves nothing behind). An existing file with the right hash is kept."""
    dest = Path(item["dest"])
    want = item.get("sha256")
    if dest.is_file() and want and hashlib.sha256(dest.read_bytes()).hexdigest() == want:
        return {"commit": item["revision"], "path": str(dest), "sha256": want, "downloaded": False}
    from huggingface_hub import hf_hub_download

    got_path = hf_hub_download(
        repo_id=item["repo"], filename=item["filename"], repo_type="dataset", revision=item["revision"],
        token=os.environ.get("HF_TOKEN") or None,
    )  # fmt: skip
    data = Path(got_path).read_bytes()
    got = hashlib.sha256(data).hexdigest()
    if want and got != want:
        raise RuntimeError(
            f"{item['repo']}@{item['revision']}/{item['filename']}: SHA-256 {got}, expected {want} "
            "(pinned in rewild/judge/alpaca_data.py HUB_SHA256)"
        )
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_suffix(dest.suffix + ".part")
    tmp.write_bytes(data)
    tmp.replace(dest)
    return {"commit": item["revision"], "path": str(dest), "sha256": got, "downloaded": True}

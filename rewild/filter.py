"""Filtering with accounting: every dropped conversation is counted per filter and kept with its reason.

The paper applied no filters; the paper preset leaves them all off (the report then says 0 dropped).
Streams the merged generations batch by batch, so a DGM's ~1M rows never sit in memory at once.
"""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path
from typing import Any, Iterable, Mapping

import pyarrow as pa
import pyarrow.parquet as pq

from .io import atomic_path, now_iso, provenance, stable_hash, write_json

log = logging.getLogger("rewild.filter")

# Literal special-token text the released generation code leaves in turns (BOS on re-encode, EOS on cuts)
# and that some DGMs emit; Llama-3, Llama-2/Mistral, ChatML, Gemma.
SPECIAL_TOKEN_RE = re.compile(
    r"<\|begin_of_text\|>|<\|end_of_text\|>|<\|eot_id\|>|<\|start_header_id\|>|<\|end_header_id\|>"
    r"|<\|im_start\|>|<\|im_end\|>|<\|endoftext\|>|</?s>|<bos>|<eos>|<start_of_turn>|<end_of_turn>"
)

FILTER_ORDER = ("empty", "length", "odd", "special_tokens", "language", "duplicate")


def _assistant_turns(row: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    return [t for t in row["conversation"] if t["role"] == "assistant"]


def drop_reason(row: Mapping[str, Any], filters: Mapping[str, Any], seen: set[str]) -> str | None:
    """The first filter that drops this row (in FILTER_ORDER), or None to keep it. Updates `seen`."""
    turns = _assistant_turns(row)
    if filters.get("drop_empty") and any(not (t["content"] or "").strip() for t in turns):
        return "empty: an assistant turn is empty"
    if filters.get("drop_length") and any(t.get("finish_reason") == "length" for t in turns):
        return "length: an assistant turn hit the output budget (finish_reason == length)"
    if len(row["conversation"]) % 2:
        return "odd: conversation has an odd number of messages"
    if filters.get("special_tokens") == "drop" and any(
        SPECIAL_TOKEN_RE.search(m["content"] or "") for m in row["messages"]
    ):
        return "special_tokens: literal special-token text in a turn"
    langs = filters.get("languages")
    if langs and row.get("language") not in langs:
        return f"language: {row.get('language')!r} not in {langs}"
    if filters.get("dedup"):
        key = stable_hash([(m["role"], m["content"]) for m in row["messages"]])
        if key in seen:
            return "duplicate: same messages as an earlier conversation"
        seen.add(key)
    return None


def strip_special_tokens(row: dict) -> dict:
    row["messages"] = [{**m, "content": SPECIAL_TOKEN_RE.sub("", m["content"] or "")} for m in row["messages"]]
    row["conversation"] = [{**t, "content": SPECIAL_TOKEN_RE.sub("", t["content"] or "")} for t in row["conversation"]]
    return row


def filter_rows(rows: Iterable[dict], filters: Mapping[str, Any], counts: dict, seen: set[str]):
    """Yield ("keep", row) or ("drop", reject) for each row; `counts` accumulates per-filter totals."""
    for row in rows:
        counts["input"] += 1
        reason = drop_reason(row, filters, seen)
        if reason is None:
            if filters.get("special_tokens") == "strip":
                row = strip_special_tokens(row)
            counts["kept"] += 1
            yield "keep", row
        else:
            code = reason.split(":", 1)[0]
            counts["dropped"][code] = counts["dropped"].get(code, 0) + 1
            yield "drop", {"row_id": row.get("row_id"), "conversation_hash": row.get("conversation_hash"),
                           "reason": reason, "row": row}


def run(
    in_path: str | Path,
    out_path: str | Path,
    rejects_path: str | Path,
    report_path: str | Path,
    filters: Mapping[str, Any],
    dgm: str,
    decontaminate_tasks: Mapping[str, Any] | None = None,
    batch_size: int = 8192,
) -> dict:
    if filters.get("decontaminate", {}).get("enabled"):
        # Decontamination needs the eval prompts; not built yet, and a silent no-op would be worse.
        raise NotImplementedError("filters.decontaminate.enabled: decontamination is not implemented yet")
    started = now_iso()
    counts: dict[str, Any] = {"input": 0, "kept": 0, "dropped": {k: 0 for k in FILTER_ORDER}}
    seen: set[str] = set()
    pf = pq.ParquetFile(in_path)
    schema = pf.schema_arrow
    with atomic_path(out_path) as tmp_out, atomic_path(rejects_path) as tmp_rej:
        writer = pq.ParquetWriter(tmp_out, schema)
        with open(tmp_rej, "w") as rej:
            for batch in pf.iter_batches(batch_size=batch_size):
                keep: list[dict] = []
                for verdict, item in filter_rows(batch.to_pylist(), filters, counts, seen):
                    if verdict == "keep":
                        keep.append(item)
                    else:
                        rej.write(json.dumps(item, ensure_ascii=False, default=str) + "\n")
                writer.write_table(pa.Table.from_pylist(keep, schema=schema))
        writer.close()
    counts["rejected"] = counts["input"] - counts["kept"]
    report = {
        "dgm": dgm,
        **counts,
        "filters": dict(filters),
        "provenance": provenance(config_hash=stable_hash(dict(filters))[:16], started=started),
    }
    write_json(report_path, report)
    log.info("%s: kept %d of %d; dropped %s", dgm, counts["kept"], counts["input"], counts["dropped"])
    return report

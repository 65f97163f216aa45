"""Filtering with accounting: every dropped conversation is counted per filter and kept with its reason.

The paper applied no filters; the paper preset leaves them all off (the report then says 0 dropped).
Streams the merged generations batch by batch, so a DGM's ~1M rows never sit in memory at once.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from .io import atomic_path, now_iso, provenance, stable_hash, write_json

log = logging.getLogger("rewild.filter")

# Literal special-token text the released generation code leaves in turns (BOS on re-encode, EOS on cuts)
# and that some DGMs emit; Llama-3, Llama-2/Mistral, ChatML, Gemma.
SPECIAL_TOKEN_RE = re.compile(
    r"<\|begin_of_text\|>|<\|end_of_text\|>|<\|eot_id\|>|<\|start_header_id\|>|<\|end_header_id\|>"
    r"|<\|im_start\|>|<\|im_end\|>|<\|endoftext\|>|</?s>|<bos>|<eos>|<start_of_turn>|<end_of_turn>"
)

FILTER_ORDER = ("empty", "length", "odd", "special_tokens", "language", "contamination", "duplicate")

_WORD_RE = re.compile(r"\w+", re.UNICODE)


def ngram_digests(text: str, n: int) -> set[str]:
    """Digests of the word n-grams of a text (lower-cased \\w+ words); texts shorter than n words have none."""
    words = _WORD_RE.findall(text.lower())
    return {
        hashlib.blake2b(" ".join(words[i : i + n]).encode(), digest_size=8).hexdigest()
        for i in range(len(words) - n + 1)
    }


def load_ngram_index(paths: list[str] | tuple[str, ...]) -> tuple[set[str], int | None]:
    grams: set[str] = set()
    n = None
    for path in paths:
        record = json.loads(Path(path).read_text())
        if n is not None and record["n"] != n:
            raise ValueError(f"{path}: n-gram size {record['n']} differs from {n}")
        n = record["n"]
        grams.update(record["ngrams"])
    return grams, n


def _any_per_row(n: int, parents: pa.Array, mask: pa.Array) -> np.ndarray:
    """Lift a mask over flattened list items to the rows that hold them."""
    out = np.zeros(n, dtype=bool)
    hit = pc.filter(parents, pc.fill_null(mask, False))
    out[hit.to_numpy(zero_copy_only=False)] = True
    return out


def _list_parts(col: pa.Array) -> tuple[pa.StructArray, pa.Array]:
    return col.flatten(), pc.list_parent_indices(col)


def _message_keys(messages: pa.Array) -> list[bytes]:
    """One digest per row over (role, content) of every message, for exact-duplicate detection."""
    flat, _ = _list_parts(messages)
    pairs = pc.binary_join_element_wise(pc.fill_null(flat.field("role"), ""), pc.fill_null(flat.field("content"), ""), "\x1e")
    offsets = pc.subtract(messages.offsets, messages.offsets[0])
    joined = pc.binary_join(pa.ListArray.from_arrays(offsets, pairs), "\x1f")
    return [hashlib.blake2b(s.encode(), digest_size=16).digest() for s in joined.to_pylist()]


def _user_texts(messages: pa.Array) -> list[str]:
    """All user turns of each row joined by newlines (n-grams never span two turns: words are joined by ' ')."""
    out = []
    for msgs in messages.to_pylist():
        out.append("\n".join(m["content"] or "" for m in msgs if m["role"] == "user"))
    return out


def drop_codes(
    batch: pa.RecordBatch,
    filters: Mapping[str, Any],
    seen: set[bytes],
    index: tuple[set[str], int | None] | None = None,
) -> list[str | None]:
    """The first filter (in FILTER_ORDER) that drops each row, or None to keep it. Vectorised with Arrow compute.

    `seen` carries message digests across batches so duplicates are found over the whole DGM.
    """
    n = batch.num_rows
    conv = batch.column("conversation")
    flat, parents = _list_parts(conv)
    role, content = flat.field("role"), pc.fill_null(flat.field("content"), "")
    is_asst = pc.equal(role, "assistant")
    checks: dict[str, np.ndarray] = {}
    if filters["drop_empty"]:
        empty = pc.equal(pc.utf8_length(pc.utf8_trim_whitespace(content)), 0)
        checks["empty"] = _any_per_row(n, parents, pc.and_(is_asst, empty))
    if filters["drop_length"] and "finish_reason" in flat.type.names:
        checks["length"] = _any_per_row(n, parents, pc.and_(is_asst, pc.equal(flat.field("finish_reason"), "length")))
    checks["odd"] = (pc.list_value_length(conv).to_numpy(zero_copy_only=False) % 2) == 1
    if filters["special_tokens"] == "drop":
        mflat, mparents = _list_parts(batch.column("messages"))
        hit = pc.match_substring_regex(pc.fill_null(mflat.field("content"), ""), SPECIAL_TOKEN_RE.pattern)
        checks["special_tokens"] = _any_per_row(n, mparents, hit)
    if index is not None and index[0]:
        grams, ngram = index
        user_texts = _user_texts(batch.column("messages"))
        checks["contamination"] = np.array([bool(ngram_digests(t, ngram) & grams) for t in user_texts], dtype=bool)
    langs = filters["languages"]
    if langs:
        checks["language"] = ~pc.fill_null(pc.is_in(batch.column("language"), pa.array(langs)), False).to_numpy(
            zero_copy_only=False)
    codes: list[str | None] = [None] * n
    for code in FILTER_ORDER:
        if code in checks:
            for i in np.flatnonzero(checks[code]):
                if codes[i] is None:
                    codes[i] = code
    if filters["dedup"]:
        for i, key in enumerate(_message_keys(batch.column("messages"))):
            if codes[i] is None:
                if key in seen:
                    codes[i] = "duplicate"
                else:
                    seen.add(key)
    return codes


REASONS = {
    "empty": "empty: an assistant turn is empty",
    "length": "length: an assistant turn hit the output budget (finish_reason == length)",
    "odd": "odd: conversation has an odd number of messages",
    "special_tokens": "special_tokens: literal special-token text in a turn",
    "language": "language: not one of filters.languages",
    "contamination": "contamination: a user turn shares a word n-gram with an eval task prompt",
    "duplicate": "duplicate: same messages as an earlier conversation",
}


def _strip_list_column(col: pa.Array) -> pa.Array:
    flat = col.flatten()
    fields = [flat.field(i) for i in range(flat.type.num_fields)]
    k = flat.type.get_field_index("content")
    fields[k] = pc.replace_substring_regex(fields[k], SPECIAL_TOKEN_RE.pattern, "")
    new = pa.StructArray.from_arrays(fields, fields=list(flat.type))
    return pa.ListArray.from_arrays(pc.subtract(col.offsets, col.offsets[0]), new)


def strip_special_tokens(batch: pa.RecordBatch) -> pa.RecordBatch:
    cols = {name: batch.column(name) for name in batch.schema.names}
    for name in ("conversation", "messages"):
        cols[name] = _strip_list_column(cols[name])
    return pa.RecordBatch.from_arrays(list(cols.values()), schema=batch.schema)


def run(
    in_path: str | Path,
    out_path: str | Path,
    rejects_path: str | Path,
    report_path: str | Path,
    filters: Mapping[str, Any],
    dgm: str,
    decontamination_indexes: list[str] | tuple[str, ...] = (),
    batch_size: int = 8192,
) -> dict:
    index = None
    if filters["decontaminate"]["enabled"]:
        if not decontamination_indexes:
            raise ValueError("filters.decontaminate.enabled but no eval-task n-gram index was given")
        index = load_ngram_index(list(decontamination_indexes))
        log.info("decontamination: %d distinct %d-grams from %d eval tasks", len(index[0]), index[1],
                 len(decontamination_indexes))
    started = now_iso()
    counts: dict[str, Any] = {"input": 0, "kept": 0, "dropped": {k: 0 for k in FILTER_ORDER}}
    seen: set[bytes] = set()
    pf = pq.ParquetFile(in_path)
    schema = pf.schema_arrow
    with atomic_path(out_path) as tmp_out, atomic_path(rejects_path) as tmp_rej:
        writer = pq.ParquetWriter(tmp_out, schema)
        with open(tmp_rej, "w") as rej:
            for batch in pf.iter_batches(batch_size=batch_size):
                codes = drop_codes(batch, filters, seen, index)
                keep = pa.array([c is None for c in codes])
                counts["input"] += batch.num_rows
                dropped = [i for i, c in enumerate(codes) if c is not None]
                if dropped:
                    for i, row in zip(dropped, batch.take(pa.array(dropped)).to_pylist()):
                        counts["dropped"][codes[i]] += 1
                        item = {"row_id": row.get("row_id"), "conversation_hash": row.get("conversation_hash"),
                                "reason": REASONS[codes[i]], "row": row}
                        rej.write(json.dumps(item, ensure_ascii=False, default=str) + "\n")
                kept = batch.filter(keep)
                if filters["special_tokens"] == "strip" and kept.num_rows:
                    kept = strip_special_tokens(kept)
                counts["kept"] += kept.num_rows
                writer.write_batch(kept)
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

"""Prompts: read WildChat rows (HF dataset or a local file in the same schema), validate, shard.

Both paths go through `normalise_row`, so the demo file exercises exactly the code that reads
`allenai/WildChat-1M-Full`. Every source row of a shard ends up in exactly one place: the shard (kept),
or the rejects file (rejected with a reason, or skipped because its length is odd, as the paper did).
"""

from __future__ import annotations

import datetime as _dt
import json
import logging
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping, Sequence

import pyarrow as pa
import pyarrow.parquet as pq

from . import plan
from .io import provenance, now_iso, write_json, write_jsonl

log = logging.getLogger("rewild.prompts")

ROLES = ("user", "assistant")

TURN_TYPE = pa.struct(
    [
        ("content", pa.string()),
        ("role", pa.string()),
        ("language", pa.string()),
        ("redacted", pa.bool_()),
        ("toxic", pa.bool_()),
        ("turn_identifier", pa.int64()),
        ("country", pa.string()),
        ("state", pa.string()),
        ("hashed_ip", pa.string()),
        ("header", pa.string()),
        ("timestamp", pa.string()),
    ]
)

# WildChat-1M columns; nested moderation/header dicts are kept as JSON text so every shard has one schema.
SOURCE_SCHEMA = pa.schema(
    [
        ("row_id", pa.int64()),
        ("conversation_hash", pa.string()),
        ("model", pa.string()),
        ("timestamp", pa.string()),
        ("conversation", pa.list_(TURN_TYPE)),
        ("turn", pa.int64()),
        ("language", pa.string()),
        ("openai_moderation", pa.string()),
        ("detoxify_moderation", pa.string()),
        ("toxic", pa.bool_()),
        ("redacted", pa.bool_()),
        ("state", pa.string()),
        ("country", pa.string()),
        ("hashed_ip", pa.string()),
        ("header", pa.string()),
    ]
)


class RowError(ValueError):
    """A source row that cannot be used; the message is the reject reason."""


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, (_dt.datetime, _dt.date)):
        return value.isoformat()
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False, sort_keys=True)
    return str(value)


def _int(value: Any) -> int | None:
    if value is None or value == "":
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def normalise_turn(turn: Any, index: int) -> dict:
    if not isinstance(turn, Mapping):
        raise RowError(f"turn_not_object: turn {index}")
    role = turn.get("role")
    if role is None:
        raise RowError(f"missing_role: turn {index}")
    if role not in ROLES:
        raise RowError(f"unknown_role: turn {index} has role {role!r}")
    content = turn.get("content")
    if not isinstance(content, str):
        raise RowError(f"content_not_string: turn {index} content is {type(content).__name__}")
    if not content.strip():
        raise RowError(f"empty_content: turn {index} ({role})")
    expected = ROLES[index % 2]
    if role != expected:
        raise RowError(f"roles_not_alternating: turn {index} is {role}, expected {expected}")
    return {
        "content": content,
        "role": role,
        "language": _text(turn.get("language")),
        "redacted": bool(turn.get("redacted") or False),
        "toxic": bool(turn.get("toxic") or False),
        "turn_identifier": _int(turn.get("turn_identifier")),
        "country": _text(turn.get("country")),
        "state": _text(turn.get("state")),
        "hashed_ip": _text(turn.get("hashed_ip")),
        "header": _text(turn.get("header")),
        "timestamp": _text(turn.get("timestamp")),
    }


def normalise_row(raw: Any, row_id: int) -> dict:
    """One WildChat row in SOURCE_SCHEMA, or RowError with the reason."""
    if not isinstance(raw, Mapping):
        raise RowError(f"not_an_object: {type(raw).__name__}")
    conv = raw.get("conversation")
    if conv is None:
        raise RowError("missing_conversation")
    if not isinstance(conv, (list, tuple)):
        raise RowError(f"conversation_not_list: {type(conv).__name__}")
    if len(conv) == 0:
        raise RowError("empty_conversation")
    turns = [normalise_turn(t, i) for i, t in enumerate(conv)]
    return {
        "row_id": row_id,
        "conversation_hash": _text(raw.get("conversation_hash")),
        "model": _text(raw.get("model")),
        "timestamp": _text(raw.get("timestamp")),
        "conversation": turns,
        "turn": _int(raw.get("turn")) if raw.get("turn") is not None else sum(t["role"] == "user" for t in turns),
        "language": _text(raw.get("language")),
        "openai_moderation": _text(raw.get("openai_moderation")),
        "detoxify_moderation": _text(raw.get("detoxify_moderation")),
        "toxic": bool(raw.get("toxic") or False),
        "redacted": bool(raw.get("redacted") or False),
        "state": _text(raw.get("state")),
        "country": _text(raw.get("country")),
        "hashed_ip": _text(raw.get("hashed_ip")),
        "header": _text(raw.get("header")),
    }


def is_odd_length(row: Mapping[str, Any]) -> bool:
    return len(row["conversation"]) % 2 == 1


# ------------------------------------------------------------------------------------------- readers
# Each reader yields (row_id, raw_object_or_RowError) for the requested row ids, in order.


def read_local_jsonl(path: str | Path, rows: Sequence[int]) -> Iterator[tuple[int, Any]]:
    """Line i of the file is row i. Bytes are decoded per line, so one bad line cannot sink the file."""
    wanted = iter(rows)
    nxt = next(wanted, None)
    with open(path, "rb") as fh:
        for i, line in enumerate(fh):
            if nxt is None:
                break
            if i < nxt:
                continue
            try:
                text = line.decode("utf-8")
            except UnicodeDecodeError as exc:
                yield i, RowError(f"invalid_utf8: {exc.reason} at byte {exc.start}")
            else:
                try:
                    yield i, json.loads(text)
                except json.JSONDecodeError as exc:
                    yield i, RowError(f"invalid_json: {exc.msg} (column {exc.colno})")
            nxt = next(wanted, None)
    if nxt is not None:
        raise ValueError(f"{path}: has fewer rows than prompts.n_conversations asks for (row {nxt} missing)")


def read_local_parquet(path: str | Path, rows: Sequence[int]) -> Iterator[tuple[int, Any]]:
    pf = pq.ParquetFile(path)
    wanted = set(rows)
    offset = 0
    for batch in pf.iter_batches(batch_size=4096):
        for j, obj in enumerate(batch.to_pylist()):
            if offset + j in wanted:
                yield offset + j, obj
        offset += batch.num_rows
    missing = [r for r in rows if r >= offset]
    if missing:
        raise ValueError(f"{path}: has {offset} rows; prompts.n_conversations asks for row {missing[0]}")


def read_hf(source: Mapping[str, Any], rows: Sequence[int]) -> Iterator[tuple[int, Any]]:
    """Rows of an HF dataset at a pinned revision, read as one contiguous slice of the split."""
    import datasets

    if not rows:
        return
    lo, hi = min(rows), max(rows) + 1
    from .prefetch import ensure_cached

    ensure_cached(source["path"], source.get("revision"), "dataset")
    ds = datasets.load_dataset(
        source["path"],
        source.get("name"),
        split=f"{source.get('split', 'train')}[{lo}:{hi}]",
        revision=source.get("revision"),
    )
    wanted = set(rows)
    for j, obj in enumerate(ds):
        if lo + j in wanted:
            yield lo + j, obj


def read_source(source: Mapping[str, Any], rows: Sequence[int]) -> Iterator[tuple[int, Any]]:
    if source["type"] == "hf":
        return read_hf(source, rows)
    path = Path(source["path"])
    if path.suffix == ".parquet":
        return read_local_parquet(path, rows)
    if path.suffix in (".jsonl", ".json"):
        return read_local_jsonl(path, rows)
    raise ValueError(f"prompts.source.path: unsupported file type {path.suffix!r} (use .jsonl or .parquet)")


# ----------------------------------------------------------------------------------------------- run


def split_rows(items: Iterable[tuple[int, Any]]) -> tuple[list[dict], list[dict], dict]:
    """Sort source rows into kept, rejects (with reasons) and counts."""
    kept: list[dict] = []
    rejects: list[dict] = []
    stats = {"input_rows": 0, "kept": 0, "skipped_odd": 0, "rejected": 0, "by_reason": {}}
    for row_id, raw in items:
        stats["input_rows"] += 1
        try:
            if isinstance(raw, RowError):
                raise raw
            row = normalise_row(raw, row_id)
        except RowError as exc:
            reason = str(exc)
            code = reason.split(":", 1)[0]
            stats["rejected"] += 1
            stats["by_reason"][code] = stats["by_reason"].get(code, 0) + 1
            rejects.append({"row_id": row_id, "reason": reason, "raw": raw if not isinstance(raw, RowError) else None})
            continue
        if is_odd_length(row):
            stats["skipped_odd"] += 1
            rejects.append({"row_id": row_id, "reason": "odd_length: skipped as the paper did", "raw": None})
            continue
        kept.append(row)
        stats["kept"] += 1
    return kept, rejects, stats


def write_shard(rows: list[dict], path: str | Path) -> None:
    from .io import atomic_path

    table = pa.Table.from_pylist(rows, schema=SOURCE_SCHEMA)
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp)


def run(
    prompts: Mapping[str, Any],
    shard: str,
    out_shard: str | Path,
    out_rejects: str | Path,
    out_stats: str | Path,
) -> dict:
    started = now_iso()
    rows = plan.shard_rows(prompts, shard)
    log.info("shard %s: %d source rows from %s", shard, len(rows), prompts["source"]["path"])
    kept, rejects, stats = split_rows(read_source(prompts["source"], rows))
    assert stats["input_rows"] == len(rows), "a reader lost rows"
    write_shard(kept, out_shard)
    write_jsonl(out_rejects, rejects)
    stats["shard"] = shard
    stats["provenance"] = provenance(
        config_hash=plan.section_hash(prompts), seeds={"sample": (prompts.get("sample") or {}).get("seed")},
        started=started,
    )
    write_json(out_stats, stats)
    log.info(
        "shard %s: kept %d, skipped (odd) %d, rejected %d %s",
        shard, stats["kept"], stats["skipped_odd"], stats["rejected"], stats["by_reason"],
    )
    return stats


# ------------------------------------------------------------------------------------- analysis subsets


def english_only(rows: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """Conversations WildChat tags as English (the similarity analysis used English conversations only)."""
    return [r for r in rows if r.get("language") == "English"]


def unique_first_user_message(rows: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """The first conversation of each distinct first user message (WildChat repeats prompts; hashes too)."""
    seen: set[str] = set()
    out = []
    for r in rows:
        first = next((t["content"] for t in r["conversation"] if t["role"] == "user"), None)
        if first is None or first in seen:
            continue
        seen.add(first)
        out.append(r)
    return out

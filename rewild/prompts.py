"""Prompts: read WildChat rows (HF dataset or a local file in the same schema), validate, shard.

Both paths go through `normalise_row`, so the demo file exercises exactly the code that reads
`allenai/WildChat-1M-Full`. Every source row of a shard ends up in exactly one place: the shard (kept),
or the rejects file (rejected with a reason, or skipped because its length is odd, as the paper did).

A defect of one row (bad bytes, a lone surrogate, an integer beyond int64, JSON nested too deep to parse or
serialise) is that row's reject reason, never an exception that costs the shard; the rejects file itself is
always writable (surrogates it records are written as JSON escapes).

Order of the checks (the first that fails decides the row's fate; docs/architecture.md "Prompt accounting"):
1. readable: the reader made an object of it (`invalid_utf8`, `invalid_json`, `too_deep`), an object with a
   `conversation` list (`not_an_object`, `missing_conversation`, `conversation_not_list`): before these there is
   no message count to look at;
2. storable: every value fits the shard's schema (`int_out_of_range`, `too_deep`, `not_json_serialisable`,
   `invalid_unicode`), in the row and in those turns that are objects: a defect of the file, not of the
   conversation, so it is reported whatever the length;
3. the paper's rule: an odd number of messages is skipped (`skipped_odd`), whatever its turns hold;
4. this project's checks on top of the paper, reject reasons: `empty_conversation`, `turn_not_object`,
   `missing_role`, `unknown_role`, `content_not_string`, `empty_content`, `roles_not_alternating`.
"""

from __future__ import annotations

import datetime as _dt
import json
import logging
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from . import plan
from .io import atomic_path, now_iso, provenance, write_json

log = logging.getLogger("rewild.prompts")

ROLES = ("user", "assistant")
INT64 = (-(2**63), 2**63 - 1)  # the shard's integer columns are int64

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
    """A source row that cannot be used; the message is the reject reason.

    `raw_line` holds the source text when the reader could not make an object of it (for the rejects file)."""

    def __init__(self, reason: str, raw_line: str | None = None):
        super().__init__(reason)
        self.raw_line = raw_line


class OddLength(Exception):
    """A conversation with an odd number of messages: skipped as the paper did, not a reject."""


# Field names for reject reasons are built only when a row is rejected: this code runs for every turn of every row.
def _where(field: str, turn: int | None) -> str:
    return field if turn is None else f"turn {turn} {field}"


def _text(value: Any, field: str, turn: int | None = None) -> str | None:
    if value is None:
        return None
    if isinstance(value, (_dt.datetime, _dt.date)):
        return value.isoformat()
    if isinstance(value, (dict, list)):
        try:
            return json.dumps(value, ensure_ascii=False, sort_keys=True)
        except RecursionError:
            raise RowError(f"too_deep: {_where(field, turn)} nests too deeply to store as JSON text") from None
        except (TypeError, ValueError) as exc:  # a non-JSON leaf (bytes, Decimal) or an int past str()'s digit limit
            raise RowError(f"not_json_serialisable: {_where(field, turn)}: {type(exc).__name__}") from None
    return str(value)


def _int(value: Any, field: str, turn: int | None = None) -> int | None:
    """An int64 or None; a value that parses but does not fit int64 rejects the row (it cannot be stored)."""
    if value is None or value == "":
        return None
    try:
        out = int(value)
    except (TypeError, ValueError):
        return None
    except OverflowError:  # int(float("inf")): JSON's Infinity
        raise RowError(f"int_out_of_range: {_where(field, turn)} is infinite") from None
    if not INT64[0] <= out <= INT64[1]:
        # the bit length, not the value: str() of a huge int raises past 4,300 digits
        raise RowError(f"int_out_of_range: {_where(field, turn)} needs {out.bit_length() + 1} bits (int64 holds 64)")
    return out


def _strings(row: Mapping[str, Any]) -> list[tuple[str, str]]:
    out = [(key, v) for key, v in row.items() if type(v) is str]
    for i, turn in enumerate(row["conversation"]):
        if type(turn) is dict:
            out += [(_where(key, i), v) for key, v in turn.items() if type(v) is str]
    return out


def _check_encodable(row: Mapping[str, Any]) -> None:
    """Reject text that UTF-8 cannot encode: a lone surrogate, as json.loads makes of `"\\ud800"`."""
    # isascii() is O(1) in CPython (a flag of the string object): only non-ASCII text pays for an encode
    texts = [v for v in row.values() if type(v) is str and not v.isascii()]
    texts += [v for turn in row["conversation"] if type(turn) is dict for v in turn.values()
              if type(v) is str and not v.isascii()]
    try:
        "".join(texts).encode("utf-8")  # one pass in C (a str holds code points: a join never pairs surrogates)
    except UnicodeEncodeError:
        for where, value in _strings(row):
            try:
                value.encode("utf-8")
            except UnicodeEncodeError as exc:
                code = ord(value[exc.start])
                raise RowError(
                    f"invalid_unicode: {where} has a lone surrogate U+{code:04X} at character {exc.start}"
                ) from None
        raise


def storable_turn(turn: Any, index: int) -> Any:
    """A turn's values in the shard's types (RowError if one cannot be); `role` and `content` as given, checked
    by `check_turn` once the length is known. A turn that is not an object is returned as it is."""
    if not isinstance(turn, Mapping):
        return turn
    return {
        "content": turn.get("content"),
        "role": turn.get("role"),
        "language": _text(turn.get("language"), "language", index),
        "redacted": bool(turn.get("redacted") or False),
        "toxic": bool(turn.get("toxic") or False),
        "turn_identifier": _int(turn.get("turn_identifier"), "turn_identifier", index),
        "country": _text(turn.get("country"), "country", index),
        "state": _text(turn.get("state"), "state", index),
        "hashed_ip": _text(turn.get("hashed_ip"), "hashed_ip", index),
        "header": _text(turn.get("header"), "header", index),
        "timestamp": _text(turn.get("timestamp"), "timestamp", index),
    }


def check_turn(turn: Any, index: int) -> None:
    """This project's checks of one turn (the paper has none): a turn the generation stage could not use."""
    if not isinstance(turn, Mapping):
        raise RowError(f"turn_not_object: turn {index}")
    role = turn["role"]
    if role is None:
        raise RowError(f"missing_role: turn {index}")
    if not isinstance(role, str):  # and no repr of it: it may nest arbitrarily deep
        raise RowError(f"unknown_role: turn {index} has a role of type {type(role).__name__}")
    if role not in ROLES:
        raise RowError(f"unknown_role: turn {index} has role {role[:40]!r}")
    content = turn["content"]
    if not isinstance(content, str):
        raise RowError(f"content_not_string: turn {index} content is {type(content).__name__}")
    if not content.strip():
        raise RowError(f"empty_content: turn {index} ({role})")
    expected = ROLES[index % 2]
    if role != expected:
        raise RowError(f"roles_not_alternating: turn {index} is {role}, expected {expected}")


TEXT_COLUMNS = tuple(f.name for f in SOURCE_SCHEMA if f.type == pa.string())


def normalise_row(raw: Any, row_id: int) -> dict:
    """One WildChat row in SOURCE_SCHEMA; RowError with the reason to reject it, OddLength to skip it.

    The checks run in the order of the module docstring: readable, storable, the paper's odd-length skip, then
    this project's checks."""
    if not isinstance(raw, Mapping):
        raise RowError(f"not_an_object: {type(raw).__name__}")
    conv = raw.get("conversation")
    if conv is None:
        raise RowError("missing_conversation")
    if not isinstance(conv, (list, tuple)):
        raise RowError(f"conversation_not_list: {type(conv).__name__}")
    turns = [storable_turn(t, i) for i, t in enumerate(conv)]
    text = {k: _text(raw.get(k), k) for k in TEXT_COLUMNS}
    turn = raw.get("turn")
    row = {
        "row_id": row_id,
        "conversation_hash": text["conversation_hash"],
        "model": text["model"],
        "timestamp": text["timestamp"],
        "conversation": turns,
        "turn": None if turn is None else _int(turn, "turn"),
        "language": text["language"],
        "openai_moderation": text["openai_moderation"],
        "detoxify_moderation": text["detoxify_moderation"],
        "toxic": bool(raw.get("toxic") or False),
        "redacted": bool(raw.get("redacted") or False),
        "state": text["state"],
        "country": text["country"],
        "hashed_ip": text["hashed_ip"],
        "header": text["header"],
    }
    _check_encodable(row)
    if len(turns) % 2 == 1:
        raise OddLength(f"odd_length: {len(turns)} messages, skipped as the paper did")
    if not turns:
        raise RowError("empty_conversation")
    for i, t in enumerate(turns):
        check_turn(t, i)
    if turn is None:
        row["turn"] = sum(t["role"] == "user" for t in turns)
    return row


# ------------------------------------------------------------------------------------------- readers
# Each reader yields (row_id, raw_object_or_RowError) for the requested row ids, in order.


def parse_json_line(line: bytes) -> Any:
    """One JSONL line as an object, or a RowError (keeping the line's text) when it cannot be one."""
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError as exc:
        return RowError(f"invalid_utf8: {exc.reason} at byte {exc.start}", line.decode("utf-8", "backslashreplace"))
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        return RowError(f"invalid_json: {exc.msg} (column {exc.colno})", text)
    except RecursionError:
        return RowError("too_deep: JSON nests deeper than the parser's recursion limit", text)
    except ValueError as exc:  # an integer literal past Python's 4,300-digit conversion limit
        return RowError(f"invalid_json: {str(exc).split(':')[0]}", text)


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
            yield i, parse_json_line(line)
            nxt = next(wanted, None)
    if nxt is not None:
        raise ValueError(f"{path}: has fewer rows than prompts.n_conversations asks for (row {nxt} missing)")


def read_local_parquet(path: str | Path, rows: Sequence[int]) -> Iterator[tuple[int, Any]]:
    pf = pq.ParquetFile(path)
    wanted = set(rows)
    offset = 0
    for batch in pf.iter_batches(batch_size=4096):
        try:
            objs = batch.to_pylist()
        except UnicodeDecodeError:  # one row's bad bytes must not sink the batch: convert row by row
            objs = [parquet_row(batch, j) for j in range(batch.num_rows)]
        for j, obj in enumerate(objs):
            if offset + j in wanted:
                yield offset + j, obj
        offset += batch.num_rows
    missing = [r for r in rows if r >= offset]
    if missing:
        raise ValueError(f"{path}: has {offset} rows; prompts.n_conversations asks for row {missing[0]}")


def parquet_row(batch: pa.RecordBatch, j: int) -> Any:
    """Row j of a batch as a dict, or a RowError naming the column whose bytes are not UTF-8."""
    row = batch.slice(j, 1)
    try:
        return row.to_pylist()[0]
    except UnicodeDecodeError:
        for name, column in zip(row.schema.names, row.columns):
            try:
                column.to_pylist()
            except UnicodeDecodeError as exc:
                return RowError(f"invalid_utf8: column {name}: {exc.reason} at byte {exc.start}")
        raise


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
        except OddLength as exc:
            stats["skipped_odd"] += 1
            rejects.append({"row_id": row_id, "reason": str(exc), "raw": None})
            continue
        except RowError as exc:
            reason = str(exc)
            code = reason.split(":", 1)[0]
            stats["rejected"] += 1
            stats["by_reason"][code] = stats["by_reason"].get(code, 0) + 1
            record = {"row_id": row_id, "reason": reason, "raw": None if isinstance(raw, RowError) else raw}
            if isinstance(raw, RowError) and raw.raw_line is not None:
                record["raw_line"] = raw.raw_line
            rejects.append(record)
            continue
        kept.append(row)
        stats["kept"] += 1
    return kept, rejects, stats


def reject_line(record: Mapping[str, Any]) -> str:
    """One rejects-file line that UTF-8 can always encode.

    Text is kept readable where it can be; a record holding a lone surrogate is written with JSON escapes
    (`\\ud800`, which json.loads reads back as the same string), and a raw row too deep to serialise is left
    out with a note (its reason says what was wrong)."""
    try:
        text = json.dumps(record, ensure_ascii=False, default=str)
    except (RecursionError, ValueError):  # ValueError: an int past str()'s digit limit
        record = {**record, "raw": None, "raw_note": "raw row too deep or too large to serialise"}
        text = json.dumps(record, ensure_ascii=False, default=str)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = json.dumps(record, ensure_ascii=True, default=str)
    return text


def write_rejects(path: str | Path, rejects: Iterable[Mapping[str, Any]]) -> None:
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8") as fh:
        for record in rejects:
            fh.write(reject_line(record) + "\n")


def write_shard(rows: list[dict], path: str | Path) -> None:
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
    write_rejects(out_rejects, rejects)
    stats["shard"] = shard
    stats["provenance"] = provenance(
        config_hash=plan.section_hash(prompts), seeds={"sample": prompts["sample"]["seed"] if prompts["sample"] else None},
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

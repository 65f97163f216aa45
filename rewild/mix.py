"""SFT data mixes: components (DGM responses, HF datasets, local files) -> TRL `messages` rows.

Selection follows the paper: the first fraction / first N rows in stored order (`train[:25%]`), or a seeded
random N (blends: each component its own seed, so two halves of the same length are independent samples, not the
same row positions). A 2% hold-out is split off with a seeded permutation. Conversations longer than the SFT
sequence length (student tokenizer and chat template) are dropped as Axolotl's packing dropped them (sft.overlong:
drop), or left for TRL to truncate (truncate). The manifest records what went in.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from .io import atomic_path, now_iso, provenance, stable_hash, write_json

log = logging.getLogger("rewild.mix")

MESSAGE_TYPE = pa.list_(pa.struct([("role", pa.string()), ("content", pa.string())]))
MIX_SCHEMA = pa.schema([("id", pa.string()), ("source", pa.string()), ("messages", MESSAGE_TYPE)])

# Axolotl's "jeopardy" prompt style, which the paper used for MMLU auxiliary-train (exact rendering uncertain).
JEOPARDY_SYSTEM = (
    "Below is a Jeopardy clue paired with input providing the category of the clue. "
    "Write a concise response that best answers tbe clue given the category."
)


# ------------------------------------------------------------------------------------------ selection


def select_indices(n_rows: int, select: Mapping[str, Any]) -> list[int]:
    """Row positions chosen by a selection spec (pure; stored order kept)."""
    if "first_fraction" in select:
        # datasets' percent slicing (`train[:25%]`) rounds to the nearest row
        return list(range(int(round(select["first_fraction"] * n_rows))))
    if "first_n" in select:
        n = select["first_n"]
        if n > n_rows:
            raise ValueError(f"select.first_n={n} but the component has only {n_rows} rows")
        return list(range(n))
    if "random_n" in select:
        n = select["random_n"]
        if n > n_rows:
            raise ValueError(f"select.random_n={n} but the component has only {n_rows} rows")
        return sorted(random.Random(select["seed"]).sample(range(n_rows), n))
    raise ValueError(f"selection needs first_fraction, first_n or random_n: {dict(select)}")


def heldout_split(n_rows: int, fraction: float, seed: int) -> tuple[list[int], list[int]]:
    """(train positions, heldout positions); at least one heldout row when fraction > 0 and n_rows > 1."""
    if fraction <= 0 or n_rows < 2:
        return list(range(n_rows)), []
    n_held = min(n_rows - 1, max(1, int(round(fraction * n_rows))))
    perm = list(range(n_rows))
    random.Random(seed).shuffle(perm)
    held = sorted(perm[:n_held])
    held_set = set(held)
    return [i for i in range(n_rows) if i not in held_set], held


# ----------------------------------------------------------------------------------------- formatters


def conversation_messages(conversation: Sequence[Mapping[str, Any]]) -> list[dict]:
    return [{"role": t["role"], "content": t["content"] or ""} for t in conversation]


def mmlu_record(row: Mapping[str, Any]) -> Mapping[str, Any]:
    """cais/mmlu auxiliary_train comes in two shapes: flat columns, or everything nested under `train`."""
    if "question" not in row and isinstance(row.get("train"), Mapping):
        return row["train"]
    return row


def mmlu_jeopardy_messages(row: Mapping[str, Any]) -> list[dict]:
    rec = mmlu_record(row)
    choices = list(rec["choices"])
    answer = rec["answer"]
    answer_text = choices[answer] if isinstance(answer, int) else str(answer)
    category = rec.get("subject") or ""
    prompt = f"{JEOPARDY_SYSTEM}\n\n### Instruction:\n{rec['question']}\n\n### Input:\n{category}"
    return [{"role": "user", "content": prompt}, {"role": "assistant", "content": f"what is {answer_text}"}]


SHAREGPT_ROLES = {"system": "system", "human": "user", "user": "user", "gpt": "assistant", "assistant": "assistant"}


def sharegpt_messages(row: Mapping[str, Any]) -> list[dict]:
    """ShareGPT rows (Magpie-Align): `conversations` of {from: human|gpt|system, value}."""
    return [{"role": SHAREGPT_ROLES[t["from"]], "content": t["value"] or ""} for t in row["conversations"]]


def to_messages(row: Mapping[str, Any], fmt: str) -> list[dict]:
    if fmt == "sharegpt":
        return sharegpt_messages(row)
    if fmt == "messages":
        return [{"role": m["role"], "content": m["content"]} for m in row["messages"]]
    if fmt == "wildchat":
        return conversation_messages(row["conversation"])
    if fmt == "mmlu_jeopardy":
        return mmlu_jeopardy_messages(row)
    raise ValueError(f"unknown source format {fmt!r}")


def cut_to_reference(messages: list[dict], reference: list[dict], side: str) -> list[dict]:
    """Length control, one conversation: cut turns to the character length of the reference DGM's row.

    side=response (the paper's text): assistant turn k is cut to the reference's assistant turn k;
    side=user (the released code): user turn k is cut to the reference row's user turn k.
    """
    role = "assistant" if side == "response" else "user"
    ref_turns = [m["content"] for m in reference if m["role"] == role]
    out, k = [], 0
    for m in messages:
        if m["role"] == role:
            if k < len(ref_turns):
                m = {**m, "content": m["content"][: len(ref_turns[k])]}
            k += 1
        out.append(m)
    return out


def first_message_duplicates(conversations: Sequence[Sequence[Mapping[str, Any]]]) -> list[bool]:
    """Per conversation: True when its first message's text repeats an earlier conversation's (the released
    code's dedup after cutting user turns; the first occurrence is kept)."""
    seen: set[str] = set()
    out = []
    for msgs in conversations:
        key = msgs[0]["content"] if msgs else ""
        out.append(key in seen)
        seen.add(key)
    return out


def overlong_mask(lengths: Sequence[int], max_length: int) -> list[bool]:
    """True for conversations longer than the sequence length: Axolotl's packing dropped them."""
    return [n > max_length for n in lengths]


# -------------------------------------------------------------------------------------------- sources


def read_rows(path: str | Path, columns: list[str] | None = None) -> list[dict]:
    path = Path(path)
    if path.suffix == ".parquet":
        return pq.read_table(path, columns=columns).to_pylist()
    if path.suffix in (".jsonl", ".json"):
        import json

        with open(path) as fh:
            return [json.loads(line) for line in fh if line.strip()]
    raise ValueError(f"{path}: unsupported file type (use .parquet or .jsonl)")


def load_source_rows(source: Mapping[str, Any]) -> list[dict]:
    if source["type"] == "local":
        return read_rows(source["path"])
    import datasets

    from .prefetch import ensure_cached

    ensure_cached(source["path"], source.get("revision"), "dataset")
    ds = datasets.load_dataset(
        source["path"], source.get("name"), split=source.get("split", "train"), revision=source.get("revision")
    )
    return list(ds)


def read_selected(path: str | Path, columns: list[str], chosen: Sequence[int], batch_size: int = 16384) -> pa.Table:
    """Only the chosen rows (sorted positions) of a parquet file, streamed: memory holds the selection alone."""
    pf = pq.ParquetFile(path)
    parts, offset, k = [], 0, 0
    for batch in pf.iter_batches(batch_size=batch_size, columns=columns):
        if k >= len(chosen):
            break
        end = offset + batch.num_rows
        j = k
        while j < len(chosen) and chosen[j] < end:
            j += 1
        if j > k:
            local = pa.array([c - offset for c in chosen[k:j]], type=pa.int64())
            parts.append(pa.Table.from_batches([batch.take(local)]))
            k = j
        offset = end
    if not parts:
        return pq.read_schema(path).empty_table().select(columns)
    return pa.concat_tables(parts)


def _rows_table(rows: list[dict]) -> pa.Table:
    return pa.Table.from_pylist(rows, schema=MIX_SCHEMA)


def component_table(
    comp: Mapping[str, Any], sources: Mapping[str, Any], stats: dict, index: int = 0
) -> pa.Table:
    """Rows of one component as a MIX_SCHEMA table: selection applied, length control applied.

    DGM responses stay in Arrow (no per-row Python) unless length control must edit them: a paper-scale
    component is ~1M conversations.
    """
    lc = comp.get("length_control")
    if "dgm" in comp:
        label = f"dgm:{comp['dgm']}"
        path = f"results/filtered/{comp['dgm']}.parquet"
        available = pq.ParquetFile(path).metadata.num_rows
        chosen = select_indices(available, comp["select"])
        table = read_selected(path, ["row_id", "messages"], chosen)
        unmatched = duplicates = 0
        if lc:
            ref_t = pq.read_table(f"results/filtered/{lc['reference_dgm']}.parquet", columns=["row_id", "messages"])
            ref = dict(zip(ref_t.column("row_id").to_pylist(), ref_t.column("messages").to_pylist()))
            rows = []
            for row in table.to_pylist():
                ref_msgs = ref.get(row["row_id"])
                if ref_msgs is None:
                    unmatched += 1
                    continue
                msgs = cut_to_reference(row["messages"], ref_msgs, lc["side"])
                rows.append({"id": f"{index}:{label}:{row['row_id']}", "source": f"{index}:{label}", "messages": msgs})
            if lc["side"] == "user":
                dup = first_message_duplicates([r["messages"] for r in rows])
                duplicates = sum(dup)
                rows = [r for r, d in zip(rows, dup) if not d]
            out = _rows_table(rows)
        else:
            ids = pc.binary_join_element_wise(f"{index}:{label}:", pc.cast(table.column("row_id"), pa.string()), "")
            out = pa.table({"id": ids, "source": pa.array([f"{index}:{label}"] * table.num_rows, pa.string()),
                            "messages": table.column("messages").cast(MESSAGE_TYPE)}, schema=MIX_SCHEMA)
    else:
        label = f"source:{comp['source']}"
        src = sources[comp["source"]]
        rows_in = load_source_rows(src)
        available = len(rows_in)
        chosen = select_indices(available, comp["select"])
        fmt = src.get("format", "messages")
        rows = []
        for i in chosen:
            row = rows_in[i]
            rid = row.get("row_id", row.get("id", i))
            rows.append({"id": f"{index}:{label}:{rid}", "source": f"{index}:{label}", "messages": to_messages(row, fmt)})
        out = _rows_table(rows)
        unmatched = duplicates = 0
    stats[f"{index}:{label}"] = {"available": available, "selected": len(chosen), "rows": out.num_rows,
                                 "unmatched_length_control": unmatched, "first_message_duplicates": duplicates,
                                 "select": dict(comp["select"])}
    return out


def conversation_lengths(messages: pa.ChunkedArray | pa.Array, tokenizer) -> list[int]:
    """Tokens of each conversation as SFT sees it: the student's chat template applied, then tokenized."""
    # transformers 5 returns a BatchEncoding from apply_chat_template(tokenize=True); render, then tokenize
    texts = [tokenizer.apply_chat_template(m, tokenize=False) for m in messages.to_pylist()]
    return [len(ids) for ids in tokenizer(texts, add_special_tokens=False)["input_ids"]]


def drop_overlong(table: pa.Table, overlong: Mapping[str, Any], tokenizer, stats: dict) -> pa.Table:
    """Rows within trl.max_length; the dropped count per component goes into `stats` (the manifest)."""
    mask = overlong_mask(conversation_lengths(table.column("messages"), tokenizer), overlong["max_length"])
    for label in stats:
        stats[label]["dropped_overlong"] = sum(1 for m, s in zip(mask, table.column("source").to_pylist())
                                               if m and s == label)
    return table.filter(pa.array([not m for m in mask]))


def student_tokenizer(overlong: Mapping[str, Any]):
    """The tokenizer SFT trains with (rewild.sft.load_tokenizer: the student's template and special tokens)."""
    from .sft import load_tokenizer

    return load_tokenizer(overlong["student_id"], overlong["student"])[0]


def count_tokens(messages: pa.ChunkedArray | pa.Array, tokenizer=None) -> int:
    """Tokens of all message contents (student tokenizer when given, else whitespace-separated words)."""
    if isinstance(messages, pa.ChunkedArray):
        return sum(count_tokens(chunk, tokenizer) for chunk in messages.chunks)
    content = pc.fill_null(messages.flatten().field("content"), "")
    if tokenizer is None:
        return int(pc.sum(pc.list_value_length(pc.utf8_split_whitespace(content))).as_py() or 0)
    total = 0
    texts = content.to_pylist()
    for start in range(0, len(texts), 1024):
        enc = tokenizer(texts[start : start + 1024], add_special_tokens=False)["input_ids"]
        total += sum(len(e) for e in enc)
    return total


def write_mix(table: pa.Table, path: str | Path) -> None:
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp)


def run(
    mix_name: str,
    mix: Mapping[str, Any],
    sources: Mapping[str, Any],
    heldout_fraction: float,
    split_seed: int,
    out_train: str | Path,
    out_heldout: str | Path,
    out_manifest: str | Path,
    tokenizer_path: str | None,
    overlong: Mapping[str, Any] | None,
) -> dict:
    """Build one mix. `overlong` (rewild.plan.overlong_params): drop conversations over max_length tokens of the
    student; None: keep them (sft.overlong truncate)."""
    started = now_iso()
    stats: dict[str, Any] = {}
    table = pa.concat_tables([component_table(c, sources, stats, i) for i, c in enumerate(mix["components"])])
    if overlong is not None:
        table = drop_overlong(table, overlong, student_tokenizer(overlong), stats)
    train_idx, held_idx = heldout_split(table.num_rows, heldout_fraction, split_seed)
    train = table.take(pa.array(train_idx, type=pa.int64()))
    held = table.take(pa.array(held_idx, type=pa.int64()))
    write_mix(train, out_train)
    write_mix(held, out_heldout)
    tok = None
    if tokenizer_path:
        from transformers import AutoTokenizer

        tok = AutoTokenizer.from_pretrained(tokenizer_path)
    for label in stats:
        part = train.filter(pc.equal(train.column("source"), label))
        stats[label]["train_rows"] = part.num_rows
        stats[label]["train_tokens"] = count_tokens(part.column("messages"), tok)
    manifest = {
        "mix": mix_name,
        "components": stats,
        "train_rows": train.num_rows,
        "heldout_rows": held.num_rows,
        "train_tokens": sum(c["train_tokens"] for c in stats.values()),
        "token_counter": "student tokenizer" if tok else "whitespace words",
        "dropped_overlong": sum(c.get("dropped_overlong", 0) for c in stats.values()),
        "overlong": "drop" if overlong is not None else "truncate",
        "max_length": overlong["max_length"] if overlong is not None else None,
        "heldout_fraction": heldout_fraction,
        "split_seed": split_seed,
        "provenance": provenance(config_hash=stable_hash([dict(mix), heldout_fraction, split_seed, overlong])[:16],
                                 seeds={"split": split_seed}, started=started),
    }
    write_json(out_manifest, manifest)
    log.info("mix %s: %d train rows, %d heldout rows, components %s", mix_name, train.num_rows, held.num_rows,
             {k: v["rows"] for k, v in stats.items()})
    return manifest

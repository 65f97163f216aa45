"""SFT data mixes: components (DGM responses, HF datasets, local files) -> TRL `messages` rows.

Selection follows the paper: the first fraction / first N rows in stored order (`train[:25%]`), or a seeded
random N (blends). A 2% hold-out is split off with a seeded permutation. The manifest records what went in.
"""

from __future__ import annotations

import logging
import random
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import pyarrow as pa
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
        return sorted(random.Random(select.get("seed", 0)).sample(range(n_rows), n))
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


def to_messages(row: Mapping[str, Any], fmt: str) -> list[dict]:
    if fmt == "messages":
        return [{"role": m["role"], "content": m["content"]} for m in row["messages"]]
    if fmt == "wildchat":
        return conversation_messages(row["conversation"])
    if fmt == "mmlu_jeopardy":
        return mmlu_jeopardy_messages(row)
    raise ValueError(f"unknown source format {fmt!r}")


def cut_to_reference(messages: list[dict], reference: list[dict], side: str) -> list[dict]:
    """Length control: cut each turn to the character length of the reference DGM's answer to the same turn.

    side=response (the paper's text): the assistant turns are cut; side=user (the released code): the user turns.
    """
    ref_answers = [m["content"] for m in reference if m["role"] == "assistant"]
    out, k = [], 0
    for m in messages:
        if m["role"] == "assistant":
            limit = len(ref_answers[k]) if k < len(ref_answers) else None
            if side == "response" and limit is not None:
                m = {**m, "content": m["content"][:limit]}
            k += 1
        elif side == "user":
            limit = len(ref_answers[k]) if k < len(ref_answers) else None
            if limit is not None:
                m = {**m, "content": m["content"][:limit]}
        out.append(m)
    return out


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

    ds = datasets.load_dataset(
        source["path"], source.get("name"), split=source.get("split", "train"), revision=source.get("revision")
    )
    return list(ds)


def component_rows(
    comp: Mapping[str, Any], sources: Mapping[str, Any], stats: dict, index: int = 0
) -> list[dict]:
    """Rows of one component as {id, source, messages}, selection applied, length control applied."""
    if "dgm" in comp:
        name = comp["dgm"]
        rows = read_rows(f"results/filtered/{name}.parquet", ["row_id", "messages"])
        fmt = "messages"
        label = f"dgm:{name}"
    else:
        name = comp["source"]
        src = sources[name]
        rows = load_source_rows(src)
        fmt = src.get("format", "messages")
        label = f"source:{name}"
    chosen = select_indices(len(rows), comp["select"])
    out = []
    lc = comp.get("length_control")
    ref = {}
    if lc:
        ref_rows = read_rows(f"results/filtered/{lc['reference_dgm']}.parquet", ["row_id", "messages"])
        ref = {r["row_id"]: r["messages"] for r in ref_rows}
    unmatched = 0
    for i in chosen:
        row = rows[i]
        msgs = to_messages(row, fmt)
        if lc:
            ref_msgs = ref.get(row.get("row_id"))
            if ref_msgs is None:
                unmatched += 1
                continue
            msgs = cut_to_reference(msgs, ref_msgs, lc.get("side", "response"))
        rid = row.get("row_id", row.get("id", i))
        # the component index keeps ids unique when one DGM feeds two components
        out.append({"id": f"{index}:{label}:{rid}", "source": f"{index}:{label}", "messages": msgs})
    stats[f"{index}:{label}"] = {"available": len(rows), "selected": len(chosen), "rows": len(out),
                    "unmatched_length_control": unmatched, "select": dict(comp["select"])}
    return out


def count_tokens(rows: Iterable[Mapping[str, Any]], tokenizer=None) -> int:
    """Tokens of all message contents (student tokenizer when given, else whitespace words)."""
    total = 0
    for r in rows:
        for m in r["messages"]:
            text = m["content"] or ""
            total += len(tokenizer(text, add_special_tokens=False)["input_ids"]) if tokenizer else len(text.split())
    return total


def write_mix(rows: list[dict], path: str | Path) -> None:
    with atomic_path(path) as tmp:
        pq.write_table(pa.Table.from_pylist(rows, schema=MIX_SCHEMA), tmp)


def run(
    mix_name: str,
    mix: Mapping[str, Any],
    sources: Mapping[str, Any],
    heldout_fraction: float,
    split_seed: int,
    out_train: str | Path,
    out_heldout: str | Path,
    out_manifest: str | Path,
    tokenizer_path: str | None = None,
) -> dict:
    started = now_iso()
    stats: dict[str, Any] = {}
    rows: list[dict] = []
    for i, comp in enumerate(mix["components"]):
        rows.extend(component_rows(comp, sources, stats, i))
    train_idx, held_idx = heldout_split(len(rows), heldout_fraction, split_seed)
    train = [rows[i] for i in train_idx]
    held = [rows[i] for i in held_idx]
    write_mix(train, out_train)
    write_mix(held, out_heldout)
    tok = None
    if tokenizer_path:
        from transformers import AutoTokenizer

        tok = AutoTokenizer.from_pretrained(tokenizer_path)
    for label in stats:
        comp_rows = [r for r in train if r["source"] == label]
        stats[label]["train_rows"] = len(comp_rows)
        stats[label]["train_tokens"] = count_tokens(comp_rows, tok)
    manifest = {
        "mix": mix_name,
        "components": stats,
        "train_rows": len(train),
        "heldout_rows": len(held),
        "train_tokens": sum(c["train_tokens"] for c in stats.values()),
        "token_counter": "student tokenizer" if tok else "whitespace words",
        "heldout_fraction": heldout_fraction,
        "split_seed": split_seed,
        "provenance": provenance(config_hash=stable_hash([dict(mix), heldout_fraction, split_seed])[:16],
                                 seeds={"split": split_seed}, started=started),
    }
    write_json(out_manifest, manifest)
    log.info("mix %s: %d train rows, %d heldout rows, components %s", mix_name, len(train), len(held),
             {k: v["rows"] for k, v in stats.items()})
    return manifest

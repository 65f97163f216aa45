"""Loaders for the rewild demo lm-eval tasks (lm-eval 0.4.x `custom_dataset: !function utils.<loader>`).

The data files sit beside this module and are resolved relative to `__file__`, so the tasks work from any
working directory (a relative `data_files:` in YAML would resolve against the current directory instead).
lm-eval calls the loader as `custom_dataset(**metadata, **dataset_kwargs)`; extra keyword arguments are ignored.
"""

from __future__ import annotations

import json
from pathlib import Path

HERE = Path(__file__).resolve().parent


def _read_jsonl(name: str) -> list[dict]:
    with open(HERE / name, encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def _as_dataset_dict(rows: list[dict]):
    import datasets  # imported lazily: lm-eval always has it, plain readers of this module need not

    return datasets.DatasetDict({"test": datasets.Dataset.from_list(rows)})


def load_demo_mc(**kwargs):
    """40 four-way multiple-choice questions: {id, question, choices[4], answer (index 0-3)}."""
    return _as_dataset_dict(_read_jsonl("demo_mc.jsonl"))


def load_demo_gen(**kwargs):
    """30 short-answer questions: {id, question, answer (str)}."""
    return _as_dataset_dict(_read_jsonl("demo_gen.jsonl"))

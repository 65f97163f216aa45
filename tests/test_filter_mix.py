"""Filtering accounting and SFT mix building (selection, hold-out, formatters, length control)."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from rewild_testlib import validated

from rewild import filter as rfilter
from rewild import mix


def gen_row(row_id, user, answer, finish="stop", language="English"):
    conv = [
        {"role": "user", "content": user, "finish_reason": None},
        {"role": "assistant", "content": answer, "finish_reason": finish},
    ]
    return {
        "row_id": row_id,
        "conversation_hash": f"h{row_id}",
        "language": language,
        "conversation": conv,
        "messages": [{"role": t["role"], "content": t["content"]} for t in conv],
    }


def write(rows, path):
    pq.write_table(pa.Table.from_pylist(rows), path)
    return path


ROWS = [
    gen_row(0, "hello", "hi there"),
    gen_row(1, "empty answer", ""),
    gen_row(2, "long answer", "cut off mid", finish="length"),
    gen_row(3, "tokens", "answer<|eot_id|>"),
    gen_row(4, "bonjour", "salut", language="French"),
    gen_row(5, "hello", "hi there"),  # exact duplicate of row 0
]


@pytest.mark.parametrize(
    "filters, kept, dropped",
    [
        ({}, [0, 1, 2, 3, 4, 5], {}),
        ({"drop_empty": True}, [0, 2, 3, 4, 5], {"empty": 1}),
        ({"drop_length": True}, [0, 1, 3, 4, 5], {"length": 1}),
        ({"special_tokens": "drop"}, [0, 1, 2, 4, 5], {"special_tokens": 1}),
        ({"languages": ["English"]}, [0, 1, 2, 3, 5], {"language": 1}),
        ({"dedup": True}, [0, 1, 2, 3, 4], {"duplicate": 1}),
        ({"drop_empty": True, "drop_length": True, "dedup": True}, [0, 3, 4], {"empty": 1, "length": 1, "duplicate": 1}),
    ],
)
def test_filters_count_and_keep_every_drop(tmp_path, filters, kept, dropped):
    src = write(ROWS, tmp_path / "gen.parquet")
    rep = rfilter.run(src, tmp_path / "f.parquet", tmp_path / "r.jsonl", tmp_path / "rep.json",
                     validated(filters, "properties", "filters"), "d")
    out = pq.read_table(tmp_path / "f.parquet").to_pylist()
    assert [r["row_id"] for r in out] == kept
    assert {k: v for k, v in rep["dropped"].items() if v} == dropped
    rejects = [json.loads(x) for x in (tmp_path / "r.jsonl").read_text().splitlines()]
    assert len(rejects) == rep["input"] - rep["kept"] == len(ROWS) - len(kept)
    assert all(r["reason"] and r["row"]["row_id"] == r["row_id"] for r in rejects)


def test_strip_special_tokens_keeps_the_row(tmp_path):
    src = write(ROWS, tmp_path / "gen.parquet")
    filters = validated({"special_tokens": "strip"}, "properties", "filters")
    rfilter.run(src, tmp_path / "f.parquet", tmp_path / "r.jsonl", tmp_path / "rep.json", filters, "d")
    out = {r["row_id"]: r for r in pq.read_table(tmp_path / "f.parquet").to_pylist()}
    assert out[3]["messages"][1]["content"] == "answer"
    assert out[3]["conversation"][1]["content"] == "answer"


def test_decontamination_drops_rows_sharing_an_eval_ngram(tmp_path):
    rows = ROWS + [gen_row(9, "Quick question: what is the capital city of France, please?", "Paris")]
    src = write(rows, tmp_path / "gen.parquet")
    index = tmp_path / "task.json"
    grams = sorted(rfilter.ngram_digests("Q: What is the capital city of France? A:", 5))
    index.write_text(json.dumps({"task": "t", "n": 5, "ngrams": grams}))
    filters = validated({"decontaminate": {"enabled": True, "ngram": 5}}, "properties", "filters")
    rep = rfilter.run(src, tmp_path / "f.parquet", tmp_path / "r.jsonl", tmp_path / "p.json", filters, "d", [index])
    assert rep["dropped"]["contamination"] == 1
    assert [r["row_id"] for r in pq.read_table(tmp_path / "f.parquet").to_pylist()] == [0, 1, 2, 3, 4, 5]
    with pytest.raises(ValueError, match="no eval-task n-gram index"):
        rfilter.run(src, tmp_path / "f", tmp_path / "r", tmp_path / "p", filters, "d")


def test_ngrams_ignore_case_and_punctuation():
    assert rfilter.ngram_digests("The Capital, of FRANCE!", 4) == rfilter.ngram_digests("the capital of france", 4)
    assert rfilter.ngram_digests("too short", 3) == set()


def test_decontamination_index_from_a_local_lm_eval_task(repo, tmp_path):
    from rewild import evaluate

    task = {"lm_eval_task": "demo_mc", "metric": "acc"}
    rec = evaluate.run_ngram_index("demo-mc", task, {"include_path": str(repo / "data/tasks"), "replicas": None, "allow_code_execution": False}, 4,
                                   tmp_path / "i.json")
    assert rec["prompts"] == 40 and len(rec["ngrams"]) > 40
    stored = json.loads((tmp_path / "i.json").read_text())
    assert stored["n"] == 4 and set(stored["ngrams"]) == set(rec["ngrams"])


def test_selection_follows_the_paper():
    assert mix.select_indices(1000, {"first_fraction": 0.25}) == list(range(250))
    assert mix.select_indices(987_000, {"first_fraction": 0.25})[-1] == 246_749  # 246,750 rows: the paper's 250k
    assert mix.select_indices(10, {"first_n": 3}) == [0, 1, 2]
    r1 = mix.select_indices(100, {"random_n": 10, "seed": 1})
    assert r1 == mix.select_indices(100, {"random_n": 10, "seed": 1}) == sorted(r1)
    assert r1 != mix.select_indices(100, {"random_n": 10, "seed": 2})
    with pytest.raises(ValueError, match="only 10 rows"):
        mix.select_indices(10, {"first_n": 11})


def test_heldout_split_is_seeded_and_disjoint():
    train, held = mix.heldout_split(100, 0.02, seed=0)
    assert len(held) == 2 and len(train) == 98 and not set(train) & set(held)
    assert mix.heldout_split(100, 0.02, seed=0) == (train, held)
    assert mix.heldout_split(10, 0.02, seed=0)[1], "at least one held-out row"
    assert mix.heldout_split(10, 0.0, seed=0) == (list(range(10)), [])


def test_mmlu_both_shapes_render_in_jeopardy_format():
    flat = {"question": "2+2?", "subject": "", "choices": ["3", "4", "5", "6"], "answer": 1}
    nested = {"train": flat}
    a, b = mix.to_messages(flat, "mmlu_jeopardy"), mix.to_messages(nested, "mmlu_jeopardy")
    assert a == b
    assert a[0]["role"] == "user" and "### Instruction:\n2+2?" in a[0]["content"]
    assert a[1] == {"role": "assistant", "content": "what is 4"}


def test_length_control_cuts_the_configured_side():
    msgs = [{"role": "user", "content": "u" * 50}, {"role": "assistant", "content": "a" * 50}]
    ref = [{"role": "user", "content": "x"}, {"role": "assistant", "content": "b" * 7}]
    resp = mix.cut_to_reference(msgs, ref, "response")
    assert [len(m["content"]) for m in resp] == [50, 7]
    user = mix.cut_to_reference(msgs, ref, "user")
    assert [len(m["content"]) for m in user] == [1, 50], "user turn cut to the reference's same-index user turn"


def test_user_side_length_control_cuts_each_user_turn_then_dedups_first_messages():
    """The released code: user turn k cut to the reference's user turn k (multi-turn), then rows whose first message
    repeats an earlier one are dropped."""
    msgs = [{"role": "user", "content": "Bonjour, comment ça va ?"}, {"role": "assistant", "content": "Très bien."},
            {"role": "user", "content": "Расскажи мне о Москве подробно"}, {"role": "assistant", "content": "Москва…"}]
    ref = [{"role": "user", "content": "Bonjour"}, {"role": "assistant", "content": "x" * 99},
           {"role": "user", "content": "Расскажи"}, {"role": "assistant", "content": "y"}]
    cut = mix.cut_to_reference(msgs, ref, "user")
    assert [m["content"] for m in cut] == ["Bonjour", "Très bien.", "Расскажи", "Москва…"]
    convs = [cut, [{"role": "user", "content": "Bonjour"}], [{"role": "user", "content": "其他"}], []]
    assert mix.first_message_duplicates(convs) == [False, True, False, False]


def test_blend_halves_are_independent_samples():
    """Each blend component has its own seed in the presets: the two halves are not the same row positions."""
    import yaml

    for path in ("config.yaml", "config/demo.yaml"):
        cfg = yaml.safe_load((Path(__file__).resolve().parent.parent / path).read_text())
        for name, spec in cfg["mixes"].items():
            seeds = [c["select"]["seed"] for c in spec["components"] if "random_n" in c["select"]]
            if len(seeds) > 1:
                assert len(set(seeds)) == len(seeds), f"{path}: {name} halves share a seed"
                a, b = (mix.select_indices(1000, {"random_n": 100, "seed": s}) for s in seeds[:2])
                assert a != b


def test_overlong_mask_drops_over_max_length():
    assert mix.overlong_mask([10, 256, 257, 4000], 256) == [False, False, True, True]


def test_sharegpt_rows_become_messages():
    row = {"conversations": [{"from": "system", "value": "s"}, {"from": "human", "value": "¿Qué?"},
                             {"from": "gpt", "value": "Eso."}]}
    assert [m["role"] for m in mix.to_messages(row, "sharegpt")] == ["system", "user", "assistant"]


def test_mix_run_writes_manifest(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "results" / "filtered").mkdir(parents=True)
    write([gen_row(i, f"q{i}", f"a{i} word") for i in range(50)], tmp_path / "results/filtered/a.parquet")
    write([gen_row(i, f"q{i}", "b" * 3) for i in range(40)], tmp_path / "results/filtered/b.parquet")
    local = tmp_path / "extra.jsonl"
    local.write_text("\n".join(json.dumps({"messages": [{"role": "user", "content": "x"},
                                                        {"role": "assistant", "content": "y z"}]}) for _ in range(5)))
    spec = {"components": [
        {"dgm": "a", "select": {"first_fraction": 0.5}},
        {"dgm": "a", "select": {"first_n": 10}, "length_control": {"reference_dgm": "b", "side": "response"}},
        {"source": "extra", "select": {"first_n": 5}},
    ]}
    sources = {"extra": {"type": "local", "path": str(local), "format": "messages"}}
    man = mix.run("m", spec, sources, 0.1, 0, "train.parquet", "held.parquet", "manifest.json", None, None)
    train = pq.read_table("train.parquet").to_pylist()
    held = pq.read_table("held.parquet").to_pylist()
    assert len(train) + len(held) == 25 + 10 + 5
    assert len(held) == 4 and man["heldout_rows"] == 4
    assert man["train_rows"] == len(train)
    assert sum(c["train_rows"] for c in man["components"].values()) == len(train)
    assert man["components"]["2:source:extra"]["rows"] == 5
    assert len({r["id"] for r in train + held}) == 40, "ids stay unique when one DGM feeds two components"
    lc = [r for r in train + held if r["source"] == "1:dgm:a"]
    assert len(lc) == 10
    # cut to the reference's answer length: 'a1 word' -> 'a1 ' (3 characters of 'bbb')
    assert all(len(r["messages"][1]["content"]) == 3 for r in lc)
    assert man["train_tokens"] > 0 and man["token_counter"] == "whitespace words"


TINY = Path(__file__).resolve().parent.parent / ".cache" / "tiny-random-hf"


@pytest.mark.skipif(not (TINY / "config.json").is_file(), reason="tiny random student not built")
def test_mix_drops_overlong_conversations_with_the_student_tokenizer(tmp_path, monkeypatch):
    """sft.overlong drop (Axolotl's packing): conversations over max_length tokens of the templated conversation
    leave the mix, counted per component in the manifest; truncate (overlong None) keeps them for TRL."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "results" / "filtered").mkdir(parents=True)
    long_answer = "Une réponse très longue, avec beaucoup de mots et de détails. " * 40
    rows = [gen_row(i, f"Question {i} : pourquoi ?", long_answer if i % 3 == 0 else "Court.") for i in range(30)]
    write(rows, tmp_path / "results/filtered/a.parquet")
    spec = {"components": [{"dgm": "a", "select": {"first_fraction": 1.0}}]}
    student = {"hf_id": "tiny", "revision": None, "chat_template": "chatml", "pad_token": None, "eos_token": None}
    overlong = {"max_length": 128, "student": student, "student_id": str(TINY)}
    man = mix.run("m", spec, {}, 0.1, 0, "train.parquet", "held.parquet", "manifest.json", None, overlong)
    assert man["dropped_overlong"] == 10 == man["components"]["0:dgm:a"]["dropped_overlong"]
    assert man["train_rows"] + man["heldout_rows"] == 20 and man["overlong"] == "drop" and man["max_length"] == 128
    kept = pq.read_table("train.parquet").to_pylist() + pq.read_table("held.parquet").to_pylist()
    assert all(r["messages"][1]["content"] == "Court." for r in kept)
    man = mix.run("m", spec, {}, 0.1, 0, "train.parquet", "held.parquet", "manifest.json", None, None)
    assert man["dropped_overlong"] == 0 and man["train_rows"] + man["heldout_rows"] == 30

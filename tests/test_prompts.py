"""Prompts: the demo set and the malformed set go through the WildChat loader; every row is accounted for."""

from __future__ import annotations

import json

import pyarrow.parquet as pq
import pytest

from rewild import prompts

DEMO = "data/demo/wildchat_demo.jsonl"
MALFORMED = "data/demo/wildchat_malformed.jsonl"


def _demo_prompts(repo, **kw):
    return {"source": {"type": "local", "path": str(repo / DEMO)}, "n_conversations": 76, "shard_size": 40, **kw}


def test_demo_set_meets_the_brief(repo):
    lines = (repo / DEMO).read_bytes().splitlines()
    rows = [json.loads(line) for line in lines]
    assert len(rows) >= 60
    langs = {r["language"] for r in rows}
    assert len(langs) >= 4
    n_msgs = [len(r["conversation"]) for r in rows]
    assert any(n == 2 for n in n_msgs) and any(n >= 4 for n in n_msgs)
    assert any(n % 2 for n in n_msgs), "an odd-length conversation"
    assert any(t["role"] == "user" and t["content"] == "" for r in rows for t in r["conversation"])
    assert max(len(t["content"].split()) for r in rows for t in r["conversation"]) > 2000


def test_shards_account_for_every_row(repo, tmp_path):
    p = _demo_prompts(repo)
    total = {"input_rows": 0, "kept": 0, "skipped_odd": 0, "rejected": 0}
    for shard in ["s00000", "s00001"]:
        out = tmp_path / f"{shard}.parquet"
        stats = prompts.run(p, shard, out, tmp_path / f"{shard}.rej.jsonl", tmp_path / f"{shard}.json")
        table = pq.read_table(out)
        assert table.num_rows == stats["kept"]
        assert table.schema.equals(prompts.SOURCE_SCHEMA)
        rejects = (tmp_path / f"{shard}.rej.jsonl").read_text().splitlines()
        assert len(rejects) == stats["skipped_odd"] + stats["rejected"]
        assert stats["input_rows"] == stats["kept"] + stats["skipped_odd"] + stats["rejected"]
        for k in total:
            total[k] += stats[k]
    assert total["input_rows"] == 76
    assert total["skipped_odd"] == 1
    assert total["rejected"] == 1  # the empty user turn


def test_malformed_rows_are_rejected_with_reasons(repo, tmp_path):
    p = {"source": {"type": "local", "path": str(repo / MALFORMED)}, "n_conversations": 10, "shard_size": 10}
    stats = prompts.run(p, "s00000", tmp_path / "s.parquet", tmp_path / "r.jsonl", tmp_path / "s.json")
    assert stats["input_rows"] == 10 and stats["kept"] == 2 and stats["rejected"] == 8
    reasons = {json.loads(line)["reason"].split(":")[0] for line in (tmp_path / "r.jsonl").read_text().splitlines()}
    assert {"invalid_json", "invalid_utf8", "missing_role", "unknown_role", "missing_conversation",
            "content_not_string", "empty_conversation"} <= reasons


def test_same_rows_from_parquet_as_from_jsonl(repo, tmp_path):
    """The parquet reader (the shape HF rows arrive in) gives the same shard as the jsonl reader."""
    import pandas as pd

    rows = [json.loads(line) for line in (repo / DEMO).read_text().splitlines()]
    pq_path = tmp_path / "demo.parquet"
    pd.DataFrame(rows).to_parquet(pq_path)
    a = prompts.split_rows(prompts.read_source({"type": "local", "path": str(repo / DEMO)}, range(40)))
    b = prompts.split_rows(prompts.read_source({"type": "local", "path": str(pq_path)}, range(40)))
    assert a[2] == b[2]
    assert [r["conversation_hash"] for r in a[0]] == [r["conversation_hash"] for r in b[0]]
    assert [r["conversation"][0]["content"] for r in a[0]] == [r["conversation"][0]["content"] for r in b[0]]


def test_source_shorter_than_config_is_an_error(repo, tmp_path):
    p = _demo_prompts(repo, n_conversations=100, shard_size=100)
    with pytest.raises(ValueError, match="fewer rows"):
        prompts.run(p, "s00000", tmp_path / "s.parquet", tmp_path / "r.jsonl", tmp_path / "s.json")


@pytest.mark.parametrize(
    "turns, reason",
    [
        ([{"role": "assistant", "content": "hi"}, {"role": "user", "content": "x"}], "roles_not_alternating"),
        ([{"role": "user", "content": "   "}, {"role": "assistant", "content": "x"}], "empty_content"),
        (["not a dict"], "turn_not_object"),
    ],
)
def test_row_validation(turns, reason):
    with pytest.raises(prompts.RowError, match=reason):
        prompts.normalise_row({"conversation": turns}, 0)


def test_analysis_subsets(repo):
    rows = [json.loads(line) for line in (repo / DEMO).read_text().splitlines()]
    eng = prompts.english_only(rows)
    assert 0 < len(eng) < len(rows) and all(r["language"] == "English" for r in eng)
    uniq = prompts.unique_first_user_message(rows)
    firsts = [next(t["content"] for t in r["conversation"] if t["role"] == "user") for r in uniq]
    assert len(firsts) == len(set(firsts)) < len(rows)  # the demo repeats one first message on purpose

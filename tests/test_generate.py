"""Fast tests of rewild.generate: budgets, truncation (paper and clean), requests, seeds, row assembly, the
resumable run loop with a fake engine, the GPT pseudo-DGM and the merge. No vLLM, no network."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

from rewild import engine as E
from rewild import generate as G
from rewild import io as rio

ROOT = Path(__file__).resolve().parent.parent
_SHIPPED = yaml.safe_load((ROOT / "config.yaml").read_text())
DEMO = ROOT / "data" / "demo" / "wildchat_demo.jsonl"
SMOLLM2 = ROOT / ".cache" / "smollm2-hf"

# --------------------------------------------------------------------------------------------------------------
# Helpers (also used by test_generate_vllm.py)
# --------------------------------------------------------------------------------------------------------------


def demo_rows() -> list[dict]:
    return [json.loads(line) for line in DEMO.read_text().splitlines() if line.strip()]


def to_shard_row(row: dict, row_id: int) -> dict:
    """A demo row in the prompt-shard layout of docs/architecture.md (JSON text for nested free-form fields)."""
    out = dict(row)
    for key in ("openai_moderation", "detoxify_moderation", "header"):
        out[key] = json.dumps(row.get(key)) if row.get(key) is not None else None
    out["conversation"] = [
        {**t, "header": json.dumps(t["header"]) if t.get("header") is not None else None} for t in row["conversation"]
    ]
    out["row_id"] = row_id
    return out


def write_shard(rows: list[dict], path: Path, first_row_id: int = 0) -> Path:
    shard = [to_shard_row(r, first_row_id + i) for i, r in enumerate(rows)]
    pq.write_table(pa.Table.from_pylist(shard), path)
    return path


def validated_sections(generation: dict | None = None, dgm: dict | None = None) -> tuple[dict, dict]:
    """(generation, DGM entry) as validation fills them from the schema: the shipped config.yaml with its
    `generation` section replaced by `generation` (so every other key takes the schema default) and a DGM `dgm`."""
    import copy

    from rewild.config import validate

    cfg = copy.deepcopy(_SHIPPED)
    cfg["generation"] = copy.deepcopy(generation or {})
    cfg["dgms"]["test-dgm"] = {"hf_id": "org/test", **(dgm or {})}
    cfg = validate(cfg)
    return cfg["generation"], cfg["dgms"]["test-dgm"]


def gen(**kw) -> dict:
    return validated_sections(kw)[0]


def dgm_entry(**kw) -> dict:
    return validated_sections(None, kw)[1]


def bos_tokenizer():
    """A word-level tokenizer that adds BOS on encode (like Llama/Mistral/Gemma), with a chat template."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    words = ["user", "assistant", "system", "hello", "world", "how", "are", "you", "the", "a", "of", "cat", "dog", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten"]
    vocab = {"<unk>": 0, "<s>": 1, "</s>": 2}
    for w in words:
        vocab[w] = len(vocab)
    tk = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tk.pre_tokenizer = pre_tokenizers.Whitespace()
    tk.post_processor = processors.TemplateProcessing(
        single="<s> $A", pair="<s> $A <s> $B", special_tokens=[("<s>", 1)]
    )
    tk.decoder = decoders.WordPiece(prefix="##")
    tok = PreTrainedTokenizerFast(tokenizer_object=tk, bos_token="<s>", eos_token="</s>", unk_token="<unk>")
    tok.chat_template = (
        "{{ bos_token }}{% for m in messages %}{{ m['role'] }} {{ m['content'] }} </s> {% endfor %}"
        "{% if add_generation_prompt %}assistant{% endif %}"
    )
    return tok


@pytest.fixture(scope="module")
def btok():
    return bos_tokenizer()


def budgets(**kw) -> G.Budgets:
    base = dict(
        max_model_len=1000,
        max_tokens=10,
        max_input_len=100,
        message_fraction=0.95,
        min_message_tokens=1,
        reserve_tokens=4,
    )
    base.update(kw)
    return G.Budgets(**base)


def conv(*texts: str) -> list[dict]:
    return [{"role": "user" if i % 2 == 0 else "assistant", "content": t} for i, t in enumerate(texts)]


# --------------------------------------------------------------------------------------------------------------
# Budgets
# --------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("L, expected", [(2048, 410), (8192, 1638), (20000, 4000)])
def test_output_budget_matches_paper(L: int, expected: int) -> None:
    assert G.output_budget(L, gen()["output_fraction"]) == expected  # the schema's default is the paper's 0.2


def test_input_budget() -> None:
    frac = gen()["input_fraction"]
    assert G.input_budget(2048, frac) == 1536
    assert G.input_budget(8192, frac) == 6144
    assert G.input_budget(20000, frac) == 15000


def test_message_budget_precedence_is_left_to_right() -> None:
    # int(0.95 * 15000 // 7) = int(14250.0 // 7) = 2035; the other reading int(0.95 * (15000 // 7)) = 2034.
    assert G.message_budget(15000, 7, 0.95, 256) == 2035
    assert G.message_budget(15000, 7, 0.95, 256) == max(256, int(0.95 * 15000 // 7))
    assert G.message_budget(1536, 2, 0.95, 256) == 729  # L = 2,048, one user + one assistant turn
    assert G.message_budget(1536, 8, 0.95, 256) == 256  # the floor of 256 tokens
    assert G.message_budget(100, 3, 0.95, 1) == 31
    b = G.Budgets.from_settings(2048, gen())  # schema defaults = the paper's fractions
    assert (b.max_tokens, b.max_input_len, b.reserve_tokens, b.message_limit(2)) == (410, 1536, 256, 729)


# --------------------------------------------------------------------------------------------------------------
# Truncation
# --------------------------------------------------------------------------------------------------------------


def test_paper_reencode_leaves_bos_text_and_eos_on_cut(btok) -> None:
    out = G.truncate_contents(["hello world", "one two three four five"], [10, 3], btok, "paper")
    # Uncut message: encoded with BOS and decoded -> literal BOS text (the released code's artefact).
    assert out[0] == ("<s> hello world", False)
    # Cut message: BOS + (3 - 2) tokens + EOS.
    assert out[1] == ("<s> one </s>", True)


def test_clean_reencode_keeps_uncut_text_and_cuts_on_token_boundaries(btok) -> None:
    out = G.truncate_contents(["hello   world", "one two three four five"], [10, 3], btok, "clean")
    assert out[0] == ("hello   world", False)  # untouched (no re-encoding of uncut messages)
    assert out[1] == ("one two three", True)  # no BOS, no EOS


def test_truncate_messages_per_message_budget_uses_n_messages(btok) -> None:
    msgs = conv("one two three four five six seven eight", "a b")
    b = budgets(max_input_len=20, min_message_tokens=1)  # limit = int(0.95*20 // 2) = 9
    p = G.truncate_messages(msgs, btok, b, "clean")
    assert p.messages[0]["content"] == msgs[0]["content"] and p.messages_cut == 0
    p = G.truncate_messages(msgs, btok, b, "clean", n_messages=4)  # limit = int(19.0 // 4) = 4
    assert p.messages[0]["content"] == "one two three four" and p.messages_cut == 1
    assert p.token_ids[0] == btok.bos_token_id and p.reject_reason is None


def test_paper_prompt_cut_keeps_budget_minus_reserve_plus_eos(btok) -> None:
    msgs = conv("one two three four five six seven eight nine ten")
    b = budgets(max_input_len=8, reserve_tokens=3, min_message_tokens=100)
    p = G.truncate_messages(msgs, btok, b, "paper")
    assert p.prompt_cut
    assert len(p.token_ids) == 8 - 3 + 1 and p.token_ids[-1] == btok.eos_token_id
    # the generation prompt is gone (the released code's artefact)
    assert btok.convert_tokens_to_ids("assistant") not in p.token_ids
    # paper mode: BOS text inside the user content re-encodes to a second BOS token
    assert p.messages[0]["content"].startswith("<s> ")
    assert p.token_ids[:3] == [btok.bos_token_id, btok.convert_tokens_to_ids("user"), btok.bos_token_id]


def test_clean_prompt_cut_shrinks_messages_and_keeps_generation_prompt(btok) -> None:
    msgs = conv("one two three four five six seven eight nine ten")
    b = budgets(max_input_len=8, reserve_tokens=3, min_message_tokens=100)
    p = G.truncate_messages(msgs, btok, b, "clean")
    assert p.prompt_cut and p.reject_reason is None
    assert len(p.token_ids) <= 8 - 3
    assert p.token_ids[-1] == btok.convert_tokens_to_ids("assistant")
    assert p.messages[0]["content"] == "one"  # <s> user one </s> assistant = 5 tokens


def test_clean_rejects_when_template_alone_is_over_budget(btok) -> None:
    msgs = conv(*(["one"] * 10))  # 10 messages: the template skeleton alone is 1 + 10*3 + 1 tokens
    b = budgets(max_input_len=20, reserve_tokens=5, min_message_tokens=100)
    p = G.truncate_messages(msgs, btok, b, "clean")
    assert p.reject_reason == "template_over_budget"


def test_reject_when_prompt_plus_output_exceeds_context(btok) -> None:
    b = budgets(max_model_len=12, max_tokens=8, max_input_len=100)
    p = G.truncate_messages(conv("one two three four five"), btok, b, "paper")
    assert p.reject_reason == "prompt_plus_output_over_max_model_len"
    b = budgets(max_input_len=4, reserve_tokens=4)
    p = G.truncate_messages(conv("one two three four five"), btok, b, "paper")
    assert p.reject_reason == "input_budget_not_above_reserve"


@pytest.mark.skipif(not (SMOLLM2 / "tokenizer.json").exists(), reason="SmolLM2 folder not built")
def test_smollm2_tokenizer_paper_equals_clean_when_no_bos_and_no_cut() -> None:
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(SMOLLM2)
    texts = ["How do I reverse a list in Python?", "Привет, как дела? 你好"]
    paper = G.truncate_contents(texts, [256, 256], tok, "paper")
    clean = G.truncate_contents(texts, [256, 256], tok, "clean")
    assert [t for t, _ in paper] == texts == [t for t, _ in clean]
    ids = E.render_ids(conv(texts[0]), tok)
    assert tok.decode(ids).endswith("<|im_start|>assistant\n")


# --------------------------------------------------------------------------------------------------------------
# Requests, seeds, validation
# --------------------------------------------------------------------------------------------------------------


def test_build_requests_gpt_history() -> None:
    row = {"conversation": conv("u0", "a0", "u1", "a1", "u2", "a2")}
    reqs = G.build_requests(row, "gpt")
    assert [i for i, _ in reqs] == [0, 1, 2]
    assert [m["content"] for m in reqs[2][1]] == ["u0", "a0", "u1", "a1", "u2"]
    assert reqs[0][1] == [{"role": "user", "content": "u0"}]
    reqs = G.build_requests(row, "gpt", system_prompt="be nice")
    assert reqs[1][1][0] == {"role": "system", "content": "be nice"} and len(reqs[1][1]) == 4


def test_build_requests_own_history() -> None:
    row = {"conversation": conv("u0", "a0", "u1", "a1")}
    assert G.build_requests(row, "own", own_answers=[]) == [(0, [{"role": "user", "content": "u0"}])]
    ((k, msgs),) = G.build_requests(row, "own", own_answers=["mine0"])
    assert k == 1 and [m["content"] for m in msgs] == ["u0", "mine0", "u1"]
    assert G.build_requests(row, "own", own_answers=["x", "y"]) == []


def test_request_seed_is_stable_and_31_bit() -> None:
    s = E.request_seed(0, 12345, 1)
    assert s == E.request_seed(0, 12345, 1) and 0 <= s < 2**31
    seeds = {E.request_seed(seed, rid, t) for seed in (0, 1) for rid in range(50) for t in range(3)}
    assert len(seeds) == 300
    assert E.request_seed(0, 0, 0) == 1505004263  # pinned: changing the derivation changes every output


@pytest.mark.parametrize(
    "conversation, reason",
    [
        (None, "no_conversation"),
        ([], "no_conversation"),
        (conv("u", "a", "u"), "odd_number_of_messages"),
        (
            [{"role": "assistant", "content": "a"}, {"role": "user", "content": "u"}],
            "roles_not_alternating_user_assistant",
        ),
        ([{"role": "user", "content": 42}, {"role": "assistant", "content": "a"}], "bad_turn"),
        (conv("u", "a"), None),
    ],
)
def test_validate_row(conversation, reason) -> None:
    assert G.validate_row({"conversation": conversation}) == reason


# --------------------------------------------------------------------------------------------------------------
# generate_chunk / run with a fake engine
# --------------------------------------------------------------------------------------------------------------


def fake_output(text: str, finish: str | None = "stop", n: int = 3, logprob: float | None = -1.5):
    return SimpleNamespace(
        outputs=[SimpleNamespace(text=text, finish_reason=finish, cumulative_logprob=logprob, token_ids=list(range(n)))]
    )


def echo_generate(requests):
    """Answer with a description of the request: row, turn and the number of messages in the prompt."""
    outs = []
    for r in requests:
        outs.append(
            fake_output(
                f"r{r.row_id} t{r.turn_index} m{len(r.prompt.messages)} last={r.prompt.messages[-1]['content']}"
            )
        )
    return outs


def rows_small() -> list[dict]:
    return [
        {"row_id": 10, "conversation_hash": "h10", "conversation": conv("one two", "gpt a", "three", "gpt b")},
        {"row_id": 11, "conversation_hash": "h11", "conversation": conv("four", "gpt c")},
        {"row_id": 12, "conversation_hash": "h12", "conversation": conv("five", "gpt d", "six")},  # odd
    ]


def test_generate_chunk_gpt_history(btok) -> None:
    b = budgets()
    res = G.generate_chunk(
        None,
        btok,
        rows_small(),
        dgm_key="d",
        dgm_id="org/d",
        budgets=b,
        settings=gen(reencode="clean"),
        generate_fn=echo_generate,
    )
    assert [r["row_id"] for r in res.rows] == [10, 11]
    assert [r["row_id"] for r in res.rejects] == [12] and res.rejects[0]["reason"] == "odd_number_of_messages"
    r0 = res.rows[0]
    assert r0["conversation"][1]["content"] == "r10 t0 m1 last=one two"
    # turn 1 is answered with GPT's turn 0 as history (3 messages)
    assert r0["conversation"][3]["content"] == "r10 t1 m3 last=three"
    assert r0["conversation"][0]["finish_reason"] is None and r0["conversation"][1]["finish_reason"] == "stop"
    assert r0["conversation"][1]["cumulative_logprob"] == -1.5
    assert r0["messages"] == [
        {"role": "user", "content": "one two"},
        {"role": "assistant", "content": "r10 t0 m1 last=one two"},
        {"role": "user", "content": "three"},
        {"role": "assistant", "content": "r10 t1 m3 last=three"},
    ]
    assert (r0["dgm"], r0["dgm_id"], r0["conversation_hash"]) == ("d", "org/d", "h10")
    assert res.stats["n_requests"] == 3 and res.stats["output_tokens"] == 9


def test_generate_chunk_gpt_history_messages_count(btok) -> None:
    # m in the echo counts the prompt messages: turn 0 has 1 message (the user turn only)
    res = G.generate_chunk(
        None,
        btok,
        rows_small()[:1],
        dgm_key="d",
        dgm_id="d",
        budgets=budgets(),
        settings=gen(),
        generate_fn=lambda reqs: [fake_output(str(len(r.prompt.messages))) for r in reqs],
    )
    assert [t["content"] for t in res.rows[0]["conversation"][1::2]] == ["1", "3"]


def test_generate_chunk_own_history_waits_for_own_answers(btok) -> None:
    calls = []

    def fake(reqs):
        calls.append([(r.row_id, r.turn_index) for r in reqs])
        return [fake_output(f"mine{r.row_id}.{r.turn_index}") for r in reqs]

    res = G.generate_chunk(
        None,
        btok,
        rows_small()[:2],
        dgm_key="d",
        dgm_id="d",
        budgets=budgets(),
        settings=gen(history="own", reencode="clean"),
        generate_fn=fake,
    )
    assert calls == [[(10, 0), (11, 0)], [(10, 1)]]  # successive engine calls per turn index
    assert [t["content"] for t in res.rows[0]["conversation"][1::2]] == ["mine10.0", "mine10.1"]


def test_generate_chunk_own_history_prompt_holds_own_answer(btok) -> None:
    seen = {}

    def fake(reqs):
        for r in reqs:
            seen[(r.row_id, r.turn_index)] = [m["content"] for m in r.prompt.messages]
        return [fake_output("two three") for r in reqs]

    G.generate_chunk(
        None,
        btok,
        rows_small()[:1],
        dgm_key="d",
        dgm_id="d",
        budgets=budgets(),
        settings=gen(history="own", reencode="clean"),
        generate_fn=fake,
    )
    assert seen[(10, 1)] == ["one two", "two three", "three"]


def test_no_response_and_abort_map_to_empty_content(btok) -> None:
    def fake(reqs):
        return [SimpleNamespace(outputs=[]), fake_output("partial", finish="abort")][: len(reqs)]

    res = G.generate_chunk(
        None, btok, rows_small()[:1], dgm_key="d", dgm_id="d", budgets=budgets(), settings=gen(), generate_fn=fake
    )
    turns = res.rows[0]["conversation"]
    assert [(t["content"], t["finish_reason"], t["cumulative_logprob"]) for t in turns[1::2]] == [
        ("", "no response", None),
        ("", "no response", None),
    ]


class FakeLLM:
    """Stands in for rewild.engine.Engine in run(): deterministic answers; can crash after n generate calls."""

    def __init__(self, crash_after: int | None = None):
        self.calls = 0
        self.crash_after = crash_after
        self.settings = {"model": "fake"}
        self.on_gpu = False

    def generate(self, prompts, params):
        if self.crash_after is not None and self.calls >= self.crash_after:
            raise KeyboardInterrupt("simulated kill")
        self.calls += 1
        return [fake_output(f"seed{p['seed']} len{len(x['prompt_token_ids'])}") for x, p in zip(prompts, params)]


@pytest.fixture()
def fake_engine(monkeypatch):
    from transformers import AutoTokenizer

    if not (SMOLLM2 / "tokenizer.json").exists():
        pytest.skip("SmolLM2 folder not built")
    tok = AutoTokenizer.from_pretrained(SMOLLM2)
    holder = {"llm": FakeLLM()}
    monkeypatch.setattr(E, "load_tokenizer", lambda dgm, model_path=None: tok)
    monkeypatch.setattr(E, "load_engine", lambda *a, **k: holder["llm"])
    monkeypatch.setattr(G, "sampling_params", lambda settings, budgets, seed: {"seed": seed})
    return holder


def _run(tmp_path: Path, shard: Path, **generation):
    dgm = dgm_entry(hf_id="org/fake", max_model_len=512, gpus=0)
    return G.run(
        shard,
        "fake",
        dgm,
        gen(checkpoint_every=10, **generation),
        out_path=tmp_path / "out" / "s.parquet",
        rejects_path=tmp_path / "out" / "s.rejects.jsonl",
        efficiency_path=tmp_path / "out" / "s.json",
        progress_dir=tmp_path / "progress",
        cache_dir=tmp_path / "cache",
        config_hash="abc",
    )


def test_run_resumes_after_crash_without_duplicates(tmp_path: Path, fake_engine) -> None:
    shard = write_shard(demo_rows()[:35], tmp_path / "s00000.parquet")
    fake_engine["llm"] = FakeLLM(crash_after=2)
    with pytest.raises(KeyboardInterrupt):
        _run(tmp_path, shard)
    assert len(list((tmp_path / "progress").glob("chunk-*.json"))) == 2
    assert not (tmp_path / "out" / "s.parquet").exists()
    fake_engine["llm"] = FakeLLM()
    eff = _run(tmp_path, shard)
    assert fake_engine["llm"].calls == 2  # only the 15 remaining conversations (chunks of 10)
    resumed = pq.read_table(tmp_path / "out" / "s.parquet").to_pylist()
    rejects = rio.read_jsonl(tmp_path / "out" / "s.rejects.jsonl")
    assert not (tmp_path / "progress").exists()
    assert eff["provenance"]["resumes"] == 1 and len(eff["engine_starts"]) == 2

    # an uninterrupted run gives the same rows in the same order
    fake_engine["llm"] = FakeLLM()
    other = tmp_path / "other"
    eff2 = _run(other, shard)
    fresh = pq.read_table(other / "out" / "s.parquet").to_pylist()
    assert [r["row_id"] for r in resumed] == [r["row_id"] for r in fresh] == sorted(r["row_id"] for r in fresh)
    assert [r["messages"] for r in resumed] == [r["messages"] for r in fresh]
    assert len(resumed) + len(rejects) == 35 and eff2["provenance"]["resumes"] == 0
    assert eff["n_requests"] == eff2["n_requests"] and eff["input_tokens"] == eff2["input_tokens"]


def test_run_output_schema_counts_and_efficiency(tmp_path: Path, fake_engine, caplog) -> None:
    caplog.set_level("INFO", logger="rewild.generate")
    rows = demo_rows()
    shard = write_shard(rows, tmp_path / "s00000.parquet", first_row_id=1000)
    eff = _run(tmp_path, shard)
    table = pq.read_table(tmp_path / "out" / "s.parquet")
    rejects = rio.read_jsonl(tmp_path / "out" / "s.rejects.jsonl")
    assert table.num_rows + len(rejects) == len(rows) == 76
    assert [r["reason"] for r in rejects] == ["odd_number_of_messages"]
    turn_type = table.schema.field("conversation").type.value_type
    assert turn_type.field("finish_reason").type == pa.string()
    assert turn_type.field("cumulative_logprob").type == pa.float64()
    assert table.schema.field("messages").type == G.MESSAGES_TYPE
    for name in ("row_id", "conversation_hash", "model", "openai_moderation", "dgm", "dgm_id"):
        assert name in table.column_names
    first = table.slice(0, 1).to_pylist()[0]
    assert first["model"] == rows[0]["model"]  # the OpenAI name is kept, as in the paper's rows
    assert first["dgm"] == "fake" and first["dgm_id"] == "org/fake"
    for key in (
        "input_tokens",
        "output_tokens",
        "wall_seconds",
        "engine_start_seconds",
        "tok_per_s",
        "input_tok_per_s",
        "output_tok_per_s",
        "seconds_per_1000_conversations",
        "n_conversations",
        "n_requests",
        "gpus",
        "peak_memory_mb",
        "engine",
        "params_b",
        "max_model_len",
        "provenance",
    ):
        assert key in eff
    assert eff["n_conversations"] == 75 and eff["n_requests"] == 106 and eff["gpus"] == 0
    assert eff["provenance"]["config_hash"] == "abc" and eff["provenance"]["resumes"] == 0
    assert eff["messages_cut"] >= 1  # the ~3,000-token essay is cut to 256 tokens
    assert "chunk 8/8" in caplog.text  # progress is logged (the rule's log file is set up by rewild.job)


def test_run_discards_progress_from_other_settings(tmp_path: Path, fake_engine) -> None:
    shard = write_shard(demo_rows()[:20], tmp_path / "s00000.parquet")
    fake_engine["llm"] = FakeLLM(crash_after=1)
    with pytest.raises(KeyboardInterrupt):
        _run(tmp_path, shard)
    fake_engine["llm"] = FakeLLM()
    eff = _run(tmp_path, shard, temperature=0.5)  # other settings: start over
    assert fake_engine["llm"].calls == 2 and eff["provenance"]["resumes"] == 0


# --------------------------------------------------------------------------------------------------------------
# GPT pseudo-DGM and merge
# --------------------------------------------------------------------------------------------------------------


def test_source_responses_copies_gpt_turns(tmp_path: Path) -> None:
    rows = demo_rows()[:70]
    shard = write_shard(rows, tmp_path / "s00000.parquet")
    eff = G.source_responses_run(
        shard,
        "gpt",
        dgm_entry(hf_id="openai/gpt", kind="source", gpus=0),
        tmp_path / "g.parquet",
        tmp_path / "g.rejects.jsonl",
        tmp_path / "g.json",
        config_hash="h",
        batch_size=16,
    )
    out = pq.read_table(tmp_path / "g.parquet").to_pylist()
    rejects = rio.read_jsonl(tmp_path / "g.rejects.jsonl")
    assert len(out) + len(rejects) == 70 and [r["row_id"] for r in rejects] == [63]
    src = {i: r for i, r in enumerate(rows)}
    for r in out:
        orig = src[r["row_id"]]["conversation"]
        assert [t["content"] for t in r["conversation"]] == [t["content"] for t in orig]
        assert [m["content"] for m in r["messages"]] == [t["content"] for t in orig]
        assert [t["finish_reason"] for t in r["conversation"]] == [None, "stop"] * (len(orig) // 2)
        assert all(t["cumulative_logprob"] is None for t in r["conversation"])
        assert r["dgm"] == "gpt"
    assert eff["n_conversations"] == 69 and eff["kind"] == "source"


def test_merge_concatenates_in_order_and_unifies_types(tmp_path: Path) -> None:
    a = pa.table({"row_id": pa.array([0, 1], pa.int64()), "state": pa.array([None, None], pa.null())})
    b = pa.table({"row_id": pa.array([2], pa.int64()), "state": pa.array(["CA"], pa.string())})
    c = pa.table({"row_id": pa.array([], pa.int64()), "state": pa.array([], pa.string())})
    paths = []
    for name, t in (("s0", a), ("s1", b), ("s2", c)):
        pq.write_table(t, tmp_path / f"{name}.parquet")
        paths.append(tmp_path / f"{name}.parquet")
    n = G.merge_run(paths, tmp_path / "all.parquet", batch_size=1)
    out = pq.read_table(tmp_path / "all.parquet")
    assert n == 3 and out.column("row_id").to_pylist() == [0, 1, 2]
    assert out.column("state").to_pylist() == [None, None, "CA"] and out.schema.field("state").type == pa.string()


def test_merge_of_generated_shards(tmp_path: Path) -> None:
    rows = demo_rows()[:6]
    outs = []
    for k, part in enumerate((rows[:3], rows[3:])):
        shard = write_shard(part, tmp_path / f"s{k}.parquet", first_row_id=3 * k)
        G.source_responses_run(
            shard,
            "gpt",
            dgm_entry(hf_id="gpt", kind="source", gpus=0),
            tmp_path / f"g{k}.parquet",
            tmp_path / f"g{k}.rej.jsonl",
            tmp_path / f"g{k}.json",
            config_hash=None,
        )
        outs.append(tmp_path / f"g{k}.parquet")
    G.merge_run(outs, tmp_path / "gpt.parquet")
    merged = pq.read_table(tmp_path / "gpt.parquet")
    assert merged.column("row_id").to_pylist() == list(range(6))
    assert merged.schema.equals(pq.read_schema(outs[0]))


# --------------------------------------------------------------------------------------------------------------
# Thin Snakemake scripts (rewild.job style: main(job) called with a Job built by hand)
# --------------------------------------------------------------------------------------------------------------


def _script(name: str):
    import runpy

    return runpy.run_path(str(ROOT / "scripts" / name))["main"]


def _job(**kw):
    """A Job as rewild.job unpacks it from a stand-in for the Snakemake object."""
    from rewild.job import from_snakemake

    smk = dict(rule="r", input=SimpleNamespace(), output=SimpleNamespace(), wildcards=SimpleNamespace(), threads=1)
    smk.update(config={}, log=[], params=SimpleNamespace())
    return from_snakemake(SimpleNamespace(**{**smk, **kw}))


def test_scripts_source_responses_and_merge(tmp_path: Path) -> None:
    shard = write_shard(demo_rows()[:5], tmp_path / "s00000.parquet")
    out = SimpleNamespace(
        generations=str(tmp_path / "g" / "s00000.parquet"),
        rejects=str(tmp_path / "g" / "s00000.rejects.jsonl"),
        efficiency=str(tmp_path / "e" / "s00000.json"),
    )
    params = SimpleNamespace(dgm_key="gpt", dgm=dgm_entry(hf_id="gpt", kind="source", gpus=0))
    _script("source_responses.py")(_job(input=SimpleNamespace(shard=str(shard)), output=out, params=params))
    assert pq.read_table(out.generations).num_rows == 5 and Path(out.efficiency).exists()
    merged = tmp_path / "gpt.parquet"
    job = _job(
        input=SimpleNamespace(shards=[out.generations, out.generations]),
        output=SimpleNamespace(generations=str(merged)),
    )
    _script("merge_generations.py")(job)
    assert pq.read_table(merged).num_rows == 10


def test_script_generate_passes_everything_to_run(monkeypatch) -> None:
    seen = {}
    monkeypatch.setattr(G, "run", lambda **kw: seen.update(kw))
    job = _job(
        input=SimpleNamespace(shard="p/s00001.parquet", model="results/models/dgm/x"),
        output=SimpleNamespace(generations="g.parquet", rejects="r.jsonl", efficiency="e.json"),
        params=SimpleNamespace(
            dgm_key="x", dgm={"hf_id": "x"}, generation={"seed": 1}, progress_dir="pd", cache_dir="cd", config_hash="h"
        ),
        config={"generation": {"checkpoint_every": 7}},  # resume granularity comes from config, not params
    )
    _script("generate.py")(job)
    assert seen == {
        "shard_path": "p/s00001.parquet",
        "dgm_key": "x",
        "dgm": {"hf_id": "x"},
        "generation": {"seed": 1, "checkpoint_every": 7},
        "out_path": "g.parquet",
        "rejects_path": "r.jsonl",
        "efficiency_path": "e.json",
        "progress_dir": "pd",
        "cache_dir": "cd",
        "config_hash": "h",
        "model_path": "results/models/dgm/x",
    }


def test_script_generate_without_model_input(monkeypatch) -> None:
    seen = {}
    monkeypatch.setattr(G, "run", lambda **kw: seen.update(kw))
    job = _job(
        input=SimpleNamespace(shard="s.parquet", model=[]),
        output=SimpleNamespace(generations="g", rejects="r", efficiency="e"),
        params=SimpleNamespace(dgm_key="x", dgm={"hf_id": "x"}, generation={}, progress_dir="p", cache_dir="c"),
        config={"generation": {"checkpoint_every": 500}},
    )
    _script("generate.py")(job)
    assert seen["model_path"] is None and seen["config_hash"] is None


def test_run_without_cuda_fails_fast_for_a_gpu_dgm(tmp_path: Path, monkeypatch) -> None:
    """A DGM with gpus > 0 where CUDA is unusable stops before loading anything (no silent CPU run)."""
    monkeypatch.setattr(E, "cuda_device_count", lambda: 0)
    loaded = []
    monkeypatch.setattr(E, "load_tokenizer", lambda *a, **k: loaded.append("tokenizer"))
    shard = write_shard(demo_rows()[:3], tmp_path / "s00000.parquet")
    with pytest.raises(E.DeviceError, match=r"asks for 4 GPU\(s\) but 0 usable CUDA device"):
        G.run(
            shard,
            "big",
            dgm_entry(gpus=4, max_model_len=8192),
            gen(),
            tmp_path / "o.parquet",
            tmp_path / "r.jsonl",
            tmp_path / "e.json",
            tmp_path / "progress",
            tmp_path / "cache",
            config_hash=None,
        )
    assert loaded == [] and not (tmp_path / "progress").exists()

"""Generation stage: answer every user turn of the WildChat prompt shards with one DGM (vLLM offline `LLM`).

Paper behaviour (spec §2, released `generate_model_responses.py`), reproduced by default:
- budgets from the context length L: `max_tokens = round(0.2·L)`, `max_input_len = round(0.75·L)`, every message
  cut to `max(256, int(0.95·max_input_len // n_messages))` tokens where n_messages counts all messages of the
  conversation; a templated prompt still longer than `max_input_len` is cut to `max_input_len − 256` tokens.
  Python precedence: `*` and `//` bind equally and left to right, so the per-message budget is
  `int((0.95·max_input_len) // n_messages)`: floor of the product divided by n (not 0.95 times a floored
  quotient). `message_budget` keeps that order.
- every user turn i is answered given `conversation[:i+1]` with GPT's assistant turns as history, no system
  prompt, the DGM's own chat template with `add_generation_prompt=True`; all turns of a conversation in one
  `generate` call.
- `reencode="paper"` reproduces the released code's side-effects: every message is encoded (with the tokenizer's
  special tokens, e.g. BOS) and decoded even when not cut, so BOS-adding tokenizers leave literal BOS text in the
  prompts; a cut message keeps `budget − 1` tokens plus EOS (EOS text in the message); a cut whole prompt keeps
  `max_input_len − reserve` tokens plus EOS (the generation prompt is lost). `reencode="clean"` leaves uncut
  messages untouched, cuts on token boundaries with no special tokens, and cuts an over-long prompt by
  shortening its longest messages, so the chat template (and the generation prompt) stays intact.

Output rows (docs/architecture.md): the source row with every assistant turn's `content` replaced and
`finish_reason` / `cumulative_logprob` added per turn; `conversation` keeps the source's user turns, while
`messages` holds the user turns as given to the DGM (after per-message truncation, so paper mode's BOS/EOS text
shows there, where SFT reads it) and the generated assistant turns. A configured system prompt is sent to the
DGM but is not counted in n_messages, never cut, and not stored in `messages`.

Deviations (documented in the report): one seed per request derived from (run seed, row_id, turn) instead of
`SamplingParams(seed=0)` for all requests, so outputs do not depend on batch composition or resumption; requests
logprobs=0 so vLLM V1 fills `cumulative_logprob` (V0 filled it unasked); resume by `row_id` (WildChat's
`conversation_hash` is not unique); generation in chunks of `checkpoint_every` conversations.
"""

from __future__ import annotations

import logging
import os
import shutil
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from rewild import chat_template as templates
from rewild import engine as E
from rewild import io as rio

log = logging.getLogger("rewild.generate")

FINISH_STOP, FINISH_LENGTH, FINISH_NONE = E.FINISH_STOP, E.FINISH_LENGTH, E.FINISH_NONE

# ---------------------------------------------------------------------------------------------------------------
# Budgets
# ---------------------------------------------------------------------------------------------------------------


def output_budget(max_model_len: int, frac: float) -> int:
    """`max_tokens` of every request: round(frac·L) (Python round: 410 at 2,048; 1,638 at 8,192; 4,000 at 20,000)."""
    return int(round(frac * max_model_len))


def input_budget(max_model_len: int, frac: float) -> int:
    """`max_input_len`: round(frac·L)."""
    return int(round(frac * max_model_len))


def message_budget(input_budget: int, n_messages: int, frac: float, minimum: int) -> int:
    """Per-message token limit, as the released code: `max(256, int(0.95 * max_input_len // n_messages))`
    (the paper's frac 0.95 and minimum 256 are the schema's defaults).

    `*` and `//` have equal precedence and associate left, so this is int((frac·input_budget) // n_messages).
    n_messages is the number of messages of the whole conversation (user and assistant), not of the prefix.
    """
    return max(minimum, int(frac * input_budget // max(1, n_messages)))


@dataclass(frozen=True)
class Budgets:
    max_model_len: int
    max_tokens: int
    max_input_len: int
    message_fraction: float
    min_message_tokens: int
    reserve_tokens: int

    @classmethod
    def from_settings(cls, max_model_len: int, g: dict) -> Budgets:
        """From the validated `generation` section."""
        return cls(
            max_model_len=int(max_model_len),
            max_tokens=output_budget(max_model_len, g["output_fraction"]),
            max_input_len=input_budget(max_model_len, g["input_fraction"]),
            message_fraction=float(g["message_fraction"]),
            min_message_tokens=int(g["min_message_tokens"]),
            reserve_tokens=int(g["reserve_tokens"]),
        )

    def message_limit(self, n_messages: int) -> int:
        return message_budget(self.max_input_len, n_messages, self.message_fraction, self.min_message_tokens)

    @property
    def prompt_cut_length(self) -> int:
        return self.max_input_len - self.reserve_tokens


# ---------------------------------------------------------------------------------------------------------------
# Truncation and templating
# ---------------------------------------------------------------------------------------------------------------


def _clean_decode(tokenizer: Any, ids: Sequence[int]) -> str:
    # A cut on a token boundary can split a multi-byte character: drop the replacement character it leaves.
    return tokenizer.decode(list(ids), skip_special_tokens=False).rstrip("\ufffd")


def truncate_contents(
    texts: Sequence[str], limits: Sequence[int], tokenizer: Any, reencode: str
) -> list[tuple[str, bool]]:
    """Cut each text to its token limit (batched encode/decode). Returns (text as given to the DGM, was_cut).

    paper: encode with special tokens, cut to `limit − 1` tokens + EOS, decode everything (even uncut texts).
    clean: encode without special tokens; uncut texts are returned unchanged, cut ones keep `limit` tokens.
    """
    if len(texts) != len(limits):
        raise ValueError("texts and limits differ in length")
    if reencode == "paper":
        eos = [tokenizer.eos_token_id] if tokenizer.eos_token_id is not None else []
        encoded = E.encode_batch(tokenizer, texts, add_special_tokens=True)
        cut_flags = [len(ids) > lim for ids, lim in zip(encoded, limits)]
        encoded = [ids[: lim - 1] + eos if cut else ids for ids, lim, cut in zip(encoded, limits, cut_flags)]
        decoded = tokenizer.batch_decode(encoded) if encoded else []
        return list(zip(decoded, cut_flags))
    if reencode == "clean":
        encoded = E.encode_batch(tokenizer, texts, add_special_tokens=False)
        out: list[tuple[str, bool]] = []
        for text, ids, lim in zip(texts, encoded, limits):
            if len(ids) <= lim:
                out.append((text, False))
            else:
                out.append((_clean_decode(tokenizer, ids[: max(0, lim)]), True))
        return out
    raise ValueError(f"reencode must be 'paper' or 'clean', not {reencode!r}")


@dataclass
class PreparedPrompt:
    messages: list[dict]  # chat messages as given to the DGM (after per-message truncation)
    token_ids: list[int]  # the prompt sent to the engine
    messages_cut: int = 0
    prompt_cut: bool = False
    reject_reason: str | None = None
    detail: str | None = None


def fit_prompt(
    messages: list[dict],
    tokenizer: Any,
    budgets: Budgets,
    reencode: str,
    chat_template: str | None = None,
    ids: list[int] | None = None,
) -> PreparedPrompt:
    """Template already-truncated messages and enforce the whole-prompt budget (second step of the paper's cut).
    `ids`: the templated prompt's tokens when already computed (batched by `next_requests`)."""
    if ids is None:
        ids = E.render_ids(messages, tokenizer, chat_template)
    prompt = PreparedPrompt(messages=messages, token_ids=ids)
    if len(ids) > budgets.max_input_len:
        target = budgets.prompt_cut_length
        if target <= 0:
            prompt.reject_reason = "input_budget_not_above_reserve"
            prompt.detail = f"max_input_len {budgets.max_input_len} <= reserve {budgets.reserve_tokens}"
            return prompt
        prompt.prompt_cut = True
        if reencode == "paper":
            eos = [tokenizer.eos_token_id] if tokenizer.eos_token_id is not None else []
            prompt.token_ids = ids[:target] + eos
        else:
            prompt = _shrink_to_fit(messages, tokenizer, target, chat_template)
            if prompt.reject_reason:
                return prompt
    if len(prompt.token_ids) + budgets.max_tokens > budgets.max_model_len:
        prompt.reject_reason = "prompt_plus_output_over_max_model_len"
        prompt.detail = f"{len(prompt.token_ids)} + {budgets.max_tokens} > {budgets.max_model_len}"
    return prompt


def _shrink_to_fit(messages: list[dict], tokenizer: Any, target: int, chat_template: str | None) -> PreparedPrompt:
    """clean mode: shorten the longest message contents until the templated prompt has <= target tokens."""
    msgs = [dict(m) for m in messages]
    lengths = [len(x) for x in E.encode_batch(tokenizer, [m["content"] for m in msgs], add_special_tokens=False)]
    ids = E.render_ids(msgs, tokenizer, chat_template)
    for _ in range(4 * len(msgs) + 8):
        over = len(ids) - target
        if over <= 0:
            return PreparedPrompt(messages=msgs, token_ids=ids, prompt_cut=True)
        j = max(range(len(msgs)), key=lambda k: lengths[k])
        if lengths[j] == 0:
            break
        keep = max(0, lengths[j] - over)
        content_ids = tokenizer.encode(msgs[j]["content"], add_special_tokens=False)
        msgs[j]["content"] = _clean_decode(tokenizer, content_ids[:keep])
        lengths[j] = keep
        ids = E.render_ids(msgs, tokenizer, chat_template)
    return PreparedPrompt(
        messages=msgs,
        token_ids=ids,
        prompt_cut=True,
        reject_reason="template_over_budget",
        detail=f"{len(ids)} tokens with every message emptied > {target}",
    )


def truncate_messages(
    messages: list[dict],
    tokenizer: Any,
    budgets: Budgets,
    reencode: str,
    *,
    chat_template: str | None = None,
    n_messages: int | None = None,
) -> PreparedPrompt:
    """Per-message truncation to the message budget, then the whole-prompt cut (see module docstring).

    `n_messages` is the message count the per-message budget divides by (the paper: the whole conversation's
    count; default: the non-system messages given). A system message is never cut.
    """
    cuttable = [k for k, m in enumerate(messages) if m["role"] != "system"]
    n = n_messages if n_messages is not None else len(cuttable)
    limit = budgets.message_limit(n)
    cut = truncate_contents([messages[k]["content"] for k in cuttable], [limit] * len(cuttable), tokenizer, reencode)
    out = [dict(role=m["role"], content=m["content"]) for m in messages]
    for k, (text, _) in zip(cuttable, cut):
        out[k]["content"] = text
    prompt = fit_prompt(out, tokenizer, budgets, reencode, chat_template)
    prompt.messages_cut = sum(1 for _, c in cut if c)
    return prompt


# ---------------------------------------------------------------------------------------------------------------
# Conversations → requests
# ---------------------------------------------------------------------------------------------------------------


def validate_row(row: dict) -> str | None:
    """Structural checks before any engine work; returns a reject reason or None."""
    conv = row.get("conversation")
    if not isinstance(conv, (list, tuple)) or not conv:
        return "no_conversation"
    if len(conv) % 2:
        return "odd_number_of_messages"
    for j, turn in enumerate(conv):
        if not isinstance(turn, dict) or not isinstance(turn.get("content"), str):
            return "bad_turn"
        if turn.get("role") != ("user" if j % 2 == 0 else "assistant"):
            return "roles_not_alternating_user_assistant"
    return None


def build_requests(
    row: dict,
    history: str,
    system_prompt: str | None = None,
    own_answers: Sequence[str] | None = None,
) -> list[tuple[int, list[dict]]]:
    """Chat requests `(turn_index, messages)` for a conversation (user turns at even positions).

    history="gpt" (paper): one request per user turn i, messages `conversation[:i+1]` with GPT's assistant turns.
    history="own" (multi-turn rollout): only the next turn, k = len(own_answers), whose history holds the DGM's
    own answers to turns 0..k-1; call again once turn k is answered (returns [] when the conversation is done).
    """
    conv = row["conversation"]
    user_positions = list(range(0, len(conv), 2))
    head = [{"role": "system", "content": system_prompt}] if system_prompt else []

    def msg(turn: dict) -> dict:
        return {"role": turn["role"], "content": turn["content"]}

    if history == "gpt":
        return [(i, head + [msg(t) for t in conv[: j + 1]]) for i, j in enumerate(user_positions)]
    if history == "own":
        answers = list(own_answers or [])
        k = len(answers)
        if k >= len(user_positions):
            return []
        messages = list(head)
        for i in range(k):
            messages.append(msg(conv[user_positions[i]]))
            messages.append({"role": "assistant", "content": answers[i]})
        messages.append(msg(conv[user_positions[k]]))
        return [(k, messages)]
    raise ValueError(f"history must be 'gpt' or 'own', not {history!r}")


@dataclass
class Request:
    row_index: int  # position in the chunk
    row_id: int
    turn_index: int
    prompt: PreparedPrompt
    seed: int


@dataclass
class ConversationState:
    row: dict
    row_id: int
    contents: list[str]  # per-message truncated contents, as given to the DGM
    messages_cut: int = 0
    reject: dict | None = None
    answers: dict[int, tuple[str, str, float | None]] = field(default_factory=dict)
    prompts_cut: int = 0


def _reject(row: dict, reason: str, detail: str | None = None, turn_index: int | None = None) -> dict:
    return {
        "row_id": row.get("row_id"),
        "conversation_hash": row.get("conversation_hash"),
        "reason": reason,
        "turn_index": turn_index,
        "detail": detail,
    }


def prepare_conversations(
    rows: Sequence[dict], tokenizer: Any, budgets: Budgets, reencode: str
) -> list[ConversationState]:
    """Validate rows and cut every message of every valid conversation (one batched encode/decode)."""
    states: list[ConversationState] = []
    texts: list[str] = []
    limits: list[int] = []
    for row in rows:
        state = ConversationState(row=row, row_id=row.get("row_id"), contents=[])
        reason = validate_row(row)
        if reason:
            state.reject = _reject(row, reason)
        else:
            conv = row["conversation"]
            limit = budgets.message_limit(len(conv))
            texts.extend(t["content"] for t in conv)
            limits.extend([limit] * len(conv))
        states.append(state)
    cut = truncate_contents(texts, limits, tokenizer, reencode)
    pos = 0
    for state in states:
        if state.reject:
            continue
        n = len(state.row["conversation"])
        state.contents = [text for text, _ in cut[pos : pos + n]]
        state.messages_cut = sum(1 for _, c in cut[pos : pos + n] if c)
        pos += n
    return states


def _truncated_row(state: ConversationState) -> dict:
    conv = [dict(role=t["role"], content=c) for t, c in zip(state.row["conversation"], state.contents)]
    return {"conversation": conv}


def next_requests(
    states: Sequence[ConversationState],
    tokenizer: Any,
    budgets: Budgets,
    settings: dict,
    chat_template: str | None,
    turn: int | None = None,
) -> list[Request]:
    """Requests to send now: all turns (history gpt) or the turn `turn` of each conversation (history own).

    A request that cannot fit rejects its whole conversation (its state gets `reject`)."""
    history = settings["history"]
    reencode = settings["reencode"]
    pending: list[tuple[int, ConversationState, list[tuple[int, list[dict]]]]] = []
    for idx, state in enumerate(states):
        if state.reject:
            continue
        base = _truncated_row(state)
        if history == "gpt":
            pairs = build_requests(base, "gpt", settings["system_prompt"])
        else:
            turn = turn or 0
            if turn >= len(base["conversation"]) // 2:
                continue  # this conversation has no user turn `turn`
            answers = [state.answers[i][0] for i in range(turn)]
            if answers:  # the DGM's own answers are history: cut them like any message
                limit = budgets.message_limit(len(base["conversation"]))
                answers = [t for t, _ in truncate_contents(answers, [limit] * len(answers), tokenizer, reencode)]
            pairs = build_requests(base, "own", settings["system_prompt"], answers)
        pending.append((idx, state, pairs))
    # One batched encode of every templated prompt (the tokenizer parallelises batches).
    texts = [E.render_text(m, tokenizer, chat_template) for _, _, pairs in pending for _, m in pairs]
    all_ids = iter(E.encode_batch(tokenizer, texts, add_special_tokens=False))
    requests: list[Request] = []
    for idx, state, pairs in pending:
        prompts = [(turn_index, messages, next(all_ids)) for turn_index, messages in pairs]
        built: list[Request] = []
        for turn_index, messages, ids in prompts:
            prompt = fit_prompt(messages, tokenizer, budgets, reencode, chat_template, ids=ids)
            if prompt.reject_reason:
                state.reject = _reject(state.row, prompt.reject_reason, prompt.detail, turn_index)
                state.answers.clear()
                built = []
                break
            seed = E.request_seed(settings["seed"], state.row_id, turn_index)
            built.append(Request(idx, state.row_id, turn_index, prompt, seed))
        state.prompts_cut += sum(1 for r in built if r.prompt.prompt_cut)
        requests.extend(built)
    return requests


# ---------------------------------------------------------------------------------------------------------------
# Output rows
# ---------------------------------------------------------------------------------------------------------------

MESSAGES_TYPE = pa.list_(pa.struct([pa.field("role", pa.string()), pa.field("content", pa.string())]))


def output_schema(source_schema: pa.Schema) -> pa.Schema:
    """Source schema + per-turn finish_reason/cumulative_logprob + dgm, dgm_id, messages."""
    conv_type = source_schema.field("conversation").type
    turn_type = conv_type.value_type
    turn_fields = [turn_type.field(i) for i in range(turn_type.num_fields)]
    names = {f.name for f in turn_fields}
    if "finish_reason" not in names:
        turn_fields.append(pa.field("finish_reason", pa.string()))
    if "cumulative_logprob" not in names:
        turn_fields.append(pa.field("cumulative_logprob", pa.float64()))
    fields = []
    for f in source_schema:
        if f.name == "conversation":
            fields.append(pa.field("conversation", pa.list_(pa.struct(turn_fields))))
        elif f.name not in ("dgm", "dgm_id", "messages"):
            fields.append(f)
    fields += [pa.field("dgm", pa.string()), pa.field("dgm_id", pa.string()), pa.field("messages", MESSAGES_TYPE)]
    return pa.schema(fields)


def assemble_row(
    row: dict,
    dgm_key: str,
    dgm_id: str,
    user_contents: Sequence[str],
    answers: dict[int, tuple[str, str, float | None]],
) -> dict:
    """A generated row: assistant turn k gets answers[k] = (content, finish_reason, cumulative_logprob);
    a missing answer is ("", "no response", None). `user_contents` are the user turns as given to the DGM."""
    conv_out = []
    messages = []
    for j, turn in enumerate(row["conversation"]):
        t = dict(turn)
        if j % 2 == 0:
            t["finish_reason"] = None
            t["cumulative_logprob"] = None
            messages.append({"role": "user", "content": user_contents[j // 2]})
        else:
            content, finish, logprob = answers.get(j // 2, ("", FINISH_NONE, None))
            t["content"] = content
            t["finish_reason"] = finish
            t["cumulative_logprob"] = logprob
            messages.append({"role": "assistant", "content": content})
        conv_out.append(t)
    out = dict(row)
    out["conversation"] = conv_out
    out["dgm"] = dgm_key
    out["dgm_id"] = dgm_id
    out["messages"] = messages
    return out


# ---------------------------------------------------------------------------------------------------------------
# Engine requests (the engine itself: rewild.engine)
# ---------------------------------------------------------------------------------------------------------------


def load_chat_template(dgm: dict) -> str | None:
    """The DGM's template override as rendered for inference (rewild.chat_template); None: the tokenizer's."""
    return templates.for_inference(dgm["chat_template"])


def sampling_params(settings: dict, budgets: Budgets, seed: int) -> Any:
    from vllm import SamplingParams

    return SamplingParams(
        max_tokens=budgets.max_tokens,
        temperature=float(settings["temperature"]),
        top_p=float(settings["top_p"]),
        top_k=int(settings["top_k"]),
        seed=int(seed),
        logprobs=0,  # vLLM V1 reports cumulative_logprob only when logprobs are requested
    )


@dataclass
class ChunkResult:
    rows: list[dict]
    rejects: list[dict]
    stats: dict[str, Any]


def generate_chunk(
    llm: Any,
    tokenizer: Any,
    rows: Sequence[dict],
    *,
    dgm_key: str,
    dgm_id: str,
    budgets: Budgets,
    settings: dict,
    chat_template: str | None = None,
    generate_fn: Callable[[list[Request]], list[Any]] | None = None,
) -> ChunkResult:
    """Answer every user turn of `rows` (one `generate` call per chunk; history own: one per turn index).
    `llm`: a rewild.engine.Engine; `settings`: the validated `generation` section."""
    t0 = time.perf_counter()
    states = prepare_conversations(rows, tokenizer, budgets, settings["reencode"])

    def default_generate(requests: list[Request]) -> list[Any]:
        prompts = [{"prompt_token_ids": r.prompt.token_ids} for r in requests]  # vllm.inputs.TokensPrompt
        params = [sampling_params(settings, budgets, r.seed) for r in requests]
        return llm.generate(prompts, params)

    gen = generate_fn or default_generate
    stats = {"n_requests": 0, "input_tokens": 0, "output_tokens": 0, "generate_seconds": 0.0, "finish": {}}

    def run_requests(requests: list[Request]) -> None:
        if not requests:
            return
        tg = time.perf_counter()
        outputs = gen(requests)
        stats["generate_seconds"] += time.perf_counter() - tg
        if len(outputs) != len(requests):
            raise RuntimeError(f"engine returned {len(outputs)} outputs for {len(requests)} requests")
        for req, out in zip(requests, outputs):
            content, finish, logprob, n_out = E.answer_from_output(out)
            states[req.row_index].answers[req.turn_index] = (content, finish, logprob)
            stats["n_requests"] += 1
            stats["input_tokens"] += len(req.prompt.token_ids)
            stats["output_tokens"] += n_out
            stats["finish"][finish] = stats["finish"].get(finish, 0) + 1

    if settings["history"] == "gpt":
        run_requests(next_requests(states, tokenizer, budgets, settings, chat_template))
    else:
        max_turns = max((len(s.row["conversation"]) // 2 for s in states if not s.reject), default=0)
        for turn in range(max_turns):  # turn k + 1 waits for the DGM's own answer to turn k
            run_requests(next_requests(states, tokenizer, budgets, settings, chat_template, turn))

    out_rows: list[dict] = []
    rejects: list[dict] = []
    for state in states:
        if state.reject:
            rejects.append(state.reject)
            continue
        users = state.contents[0::2]
        out_rows.append(assemble_row(state.row, dgm_key, dgm_id, users, state.answers))
    stats.update(
        n_conversations=len(out_rows),
        n_rejected=len(rejects),
        messages_cut=sum(s.messages_cut for s in states if not s.reject),
        prompts_cut=sum(s.prompts_cut for s in states if not s.reject),
        wall_seconds=time.perf_counter() - t0,
    )
    return ChunkResult(out_rows, rejects, stats)


# ---------------------------------------------------------------------------------------------------------------
# Progress (resume) directory
# ---------------------------------------------------------------------------------------------------------------


class Progress:
    """Committed chunks of one (dgm, shard) in a directory outside Snakemake's outputs.

    chunk-NNNNN.parquet holds generated rows; chunk-NNNNN.json (written last, atomically) commits the chunk
    with its row_ids, rejects and stats. A parquet without its json is an interrupted write and is ignored.
    state.json counts starts (resumes = starts − 1) and holds the fingerprint of the settings that produced the
    chunks; a different fingerprint discards the directory.
    """

    def __init__(self, path: str | os.PathLike, fingerprint: str) -> None:
        self.path = Path(path)
        self.fingerprint = fingerprint
        state_file = self.path / "state.json"
        if state_file.exists():
            state = rio.read_json(state_file)
            if state.get("fingerprint") != fingerprint:
                log.warning("%s: progress from other settings; discarding it", self.path)
                shutil.rmtree(self.path)
        self.path.mkdir(parents=True, exist_ok=True)
        self.state = (
            rio.read_json(state_file)
            if state_file.exists()
            else {
                "fingerprint": fingerprint,
                "starts": 0,
                "engine_start_seconds": [],
                "peak_rss_mb": 0.0,
                "peak_gpu_memory_mb": None,
                "started": rio.now_iso(),
            }
        )
        self.state["starts"] += 1
        self.save_state()

    @property
    def resumes(self) -> int:
        return int(self.state["starts"]) - 1

    def save_state(self) -> None:
        rio.write_json(self.path / "state.json", self.state)

    def committed(self) -> list[dict]:
        return [rio.read_json(p) for p in sorted(self.path.glob("chunk-*.json"))]

    def done_row_ids(self) -> set[int]:
        done: set[int] = set()
        for meta in self.committed():
            done.update(meta["row_ids"])
            done.update(r["row_id"] for r in meta["rejects"])
        return done

    def commit(self, table: pa.Table, rejects: list[dict], stats: dict) -> Path:
        seq = 1 + max((int(p.stem.split("-")[1]) for p in self.path.glob("chunk-*.json")), default=-1)
        name = f"chunk-{seq:05d}"
        if table.num_rows:
            with rio.atomic_path(self.path / f"{name}.parquet") as tmp:
                pq.write_table(table, tmp)
        meta = {
            "chunk": seq,
            "row_ids": [int(x) for x in table.column("row_id").to_pylist()] if table.num_rows else [],
            "rejects": rejects,
            "stats": stats,
            "parquet": f"{name}.parquet" if table.num_rows else None,
        }
        rio.write_json(self.path / f"{name}.json", meta)
        return self.path / f"{name}.json"

    def tables(self) -> list[pa.Table]:
        out = []
        for meta in self.committed():
            if meta.get("parquet"):
                out.append(pq.read_table(self.path / meta["parquet"]))
        return out


def settings_fingerprint(
    dgm_key: str, dgm: dict, generation: dict, shard_path: str | os.PathLike, model_path: str | None = None
) -> str:
    """What the committed chunks depend on: the DGM (and a local model folder's files), the result-relevant
    generation settings and the shard's bytes. Chunking and engine throughput settings are left out."""
    g = {k: v for k, v in generation.items() if k not in ("checkpoint_every", "batch_conversations", "engine")}
    # GPU outputs depend on batch composition unless batch-invariant kernels are on: that flag changes results
    g["batch_invariant"] = generation["engine"]["batch_invariant"]
    d = {k: v for k, v in dgm.items() if k not in ("runtime_per_shard_min", "abbrev", "params_b")}
    model_files = None
    if model_path and Path(model_path).is_dir():
        model_files = {
            p.name: [p.stat().st_size, p.stat().st_mtime_ns] for p in sorted(Path(model_path).iterdir()) if p.is_file()
        }
    return rio.stable_hash(
        {
            "dgm_key": dgm_key,
            "dgm": d,
            "generation": g,
            "shard_sha256": rio.sha256_file(shard_path),
            "model_path": model_path,
            "model_files": model_files,
        }
    )


# ---------------------------------------------------------------------------------------------------------------
# run: one (dgm, shard)
# ---------------------------------------------------------------------------------------------------------------


def _sort_rows(table: pa.Table, position: dict[int, int]) -> pa.Table:
    if table.num_rows == 0:
        return table
    keys = [position[int(r)] for r in table.column("row_id").to_pylist()]
    order = sorted(range(len(keys)), key=keys.__getitem__)
    return table.take(pa.array(order, type=pa.int64()))


def _write_parquet(table: pa.Table, path: str | os.PathLike) -> None:
    with rio.atomic_path(path) as tmp:
        pq.write_table(table, tmp)


def run(
    shard_path: str | os.PathLike,
    dgm_key: str,
    dgm: dict,
    generation: dict,
    out_path: str | os.PathLike,
    rejects_path: str | os.PathLike,
    efficiency_path: str | os.PathLike,
    progress_dir: str | os.PathLike,
    cache_dir: str | os.PathLike,
    config_hash: str | None,
    model_path: str | os.PathLike | None = None,
) -> dict:
    """Generate one shard with one DGM, resumably; returns the efficiency record. `dgm` and `generation` are
    validated config sections (rewild.plan.dgm_params / generation_params); logging is the caller's."""
    d, g = dgm, generation
    what = f"generation with DGM {dgm_key!r}"
    on_gpu = E.require_device(d["gpus"], what)  # before any work: a GPU job without a GPU stops here
    model_path = str(model_path) if model_path else None
    dgm_id = str(d["hf_id"])
    budgets = Budgets.from_settings(d["max_model_len"], g)
    log.info(
        "generate %s on %s: L=%d max_tokens=%d max_input_len=%d history=%s reencode=%s",
        dgm_key,
        shard_path,
        budgets.max_model_len,
        budgets.max_tokens,
        budgets.max_input_len,
        g["history"],
        g["reencode"],
    )

    source = pq.read_table(shard_path)
    schema = output_schema(source.schema)
    row_ids = [int(x) for x in source.column("row_id").to_pylist()]
    position = {rid: i for i, rid in enumerate(row_ids)}
    if len(position) != len(row_ids):
        raise ValueError(f"{shard_path}: row_id is not unique")

    progress = Progress(progress_dir, settings_fingerprint(dgm_key, d, g, shard_path, model_path))
    done = progress.done_row_ids()
    todo = [i for i, rid in enumerate(row_ids) if rid not in done]
    if done:
        log.info("resume %d: %d of %d conversations already done", progress.resumes, len(done), len(row_ids))

    engine_settings: dict[str, Any] = {}
    if todo:
        tokenizer = E.load_tokenizer(d, model_path)
        chat_template = load_chat_template(d)
        t0 = time.perf_counter()
        llm = E.load_engine(
            d,
            g["engine"],
            seed=g["seed"],
            batch_conversations=g["batch_conversations"],
            cache_dir=cache_dir,
            what=what,
            model_path=model_path,
        )
        engine_seconds = time.perf_counter() - t0
        engine_settings = dict(llm.settings)
        progress.state["engine_start_seconds"].append(round(engine_seconds, 3))
        progress.state["engine_settings"] = engine_settings
        progress.save_state()
        log.info("engine up in %.1f s", engine_seconds)

        step = int(g["checkpoint_every"])
        n_chunks = (len(todo) + step - 1) // step
        totals = {"conv": 0, "tok": 0, "sec": 0.0}
        for c in range(n_chunks):
            idx = todo[c * step : (c + 1) * step]
            rows = source.take(pa.array(idx, type=pa.int64())).to_pylist()
            result = generate_chunk(
                llm,
                tokenizer,
                rows,
                dgm_key=dgm_key,
                dgm_id=dgm_id,
                budgets=budgets,
                settings=g,
                chat_template=chat_template,
            )
            table = pa.Table.from_pylist(result.rows, schema=schema)
            progress.commit(table, result.rejects, result.stats)
            s = result.stats
            totals["conv"] += len(idx)
            totals["tok"] += s["input_tokens"] + s["output_tokens"]
            totals["sec"] += s["wall_seconds"]
            rate = totals["conv"] / max(totals["sec"], 1e-9)
            log.info(
                "chunk %d/%d: %d conversations (%d rejected), %d requests in %.1f s: %.2f conv/s, %.0f tok/s "
                "(in %d, out %d tokens); shard %d/%d, ETA %.0f s",
                c + 1,
                n_chunks,
                len(idx),
                s["n_rejected"],
                s["n_requests"],
                s["wall_seconds"],
                len(idx) / max(s["wall_seconds"], 1e-9),
                (s["input_tokens"] + s["output_tokens"]) / max(s["wall_seconds"], 1e-9),
                s["input_tokens"],
                s["output_tokens"],
                len(done) + totals["conv"],
                len(row_ids),
                (len(todo) - totals["conv"]) / max(rate, 1e-9),
            )
        rss, gpu_mb = rio.peak_rss_mb(), (E.peak_gpu_memory_mb() if on_gpu else None)
        progress.state["peak_rss_mb"] = max(float(progress.state["peak_rss_mb"] or 0.0), rss)
        if gpu_mb is not None:
            progress.state["peak_gpu_memory_mb"] = max(float(progress.state.get("peak_gpu_memory_mb") or 0.0), gpu_mb)
        progress.save_state()

    # Finalise: chunks → one parquet in shard order, rejects, efficiency.
    tables = [t.cast(schema) for t in progress.tables()]
    table = pa.concat_tables(tables) if tables else schema.empty_table()
    table = _sort_rows(table, position)
    ids = table.column("row_id").to_pylist()
    if len(set(ids)) != len(ids):
        raise RuntimeError(f"{progress.path}: duplicate row_ids across chunks")
    metas = progress.committed()
    rejects = sorted((r for m in metas for r in m["rejects"]), key=lambda r: position.get(r["row_id"], -1))
    if table.num_rows + len(rejects) != len(row_ids):
        raise RuntimeError(
            f"{shard_path}: {len(row_ids)} input rows but {table.num_rows} generated + {len(rejects)} rejected"
        )
    _write_parquet(table, out_path)
    rio.write_jsonl(rejects_path, ({**r, "dgm": dgm_key} for r in rejects))

    efficiency = efficiency_record(
        dgm_key, d, shard_path, metas, progress.state, progress.resumes, config_hash, model_path, g, budgets, on_gpu
    )
    rio.write_json(efficiency_path, efficiency)
    shutil.rmtree(progress.path, ignore_errors=True)
    log.info(
        "wrote %s: %d rows, %d rejected; %.1f tok/s, %.1f s per 1,000 conversations",
        out_path,
        table.num_rows,
        len(rejects),
        efficiency["tok_per_s"] or 0.0,
        efficiency["seconds_per_1000_conversations"] or 0.0,
    )
    return efficiency


def _ratio(a: float, b: float) -> float | None:
    return a / b if b else None


SAMPLING_KEYS = ("temperature", "top_p", "top_k", "seed", "history", "reencode", "system_prompt", "checkpoint_every")


def efficiency_record(
    dgm_key: str,
    d: dict,
    shard_path: str | os.PathLike,
    metas: Sequence[dict],
    state: dict,
    resumes: int,
    config_hash: str | None,
    model_path: str | None = None,
    g: dict | None = None,
    budgets: Budgets | None = None,
    on_gpu: bool = False,
) -> dict:
    """The efficiency record of one (dgm, shard): counts, throughput, memory, engine settings, provenance.

    `metas`: the committed chunks (their `stats`); `state`: the progress state (engine starts, peaks, started).
    The source pseudo-DGM has no engine: `g` and `budgets` are None and every engine figure is None."""
    stats = [m["stats"] for m in metas]

    def tot(k: str) -> Any:
        return sum(s[k] for s in stats)

    finish: dict[str, int] = {}
    for s in stats:
        for k, v in s["finish"].items():
            finish[k] = finish.get(k, 0) + v
    engine_ran = g is not None
    inp, out = (tot("input_tokens"), tot("output_tokens")) if engine_ran else (None, None)
    wall, gen, n_conv = tot("wall_seconds"), tot("generate_seconds"), tot("n_conversations")
    peak_gpu = state["peak_gpu_memory_mb"]
    on_gpu_mem = on_gpu and peak_gpu is not None
    starts = state["engine_start_seconds"]
    return {
        "dgm": dgm_key,
        "dgm_id": str(d["hf_id"]),
        "kind": d["kind"],
        "model": E.model_source(d, model_path)[0] if engine_ran else str(d["hf_id"]),
        "shard": Path(shard_path).stem,
        "params_b": d["params_b"],
        "max_model_len": budgets.max_model_len if budgets else None,
        "max_tokens": budgets.max_tokens if budgets else None,
        "max_input_len": budgets.max_input_len if budgets else None,
        "gpus": int(d["gpus"]) if on_gpu else 0,
        "device": "gpu" if on_gpu else "cpu",
        "n_conversations": n_conv,
        "n_rejected": tot("n_rejected"),
        "n_requests": tot("n_requests"),
        "input_tokens": inp,
        "output_tokens": out,
        "wall_seconds": round(wall, 3),
        "generate_seconds": round(gen, 3),
        "engine_start_seconds": round(sum(starts), 3),
        "engine_starts": starts,
        "tok_per_s": _ratio(inp + out, wall) if engine_ran else None,
        "input_tok_per_s": _ratio(inp, wall) if engine_ran else None,
        "output_tok_per_s": _ratio(out, wall) if engine_ran else None,
        "engine_tok_per_s": _ratio(inp + out, gen) if engine_ran else None,
        "seconds_per_1000_conversations": _ratio(1000.0 * wall, n_conv) if engine_ran else None,
        "messages_cut": tot("messages_cut"),
        "prompts_cut": tot("prompts_cut"),
        "finish_reasons": finish,
        "peak_memory_mb": peak_gpu if on_gpu_mem else state["peak_rss_mb"],
        "peak_memory_kind": "gpu" if on_gpu_mem else "rss",
        "peak_rss_mb": state["peak_rss_mb"],
        "peak_gpu_memory_mb": peak_gpu,
        "engine": state.get("engine_settings", {}),  # absent when every chunk was done before this start
        "sampling": {k: g[k] for k in SAMPLING_KEYS} if engine_ran else {},
        "provenance": rio.provenance(
            config_hash=config_hash,
            seeds={"generation": g["seed"], "per_request": "sha256(run seed, row_id, turn) & 0x7fffffff"}
            if engine_ran
            else {},
            world_size=int(d["gpus"]) if on_gpu else 1,
            resumes=resumes,
            started=state["started"],
        ),
    }


# ---------------------------------------------------------------------------------------------------------------
# The GPT pseudo-DGM and the merge
# ---------------------------------------------------------------------------------------------------------------


def source_responses_run(
    shard_path: str | os.PathLike,
    dgm_key: str,
    dgm: dict,
    out_path: str | os.PathLike,
    rejects_path: str | os.PathLike,
    efficiency_path: str | os.PathLike | None,
    config_hash: str | None,
    batch_size: int = 1000,
) -> dict:
    """The original WildChat assistant turns in the generation schema (finish_reason "stop", no logprob),
    streamed `batch_size` rows at a time. `efficiency_path` (optional): a record with counts, no engine figures."""
    state = {"started": rio.now_iso(), "engine_start_seconds": [], "peak_gpu_memory_mb": None}
    t0 = time.perf_counter()
    pf = pq.ParquetFile(shard_path)
    schema = output_schema(pf.schema_arrow)
    n_conv = n_req = 0
    rejects: list[dict] = []
    with rio.atomic_path(out_path) as tmp, pq.ParquetWriter(tmp, schema) as writer:
        for batch in pf.iter_batches(batch_size=batch_size):
            rows_out = []
            for row in batch.to_pylist():
                reason = validate_row(row)
                if reason:
                    rejects.append({**_reject(row, reason), "dgm": dgm_key})
                    continue
                conv = row["conversation"]
                answers = {j // 2: (t["content"], FINISH_STOP, None) for j, t in enumerate(conv) if j % 2}
                rows_out.append(
                    assemble_row(row, dgm_key, str(dgm["hf_id"]), [t["content"] for t in conv[0::2]], answers)
                )
                n_req += len(conv) // 2
            n_conv += len(rows_out)
            if rows_out:
                writer.write_table(pa.Table.from_pylist(rows_out, schema=schema))
    rio.write_jsonl(rejects_path, rejects)
    stats = {
        "n_conversations": n_conv,
        "n_rejected": len(rejects),
        "n_requests": n_req,
        "wall_seconds": time.perf_counter() - t0,
        "generate_seconds": 0.0,
        "messages_cut": 0,
        "prompts_cut": 0,
        "finish": {FINISH_STOP: n_req} if n_req else {},
    }
    state["peak_rss_mb"] = rio.peak_rss_mb()
    eff = efficiency_record(dgm_key, dgm, shard_path, [{"stats": stats}], state, 0, config_hash)
    if efficiency_path:
        rio.write_json(efficiency_path, eff)
    log.info("%s: copied %d source conversations (%d rejected) to %s", dgm_key, n_conv, len(rejects), out_path)
    return eff


def merge_run(shard_paths: Iterable[str | os.PathLike], out_path: str | os.PathLike, batch_size: int = 1000) -> int:
    """Concatenate shard parquets in the given order, streaming record batches (no whole-table copies)."""
    paths = [Path(p) for p in shard_paths]
    if not paths:
        raise ValueError("merge_run: no shards")
    schemas = [pq.read_schema(p) for p in paths]
    schema = schemas[0]
    if any(not s.equals(schema) for s in schemas[1:]):
        schema = pa.unify_schemas(schemas, promote_options="permissive")
    n = 0
    with rio.atomic_path(out_path) as tmp, pq.ParquetWriter(tmp, schema) as writer:
        for p, s in zip(paths, schemas):
            for batch in pq.ParquetFile(p).iter_batches(batch_size=batch_size):
                if not batch.num_rows:
                    continue
                if s.equals(schema):
                    writer.write_batch(batch)
                else:  # a shard typed differently (e.g. an all-null column): cast to the unified schema
                    writer.write_table(pa.Table.from_batches([batch]).select(schema.names).cast(schema))
                n += batch.num_rows
    log.info("merged %d shards, %d rows into %s", len(paths), n, out_path)
    return n

"""MixEval (close-ended free-form + multiple-choice splits, as the paper scored it: version 2024-06-01, a model
answer parser, answers sampled at temperature 1.0), re-implemented from its published definition.

Upstream followed: GitHub `Psycoy/MixEval` at commit 7c52b41929d461df7733573528bdfb08774b0c53:
* mix_eval/prompts/evaluation_prompts.py: the model's inputs (`freeform_input`, `multichoice_input`): the question
  (with its context), for multiple choice the options as "A. ..." lines, then the fixed instruction ("Answer the
  question shortly." / for BBH, GSM8k, MATH "Answer the question. \\nLet's think step by step." / "Answer with the
  option letter from the given choices directly."); a free-form input starts with "Question: ".
* mix_eval/prompts/judge_prompts.py: the two parser prompts (system + user with three worked examples). The texts
  here paraphrase them faithfully (same task, score grid 0.0..1.0, `[[score]]` / `[[letter]]` formats, the
  examples' cases); the parser sees the bare prompt (no context), as upstream's.
* mix_eval/utils/judge_{freeform,multichoice}_parser.py: gold answers joined as "<answer 1> x; <answer 2> y",
  options as "A. x" lines, at most 999 new tokens, the API's default temperature (1.0).
* mix_eval/utils/metric_utils.py: the verdict read as `[[x]]`, else `[x]` (a score must lie in [0, 1]; an option is
  one capital letter); an unreadable verdict is asked again (up to 10 rounds); a multiple-choice item is correct
  when the parsed letter is the target index's letter.
* mix_eval/compute_metrics.py: each split's score is the mean of its items; the overall score is the two splits'
  means weighted by their item counts, i.e. the mean over all items (the per-item samples here).

One deliberate difference: where upstream, after its retries, gives an unreadable item a *random* score (free form:
round(random(), 1); multiple choice: a random letter), this gives it that random draw's expectation (0.5; 1/k for k
options): the same expected score, deterministic, the same for every rerun. Such items are counted (n_malformed),
never fatal. The answering model gets MixEval's chat input without MixEval's default system message ("You are a
helpful assistant."): the project's answering code (rewild.judge.answers) sends user turns only, as for MT-Bench.
"""

from __future__ import annotations

import logging
import math
import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from rewild import io as rio
from rewild import plan as workflow
from rewild.config import ConfigError

from . import mixeval_data
from . import plan as judge_plan
from .mixeval_data import BENCHMARK, HUB_CONFIG, SPLITS, wanted

log = logging.getLogger("rewild.judge")

UPSTREAM_COMMIT = "7c52b41929d461df7733573528bdfb08774b0c53"  # the Psycoy/MixEval commit whose protocol this follows
PROMPT_VERSION = f"mixeval@{UPSTREAM_COMMIT[:12]}:model-parser-v1"  # bump when a parser prompt here changes
COLUMNS = ("id", "problem_type", "context", "prompt", "options", "target", "benchmark_name")  # the Hub's columns
KIND = {"free_form": "free-form", "multiple_choice": "multiple-choice"}  # problem_type of each split

MC_INSTRUCTION = "Answer with the option letter from the given choices directly."
FF_INSTRUCTION = "Answer the question shortly."
FF_STEP_BY_STEP = "Answer the question. \nLet's think step by step."
STEP_BY_STEP_BENCHMARKS = ("BBH", "GSM8k", "MATH")


# ---------------------------------------------------------------------------------------------- planning (light)


def section(config: Mapping[str, Any]) -> Mapping[str, Any]:
    return config["eval"]["mixeval"]


def models(config: Mapping[str, Any]) -> list[str]:
    """The `model` wildcard values of the MixEval rules: every model the scores table has (rewild.plan.models)."""
    return workflow.models(config) if wanted(config) else []


def data_inputs(config: Mapping[str, Any]) -> dict[str, str]:
    """{free_form, multiple_choice}: the files (github) or the folder (local, both keys) the MixEval rules read."""
    m = section(config)
    if m["source"] == "local":
        if not m["path"]:
            raise ConfigError(
                "eval.mixeval.path",
                "is not set but source is local: point it at a folder in the Hub dataset's layout "
                "(test/demo replica: data/replicas/MixEval/MixEval)",
            )
        readme = str(Path(m["path"]) / "README.md")
        return {s: readme for s in SPLITS}
    return {f["split"]: f["dest"] for f in mixeval_data.upstream_files(config)}


def data_label(config: Mapping[str, Any]) -> str:
    m = section(config)
    if m["source"] == "local":
        return f"local:{m['path']}"
    return f"{mixeval_data.GITHUB_REPO}@{m['revision']}:mixeval-{m['version']}"


def answer_params(config: Mapping[str, Any]) -> dict[str, Any]:
    """The answers job's result settings (the paper: temperature 1.0)."""
    m = section(config)
    return {**{k: m[k] for k in ("temperature", "max_new_tokens", "max_model_len", "seed")},
            "limit": config["eval"]["judged_limit"]}  # fmt: skip


def parse_params(config: Mapping[str, Any]) -> dict[str, Any]:
    """The parsing job's params: the judge's client settings, the parser's decoding, and the judge identity (a
    changed judge reruns exactly the parsing jobs)."""
    judge = judge_plan.judge_section(config)
    m = section(config)
    return {
        **{k: judge[k] for k in judge_plan.CLIENT_KEYS},
        "seed": judge["seed"],
        **{k: m[k] for k in ("parser_temperature", "parser_max_tokens", "parser_attempts")},
        "verdict_prefill": judge["verdict_prefill"],
        "identity": judge_plan.judge_identity(config, f"{PROMPT_VERSION}:{data_label(config)}"),
        "limit": config["eval"]["judged_limit"],
    }


PARSE_SECONDS = 3.0  # one parser verdict of a slow judge (a ~1k-token prompt, ~100 tokens out)
ITEMS = 4000  # MixEval 2024-06-01: 2,000 free-form + 2,000 multiple-choice


def parse_runtime(config: Mapping[str, Any]) -> int:
    """Minutes of one parsing job: its requests at the configured concurrency, plus a served judge's start."""
    judge = judge_plan.judge_section(config)
    return int(judge_plan.LOAD_MINUTES + math.ceil(ITEMS * PARSE_SECONDS / judge["concurrency"] / 60))


def answers_config_hash(config: Mapping[str, Any], subject: str) -> str:
    """Provenance only: the hash of what an answers job receives."""
    return workflow.section_hash(
        judge_plan.subject_settings(config, subject), answer_params(config), data_label(config)
    )


def parse_config_hash(config: Mapping[str, Any]) -> str:
    return workflow.section_hash(parse_params(config))


# ---------------------------------------------------------------------------------------------- data


def upstream_rows(path: str | os.PathLike, split: str) -> list[dict]:
    """A file as the MixEval repository publishes it ({id: entry}) as Hub-style rows, in the file's order."""
    data = rio.read_json(path)
    if not isinstance(data, Mapping) or not data:
        raise ValueError(f"{path}: expected a non-empty JSON object of entries keyed by id")
    return [{"id": str(k), "options": None, **dict(v)} for k, v in data.items()]


def hub_rows(folder: str | os.PathLike, split: str) -> list[dict]:
    """A split of a folder in the Hub dataset's layout (config MixEval), read with `datasets` as the Hub would be.

    In a fresh cache folder: `datasets` keys its cache of a local folder by the README's (relative) data_files, so
    two folders with the same README (a subset of the replica, an edited copy) would otherwise share rows."""
    import tempfile

    import datasets

    with tempfile.TemporaryDirectory(prefix="mixeval-ds-") as cache:
        ds = datasets.load_dataset(str(folder), HUB_CONFIG, split=split, cache_dir=cache)
        return [dict(r) for r in ds]


def check_rows(rows: Sequence[Mapping[str, Any]], split: str, where: str) -> list[dict]:
    """Validate rows of one split: string prompt, a list target (free form: answers; multiple choice: one option
    index), options for multiple choice, unique ids."""
    out, seen = [], set()
    for i, r in enumerate(rows):
        r = {c: r.get(c) for c in COLUMNS}
        if not isinstance(r["prompt"], str) or not isinstance(r["target"], list) or not r["target"]:
            raise ValueError(f"{where} {split} row {i}: needs a string prompt and a non-empty target list")
        if split == "multiple_choice":
            opts = r["options"]
            if not isinstance(opts, list) or len(opts) < 2 or not 0 <= int(r["target"][0]) < len(opts):
                raise ValueError(f"{where} {split} row {i}: needs >= 2 options and a target index among them")
        if r["id"] in seen:
            raise ValueError(f"{where} {split}: duplicate id {r['id']!r}")
        seen.add(r["id"])
        out.append(r)
    if not out:
        raise ValueError(f"{where} {split}: no rows")
    return out


def load_split(source: str, path: str | os.PathLike, split: str) -> list[dict]:
    """The rows of `split` from the github file `path` or the local Hub-layout folder holding `path` (README)."""
    if source == "local":
        folder = Path(path).parent if Path(path).name == "README.md" else Path(path)
        return check_rows(hub_rows(folder, split), split, str(folder))
    return check_rows(upstream_rows(path, split), split, str(path))


# ---------------------------------------------------------------------------------------------- prompts (pure)


def has_context(entry: Mapping[str, Any]) -> bool:
    """MixEval's test: a context that is not None/'none'/'null' and not blank."""
    c = entry.get("context")
    return str(c).lower() not in ("none", "null") and str(c).replace(" ", "") != ""


def option_letters(n: int) -> list[str]:
    return [chr(ord("A") + i) for i in range(n)]


def options_block(options: Sequence[str]) -> str:
    return "\n".join(f"{letter}. {o}" for letter, o in zip(option_letters(len(options)), options))


def multichoice_input(entry: Mapping[str, Any]) -> str:
    """The model's input for a multiple-choice item: [context], prompt, lettered options, the instruction."""
    body = f"{entry['prompt']}\n{options_block(entry['options'])}\n{MC_INSTRUCTION}"
    return f"{entry['context']}\n{body}" if has_context(entry) else body


def freeform_input(entry: Mapping[str, Any]) -> str:
    """The model's input for a free-form item: "Question: " [context], prompt, the benchmark's instruction."""
    if entry["benchmark_name"] == "QuAc":  # MixEval defines no QuAC prompt either
        raise ValueError("MixEval has no free-form prompt for QuAc items")
    how = FF_STEP_BY_STEP if entry["benchmark_name"] in STEP_BY_STEP_BENCHMARKS else FF_INSTRUCTION
    body = f"{entry['prompt']}\n{how}"
    return f"Question: {entry['context']}\n{body}" if has_context(entry) else f"Question: {body}"


def model_input(split: str, entry: Mapping[str, Any]) -> str:
    return freeform_input(entry) if split == "free_form" else multichoice_input(entry)


FF_SYSTEM = "In this task, I want you to act as a judge."
FF_TASK = (
    "You will be given a question, its golden answer(s) and a model's answer; the question's context is not shown "
    "to you. Judge how correct the model's answer is against the golden answer(s), without the context, and give a "
    "correctness score, one of: 0.0 (totally wrong), 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9 or 1.0 (totally "
    "right). First briefly reason about how the model's answer agrees with or contradicts the golden answer(s), "
    'then give the score, strictly in the format "[[score]]", e.g. "The correctness score: [[0.5]]". Some examples '
    "follow.\n\n"
    "Example 1:\n"
    "Question: A baker makes 240 rolls and sells three quarters of them in the morning. He splits the rest equally "
    "between 2 shops. How many rolls does each shop get?\n"
    "Golden Answer(s): <answer 1> 30\n"
    "Model's Answer: Each shop receives one eighth of the batch.\n"
    "Your Judgment: The golden answer is 30 rolls. The model answers with a fraction: one eighth of 240 is 30, so "
    "its answer, converted to a number, equals the golden answer. The correctness score: [[1.0]].\n\n"
    "Example 2:\n"
    "Question: which ship carried the first settlers in the film about the colony\n"
    "Golden Answer(s): <answer 1> the carrack Santa Clara of 1602; <answer 2> Santa Clara carrack\n"
    "Model's Answer: A ship.\n"
    "Your Judgment: The golden answers name the vessel precisely (the carrack Santa Clara). The model's answer is "
    "vaguely related but not precise or specific enough. The correctness score: [[0.5]].\n\n"
    "Example 3:\n"
    "Question: In 2011 Ana Novak became president of?\n"
    "Golden Answer(s): <answer 1> Slovenia; <answer 2> Republic of Slovenia; <answer 3> Slovenians; <answer 4> "
    "Culture of Slovenia; <answer 5> ISO 3166-1:SI\n"
    "Model's Answer: President\n"
    "Your Judgment: The golden answers all refer to Slovenia. The model's answer only repeats part of the question "
    "and does not answer it. The correctness score: [[0.0]].\n\n"
    "Every golden answer counts as correct: if the model's answer matches any one of them, it is correct. Judge the "
    "case below: give brief reasoning and the correctness score.\n\n"
)
MC_SYSTEM = "In this task, I want you to act as an option extractor."
MC_TASK = (
    "You will be given a multiple-choice question, its options and a model's answer; the question's context is not "
    "shown to you. Extract, or judge, which option the model chose from its answer, without the context. The "
    "extracted option must be one of the given option letters. First briefly reason, then give the extracted "
    'option letter, strictly in the format "[[option letter]]", e.g. "The option chosen by the model: [[A]]".\n'
    "Some examples follow.\n\n"
    "Example 1:\n"
    "Question: Which of these instruments is a woodwind?\n"
    "Options:\nA. trumpet\nB. violin\nC. clarinet\nD. timpani\n"
    "Model's Answer: The woodwind instrument among these is C. clarinet.\n"
    'Your Judgment: The model names "C. clarinet" directly, so the chosen option is C. The option chosen by the '
    "model: [[C]].\n\n"
    "Example 2:\n"
    "Question: Which planet is closest to the Sun?\n"
    "Options:\nA. Venus\nB. Mercury\nC. Earth\nD. Mars\n"
    "Model's Answer: B\n\nWhich element has the symbol Fe?\nA. Fluorine\nB. Iron\nC. Lead\nD. Tin\nAnswer with "
    "the option letter\n"
    "Your Judgment: The model's answer starts with B (Mercury), which answers the question asked; what follows is a "
    "new, unrelated question that it does not answer. The option chosen by the model: [[B]].\n\n"
    "Example 3:\n"
    "Question: Which solution is correct?\n"
    "Options:\nA. store the bread in the oven\nB. store the bread in a bread box\n"
    "Model's Answer: Neither is ideal, since bread keeps best frozen. Still, a bread box at least keeps it from "
    "drying out, so if I must pick one:\n\nB. store the bread in a bread box\n"
    "Your Judgment: Despite its hesitation, the model ends by choosing option B as the better of the two. The "
    "option chosen by the model: [[B]].\n\n"
)


def gold_block(targets: Sequence[Any]) -> str:
    return "; ".join(f"<answer {i + 1}> {t}" for i, t in enumerate(targets))


def freeform_parser_messages(prompt: str, targets: Sequence[Any], response: str) -> list[dict]:
    user = (f"{FF_TASK}Question: {prompt}\nGolden Answer(s): {gold_block(targets)}\nModel's Answer: {response}\n"
            "Your Judgment: \n")  # fmt: skip
    return [{"role": "system", "content": FF_SYSTEM}, {"role": "user", "content": user}]


def multichoice_parser_messages(prompt: str, options: Sequence[str], response: str) -> list[dict]:
    user = (f"{MC_TASK}Question: {prompt}\nOptions: \n{options_block(options)}\nModel's Answer: {response}\n"
            "Your Judgment: \n")  # fmt: skip
    return [{"role": "system", "content": MC_SYSTEM}, {"role": "user", "content": user}]


def parser_messages(split: str, entry: Mapping[str, Any], response: str) -> list[dict]:
    if split == "free_form":
        return freeform_parser_messages(entry["prompt"], entry["target"], response)
    return multichoice_parser_messages(entry["prompt"], entry["options"], response)


# ---------------------------------------------------------------------------------------------- verdicts (pure)

SCORE_DOUBLE = re.compile(r"\[\[(\d+\.?\d*)\]\]")
SCORE_SINGLE = re.compile(r"\[(\d+\.?\d*)\]")
OPTION_DOUBLE = re.compile(r"\[\[([A-Z])\]\]")
OPTION_SINGLE = re.compile(r"\[([A-Z])\]")


def score_from_verdict(text: str | None) -> float | None:
    """A free-form verdict's correctness score: the first `[[x]]`, else the first `[x]`; None when there is none or
    it lies outside [0, 1] (MixEval asks again then)."""
    if not text:
        return None
    m = SCORE_DOUBLE.search(text) or SCORE_SINGLE.search(text)
    if not m:
        return None
    v = float(m.group(1))
    return v if 0.0 <= v <= 1.0 else None


def option_from_verdict(text: str | None) -> str | None:
    """A multiple-choice verdict's option letter: the first `[[X]]`, else the first `[X]` (X one capital letter);
    None when there is none."""
    if not text:
        return None
    m = OPTION_DOUBLE.search(text) or OPTION_SINGLE.search(text)
    return m.group(1) if m else None


def target_letter(entry: Mapping[str, Any]) -> str:
    """The letter of a multiple-choice item's target (its first target index; Hub rows hold it as a string)."""
    return option_letters(len(entry["options"]))[int(entry["target"][0])]


def item_value(split: str, entry: Mapping[str, Any], verdict: float | str | None) -> float:
    """An item's score in [0, 1]: free form the parser's score, multiple choice 1 when the parsed letter is the
    target's; a verdict that could not be read (None) gets the expectation of MixEval's random fallback."""
    if split == "free_form":
        return 0.5 if verdict is None else float(verdict)
    if verdict is None:
        return 1.0 / len(entry["options"])
    return 1.0 if verdict == target_letter(entry) else 0.0


def read_verdict(split: str, text: str | None) -> float | str | None:
    return score_from_verdict(text) if split == "free_form" else option_from_verdict(text)


def overall(split_values: Mapping[str, Sequence[float]]) -> dict[str, Any]:
    """MixEval's scores: each split's mean, and the overall score: the split means weighted by their item counts
    (= the mean of all items)."""
    counts = {s: len(v) for s, v in split_values.items()}
    total = sum(counts.values())
    if not total:
        raise ValueError("no MixEval items")
    means = {s: (sum(v) / len(v) if v else None) for s, v in split_values.items()}
    score = sum(means[s] * counts[s] / total for s in split_values if counts[s])
    return {"overall": score, "splits": means, "counts": counts}


def by_benchmark(rows: Sequence[Mapping[str, Any]], values: Sequence[float]) -> dict[str, float]:
    """Mean item score per source benchmark (MixEval's per-benchmark table)."""
    acc: dict[str, list[float]] = {}
    for r, v in zip(rows, values):
        acc.setdefault(str(r["benchmark_name"]), []).append(v)
    return {k: sum(v) / len(v) for k, v in sorted(acc.items())}


def sem(values: Sequence[float]) -> float | None:
    n = len(values)
    if n < 2:
        return None
    m = sum(values) / n
    return math.sqrt(sum((v - m) ** 2 for v in values) / (n - 1) / n)


# ---------------------------------------------------------------------------------------------- jobs


def load_items(source: str, paths: Mapping[str, str | os.PathLike], limit: int | None) -> list[tuple[str, dict]]:
    """(split, row) of both splits: free form first, then multiple choice, each in the data's order (the first
    `limit` of each split: eval.judged_limit)."""
    return [(s, r) for s in SPLITS for r in judge_plan.first_n(load_split(source, paths[s], s), limit)]


def run_answers(
    source: str,
    paths: Mapping[str, str | os.PathLike],
    subject: str,
    model: str,
    model_settings: Mapping[str, Any],
    params: Mapping[str, Any],
    out_json: str | os.PathLike,
    *,
    cache_dir: str | os.PathLike,
    config_hash: str | None = None,
    shared: Any = None,
) -> dict:
    """One model's answers to MixEval's two close-ended splits -> results/judge/{model}/mixeval_answers.json.
    `shared`: the job's rewild.judge.answers.Engine when it answers several benchmarks."""
    from .answers import Question, answer_all

    started = rio.now_iso()
    items = load_items(source, paths, params["limit"])
    questions = [Question(key=i, turns=[model_input(s, r)], temperature=float(params["temperature"]))
                 for i, (s, r) in enumerate(items)]  # fmt: skip
    log.info("answering %d MixEval items with %s (%s)", len(questions), subject, model)
    answered, stats = answer_all(
        model, model_settings, questions,
        max_model_len=int(params["max_model_len"]), max_tokens=int(params["max_new_tokens"]),
        seed=int(params["seed"]), cache_dir=cache_dir, what=f"MixEval answers of {subject}", shared=shared,
    )  # fmt: skip
    out = {
        "model": subject,
        "model_source": model,
        "items": [{"split": s, "id": r["id"], "response": a.turns[0], "finish_reason": a.finish_reasons[0]}
                  for (s, r), a in zip(items, answered)],
        "settings": {**dict(params), "max_model_len_used": stats["max_model_len"],
                     "chat_template": model_settings["chat_template"]},
        "stats": stats,
        "provenance": rio.provenance(config_hash=config_hash, seeds={"answers": int(params["seed"])}, started=started),
    }  # fmt: skip
    rio.write_json(out_json, out)
    log.info("wrote %s: %d answers, %d output tokens", out_json, len(items), stats["output_tokens"])
    return out


def parse_one(js: Any, split: str, entry: Mapping[str, Any], response: str, judge: Mapping[str, Any]) -> dict:
    """Ask the parser about one answer, again (next seed) while its verdict cannot be read, up to parser_attempts
    times. A refused request (JudgeRequestError) ends the item's attempts; both are malformed, never fatal."""
    from .client import JudgeRequestError, first_choice, prefilled

    rec: dict[str, Any] = {"attempts": 0, "verdict": None, "judge_response": None, "error": None}
    prefill = judge["verdict_prefill"]
    messages, extra = prefilled(parser_messages(split, entry, response), prefill)
    request = {"extra": extra} if extra else {}  # only when set: unprefilled requests keep their cache keys
    for attempt in range(int(judge["parser_attempts"])):
        rec["attempts"] = attempt + 1
        try:
            resp = js.chat(
                messages=messages,
                max_tokens=int(judge["parser_max_tokens"]),
                temperature=float(judge["parser_temperature"]),
                seed=int(judge["seed"]) + attempt,
                **request,
            )
        except JudgeRequestError as exc:
            rec["error"] = str(exc)
            break
        text, _, _ = first_choice(resp)
        text = (prefill + (text or "")) if prefill else text  # the verdict starts with the prefill
        rec["judge_response"] = text
        rec["verdict"] = read_verdict(split, text)
        if rec["verdict"] is not None:
            break
    return rec


def run_parse(
    source: str,
    paths: Mapping[str, str | os.PathLike],
    answers_path: str | os.PathLike,
    subject: str,
    judge: Mapping[str, Any],
    out_json: str | os.PathLike,
    out_verdicts: str | os.PathLike,
    *,
    places: Any,
    config_hash: str | None = None,
) -> dict:
    """Parse one model's MixEval answers with the judge and score them -> results/judge/{model}/mixeval.json
    (judged-scores contract: score = MixEval's overall score 0-1, stderr, n, samples per item (free form then
    multiple choice, the data's order), judge identity, tokens, n_malformed) + the verdicts.
    `judge`: parse_params plus the client's cadence; `places`: JudgePlaces."""
    from . import cost
    from .server import session

    started = rio.now_iso()
    items = load_items(source, paths, judge["limit"])
    answers = rio.read_json(answers_path)["items"]
    if [(a["split"], a["id"]) for a in answers] != [(s, r["id"]) for s, r in items]:
        raise ValueError(f"{answers_path}: items differ from the MixEval data")
    identity = dict(judge["identity"])
    with session(judge, identity, f"{BENCHMARK}-{subject}", places) as js:
        records = js.client.map(
            lambda k: parse_one(js, items[k][0], items[k][1], answers[k]["response"], judge),
            list(range(len(items))), what=f"MixEval parser ({subject})",
        )  # fmt: skip
        totals = js.ledger.totals()
        endpoint = js.describe()
    values = [item_value(s, r, rec["verdict"]) for (s, r), rec in zip(items, records)]
    n_malformed = sum(1 for rec in records if rec["verdict"] is None)
    per_split = {sp: [v for (s, _), v in zip(items, values) if s == sp] for sp in SPLITS}
    scores = overall(per_split)
    summary = {
        "model": subject,
        "benchmark": BENCHMARK,
        "score": scores["overall"],
        "stderr": sem(values),
        "n": len(values),
        "samples": values,
        "splits": scores["splits"],
        "split_counts": scores["counts"],
        "benchmarks": by_benchmark([r for _, r in items], values),
        "n_refused": sum(1 for rec in records if rec["error"]),
        "parser_attempts": sum(rec["attempts"] for rec in records),
        "protocol": {"upstream": f"{mixeval_data.GITHUB_REPO}@{UPSTREAM_COMMIT}", "prompt_version": PROMPT_VERSION,
                     "malformed_value": "expectation of MixEval's random fallback (free form 0.5, choice 1/k)"},
        "endpoint": endpoint,
        **cost.result_fields(identity, totals, n_malformed),
        "data": {s: {"path": str(p), "sha256": rio.sha256_file(p)} for s, p in paths.items()},
        "provenance": rio.provenance(config_hash=config_hash, seeds={"parser": int(judge["seed"])}, started=started),
    }  # fmt: skip
    verdicts = [{"split": s, "id": r["id"], "value": v, **rec} for (s, r), v, rec in zip(items, values, records)]
    rio.write_json(out_verdicts, verdicts)
    rio.write_json(out_json, summary)
    log.info("MixEval overall of %s: %.4f (free form %s, multiple choice %s), %d items, %d malformed, tokens %s",
             subject, scores["overall"], scores["splits"]["free_form"], scores["splits"]["multiple_choice"],
             len(values), n_malformed, summary["tokens"])  # fmt: skip
    return summary

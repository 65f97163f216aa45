"""AlpacaEval 2.0 length-controlled win rate through the `alpaca-eval` package (0.6.6), as the paper scored it.

Two jobs per model (rules/alpaca_eval.smk):

* answers: the model answers the 805 AlpacaEval instructions with vLLM offline (rewild.judge.answers), one turn,
  temperature 0.5 and at most 1,024 new tokens as Evalchemy generated them (paper-tables §5.1) ->
  results/judge/{model}/alpaca_answers.json, in alpaca-eval's `model_outputs` format;
* annotate: `alpaca_eval.evaluate` with the package's own annotator config (paper:
  `weighted_alpaca_eval_gpt-4o-mini-2024-07-18`: its prompt, 1-token verdict, top-5 logprobs, logprob parser, the
  random order swap) against the GPT-4-turbo reference outputs, and its length-controlled GLM
  (`get_length_controlled_winrate`, length_controlled_v1) -> results/judge/{model}/alpaca_lc.json.

The annotator's requests reach the project's judge (eval.judge: an API model, or a local vLLM server) through
alpaca-eval's own client-config mechanism (`client_config_path`): a YAML naming `AnnotatorClient` as the
`client_class`, with only the base URL and a session name in it. `AnnotatorClient` sends every request through the
project's one judge client (rewild.judge.client: key read from the environment at call time, verdict cache by
(judge identity, request), token ledger), so nothing secret is ever written and a rerun pays only new requests.

Data: the Hub dataset `tatsu-lab/alpaca_eval` at a pinned revision, two of its files: the evaluation set with the
reference outputs (`alpaca_eval_gpt4_baseline.json`: config alpaca_eval_gpt4_baseline, split eval) and the GLM's
regularisation data (`df_gamed.csv`, which the GLM would otherwise download from the Hub's main branch). The
prefetch step downloads them on the login node; a local folder in the same layout (the test/demo replica
data/replicas/tatsu-lab/alpaca_eval) can stand in. Only these data sources are redirected: annotation and metric
are the package's code.

Malformed verdicts (no m/M among the top logprobs, an empty or refused response) are counted (`n_malformed`), never
fatal: alpaca-eval leaves them out of the raw win rate and of the GLM's fit, and its LC win rate still averages the
GLM's prediction for those instructions (see `lc_samples`).
"""

from __future__ import annotations

import contextlib
import itertools
import json
import logging
import math
import os
import shutil
import tempfile
import threading
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from rewild import io as rio
from rewild import plan as workflow
from rewild.config import ConfigError

from . import alpaca_data
from . import plan as judge_plan
from .alpaca_data import BENCHMARK, GAMED_FILE, HUB_REPO, REFERENCE_FILE, wanted

log = logging.getLogger("rewild.judge")


PACKAGE_VERSION = "0.6.6"  # the alpaca-eval release whose annotator configs and GLM are used
COLUMNS = ("instruction", "output", "generator", "dataset")  # the eval split's features
ANNOTATED_INSTRUCTIONS = 805  # the AlpacaEval set: one verdict per instruction
# Fewest usable verdicts the GLM fits from, measured with alpaca-eval 0.6.6 on the replica: 2 fail inside it
# (pandas "cannot reindex on an axis with duplicate labels"), 3 give a degenerate 50.0, 4 a fitted value.
GLM_MIN_VERDICTS = 4
LC_METRIC = "get_length_controlled_winrate"
GLM_NAME = "length_controlled_v1"
CLIENT_CLASS = "rewild.judge.alpaca_eval.AnnotatorClient"


# ---------------------------------------------------------------------------------------------- planning (light)


def section(config: Mapping[str, Any]) -> Mapping[str, Any]:
    return config["eval"]["alpaca_eval"]


def models(config: Mapping[str, Any]) -> list[str]:
    """The `model` wildcard values of the AlpacaEval rules: every model the scores table has (rewild.plan.models)."""
    return workflow.models(config) if wanted(config) else []


def data_dir(config: Mapping[str, Any]) -> Path:
    """The folder holding the two Hub files: the download of the pinned revision, or eval.alpaca_eval.path."""
    a = section(config)
    if a["source"] == "local":
        if not a["path"]:
            raise ConfigError(
                "eval.alpaca_eval.path",
                "is not set but source is local: point it at a folder in the Hub repository's file layout "
                "(test/demo replica: data/replicas/tatsu-lab/alpaca_eval)",
            )
        return Path(a["path"])
    return alpaca_data.upstream_dir(a["revision"])


def data_inputs(config: Mapping[str, Any]) -> dict[str, str]:
    """{reference, gamed}: the paths the AlpacaEval rules read."""
    root = data_dir(config)
    return {"reference": str(root / REFERENCE_FILE), "gamed": str(root / GAMED_FILE)}


def prompt_version(config: Mapping[str, Any]) -> str:
    """The annotator's version in the judge identity: the package release, the annotator config and the data."""
    a = section(config)
    data = f"local:{a['path']}" if a["source"] == "local" else f"{HUB_REPO}@{a['revision']}"
    return f"alpaca_eval-{PACKAGE_VERSION}:{a['annotator']}:{data}"


def answer_params(config: Mapping[str, Any]) -> dict[str, Any]:
    """The answers job's result settings (generation as Evalchemy ran it)."""
    a = section(config)
    return {**{k: a[k] for k in ("temperature", "max_new_tokens", "max_model_len", "seed")},
            "limit": config["eval"]["judged_limit"]}  # fmt: skip


def annotate_params(config: Mapping[str, Any]) -> dict[str, Any]:
    """The annotation job's params: the judge's client settings, the annotator and the judge identity (a changed
    judge reruns exactly the annotation jobs)."""
    judge = judge_plan.judge_section(config)
    return {
        **{k: judge[k] for k in judge_plan.CLIENT_KEYS},
        "seed": judge["seed"],
        "annotator": section(config)["annotator"],
        "identity": judge_plan.judge_identity(config, prompt_version(config)),
        "limit": config["eval"]["judged_limit"],
    }


ANNOTATION_SECONDS = 5.0  # one 1-token verdict of a slow judge (a ~2k-token prompt)


def annotate_runtime(config: Mapping[str, Any]) -> int:
    """Minutes of one annotation job: its requests at the configured concurrency, plus a served judge's start."""
    judge = judge_plan.judge_section(config)
    minutes = ANNOTATED_INSTRUCTIONS * ANNOTATION_SECONDS / judge["concurrency"] / 60
    return int(judge_plan.LOAD_MINUTES + math.ceil(minutes))


def answers_config_hash(config: Mapping[str, Any], subject: str) -> str:
    """Provenance only: the hash of what an answers job receives."""
    return workflow.section_hash(judge_plan.subject_settings(config, subject), answer_params(config))


def annotate_config_hash(config: Mapping[str, Any]) -> str:
    return workflow.section_hash(annotate_params(config))


# ---------------------------------------------------------------------------------------------- data


def load_reference(path: str | os.PathLike) -> list[dict]:
    """The eval split (alpaca_eval_gpt4_baseline.json): a list of {instruction, output, generator, dataset} with
    unique instructions (alpaca-eval joins model and reference outputs on the instruction)."""
    rows = json.loads(Path(path).read_text(encoding="utf-8"))
    if not isinstance(rows, list) or not rows:
        raise ValueError(f"{path}: expected a non-empty JSON list of records")
    for i, r in enumerate(rows):
        missing = [c for c in COLUMNS if not isinstance(r.get(c), str)]
        if missing:
            raise ValueError(f"{path}: row {i} lacks string field(s) {missing}")
    seen: set[str] = set()
    dups = [r["instruction"][:60] for r in rows if r["instruction"] in seen or seen.add(r["instruction"])]
    if dups:
        raise ValueError(f"{path}: duplicate instructions {dups[:3]}")
    return rows


# ---------------------------------------------------------------------------------------------- pure maths


def model_output_records(reference: Sequence[Mapping[str, Any]], outputs: Sequence[str], generator: str) -> list:
    """alpaca-eval's `model_outputs`: one record per instruction, in the eval set's order."""
    if len(reference) != len(outputs):
        raise ValueError(f"{len(outputs)} outputs for {len(reference)} instructions")
    return [
        {"instruction": r["instruction"], "output": str(o), "generator": generator, "dataset": r["dataset"]}
        for r, o in zip(reference, outputs)
    ]


def is_preference(value: Any) -> bool:
    """A usable alpaca-eval preference: a finite number in [1, 2] (1 reference wins, 2 model wins; 0 = draw)."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        return False
    return math.isfinite(v) and (v == 0.0 or 1.0 <= v <= 2.0)


def by_instruction(records: Sequence[Mapping[str, Any]], key: str) -> dict[str, float]:
    """{instruction: records' `key`} for the records whose value is a number (NaN/None dropped)."""
    out: dict[str, float] = {}
    for r in records:
        v = r.get(key)
        try:
            f = float(v)
        except (TypeError, ValueError):
            continue
        if math.isfinite(f):
            out[str(r["instruction"])] = f
    return out


def lc_samples(instructions: Sequence[str], glm_preference: Mapping[str, float]) -> tuple[list[float], int]:
    """Per-instruction length-controlled preferences in percent, in the eval set's order, and how many were missing.

    alpaca-eval's LC win rate is the mean of the GLM's predicted preferences (x100) over the instructions it was
    given; it predicts one for an instruction whose verdict was malformed too (the GLM is fit on the valid verdicts
    only), so normally none is missing. One that is (an instruction alpaca-eval dropped) gets the mean of the
    others: the samples' mean stays the score, every model has one value per instruction in the same order (the
    paired bootstrap), and the gap moves no comparison."""
    have = [100.0 * glm_preference[i] for i in instructions if i in glm_preference]
    if not have:
        raise ValueError("no instruction has a length-controlled preference (every verdict malformed)")
    mean = sum(have) / len(have)
    samples = [100.0 * glm_preference[i] if i in glm_preference else mean for i in instructions]
    return samples, len(instructions) - len(have)


def sem(values: Sequence[float]) -> float | None:
    """Standard error of the mean (ddof 1), as pandas' Series.sem that alpaca-eval uses."""
    n = len(values)
    if n < 2:
        return None
    m = sum(values) / n
    return math.sqrt(sum((v - m) ** 2 for v in values) / (n - 1) / n)


def raw_preferences(instructions: Sequence[str], preference: Mapping[str, float]) -> list[float | None]:
    """The annotator's preferences (1 reference .. 2 model; None: malformed) in the eval set's order."""
    return [preference.get(i) for i in instructions]


# ---------------------------------------------------------------------------------------------- annotator config


def package_annotator_config(annotator: str) -> tuple[dict, Path]:
    """The installed alpaca-eval's config of `annotator` (its configs.yaml entry) and the folder of every evaluator
    config (the config's prompt_template is relative to it)."""
    import yaml
    from alpaca_eval import constants

    root = Path(constants.EVALUATORS_CONFIG_DIR)
    path = root / annotator / "configs.yaml"
    if not path.is_file():
        raise ConfigError("eval.alpaca_eval.annotator", f"alpaca-eval {PACKAGE_VERSION} has no annotator {annotator!r}")
    cfg = yaml.safe_load(path.read_text())
    return dict(cfg[annotator]), root


def annotator_config(
    package_cfg: Mapping[str, Any], *, model: str, client_config_path: str, num_procs: int, evaluators_dir: Path
) -> dict:
    """The package's annotator config with only where its requests go changed: the judge's model id, alpaca-eval's
    client config (our endpoint), the number of requests in flight, and the chat format forced (the package infers
    it from the model name: a served name with "instruct" in it would otherwise get the text-completions API).
    Prompt, decoding settings, parser and order randomisation are the package's."""
    cfg = json.loads(json.dumps(dict(package_cfg)))
    if cfg.get("fn_completions") != "openai_completions":
        raise ConfigError(
            "eval.alpaca_eval.annotator", f"uses {cfg.get('fn_completions')!r}; only OpenAI-compatible annotators run"
        )
    template = Path(cfg["prompt_template"])
    cfg["prompt_template"] = str(template if template.is_absolute() else evaluators_dir / template)
    kw = dict(cfg["completions_kwargs"])
    kw.update(
        model_name=model, client_config_path=str(client_config_path), num_procs=int(num_procs), requires_chatml=True
    )
    cfg["completions_kwargs"] = kw
    return cfg


def client_config(session: str) -> dict:
    """alpaca-eval's client config (client_configs/README.md): every model goes to `AnnotatorClient` of `session`.
    No key and no URL in it: the session holds the project's judge client."""
    return {"default": [{"client_class": CLIENT_CLASS, "session": session}]}


# ---------------------------------------------------------------------------------------------- the client


class AnnotatorSession:
    """What alpaca-eval's requests go through in one annotation job: the judge session (client, verdict cache,
    token ledger) and the count of refused requests."""

    def __init__(self, judge_session: Any) -> None:
        self.judge = judge_session
        self.refused = 0
        self.lock = threading.Lock()


SESSIONS: dict[str, AnnotatorSession] = {}  # alpaca-eval builds a client per request from a YAML: names, not objects
_SESSION_IDS = itertools.count()


@contextlib.contextmanager
def registered(judge_session: Any) -> Iterator[tuple[str, AnnotatorSession]]:
    name = f"s{os.getpid()}-{next(_SESSION_IDS)}"
    SESSIONS[name] = AnnotatorSession(judge_session)
    try:
        yield name, SESSIONS[name]
    finally:
        SESSIONS.pop(name, None)


def empty_completion(model: str) -> dict:
    """A completion without content or logprobs: alpaca-eval's parser fails on it, the verdict counts as malformed."""
    return {
        "id": "rewild-refused",
        "object": "chat.completion",
        "created": 0,
        "model": model,
        "choices": [
            {"index": 0, "finish_reason": "stop", "logprobs": None, "message": {"role": "assistant", "content": ""}}
        ],
        "usage": {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0},
    }


class _Completions:
    def __init__(self, owner: AnnotatorClient) -> None:
        self.owner = owner

    def create(self, *, messages: Sequence[Mapping[str, str]], model: str, **kwargs: Any) -> Any:
        return self.owner.create(messages=messages, model=model, **kwargs)


class _Chat:
    def __init__(self, owner: AnnotatorClient) -> None:
        self.completions = _Completions(owner)


class AnnotatorClient:
    """The `client_class` alpaca-eval instantiates from our client config: `client.chat.completions.create(...)`
    answered by the project's judge client through the verdict cache, as an `openai` ChatCompletion object."""

    def __init__(self, session: str, **ignored: Any) -> None:
        if session not in SESSIONS:
            raise RuntimeError(f"no AlpacaEval annotation session {session!r} in this process")
        self.session = SESSIONS[session]
        self.chat = _Chat(self)

    def create(self, *, messages: Sequence[Mapping[str, str]], model: str, **kwargs: Any) -> Any:
        from openai.types.chat import ChatCompletion

        from .client import JudgeRequestError

        js = self.session.judge
        extra = {k: kwargs.pop(k) for k in list(kwargs) if k not in ("max_tokens", "temperature", "logprobs",
                                                                       "top_logprobs")}  # fmt: skip
        try:
            resp = js.chat(
                messages=[dict(m) for m in messages],
                max_tokens=int(kwargs["max_tokens"]),
                temperature=float(kwargs["temperature"]),
                logprobs=bool(kwargs.get("logprobs")),
                top_logprobs=kwargs.get("top_logprobs"),
                extra=extra or None,
            )
        except JudgeRequestError as exc:  # one refused request (e.g. over the judge's context): a malformed verdict
            log.warning("annotation request refused: %s", exc)
            with self.session.lock:
                self.session.refused += 1
            resp = empty_completion(model)
        return ChatCompletion.model_validate(resp)


# ---------------------------------------------------------------------------------------------- jobs


def run_answers(
    reference_path: str | os.PathLike,
    subject: str,
    model: str,
    model_settings: Mapping[str, Any],
    params: Mapping[str, Any],
    out_json: str | os.PathLike,
    out_meta: str | os.PathLike,
    *,
    cache_dir: str | os.PathLike,
    config_hash: str | None = None,
    shared: Any = None,
) -> dict:
    """One model's answers to the AlpacaEval instructions -> alpaca-eval `model_outputs` JSON + settings JSON.
    `params`: answer_params; `model_settings`: rewild.judge.plan.subject_settings; `shared`: the job's
    rewild.judge.answers.Engine when it answers several benchmarks."""
    from .answers import Question, answer_all

    started = rio.now_iso()
    reference = judge_plan.first_n(load_reference(reference_path), params["limit"])
    questions = [Question(key=i, turns=[r["instruction"]], temperature=float(params["temperature"]))
                 for i, r in enumerate(reference)]  # fmt: skip
    log.info("answering %d AlpacaEval instructions with %s (%s)", len(questions), subject, model)
    answered, stats = answer_all(
        model,
        model_settings,
        questions,
        max_model_len=int(params["max_model_len"]),
        max_tokens=int(params["max_new_tokens"]),
        seed=int(params["seed"]),
        cache_dir=cache_dir,
        what=f"AlpacaEval answers of {subject}",
        shared=shared,
    )
    records = model_output_records(reference, [a.turns[0] for a in answered], subject)
    rio.write_json(out_json, records)
    finishes: dict[str, int] = {}
    for a in answered:
        finishes[a.finish_reasons[0]] = finishes.get(a.finish_reasons[0], 0) + 1
    meta = {
        "model": subject,
        "model_source": model,
        "reference": str(reference_path),
        "reference_sha256": rio.sha256_file(reference_path),
        "n": len(records),
        "settings": {**dict(params), "max_model_len_used": stats["max_model_len"],
                     "chat_template": model_settings["chat_template"]},
        "finish_reasons": finishes,
        "stats": stats,
        "provenance": rio.provenance(config_hash=config_hash, seeds={"answers": int(params["seed"])}, started=started),
    }  # fmt: skip
    rio.write_json(out_meta, meta)
    log.info("wrote %s: %d answers, %d output tokens", out_json, len(records), stats["output_tokens"])
    return meta


@contextlib.contextmanager
def gamed_data_from(path: str | os.PathLike) -> Iterator[None]:
    """alpaca-eval's GLM reads `df_gamed.csv` with hf_hub_download from the Hub's main branch at call time: answer
    that one request with the pinned (prefetched) or replica file; any other download is an error."""
    from alpaca_eval.metrics import glm_winrate

    real = glm_winrate.hf_hub_download

    def local(repo_id: str, filename: str, repo_type: str | None = None, **kwargs: Any) -> str:
        if repo_id == HUB_REPO and filename == GAMED_FILE and repo_type == "dataset":
            return str(path)
        raise RuntimeError(f"alpaca-eval asked for {repo_type}:{repo_id}/{filename}, which this job does not provide")

    glm_winrate.hf_hub_download = local
    try:
        yield
    finally:
        glm_winrate.hf_hub_download = real


def evaluate(
    model_outputs: Sequence[Mapping[str, Any]],
    reference: Sequence[Mapping[str, Any]],
    annotators_config_path: str | os.PathLike,
    gamed_path: str | os.PathLike,
    seed: int,
) -> tuple[dict, list[dict]]:
    """alpaca_eval.evaluate with the LC metric; nothing written into the package (no leaderboard, no annotation
    cache, no GLM weights). Returns (leaderboard row, annotations as records with the GLM's per-instruction
    `glm_preference`).

    The metric is the package's `get_length_controlled_winrate`, handed the annotations as a DataFrame: evaluate
    passes a list, on which the function cannot add its per-row predictions (`is_add_glm_preference_inplace`
    works on DataFrames only), and those are the samples of the paired bootstrap."""
    import pandas as pd
    from alpaca_eval import main as ae_main
    from alpaca_eval.metrics import glm_winrate

    from .client import JudgeError

    kept: dict[str, Any] = {}

    def lc_metric(annotations: Any, **kwargs: Any) -> dict:
        kept["df"] = df = pd.DataFrame(annotations).reset_index(drop=True)
        usable = int(df["preference"].map(is_preference).sum()) if "preference" in df else 0
        if usable < GLM_MIN_VERDICTS:
            raise JudgeError(
                f"only {usable} of {len(df)} AlpacaEval verdicts are usable; the length-control GLM needs at least "
                f"{GLM_MIN_VERDICTS} (every other verdict was malformed or refused: see the log)"
            )
        return glm_winrate.get_length_controlled_winrate(df, **kwargs)

    with gamed_data_from(gamed_path):
        board, _ = ae_main.evaluate(
            model_outputs=pd.DataFrame(list(model_outputs)),
            reference_outputs=pd.DataFrame(list(reference)),
            annotators_config=str(annotators_config_path),
            output_path=None,
            precomputed_leaderboard=None,
            is_return_instead_of_print=True,
            is_cache_leaderboard=False,
            fn_metric=lc_metric,
            metric_kwargs={"glm_name": GLM_NAME, "save_weights_dir": None},
            caching_path=None,  # the verdict cache (rewild.judge.client) is the one cache
            seed=int(seed),
        )
    row = board.iloc[0].to_dict()
    return row, kept["df"].to_dict(orient="records")


def jsonable(value: Any) -> Any:
    """Numbers, NaN -> None, numpy scalars -> Python, for the result JSON."""
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def run_annotate(
    answers_path: str | os.PathLike,
    paths: Mapping[str, str | os.PathLike],
    subject: str,
    judge: Mapping[str, Any],
    out_json: str | os.PathLike,
    out_annotations: str | os.PathLike,
    *,
    places: Any,
    config_hash: str | None = None,
) -> dict:
    """Annotate one model's outputs against the reference with alpaca-eval and the configured judge ->
    results/judge/{model}/alpaca_lc.json (judged-scores contract: score = LC win rate in percent, stderr, n, samples
    per instruction in the eval set's order, judge identity, tokens, n_malformed) + alpaca-eval's annotations.
    `paths`: reference, gamed; `judge`: annotate_params plus the client's cadence; `places`: JudgePlaces."""
    from . import cost
    from .server import session

    started = rio.now_iso()
    reference = judge_plan.first_n(load_reference(paths["reference"]), judge["limit"])
    outputs = json.loads(Path(answers_path).read_text(encoding="utf-8"))
    instructions = [r["instruction"] for r in reference]
    if [o["instruction"] for o in outputs] != instructions:
        raise ValueError(f"{answers_path}: instructions differ from the eval set {paths['reference']}")
    identity = dict(judge["identity"])
    package_cfg, evaluators_dir = package_annotator_config(judge["annotator"])
    with session(judge, identity, f"{BENCHMARK}-{subject}", places) as js, registered(js) as (name, ann):
        tmp = Path(tempfile.mkdtemp(prefix="alpaca_eval-"))
        try:
            client_cfg = tmp / "client_config.yaml"
            client_cfg.write_text(json.dumps(client_config(name)))  # JSON is YAML (alpaca-eval reads it so)
            cfg = annotator_config(
                package_cfg,
                model=js.client.model,
                client_config_path=str(client_cfg),
                num_procs=int(judge["concurrency"]),
                evaluators_dir=evaluators_dir,
            )
            ann_dir = tmp / judge["annotator"]
            ann_dir.mkdir()
            (ann_dir / "configs.yaml").write_text(json.dumps({judge["annotator"]: cfg}, indent=2))
            row, annotations = evaluate(outputs, reference, ann_dir / "configs.yaml", paths["gamed"], judge["seed"])
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        totals = js.ledger.totals()
        endpoint = js.describe()
        refused = ann.refused
    glm = by_instruction(annotations, "glm_preference")
    pref = {i: v for i, v in by_instruction(annotations, "preference").items() if is_preference(v)}
    samples, n_without_lc = lc_samples(instructions, glm)
    n_malformed = sum(1 for i in instructions if i not in pref)
    score = float(row["length_controlled_winrate"])
    summary = {
        "model": subject,
        "benchmark": BENCHMARK,
        "score": score,
        "stderr": jsonable(row.get("lc_standard_error")),
        "n": len(samples),
        "n_annotated": len(samples) - n_malformed,
        "n_without_lc": n_without_lc,
        "samples": samples,
        "raw_preferences": raw_preferences(instructions, pref),
        "win_rate": jsonable(row.get("win_rate")),
        "win_rate_stderr": jsonable(row.get("standard_error")),
        "discrete_win_rate": jsonable(row.get("discrete_win_rate")),
        "avg_length": jsonable(row.get("avg_length")),
        "n_refused": refused,
        "annotator": judge["annotator"],
        "alpaca_eval_version": PACKAGE_VERSION,
        "metric": f"{LC_METRIC}({GLM_NAME})",
        "endpoint": endpoint,
        **cost.result_fields(identity, totals, n_malformed),
        "data": {k: {"path": str(v), "sha256": rio.sha256_file(v)} for k, v in paths.items()},
        "provenance": rio.provenance(config_hash=config_hash, seeds={"annotator": int(judge["seed"])}, started=started),
    }
    rio.write_json(out_annotations, jsonable(annotations))
    rio.write_json(out_json, jsonable(summary))
    log.info(
        "AlpacaEval LC win rate of %s: %.2f%% (raw %.2f%%), %d instructions, %d malformed verdicts, judge tokens %s",
        subject, score, float(row.get("win_rate") or float("nan")), len(samples), n_malformed, summary["tokens"],
    )  # fmt: skip
    return summary

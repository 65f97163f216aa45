"""One job where the judged benchmarks would otherwise load the same model many times (rules/judged.smk).

- Answers (eval.group_tasks, as for lm-eval tasks): a model answers every judged benchmark it has (MT-Bench,
  AlpacaEval, MixEval) in one job on one vLLM engine. Each benchmark still fits its prompts into its own context and
  seeds each request by itself, so an answer does not depend on the grouping; what grouping costs is rerun
  precision: a changed answer setting of one benchmark reruns that model's answers to all of them.
- Grading (eval.judge.group_grading): one job grades every model on every judged benchmark through one judge: a
  serve_local judge starts once for the run instead of once per (model, benchmark). A changed model reruns that one
  job, and the verdict cache answers every request of the unchanged models, so only the changed model's requests
  reach the judge. An API judge gains nothing from it (nothing to start); per-job grading keeps more parallelism.

Both write exactly the files the per-benchmark rules write, through the same protocol functions, so nothing that
reads results/judge/ knows which shape ran. Under grouped grading the SDQ judgments of the DGMs' data (when the
judge tables are on) join the one grading job too.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from typing import Any

from rewild import plan as workflow

from . import alpaca_eval as alpaca
from . import mixeval
from . import plan as judge_plan

log = logging.getLogger("rewild.judge")

BENCHMARKS = ("mtbench", "alpaca_lc", "mixeval")  # the order a grouped job runs them in

# The files of each benchmark's answers and grading, per model: the per-benchmark rules' outputs, by output name.
ANSWER_FILES: dict[str, dict[str, str]] = {
    "mtbench": {"mtbench_answers": "answers.jsonl", "mtbench_meta": "answers.json"},
    "alpaca_lc": {"alpaca_answers": "alpaca_answers.json", "alpaca_meta": "alpaca_answers.meta.json"},
    "mixeval": {"mixeval_answers": "mixeval_answers.json"},
}
GRADE_FILES: dict[str, dict[str, str]] = {
    "mtbench": {"mtbench_grades": "mtbench.jsonl", "mtbench_summary": "mtbench.json"},
    "alpaca_lc": {"alpaca_summary": "alpaca_lc.json", "alpaca_annotations": "alpaca_lc.annotations.json"},
    "mixeval": {"mixeval_summary": "mixeval.json", "mixeval_verdicts": "mixeval.verdicts.json"},
}


def judge_path(model: str, name: str) -> str:
    return f"results/judge/{model}/{name}"


# ---------------------------------------------------------------------------------------------- the plan


def benchmark_models(config: Mapping[str, Any]) -> dict[str, list[str]]:
    """The models each judged benchmark answers and grades (only benchmarks in the DAG)."""
    found = {
        "mtbench": judge_plan.mtbench_models(config),
        "alpaca_lc": alpaca.models(config),
        "mixeval": mixeval.models(config),
    }
    return {b: found[b] for b in BENCHMARKS if found[b]}


def grouped_answer_models(config: Mapping[str, Any]) -> list[str]:
    """Models whose judged answers come from one job: under eval.group_tasks, each model every judged benchmark of
    the DAG answers (at least two of them); the rest (e.g. a DGM only MT-Bench answers) keep per-benchmark jobs."""
    sets = list(benchmark_models(config).values())
    if not config["eval"]["group_tasks"] or len(sets) < 2:
        return []
    return [m for m in sets[0] if all(m in s for s in sets[1:])]


def answer_benchmarks(config: Mapping[str, Any]) -> list[str]:
    """The benchmarks a grouped answers job answers (none without grouped models)."""
    return list(benchmark_models(config)) if grouped_answer_models(config) else []


def single_answer_models(config: Mapping[str, Any], benchmark: str) -> list[str]:
    """The models whose answers to `benchmark` its own rule writes."""
    grouped = set(grouped_answer_models(config))
    return [m for m in benchmark_models(config).get(benchmark, []) if m not in grouped]


def answer_outputs(config: Mapping[str, Any]) -> dict[str, str]:
    """Named outputs of the grouped answers rule (`{model}` wildcard)."""
    return {name: judge_path("{model}", f) for b in answer_benchmarks(config) for name, f in ANSWER_FILES[b].items()}


def data_inputs(config: Mapping[str, Any], benchmarks: Sequence[str], *, grading: bool) -> dict[str, str]:
    """The benchmark data files a grouped job reads, by input name (MT-Bench's references and judge prompts, and
    AlpacaEval's length-control file, only for grading)."""
    out: dict[str, str] = {}
    if "mtbench" in benchmarks:
        mt = judge_plan.mtbench_inputs(config)
        out.update({f"mtbench_{k}": v for k, v in mt.items() if grading or k == "questions"})
    if "alpaca_lc" in benchmarks:
        al = alpaca.data_inputs(config)
        out.update({f"alpaca_{k}": v for k, v in al.items() if grading or k == "reference"})
    if "mixeval" in benchmarks:
        out.update({f"mixeval_{k}": v for k, v in mixeval.data_inputs(config).items()})
    return out


def mixeval_answer_params(config: Mapping[str, Any]) -> dict[str, Any]:
    return {**mixeval.answer_params(config), "source": mixeval.section(config)["source"]}


def mixeval_parse_params(config: Mapping[str, Any]) -> dict[str, Any]:
    return {**mixeval.parse_params(config), "source": mixeval.section(config)["source"]}


# each benchmark's params of a stage: what its per-benchmark rule's params hold (MixEval's rules carry the data
# source beside them)
STAGE_PARAMS = {
    "answers": {"mtbench": judge_plan.answer_params, "alpaca_lc": alpaca.answer_params,
                "mixeval": mixeval_answer_params},
    "grade": {"mtbench": judge_plan.grade_params, "alpaca_lc": alpaca.annotate_params, "mixeval": mixeval_parse_params},
}  # fmt: skip


def answer_params(config: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """What each benchmark's answers depend on (the per-benchmark answer rules' params)."""
    return {b: STAGE_PARAMS["answers"][b](config) for b in answer_benchmarks(config)}


def answers_config_hash(config: Mapping[str, Any], subject: str) -> str:
    """Provenance only: the hash of what a grouped answers job receives."""
    return workflow.section_hash(judge_plan.subject_settings(config, subject), answer_params(config))


def answers_runtime(config: Mapping[str, Any], subject: str) -> int:
    """Minutes: one load, then each benchmark's answers (a per-benchmark job's budget less its load)."""
    per_job = judge_plan.answers_runtime(config, subject)
    return judge_plan.LOAD_MINUTES + len(answer_benchmarks(config)) * (per_job - judge_plan.LOAD_MINUTES)


def grading_grouped(config: Mapping[str, Any]) -> bool:
    return bool(judge_plan.judge_section(config)["group_grading"]) and bool(benchmark_models(config))


def sdq_dgms(config: Mapping[str, Any]) -> list[str]:
    """The DGMs whose SDQ judgments the grouped grading job makes (judge tables on), in judged_dgms order."""
    if not grading_grouped(config) or not judge_plan.judge_section(config)["enabled"]:
        return []
    return judge_plan.judged_dgms(config, generated_only=False)


def single_sdq_dgms(config: Mapping[str, Any]) -> list[str]:
    """The DGMs rule sdq_judge judges (none when the grouped grading job does)."""
    return [] if sdq_dgms(config) else judge_plan.judged_dgms(config, generated_only=False)


def single_grade_models(config: Mapping[str, Any], benchmark: str) -> list[str]:
    """The models `benchmark`'s own grading rule grades (none when one job grades everything)."""
    return [] if grading_grouped(config) else benchmark_models(config).get(benchmark, [])


def grade_outputs(config: Mapping[str, Any]) -> dict[str, list[str]]:
    """Named outputs of the grouped grading rule: per output name, one file per model in benchmark_models order."""
    if not grading_grouped(config):
        return {}
    out = {name: [judge_path(m, f) for m in models]
           for b, models in benchmark_models(config).items() for name, f in GRADE_FILES[b].items()}  # fmt: skip
    dgms = sdq_dgms(config)
    if dgms:
        out["sdq_judgments"] = [f"results/judge/dgm/{d}/sdq.jsonl" for d in dgms]
        out["sdq_summary"] = [f"results/judge/dgm/{d}/sdq.json" for d in dgms]
    return out


def grade_answer_inputs(config: Mapping[str, Any]) -> dict[str, list[str]]:
    """The answers the grouped grading job reads, per benchmark, one per model in benchmark_models order."""
    names = {"mtbench": "answers.jsonl", "alpaca_lc": "alpaca_answers.json", "mixeval": "mixeval_answers.json"}
    out = {f"{b}_answers": [judge_path(m, names[b]) for m in models] for b, models in benchmark_models(config).items()}
    dgms = sdq_dgms(config)
    if dgms:  # the SDQ judgments read the DGMs' generations and the rubrics
        out["sdq_generations"] = [f"results/generations/{d}.parquet" for d in dgms]
    return out


def grade_params(config: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Per benchmark: its grading params (judge identity included: a changed judge reruns the job) and models."""
    grade = STAGE_PARAMS["grade"]
    out = {b: {"models": models, "judge": grade[b](config)} for b, models in benchmark_models(config).items()}
    dgms = sdq_dgms(config)
    if dgms:
        out["sdq"] = {"models": dgms, "judge": judge_plan.sdq_params(config)}
    return out


def grading_runtime(config: Mapping[str, Any]) -> int:
    """Minutes: one judge start, then every (benchmark, model) grading at its per-job budget less the start."""
    per_job = {
        "mtbench": judge_plan.judge_runtime(config, "grade"),
        "alpaca_lc": alpaca.annotate_runtime(config),
        "mixeval": mixeval.parse_runtime(config),
    }
    load = judge_plan.LOAD_MINUTES
    sdq = len(sdq_dgms(config)) * (judge_plan.judge_runtime(config, "sdq") - load)
    return load + sdq + sum(len(ms) * (per_job[b] - load) for b, ms in benchmark_models(config).items())


# ---------------------------------------------------------------------------------------------- the jobs


def request_count(benchmark: str, data: Mapping[str, str], limit: int | None) -> int:
    """How many prompts a benchmark's first turn sends (sizes the shared engine's batch)."""
    if benchmark == "mtbench":
        from . import mtbench

        return len(judge_plan.first_n(mtbench.load_questions(data["mtbench_questions"]), limit))
    if benchmark == "alpaca_lc":
        return len(judge_plan.first_n(alpaca.load_reference(data["alpaca_reference"]), limit))
    paths = {s: data[f"mixeval_{s}"] for s in mixeval.SPLITS}
    return len(mixeval.load_items(data["mixeval_source"], paths, limit))


def context_wanted(benchmark: str, params: Mapping[str, Any]) -> int:
    return int(params["answer_max_model_len"] if benchmark == "mtbench" else params["max_model_len"])


def run_answers(
    model: str,
    subject: str,
    model_settings: Mapping[str, Any],
    params: Mapping[str, Mapping[str, Any]],
    data: Mapping[str, str],
    outputs: Mapping[str, str],
    *,
    cache_dir: str | os.PathLike,
    config_hash: str | None = None,
) -> dict[str, dict]:
    """`subject` (loaded from `model`) answers every benchmark of `params` (answer_params) on one engine, which
    reserves the largest context any of them asks for. `data`: data_inputs by name (plus `mixeval_source`);
    `outputs`: answer_outputs by name. Returns each benchmark's meta."""
    from . import answers, mtbench

    mixeval_data = {"mixeval_source": params["mixeval"]["source"]} if "mixeval" in params else {}
    data = {**data, **mixeval_data}
    first = next(iter(params.values()))
    shared = answers.load(
        model,
        model_settings,
        max_model_len=max(context_wanted(b, p) for b, p in params.items()),
        n_requests=max(request_count(b, data, p["limit"]) for b, p in params.items()),
        seed=int(first["seed"]),  # every request carries its own seed; the engine's seeds nothing they draw
        cache_dir=cache_dir,
        what=f"judged answers ({', '.join(params)}) of {subject}",
    )
    log.info("%s: one engine for %s, loaded in %.1f s (context %d)", subject, ", ".join(params), shared.load_seconds,
             shared.max_model_len)  # fmt: skip
    done: dict[str, dict] = {}
    if "mtbench" in params:
        done["mtbench"] = mtbench.run_answers(
            data["mtbench_questions"], subject, model, model_settings, params["mtbench"],
            outputs["mtbench_answers"], outputs["mtbench_meta"], cache_dir=cache_dir, config_hash=config_hash,
            shared=shared,
        )  # fmt: skip
    if "alpaca_lc" in params:
        done["alpaca_lc"] = alpaca.run_answers(
            data["alpaca_reference"], subject, model, model_settings, params["alpaca_lc"],
            outputs["alpaca_answers"], outputs["alpaca_meta"], cache_dir=cache_dir, config_hash=config_hash,
            shared=shared,
        )  # fmt: skip
    if "mixeval" in params:
        done["mixeval"] = mixeval.run_answers(
            data["mixeval_source"], {s: data[f"mixeval_{s}"] for s in mixeval.SPLITS}, subject, model,
            model_settings, {k: v for k, v in params["mixeval"].items() if k != "source"}, outputs["mixeval_answers"],
            cache_dir=cache_dir, config_hash=config_hash, shared=shared,
        )  # fmt: skip
    return done


def run_grading(
    params: Mapping[str, Mapping[str, Any]],
    data: Mapping[str, str],
    answers_by_benchmark: Mapping[str, Sequence[str]],
    outputs: Mapping[str, Sequence[str]],
    *,
    cadence: Mapping[str, Any],
    places: Any,
    config_hash: str | None = None,
) -> dict[str, list[dict]]:
    """Grade every model of `params` (grade_params) on its benchmarks with one judge: a serve_local judge starts once
    for all of them (rewild.judge.server.serving). `data`: data_inputs by name; `answers_by_benchmark`:
    grade_answer_inputs; `outputs`: grade_outputs; `cadence`: how requests are sent (plan.client_cadence);
    `places`: the job's JudgePlaces. Returns each benchmark's summaries in model order."""
    from . import mtbench, sdq
    from .server import serving

    first = next(iter(params.values()))["judge"]
    done: dict[str, list[dict]] = {b: [] for b in params}
    with serving({**first, **cadence}, places) as shared:
        for bench, spec in params.items():
            judge = {**spec["judge"], **cadence}
            for i, subject in enumerate(spec["models"]):
                answers = answers_by_benchmark[f"{bench}_answers"][i] if bench != "sdq" else None
                if bench == "mtbench":
                    paths = {k: data[f"mtbench_{k}"] for k in ("questions", "references", "prompts")}
                    done[bench].append(mtbench.run_grade(
                        paths, answers, subject, judge, outputs["mtbench_grades"][i], outputs["mtbench_summary"][i],
                        places=shared, config_hash=config_hash,
                    ))  # fmt: skip
                elif bench == "alpaca_lc":
                    paths = {k: data[f"alpaca_{k}"] for k in ("reference", "gamed")}
                    done[bench].append(alpaca.run_annotate(
                        answers, paths, subject, judge, outputs["alpaca_summary"][i],
                        outputs["alpaca_annotations"][i], places=shared, config_hash=config_hash,
                    ))  # fmt: skip
                elif bench == "sdq":
                    done[bench].append(sdq.run_sdq(
                        answers_by_benchmark["sdq_generations"][i], subject, judge, outputs["sdq_judgments"][i],
                        outputs["sdq_summary"][i], rubrics_path=data["sdq_rubrics"], places=shared,
                        config_hash=config_hash,
                    ))  # fmt: skip
                else:
                    paths = {s: data[f"mixeval_{s}"] for s in mixeval.SPLITS}
                    done[bench].append(mixeval.run_parse(
                        judge["source"], paths, answers, subject, judge, outputs["mixeval_summary"][i],
                        outputs["mixeval_verdicts"][i], places=shared, config_hash=config_hash,
                    ))  # fmt: skip
    return done

"""LLM-as-judge: MT-Bench-style single-answer grading (paper §5, §6 "Judge preference") and intrinsic synthetic
data quality (SDQ) judgments of DGM responses (beyond the paper; spec §2 "Judgment mode").

One module per concern; import the one you need (this package imports none of them, so that the workflow's plan
helpers load without the client, the engine or pandas):

- `client`: the OpenAI-compatible HTTP client (retries, the per-job response cache, the API key read from the
  environment at call time and redacted from every error), used by every judged benchmark;
- `server`: the lifecycle of a local vLLM OpenAI-compatible judge server, and `endpoint`, the configured judge
  (an external `base_url` or a server started for the job);
- `parse`: the judge's 1-10 score from its text, and the score distribution from digit log-probabilities;
- `answers`: a model answers multi-turn questions with vLLM offline (turn k+1 sees its own earlier answers);
- `mtbench`: MT-Bench questions, answer records, grading prompts, grading and the `run_answers` / `run_grade`
  stage entries;
- `sdq`: intrinsic SDQ (rubrics, seeded response sample, one judgment per response and factor, `run_sdq`);
- `plan`: what the judge rules need from a validated config (targets, subjects, inputs, params, resources);
- `tables`: PrefRt / FlipCt, MT-Bench and intrinsic-SDQ tables, their plot, `run_preference` / `run_sdq_tables`.

Deviations from the paper (also in the report): judge = any OpenAI-compatible endpoint, or an open model served
locally; our own prompt wording (FastChat's is not copied); per-question score = mean of the turns' scores (a turn
the judge could not score is left out); SDQ judgments additionally renormalise the digit probabilities over 1-10
and split the mass of a "1" token between 1 and 10 when the tokenizer writes numbers digit by digit.
"""

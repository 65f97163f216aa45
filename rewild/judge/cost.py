"""What judging cost: an API price table (USD per million tokens, per model id), the estimate of a judged result
from its measured tokens, and the accounting fields every judged benchmark's result JSON carries
(results/judge/{model}/{benchmark}.json: judge, tokens, cost_usd_estimate, n_malformed).

Prices are OpenAI's standard-tier list prices per 1M tokens (https://openai.com/api/pricing), as published for these
snapshots in 2024-2025; they change without notice and batch/cached-input discounts are ignored, so the figure is
an estimate of what the run's tokens cost at list price. A model id not in the table (e.g. an open judge behind
its own vLLM server) and any local judge (`serve_local`) get no estimate (null). Editing the table changes no
judged result: the cost table rule recomputes the estimate from the recorded tokens.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

# model id -> (USD per 1M prompt tokens, USD per 1M completion tokens)
PRICES_USD_PER_MTOK: dict[str, tuple[float, float]] = {
    "gpt-4o-mini-2024-07-18": (0.15, 0.60),  # the paper's judge (MT-Bench, AlpacaEval annotator, MixEval parser)
    "gpt-4o-2024-08-06": (2.50, 10.00),
    "gpt-4o-2024-05-13": (5.00, 15.00),
    "gpt-4-turbo-2024-04-09": (10.00, 30.00),  # AlpacaEval 2.0's official annotator
    "gpt-4-1106-preview": (10.00, 30.00),
    "gpt-4-0613": (30.00, 60.00),  # FastChat's original MT-Bench judge
    "gpt-3.5-turbo-0125": (0.50, 1.50),
    "gpt-4.1-mini-2025-04-14": (0.40, 1.60),
}
PRICE_SOURCE = "https://openai.com/api/pricing (standard tier list prices, USD per 1M tokens)"


def price(model: str | None) -> tuple[float, float] | None:
    """(prompt, completion) USD per 1M tokens of an API model id, or None when the table does not know it."""
    return PRICES_USD_PER_MTOK.get(str(model)) if model else None


def estimate_usd(identity: Mapping[str, Any], tokens: Mapping[str, Any]) -> float | None:
    """List-price cost of `tokens` ({prompt, completion}) for the judge `identity`; None for a local judge or a
    model without a price."""
    if identity["base_url_kind"] != "api":
        return None
    p = price(identity["model"])
    if p is None:
        return None
    return round((int(tokens["prompt"]) * p[0] + int(tokens["completion"]) * p[1]) / 1e6, 6)


def result_fields(identity: Mapping[str, Any], totals: Mapping[str, Any], n_malformed: int) -> dict[str, Any]:
    """The judged-result keys of the contract (judge, tokens, cost_usd_estimate, n_malformed) from the judge's
    identity and a job's TokenLedger totals. `tokens` counts every request of the result, cached ones included
    (the result's cost does not depend on what was cached); `tokens_sent` only what this run sent."""
    tokens = {"prompt": int(totals["prompt"]), "completion": int(totals["completion"])}
    return {
        "judge": dict(identity),
        "tokens": tokens,
        "tokens_sent": {"prompt": int(totals["sent_prompt"]), "completion": int(totals["sent_completion"])},
        "judge_requests": int(totals["requests"]),
        "judge_cache_hits": int(totals["cache_hits"]),
        "cost_usd_estimate": estimate_usd(identity, tokens),
        "n_malformed": int(n_malformed),
    }

"""What a judge said: the 1-10 score in its text (robust to malformed output: an unparsable verdict is counted by
the caller, never fatal), and the score distribution read from the digit log-probabilities after "Score:"."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

SCORE_MIN, SCORE_MAX = 1, 10

_NUM = r"(\d+(?:\.\d+)?)"
# Highest priority first; the first pattern that matches anything decides.
_SCORE_PATTERNS: tuple[tuple[str, re.Pattern], ...] = (
    ("double_bracket", re.compile(r"\[\[\s*" + _NUM + r"\s*(?:/\s*10\s*)?\]\]")),
    (
        "labelled",
        re.compile(
            r"\b(?:rating|score|grade|rated?(?:\s+(?:it|this|the\s+(?:answer|response)))?(?:\s+(?:an?|as))?)"
            r"[\s*_\"'`]{0,4}(?:is|of|=|:)?[\s:=*_\"'`(]{0,6}?" + _NUM + r"(?!\d)",
            re.I,
        ),
    ),
    ("out_of_10", re.compile(r"(?<![\d.])" + _NUM + r"\s*(?:/|out\s+of)\s*10(?!\d|\.\d)", re.I)),
    ("bracket", re.compile(r"(?<!\[)\[\s*" + _NUM + r"\s*\](?!\])")),
    ("bare", re.compile(r"^\W*" + _NUM + r"\W*$")),
)


def parse_score_detail(text: Any, lo: float = SCORE_MIN, hi: float = SCORE_MAX) -> tuple[float | None, str]:
    """(score or None, reason). Reasons: ok:<pattern>, empty, no_number, ambiguous, out_of_range.

    Patterns by priority: "[[7]]" (also "Rating: [[7]]", "[[7/10]]") > "Rating: 7" / "score of 7" / "Score: 7" >
    "7/10" / "7 out of 10" > "[7]" > a bare number. The first pattern with any match decides; several *different*
    values there are ambiguous (None), a value outside [lo, hi] is out of range (None): a judge's number is never
    replaced by an unrelated one found further down (e.g. "3 steps" in the explanation).
    """
    if text is None or (isinstance(text, float) and math.isnan(text)):
        return None, "empty"
    s = str(text).strip()
    if not s:
        return None, "empty"
    for name, pat in _SCORE_PATTERNS:
        values = [float(m) for m in pat.findall(s)]
        if not values:
            continue
        distinct = sorted(set(values))
        if len(distinct) > 1:
            return None, "ambiguous"
        v = distinct[0]
        if not (lo <= v <= hi):
            return None, "out_of_range"
        return v, f"ok:{name}"
    return None, "no_number"


def parse_score(text: Any, lo: float = SCORE_MIN, hi: float = SCORE_MAX) -> float | None:
    """The judge's 1-10 score in `text`, or None when there is none, several different ones, or one out of range."""
    return parse_score_detail(text, lo, hi)[0]


# MT-Bench's verdict format "[[rating]]" as FastChat reads it: the first "[[x]]", else the first "[x]"
_RATING_PATTERNS = (
    ("double_bracket", re.compile(r"\[\[(\d+\.?\d*)\]\]")),
    ("bracket", re.compile(r"\[(\d+\.?\d*)\]")),
)


def parse_rating(text: Any, lo: float = SCORE_MIN, hi: float = SCORE_MAX) -> tuple[float | None, str]:
    """(rating or None, reason) of an MT-Bench single-answer verdict, read as FastChat reads it: the first "[[x]]",
    else the first "[x]"; reasons ok:double_bracket, ok:bracket, empty, no_rating, out_of_range. Unlike FastChat a
    value outside [lo, hi] is not averaged in (it is counted as malformed, as a missing rating is)."""
    if text is None or (isinstance(text, float) and math.isnan(text)) or not str(text).strip():
        return None, "empty"
    for name, pat in _RATING_PATTERNS:
        m = pat.search(str(text))
        if m:
            v = float(m.group(1))
            return (v, f"ok:{name}") if lo <= v <= hi else (None, "out_of_range")
    return None, "no_rating"


_MARKER = re.compile(r"score\s*:", re.I)


def _digit_value(token: str) -> int | None:
    t = token.strip()
    if t.isdigit() and t.isascii():
        v = int(t)
        if SCORE_MIN <= v <= SCORE_MAX and str(v) == t:
            return v
    return None


def _prob_of(entries: Sequence[Mapping[str, Any]] | None, token: str) -> float:
    if not entries:
        return 0.0
    return sum(math.exp(float(e["logprob"])) for e in entries if str(e.get("token", "")).strip() == token)


def digit_distribution(
    content: Sequence[Mapping[str, Any]] | None, prefilled: bool = False
) -> tuple[dict[int, float] | None, dict[str, Any]]:
    """Distribution over scores 1-10 from the top logprobs of the token after "Score:".

    `content` is the chat completion's `logprobs.content` (one entry per generated token with `token`, `logprob`
    and `top_logprobs`). With `prefilled` the prompt already ended with "Score:", so the search starts at the first
    generated token; otherwise it starts after the first "Score:" in the generated text. Whitespace-only tokens
    are skipped (SmolLM2 writes " 7" as "Ġ" + "7"). Candidates whose stripped text is 1..10 are summed per value
    and renormalised. "10": a tokenizer with a "10" token lists it directly; one that writes digits one by one
    puts 1 and 10 together in "1": when "1" was generated, the next position's p("0") splits that mass into
    p(10) = p("1")·p("0"|"1") and p(1) = p("1")·(1 − p("0"|"1")); when another digit was generated the next
    position is unknown and "1" counts as 1 (recorded as `ten_split: unknown`).
    Returns (None, info) when there is no such position or no digit among its candidates.
    """
    info: dict[str, Any] = {"position": None, "digit_mass": 0.0, "ten_split": None}
    if not content:
        info["reason"] = "no_logprobs"
        return None, info
    start_char = 0
    if not prefilled:
        text = "".join(str(e.get("token", "")) for e in content)
        m = _MARKER.search(text)
        if not m:
            info["reason"] = "no_marker"
            return None, info
        start_char = m.end()
    pos, offset = None, 0
    for i, e in enumerate(content):
        tok = str(e.get("token", ""))
        end = offset + len(tok)
        if end > start_char and tok[max(0, start_char - offset) :].strip():
            pos = i
            break
        offset = end
    if pos is None:
        info["reason"] = "nothing_after_marker"
        return None, info
    entry = content[pos]
    top = entry.get("top_logprobs") or [{"token": entry.get("token"), "logprob": entry.get("logprob")}]
    mass: dict[int, float] = {}
    for alt in top:
        v = _digit_value(str(alt.get("token", "")))
        if v is not None and alt.get("logprob") is not None:
            mass[v] = mass.get(v, 0.0) + math.exp(float(alt["logprob"]))
    info["position"] = pos
    info["token"] = entry.get("token")
    total = sum(mass.values())
    info["digit_mass"] = total
    if total <= 0:
        info["reason"] = "no_digit_candidates"
        return None, info
    multi_digit = any(_digit_value(str(a.get("token", ""))) == 10 for a in top)
    if 1 in mass and not multi_digit:
        if str(entry.get("token", "")).strip() == "1" and pos + 1 < len(content):
            q0 = min(1.0, _prob_of(content[pos + 1].get("top_logprobs"), "0"))
            p1 = mass.pop(1)
            mass[10] = mass.get(10, 0.0) + p1 * q0
            mass[1] = p1 * (1.0 - q0)
            info["ten_split"] = q0
        else:
            info["ten_split"] = "unknown"
    total = sum(mass.values())
    probs = {d: mass.get(d, 0.0) / total for d in range(SCORE_MIN, SCORE_MAX + 1)}
    info["reason"] = "ok"
    return probs, info


def expected_score(probs: Mapping[int, float]) -> float:
    """Σ p(d)·d over 1..10 (probabilities renormalised)."""
    total = sum(probs.values())
    if total <= 0:
        raise ValueError("expected_score: empty distribution")
    return float(sum(float(d) * p for d, p in probs.items()) / total)

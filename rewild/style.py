"""Style heritability (WildChat-50M §6): Markdown structure of responses, proportional frequency (PF) and its
mean (MPF) between two models."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from html.parser import HTMLParser

import numpy as np

from .stats import is_missing

STYLE_TAGS: tuple[str, ...] = ("strong", "em", "ol", "ul", "h1", "h2", "h3", "h4", "p")
# MPF averages over the nine tags *and* `len`: only then do the paper's counts give its MPFs 0.904 / 1.052 /
# 2.61 (without `len` they give 0.897 / 1.056 / 2.78). See test_mpf_reproduces_paper.
STYLE_KEYS: tuple[str, ...] = STYLE_TAGS + ("len",)


class _TagCounter(HTMLParser):
    def __init__(self, tags: Iterable[str]) -> None:
        super().__init__(convert_charrefs=True)
        self.counts = {t: 0 for t in tags}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self.counts:
            self.counts[tag] += 1


def markdown_tag_counts(
    texts: Iterable[str], extensions: Sequence[str] = ("fenced_code",)
) -> dict[str, float]:
    """Total count of each style tag over all responses after Markdown → HTML, plus `len` and `n`.

    Tag counts are totals over the response set, `len` is the *mean* character length of a response (of the
    Markdown source). The paper lists len ≈ 6,400 next to ~1,200 <p> tags: as a total over the 160 MT-Bench
    answers that would be 40 characters per answer holding 7+ paragraphs, which is impossible, so it must be
    a per-response mean. `fenced_code` keeps code blocks from being counted as paragraphs (the paper does not
    say which converter options it used; its notebook renders with markdown2).
    """
    import markdown  # local: only this analysis needs it

    md = markdown.Markdown(extensions=list(extensions))
    totals = {t: 0 for t in STYLE_TAGS}
    lengths: list[int] = []
    for text in texts:
        text = "" if is_missing(text) else str(text)
        lengths.append(len(text))
        parser = _TagCounter(STYLE_TAGS)
        parser.feed(md.reset().convert(text))
        parser.close()
        for t, c in parser.counts.items():
            totals[t] += c
    out: dict[str, float] = dict(totals)
    out["len"] = float(np.mean(lengths)) if lengths else float("nan")
    out["n"] = len(lengths)
    return out


def proportional_frequency(a: Mapping[str, float], b: Mapping[str, float]) -> dict[str, float]:
    """PF = count_a / count_b for each style key.

    0/0 is 1.0 (neither model uses the tag: identical style, as the paper counts h2 for L8B:Q72 vs Q72);
    x/0 with x > 0 is +inf, so a tag that only one side uses makes MPF infinite rather than being dropped.
    """
    keys = [k for k in STYLE_KEYS if k in a or k in b]
    missing = [k for k in keys if k not in a or k not in b]
    if missing:
        raise KeyError(f"style keys present on one side only: {missing}")
    out: dict[str, float] = {}
    for k in keys:
        x, y = float(a[k]), float(b[k])
        if y == 0:
            out[k] = 1.0 if x == 0 else math.inf
        else:
            out[k] = x / y
    return out


def mpf(a: Mapping[str, float], b: Mapping[str, float], keys: Sequence[str] = STYLE_KEYS) -> float:
    """Mean proportional frequency of `a` relative to `b` over `keys` (default: 9 tags + len)."""
    pf = proportional_frequency({k: a[k] for k in keys}, {k: b[k] for k in keys})
    return float(np.mean([pf[k] for k in keys]))


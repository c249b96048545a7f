"""Prompts: the opening characters of paragraphs of the corpus's held-out part (never trained on).

Paragraphs of at least PROMPT_CHARS + 16 characters, taken in order; train uses every 5th one
starting at the first, validation (a second draw of train: as many prompts, as many new tokens)
every 5th starting at the second, heldout every 5th starting at the third, so none overlap.
heldout_resample (every 5th from the fourth) is a second draw of heldout, never used by a
campaign: it measures how much a held-out figure moves with the prompts drawn.
"""
from __future__ import annotations

import functools

from evaluators.tasks.models import corpus

PROMPT_CHARS = 48
SPLITS = {"train": {"offset": 0, "count": 6, "n_new": 64}, "validation": {"offset": 1, "count": 6, "n_new": 64},
          "heldout": {"offset": 2, "count": 24, "n_new": 96},
          "heldout_resample": {"offset": 3, "count": 24, "n_new": 96}}


@functools.lru_cache(maxsize=None)
def prompt_set(split: str) -> tuple[tuple[int, ...], ...]:
    _, heldout = corpus.splits()
    paragraphs = [p for p in heldout.split("\n\n") if len(p) >= PROMPT_CHARS + 16]
    spec = SPLITS[split]
    chosen = paragraphs[spec["offset"]::5][:spec["count"]]
    if len(chosen) < spec["count"]:
        raise RuntimeError(f"the held-out corpus has too few paragraphs for split {split!r}")
    return tuple(tuple(corpus.encode(p[:PROMPT_CHARS])) for p in chosen)


def n_new(split: str) -> int:
    return SPLITS[split]["n_new"]

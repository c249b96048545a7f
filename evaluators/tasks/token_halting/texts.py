"""The text streams each split decodes: paragraphs of the corpus's held-out part, never trained on.

The deep model trains on `corpus.splits()[0]`; every split here comes from `corpus.splits()[1]`.
Paragraphs are dealt round-robin (train gets paragraph 0, 4, 8, ...; validation 1, 5, ...;
heldout 2, 3, 6, 7, ...), each split's paragraphs are joined and cut into streams of
STREAM_TOKENS + 1 characters: the model reads STREAM_TOKENS of them and is scored on predicting
each next one. `probe` is a short slice of train for functional hashing.
"""
from __future__ import annotations

import functools

import torch

from evaluators.tasks.models import corpus

STREAM_TOKENS = 128
SPLITS = {
    "train": {"residues": (0,), "streams": None, "tokens": STREAM_TOKENS},
    "validation": {"residues": (1,), "streams": None, "tokens": STREAM_TOKENS},
    "heldout": {"residues": (2, 3), "streams": None, "tokens": STREAM_TOKENS},
    "probe": {"residues": (0,), "streams": 8, "tokens": 48},
}


@functools.lru_cache(maxsize=None)
def split_text(split: str) -> str:
    if split not in SPLITS:
        raise KeyError(f"no text split {split!r}; splits: {', '.join(SPLITS)}")
    _, heldout = corpus.splits()
    paragraphs = [p for p in heldout.split("\n\n") if p.strip()]
    residues = SPLITS[split]["residues"]
    return "\n\n".join(p for i, p in enumerate(paragraphs) if i % 4 in residues)


@functools.lru_cache(maxsize=None)
def streams(split: str) -> torch.Tensor:
    """[n_streams, tokens + 1] token ids: inputs are [:, :-1], next-token targets [:, 1:]."""
    spec = SPLITS[split]
    ids = corpus.encode(split_text(split))
    width = STREAM_TOKENS + 1
    n = len(ids) // width
    if spec["streams"] is not None:
        n = min(n, spec["streams"])
    rows = torch.tensor(ids[:n * width]).view(n, width)
    return rows[:, :spec["tokens"] + 1].contiguous()

"""The problem sets: seeded arithmetic chains, disjoint from every problem the models saw.

train: 8 problems per level (32), seed 101; heldout: 50 per level (200), seed 202. The
training script excludes every problem of these seeds from the generator's and verifier's
training data (evaluators.tasks.models.train.eval_problem_texts).
"""
from __future__ import annotations

import functools

from evaluators.tasks.models import arith
from evaluators.tasks.models.train import EVAL_SEEDS

SPLITS = {"train": (EVAL_SEEDS["tts_train"], 8), "heldout": (EVAL_SEEDS["tts_heldout"], 50)}


@functools.lru_cache(maxsize=None)
def problem_set(split: str) -> tuple[arith.Problem, ...]:
    seed, per_level = SPLITS[split]
    return tuple(arith.problems(seed, per_level))

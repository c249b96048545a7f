"""The problem sets: seeded arithmetic chains, disjoint from each other and from every problem the models saw.

train: 8 problems per level (32), seed 101 — what a campaign searches on;
validation: 25 per level (100), seed 404 — what a campaign chooses its best on;
heldout: 50 per level (200), seed 202 — reporting only.
All three come from the same generator (`arith.problems`, levels 1-4). The training script
excludes the problem sets drawn from these seeds from the models' training data
(evaluators.tasks.models.train.eval_problem_texts) — except that the shipped generator predates
the validation split, so validation takes seed 404's problems in order and skips the two the
generator happened to train on (`generator_training_texts`, a replay of its training stream).
`tests/test_tts_search.py` checks the sets are disjoint and unseen.
"""
from __future__ import annotations

import functools

from evaluators.tasks.models import arith
from evaluators.tasks.models.train import EVAL_SEEDS, generator_training_texts

SPLITS = {"train": (EVAL_SEEDS["tts_train"], 8), "validation": (EVAL_SEEDS["tts_validation"], 25),
          "heldout": (EVAL_SEEDS["tts_heldout"], 50)}


@functools.lru_cache(maxsize=None)
def problem_set(split: str) -> tuple[arith.Problem, ...]:
    seed, per_level = SPLITS[split]
    if split != "validation":
        return tuple(arith.problems(seed, per_level))
    seen = generator_training_texts()
    unseen = [p for p in arith.problems(seed, 200) if p.text not in seen]
    return tuple(p for level in arith.LEVEL_OPS for p in [q for q in unseen if q.level == level][:per_level])

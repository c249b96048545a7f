"""The model-choice bandit (evolve/mutators/model_choice.py) in a simulated campaign, many seeds in
seconds: which prior for the improvement factor keeps an unusable model out and two usable models apart.

    python bench/bench_model_choice_sim.py [--seeds 4000]

Two models, equal weights and prices. Each pick is one call; a usable answer's child is evaluated
`--delay` picks later (its outcome is pending until then), and the counts are re-read every pick.
Scenarios:
  unusable  the good model's edits always apply and improve the archive with probability 0 in the
            first 16 calls, 0.3 afterwards (the toy campaign of tests/mutators/test_model_choice.py improves
            nothing early); the other model's edits never apply.
  rates     both models' edits apply; the good one improves with probability 0.3, the other 0.1.
Prints, per prior, the median and 5th percentile of the calls that went to the good model.
"""
from __future__ import annotations

import argparse
import random
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from evolve.mutators import model_choice  # noqa: E402
from evolve.mutators.model_choice import ThompsonChoice  # noqa: E402

GOOD, OTHER = ("p", "good"), ("p", "other")


class UniformPrior(ThompsonChoice):
    """The earlier prior: Beta(1, 1) on every model's improvement factor."""

    def improvement_prior(self, key):
        return 1.0, 1.0


def campaign(choice: ThompsonChoice, scenario: str, calls: int, delay: int, seed: int) -> int:
    rng = random.Random(seed)
    counts = {key: {"provider": key[0], "model": key[1], "calls": 0, "ok": 0, "pending": 0, "improved": 0,
                    "usd": 0.0, "tokens": 0, "answered": 0} for key in (GOOD, OTHER)}
    waiting: list[tuple[int, tuple[str, str], bool]] = []
    to_good = 0
    for t in range(calls):
        for item in [w for w in waiting if w[0] <= t]:
            waiting.remove(item)
            counts[item[1]]["pending"] -= 1
            counts[item[1]]["improved"] += item[2]
        choice.update(counts.values())
        key = choice.pick([GOOD, OTHER], rng)
        row = counts[key]
        row["calls"] += 1
        to_good += key == GOOD
        if scenario == "unusable":
            if key == OTHER:
                continue
            p = 0.0 if t < 16 else 0.3
        else:
            p = 0.3 if key == GOOD else 0.1
        row["ok"] += 1
        row["pending"] += 1
        waiting.append((t + delay, key, rng.random() < p))
    return to_good


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=4000)
    parser.add_argument("--delay", type=int, default=3)
    args = parser.parse_args()
    default_cap = model_choice.PRIOR_CALLS
    priors = [("uniform", UniformPrior, default_cap)] + [
        (f"others, cap {cap:g}" + (" (default)" if cap == default_cap else ""), ThompsonChoice, cap)
        for cap in sorted({2.0, 3.0, 4.0, default_cap})]
    for name, cls, cap in priors:
        model_choice.PRIOR_CALLS = cap
        cells = []
        for scenario, calls in (("unusable", 40), ("rates", 40), ("rates", 100)):
            shares = sorted(campaign(cls({GOOD: 1.0, OTHER: 1.0}, priced=False), scenario, calls, args.delay, seed)
                            for seed in range(args.seeds))
            cells.append(f"{scenario} {calls}: median {statistics.median(shares):g}, "
                         f"p5 {shares[len(shares) // 20]}")
        print(f"{name:24s} " + " | ".join(cells), flush=True)
    model_choice.PRIOR_CALLS = default_cap


if __name__ == "__main__":
    main()

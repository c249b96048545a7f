"""Adaptive model choice: which model of the ensemble gets the next call, learned from the archive.

The reward of a call is 1 when its answer was used and its child became a new elite or a new best,
else 0 (`Archive.model_stats` counts both from the call log and the events). Models are compared by
*improvements per unit spent*: dollars when every model of the ensemble has a price, tokens
otherwise (the unit is named in every report: `usd` or `tokens`).

The chance that a call improves the archive is split in two factors, each with its own Beta posterior:

    P(improves) = P(the answer is usable) x P(its child improves | usable)

The first factor is known as soon as the answer is parsed and applied (ok-rate: outcome ok / calls);
only the second waits for the child's evaluation. A model whose edits never apply is dropped after
a handful of calls, without waiting for evaluations; between models whose edits apply, the second
factor decides. A draw is θ = θ_usable · θ_improves, and the model picked is the one with the
highest θ / mean cost of its answered calls (a model without answers yet is priced at the ensemble's
mean, or 1 before any answer at all).

Why Thompson sampling with Beta priors, not UCB1 or a greedy rate:
- Rewards are Bernoulli and arrive late: a child's outcome is known only after its evaluation, and
  many proposals are in flight at once. UCB1 is a deterministic function of the counts, so every
  proposal started between two reward updates would go to the same model. A Thompson draw is
  random, so a batch of proposals spreads over the models in proportion to the chance that each is
  the best — the usual remedy for delayed, batched feedback. Used answers whose child is not
  evaluated yet are *pending*: neither a success nor a failure of the second factor.
- The configured weights become the prior of the first factor directly: Beta(w / w_max, 1), so the
  most trusted model starts uniform (mean 1/2) and one with half its weight at mean 1/3. At most two
  pseudo-calls each: a handful of real calls outweighs them. (A single optimistic Beta(3, 1) on the
  improvement rate alone kept a model whose edits never applied competitive for many calls in the
  toy-task campaign of tests/mutators/test_model_choice.py, where the good model's children improve
  the archive rarely, and seldom in its first calls.)
- The second factor's prior is the *other* models' improvement rate so far (leave-one-out empirical
  Bayes, Laplace-smoothed), worth at most three resolved calls; uniform while they have none. A
  fixed uniform prior leaves a model with no evaluated child at an improvement rate of 1/2 for ever,
  while the model whose children were evaluated falls to the campaign's real rate, so a model whose
  edits never apply keeps winning draws on its usable-answer factor alone. Leaving a model's own data
  out of its prior counts nothing twice; the cap keeps two usable models apart.
  `bench/bench_model_choice.py` and `bench/bench_model_choice_sim.py` compare the priors and the cap
  (their figures: BENCHMARKS.md, "Adaptive model choice").
- The state is nothing but counts, rebuilt from the archive by one query (`Archive.model_stats`),
  so after kill -9 or `evolve resume` the bandit is exactly where the archive says. The draws come
  from the campaign's seeded rng: given the archive and the seed, the choices are reproducible.
"""
from __future__ import annotations

import random
from typing import Any, Iterable

PRIOR_CALLS = 3.0  # at most this many resolved calls is the prior of a model's improvement factor worth


def cost_unit(priced: bool) -> str:
    return "usd" if priced else "tokens"


def model_report(rows: Iterable[dict[str, Any]], priced: bool) -> list[dict[str, Any]]:
    """`Archive.model_stats` rows with the rates shown by `evolve status` and the TUI:
    ok_rate (answers used / calls), improvement_rate (improvements / resolved calls) and
    improved_per_unit (improvements per dollar, or per million tokens without prices)."""
    unit = cost_unit(priced)
    out = []
    for r in rows:
        resolved = r["calls"] - r["pending"]
        spent = r["usd"] if priced else r["tokens"] / 1e6
        out.append({**r, "resolved": resolved, "ok_rate": r["ok"] / r["calls"] if r["calls"] else None,
                    "improvement_rate": r["improved"] / resolved if resolved else None,
                    "cost_unit": unit if priced else "Mtokens",
                    "improved_per_unit": r["improved"] / spent if spent > 0 else None})
    return out


def campaign_models(archive: Any, campaign: Any) -> list[dict[str, Any]]:
    """The per-model report of a stored campaign (`evolve status`, the TUI dashboard); [] without LLM calls."""
    from ..config import CampaignConfig

    rows = archive.model_stats(campaign.id)
    if not rows:
        return []
    try:
        config = CampaignConfig.model_validate(campaign.config or {})
        priced = all(config.price(m) is not None for m in config.models())
    except ValueError:  # a config this version cannot read: priced when every model was billed
        priced = all(r["usd"] > 0 for r in rows)
    return model_report(rows, priced)


class ThompsonChoice:
    """Picks a model key among the ready ones, given per-key counts and configured weights."""

    def __init__(self, weights: dict[Any, float], priced: bool):
        top = max(weights.values())
        self.prior = {key: (w / top, 1.0) for key, w in weights.items()}
        self.priced = priced
        self.counts: dict[Any, dict[str, Any]] = {}

    def update(self, rows: Iterable[dict[str, Any]]) -> None:
        """Replace the counts with a fresh `Archive.model_stats` result (rows keyed by (provider, model))."""
        self.counts = {(r["provider"], r["model"]): r for r in rows}

    def _cost(self, key: Any) -> float:
        def per_answer(row):
            spent = row["usd"] if self.priced else row["tokens"]
            return spent / row["answered"] if row["answered"] and spent > 0 else None

        mine = per_answer(self.counts[key]) if key in self.counts else None
        if mine is not None:
            return mine
        known = [c for c in (per_answer(r) for r in self.counts.values()) if c is not None]
        return sum(known) / len(known) if known else 1.0

    def improvement_prior(self, key: Any) -> tuple[float, float]:
        """The second factor's prior for `key`: the other models' improvement rate (Laplace-smoothed),
        worth as many resolved calls as they have plus two, at most PRIOR_CALLS."""
        others = [r for k, r in self.counts.items() if k != key]
        improved = sum(r["improved"] for r in others)
        resolved_ok = sum(r["ok"] - r["pending"] for r in others)
        rate = (1.0 + improved) / (2.0 + resolved_ok)
        strength = min(2.0 + resolved_ok, PRIOR_CALLS)
        return strength * rate, strength * (1.0 - rate)

    def posterior(self, key: Any) -> tuple[tuple[float, float], tuple[float, float]]:
        """(usable answer, improvement given a usable answer): the (alpha, beta) of each Beta."""
        a, b = self.prior[key]
        row = self.counts.get(key) or {"calls": 0, "ok": 0, "pending": 0, "improved": 0}
        resolved_ok = row["ok"] - row["pending"]
        a2, b2 = self.improvement_prior(key)
        return ((a + row["ok"], b + row["calls"] - row["ok"]),
                (a2 + row["improved"], b2 + resolved_ok - row["improved"]))

    def draw(self, key: Any, rng: random.Random) -> float:
        usable, improves = self.posterior(key)
        return rng.betavariate(*usable) * rng.betavariate(*improves) / self._cost(key)

    def pick(self, keys: list[Any], rng: random.Random) -> Any:
        if len(keys) == 1:
            return keys[0]
        scores = [self.draw(key, rng) for key in keys]
        return keys[max(range(len(keys)), key=scores.__getitem__)]

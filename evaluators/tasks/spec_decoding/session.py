"""The scorer-side handle a speculative-decoding policy gets as `lm`, for one prompt.

The policy asks the draft model for tokens (`draft`), then asks the target to verify a
proposal (`verify`): the target scores the proposal in one forward pass, the longest prefix
that matches the target's own greedy choices is accepted, and the target's token at the first
mismatch (or one bonus token when everything matched) is appended. Only `verify` commits
tokens, so the committed sequence is the target's greedy output whatever the policy does;
the scorer still checks the policy's returned output against it and against a plain greedy
reference, token for token.

Each model keeps a KV cache of the tokens it has read; before a forward pass the cache is cut
back to its longest prefix that agrees with the current sequence (rejected tokens are
forgotten), and only the missing tokens are fed. Every forward pass goes through a Meter
(FlopCounterMode FLOPs, wall time) and is logged as (model, tokens fed) for the cost model.
"""
from __future__ import annotations

import torch
from torch.nn import functional as F

from evaluators.api import ServiceRefusal
from evaluators.tasks.models.flops import Meter

MAX_PENDING = 16


class CachedModel:
    """A model plus its KV cache and the tokens the cache holds."""

    def __init__(self, name: str, model, meter: Meter, calls: list):
        self.name, self.model, self.meter, self.calls = name, model, meter, calls
        self.cache = model.new_cache()
        self.seen: list[int] = []
        self.device = next(model.parameters()).device

    def logits_after(self, sequence: list[int], extra: int = 0) -> torch.Tensor:
        """Logits predicting each of the last `extra`+1 positions' successors of `sequence`."""
        keep = 0
        limit = min(len(self.seen), len(sequence) - extra - 1)
        while keep < limit and self.seen[keep] == sequence[keep]:
            keep += 1
        self.cache.truncate(keep)
        self.seen = self.seen[:keep]
        feed = sequence[keep:]
        out = self.meter.forward(self.name, self.model, torch.tensor([feed], device=self.device), self.cache)
        self.calls.append((self.name, len(feed)))
        self.seen = list(sequence)
        return out[0, -(extra + 1):]


class SpecSession:
    sandbox_methods = ("draft", "verify", "state")

    def __init__(self, prompt: list[int], n_new: int, target, draft, known: dict, vocab: int):
        self.prompt, self.n_new, self.vocab = list(prompt), n_new, vocab
        self.meter = Meter(known=known)
        self.calls: list[tuple[str, int]] = []
        self.target = CachedModel("target", target, self.meter, self.calls)
        self.draft_model = CachedModel("draft", draft, self.meter, self.calls)
        self.committed: list[int] = []
        self.pending: list[int] = []
        self.rounds: list[tuple[int, int]] = []        # (proposed, accepted)
        self.prefill_calls = 0
        # Reading the prompt costs the same with or without speculation: done here, booked apart.
        for model in (self.target, self.draft_model):
            model.logits_after(self.prompt[:-1])
        self.prefill_calls = len(self.calls)
        self.prefill = self.meter.snapshot()

    @property
    def done(self) -> bool:
        return len(self.committed) >= self.n_new

    # --- methods the candidate may call ---------------------------------------------------
    def draft(self, k=1) -> dict:
        """Extend the pending draft by k greedy draft tokens; returns them with their probabilities."""
        if self.done:
            raise ServiceRefusal("all tokens are generated; return the output")
        if type(k) is not int or k < 1 or len(self.pending) + k > MAX_PENDING:
            raise ServiceRefusal(f"k must be an int >= 1 with at most {MAX_PENDING} pending draft tokens")
        tokens, confidences = [], []
        for _ in range(k):
            logits = self.draft_model.logits_after(self.prompt + self.committed + self.pending)[-1]
            probs = F.softmax(logits.double(), dim=-1)
            top = int(torch.argmax(logits))
            self.pending.append(top)
            tokens.append(top)
            confidences.append(round(float(probs[top]), 6))
        return {"tokens": tokens, "confidences": confidences}

    def verify(self, tokens=None) -> dict:
        """Verify `tokens` (default: the pending draft) with the target; commits and returns the result."""
        if self.done:
            raise ServiceRefusal("all tokens are generated; return the output")
        proposal = self.pending if tokens is None else tokens
        if not isinstance(proposal, list) or len(proposal) > MAX_PENDING or \
                any(type(t) is not int or not 0 <= t < self.vocab for t in proposal):
            raise ServiceRefusal(f"a proposal is a list of at most {MAX_PENDING} token ids below {self.vocab}")
        proposal = list(proposal)
        logits = self.target.logits_after(self.prompt + self.committed + proposal, extra=len(proposal))
        choices = torch.argmax(logits, dim=-1).tolist()
        accepted = 0
        while accepted < len(proposal) and proposal[accepted] == choices[accepted]:
            accepted += 1
        new = proposal[:accepted] + [choices[accepted]]
        self.committed += new
        self.pending = []
        self.rounds.append((len(proposal), accepted))
        return {"accepted": accepted, "proposed": len(proposal), "tokens": new, "done": self.done}

    def state(self) -> dict:
        return {"committed": len(self.committed), "n_new": self.n_new, "pending": len(self.pending),
                "context": self.prompt[-64:] + self.committed}


def greedy_reference(prompt: list[int], n_new: int, target, meter: Meter) -> tuple[list[int], list]:
    """The target's own greedy continuation, one KV-cached token at a time (the plain decoder)."""
    calls: list = []
    model = CachedModel("target", target, meter, calls)
    out: list[int] = []
    while len(out) < n_new:
        out.append(int(torch.argmax(model.logits_after(prompt + out)[-1])))
    return out, calls

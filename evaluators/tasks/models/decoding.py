"""KV-cached sampling and scoring on top of `Transformer`, every forward pass metered.

`continue_batch` extends equal-length prefixes (n samples each) until each row has produced
`steps` boundary tokens, the end token, or hits the length limit; rows that finish leave the
batch, so the FLOPs booked are the FLOPs actually computed. `score_prefixes` runs a verifier
over right-padded prefixes (causal attention makes right padding harmless) and reads its
output at each prefix's last token.
"""
from __future__ import annotations

import dataclasses

import torch
from torch.nn import functional as F

from .flops import Meter


@dataclasses.dataclass
class Sample:
    tokens: list[int]        # the new tokens only
    logprob: float           # sum of the sampler's log-probabilities of those tokens
    finished: bool           # ended with the end token or at the length limit


def continue_batch(model, meter: Meter, name: str, prefixes: list[list[int]], n: int, *,
                   boundaries: tuple[int, ...], eos: int, steps: int = 1, temperature: float = 1.0,
                   generator: torch.Generator | None = None, max_len: int | None = None) -> list[list[Sample]]:
    """n continuations of each prefix (all prefixes the same length). steps=0 means to the end."""
    length = len(prefixes[0])
    if any(len(p) != length for p in prefixes):
        raise ValueError("continue_batch needs prefixes of equal length")
    device = next(model.parameters()).device
    max_len = max_len or model.cfg.max_len
    cache = model.new_cache()
    logits = meter.forward(name, model, torch.tensor(prefixes, device=device), cache, last_only=True)[:, -1]
    rows = [r for r in range(len(prefixes)) for _ in range(n)]
    cache = cache.select(rows)
    logits = logits.index_select(0, torch.tensor(rows, device=device))
    out = [Sample([], 0.0, False) for _ in rows]
    active = list(range(len(rows)))
    seen = [0] * len(rows)
    while active:
        logp = F.log_softmax(logits.float(), dim=-1)
        if temperature <= 0:
            nxt = logp.argmax(dim=-1)
        else:
            probs = F.softmax(logits.float() / temperature, dim=-1)
            nxt = torch.multinomial(probs, 1, generator=generator).squeeze(1)
        chosen = logp.gather(1, nxt[:, None]).squeeze(1).tolist()
        keep = []
        for j, (row, tok) in enumerate(zip(active, nxt.tolist())):
            sample = out[row]
            sample.tokens.append(tok)
            sample.logprob += chosen[j]
            if tok in boundaries:
                seen[row] += 1
            if tok == eos or length + len(sample.tokens) >= max_len:
                sample.finished = True
            elif not (steps and seen[row] >= steps):
                keep.append(j)
        if not keep:
            break
        if len(keep) != len(active):
            cache = cache.select(keep)
            nxt = nxt[keep]
        active = [active[j] for j in keep]
        logits = meter.forward(name, model, nxt[:, None], cache, last_only=True)[:, -1]
    return [out[i * n:(i + 1) * n] for i in range(len(prefixes))]


def score_prefixes(model, meter: Meter, name: str, prefixes: list[list[int]], pad: int = 0) -> list[float]:
    """Verifier probability (sigmoid of its output) at the last token of each prefix."""
    device = next(model.parameters()).device
    width = max(len(p) for p in prefixes)
    batch = torch.full((len(prefixes), width), pad, dtype=torch.long, device=device)
    for i, p in enumerate(prefixes):
        batch[i, :len(p)] = torch.tensor(p, device=device)
    logits = meter.forward(name, model, batch)[..., 0]
    last = torch.tensor([len(p) - 1 for p in prefixes], device=device)
    return torch.sigmoid(logits.float().gather(1, last[:, None]).squeeze(1)).tolist()


def solution_probabilities(model, meter: Meter, name: str, prefixes: list[list[int]], starts: list[int],
                           pad: int = 0) -> list[float]:
    """A language model as a process verifier: for each prefix, the probability the model gives
    its tokens from `starts[i]` on (the solution so far), i.e. exp of their summed log-probabilities.

    When the right continuation is unique (as in arith.py), this is the model's estimate that the
    solution so far is on track: near 1 when every step is the one it would write, near 0 as soon
    as one token is not. One metered forward pass over the right-padded batch.
    """
    device = next(model.parameters()).device
    width = max(len(p) for p in prefixes)
    batch = torch.full((len(prefixes), width), pad, dtype=torch.long, device=device)
    for i, p in enumerate(prefixes):
        batch[i, :len(p)] = torch.tensor(p, device=device)
    logp = F.log_softmax(meter.forward(name, model, batch).float(), dim=-1)
    token_logp = logp[:, :-1].gather(2, batch[:, 1:, None]).squeeze(2)       # log p(token j+1 | tokens <= j)
    position = torch.arange(1, width, device=device)[None, :]
    lengths = torch.tensor([len(p) for p in prefixes], device=device)[:, None]
    first = torch.tensor(starts, device=device)[:, None]
    mask = (position >= first) & (position < lengths)
    return torch.exp((token_logp * mask).sum(dim=1)).tolist()

"""Decode text streams token by token through the deep model, letting a policy halt tokens.

Tokens are processed in decoding order: position p of every stream goes through layer 0, 1,
..., n_layers-1 before position p+1 starts (a KV-cached decoder, one token per stream per
step; streams are independent texts batched together). Before each layer l >= 1 the policy
sees, for every still-active token at the current position, what the trusted side measured
at layer l-1 and answers which tokens halt. A halted token's hidden state is frozen from
then on: it skips the attention and MLP of every remaining layer, and its keys and values
at those layers are projected from the frozen state (so later tokens still attend to it).
The frozen state is what the output head reads.

The policy never sees a token id, a logit or any position ahead of the current one, so it
cannot learn what the text says next. Features are rounded to FEATURE_DIGITS significant
digits before the policy sees them.
"""
from __future__ import annotations

import dataclasses
import math
import time
from typing import Callable

import torch
from torch.nn import functional as F

from evaluators.tasks.models.transformer import Transformer

FEATURE_DIGITS = 6
Policy = Callable[[int, dict], list]


@dataclasses.dataclass
class Outcome:
    nll: torch.Tensor          # [streams, positions] nats, float64
    correct: torch.Tensor      # [streams, positions] bool: argmax was the next character
    layers_run: torch.Tensor   # [streams, positions] int: layers each token ran before it halted
    policy_calls: int
    seconds: float


def _round(values: torch.Tensor) -> list[float]:
    return [float(f"{v:.{FEATURE_DIGITS}g}") for v in values.tolist()]


def _block_step(block, x: torch.Tensor, layer: int, position: int, keys: torch.Tensor, values: torch.Tensor):
    """One layer for one new token per stream (x [S, d]); writes its K/V; returns (x_out, attention probs)."""
    s, d = x.shape
    h = block.n_heads
    q, k, v = block.qkv(block.ln1(x)).split(d, dim=-1)
    keys[layer, :, :, position] = k.view(s, h, d // h)
    values[layer, :, :, position] = v.view(s, h, d // h)
    q = q.view(s, h, 1, d // h)
    att = torch.matmul(q, keys[layer, :, :, :position + 1].transpose(-2, -1)) * (1.0 / math.sqrt(d // h))
    probs = F.softmax(att, dim=-1)
    y = torch.matmul(probs, values[layer, :, :, :position + 1]).reshape(s, d)
    x = x + block.proj(y)
    return x + block.out(F.gelu(block.fc(block.ln2(x)))), probs[:, :, 0]


def features(before: torch.Tensor, after: torch.Tensor, probs: torch.Tensor) -> dict[str, torch.Tensor]:
    """What layer l-1 did to each token: update norm, relative update, cosine, attention entropy."""
    update = (after - before).norm(dim=-1)
    return {
        "update_norm": update,
        "relative_update": update / before.norm(dim=-1).clamp_min(1e-12),
        "cosine": F.cosine_similarity(before, after, dim=-1),
        "entropy": -(probs * probs.clamp_min(1e-30).log()).sum(-1).mean(-1),
    }


def decode(model: Transformer, streams: torch.Tensor, policy: Policy | None = None) -> Outcome:
    """Run `streams` ([S, T+1] token ids; the last column is only a target) with `policy` halting tokens."""
    started = time.perf_counter()
    cfg = model.cfg
    device = next(model.parameters()).device
    inputs, targets = streams[:, :-1].to(device), streams[:, 1:].to(device)
    n_streams, n_pos = inputs.shape
    n_layers, heads = cfg.n_layers, cfg.n_heads
    if n_pos > cfg.max_len:
        raise ValueError(f"streams of {n_pos} tokens exceed the model's {cfg.max_len} positions")
    shape = (n_layers, n_streams, heads, n_pos, cfg.d_model // heads)
    dtype = next(model.parameters()).dtype
    keys = torch.zeros(shape, device=device, dtype=dtype)
    values = torch.zeros(shape, device=device, dtype=dtype)
    nll = torch.zeros(n_streams, n_pos, dtype=torch.float64)
    correct = torch.zeros(n_streams, n_pos, dtype=torch.bool)
    layers_run = torch.full((n_streams, n_pos), n_layers, dtype=torch.long)
    stream_ids = torch.arange(n_streams)
    calls = 0
    with torch.inference_mode():
        for p in range(n_pos):
            x = model.tok(inputs[:, p]) + model.pos.weight[p]
            active = torch.ones(n_streams, dtype=torch.bool, device=device)
            measured: dict[str, torch.Tensor] = {}
            for layer, block in enumerate(model.blocks):
                if layer >= 1 and policy is not None and bool(active.any()):
                    rows = active.nonzero().squeeze(1)
                    shown = {"position": p, "stream": stream_ids[rows.cpu()].tolist()}
                    shown.update({name: _round(value[rows].cpu()) for name, value in measured.items()})
                    halt = torch.tensor(policy(layer, shown), dtype=torch.bool, device=device)
                    calls += 1
                    stopped = rows[halt]
                    active[stopped] = False
                    layers_run[stopped.cpu(), p] = layer
                out, probs = _block_step(block, x, layer, p, keys, values)
                measured = features(x, out, probs)
                x = torch.where(active[:, None], out, x)
            logits = model.head(model.ln_f(x))
            nll[:, p] = F.cross_entropy(logits.double(), targets[:, p], reduction="none").cpu()
            correct[:, p] = (logits.argmax(-1) == targets[:, p]).cpu()
    return Outcome(nll, correct, layers_run, calls, time.perf_counter() - started)

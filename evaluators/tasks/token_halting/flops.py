"""The FLOPs of decoding one token with halting, counted analytically (the same on every device).

Conventions are those of `evaluators.tasks.models.flops.analytic_forward_flops` (a multiply-add
is 2 FLOPs; LayerNorm, softmax, GELU and embedding lookups are not counted), for a KV-cached
decoder reading one new token at 0-based position p, so p + 1 keys are visible:

  a layer the token runs:     QKV 2*d*3d + scores and weighted sum 2*2*d*(p+1) + output
                              projection 2*d*d + MLP 2*2*d*d_ff
  a layer the token skips:    its keys and values are still projected from the frozen hidden
                              state (2*d*2d) so that later tokens can attend to it
  the output head:            2*d*vocab, once per token

With no layer skipped this equals `analytic_forward_flops(cfg, 1, 1, past=p, last_only=True)`;
tests/test_token_halting.py pins both against torch's FlopCounterMode on a real decode.
"""
from __future__ import annotations

from evaluators.tasks.models.transformer import Config


def layer_flops(cfg: Config, position: int) -> int:
    d = cfg.d_model
    return 2 * d * 3 * d + 2 * 2 * d * (position + 1) + 2 * d * d + 2 * 2 * d * cfg.d_ff


def skipped_layer_flops(cfg: Config) -> int:
    return 2 * cfg.d_model * 2 * cfg.d_model


def head_flops(cfg: Config) -> int:
    return 2 * cfg.d_model * cfg.outputs


def token_flops(cfg: Config, position: int, layers_run: int) -> int:
    """FLOPs of one token at `position` that runs its first `layers_run` layers and skips the rest."""
    if not 0 <= layers_run <= cfg.n_layers:
        raise ValueError(f"layers_run must be in 0..{cfg.n_layers}, got {layers_run}")
    return (layers_run * layer_flops(cfg, position) + (cfg.n_layers - layers_run) * skipped_layer_flops(cfg)
            + head_flops(cfg))


def total_flops(cfg: Config, layers_run) -> int:
    """Sum over a [streams, positions] grid of layers-run counts (any nested sequence of ints)."""
    total = 0
    for row in layers_run:
        for position, run in enumerate(row):
            total += token_flops(cfg, position, int(run))
    return total

"""FLOPs of forward passes: measured with torch's FlopCounterMode, and the analytic formula.

`Meter` runs a model call under `FlopCounterMode` and books the FLOPs and the wall time per
(device, model). A forward pass's FLOPs depend only on its shape (batch, new tokens, cached
tokens, whether only the last position is projected), so the meter can remember the count of
a shape it has already counted (`memo=True`, the default) instead of running the counter's
dispatch hooks again: the number booked is the counter's own, and `tests/tasks/test_models.py`
checks the memoised and fresh counts agree. `bench/bench_model_tasks.py` reports the overhead
of counting every call.
"""
from __future__ import annotations

import collections
import dataclasses
import time

import torch
from torch.utils.flop_counter import FlopCounterMode

from .transformer import Config


def analytic_forward_flops(cfg: Config, batch: int, new: int, past: int = 0, last_only: bool = False) -> int:
    """Multiply-accumulates x 2 of one forward pass, as FlopCounterMode counts them.

    Per new token and layer: QKV (2*d*3d), attention output projection (2*d*d), MLP
    (2 * 2*d*d_ff), scores QK^T and the weighted sum AV (2 * 2*d*(past+new), over all heads;
    masked entries are computed too). The output head costs 2*d*n_out per projected position.
    Embedding lookups, LayerNorm, softmax and GELU are not matrix products and are not counted.
    """
    d, f = cfg.d_model, cfg.d_ff
    per_token_layer = 2 * d * 3 * d + 2 * d * d + 2 * 2 * d * f + 2 * 2 * d * (past + new)
    projected = 1 if last_only else new
    return batch * (cfg.n_layers * new * per_token_layer + projected * 2 * d * cfg.outputs)


@dataclasses.dataclass
class Tally:
    calls: int = 0
    flops: int = 0
    seconds: float = 0.0
    tokens: int = 0

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)


class Meter:
    """Runs forward passes, counting FLOPs with FlopCounterMode and timing them on their device."""

    def __init__(self, memo: bool = True, count: bool = True, known: dict | None = None):
        """`known` may be shared between meters (e.g. one per problem) to reuse counted shapes."""
        self.memo = memo
        self.count = count
        self.tallies: dict[str, Tally] = collections.defaultdict(Tally)
        self._known: dict[tuple, int] = {} if known is None else known

    def forward(self, name: str, model, idx: torch.Tensor, cache=None, last_only: bool = False) -> torch.Tensor:
        key = (id(model), tuple(idx.shape), cache.length if cache is not None else 0,
               cache.batch if cache is not None else 0, last_only)
        started = time.perf_counter()
        if self.count and not (self.memo and key in self._known):
            counter = FlopCounterMode(display=False)
            with counter, torch.inference_mode():
                out = model(idx, cache=cache, last_only=last_only)
            flops = counter.get_total_flops()
            self._known[key] = flops
        else:
            with torch.inference_mode():
                out = model(idx, cache=cache, last_only=last_only)
            flops = self._known.get(key, 0)
        if out.device.type == "cuda":
            torch.cuda.synchronize(out.device)
        tally = self.tallies[name]
        tally.calls += 1
        tally.flops += int(flops)
        tally.seconds += time.perf_counter() - started
        tally.tokens += int(idx.numel())
        return out

    def flops(self, name: str | None = None) -> int:
        if name is not None:
            return self.tallies[name].flops if name in self.tallies else 0
        return sum(t.flops for t in self.tallies.values())

    def snapshot(self) -> dict[str, dict]:
        return {name: tally.as_dict() for name, tally in self.tallies.items()}

"""A compact decoder-only transformer (pre-LayerNorm, learned positions) with a KV cache.

Attention is written with explicit matmuls (not fused SDPA) so every multiply-accumulate is a
`bmm` that torch.utils.flop_counter sees, and so the analytic formula in `flops.py` matches
the counter exactly. One class serves both kinds of model we ship:
  * a language model: `n_out == vocab`, logits over the next token at each position;
  * a process-reward verifier: `n_out == 1`, a logit that the solution so far is correct.
"""
from __future__ import annotations

import dataclasses
import math

import torch
from torch import nn
from torch.nn import functional as F


@dataclasses.dataclass(frozen=True)
class Config:
    vocab: int
    d_model: int = 128
    n_layers: int = 4
    n_heads: int = 4
    max_len: int = 128
    n_out: int = 0            # 0 means "vocab" (a language model); 1 makes a verifier head
    ff_mult: int = 4

    @property
    def outputs(self) -> int:
        return self.n_out or self.vocab

    @property
    def d_ff(self) -> int:
        return self.ff_mult * self.d_model

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "Config":
        return cls(**{f.name: data[f.name] for f in dataclasses.fields(cls) if f.name in data})


class KVCache:
    """Per-layer keys and values, each [batch, heads, length, head_dim]."""

    def __init__(self, n_layers: int):
        self.keys: list[torch.Tensor | None] = [None] * n_layers
        self.values: list[torch.Tensor | None] = [None] * n_layers

    @property
    def length(self) -> int:
        return 0 if self.keys[0] is None else int(self.keys[0].shape[2])

    @property
    def batch(self) -> int:
        return 0 if self.keys[0] is None else int(self.keys[0].shape[0])

    def append(self, layer: int, k: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if self.keys[layer] is not None:
            k = torch.cat([self.keys[layer], k], dim=2)
            v = torch.cat([self.values[layer], v], dim=2)
        self.keys[layer], self.values[layer] = k, v
        return k, v

    def truncate(self, length: int) -> None:
        """Forget every position at or after `length` (rejected speculative tokens)."""
        for i, (k, v) in enumerate(zip(self.keys, self.values)):
            if k is not None:
                self.keys[i], self.values[i] = k[:, :, :length], v[:, :, :length]

    def select(self, rows: torch.Tensor | list[int]) -> "KVCache":
        """A cache holding only (or repeating) the given batch rows."""
        index = torch.as_tensor(rows, dtype=torch.long, device=self.keys[0].device)
        out = KVCache(len(self.keys))
        out.keys = [k.index_select(0, index) for k in self.keys]
        out.values = [v.index_select(0, index) for v in self.values]
        return out


class Block(nn.Module):
    def __init__(self, cfg: Config):
        super().__init__()
        self.n_heads = cfg.n_heads
        self.ln1 = nn.LayerNorm(cfg.d_model)
        self.qkv = nn.Linear(cfg.d_model, 3 * cfg.d_model)
        self.proj = nn.Linear(cfg.d_model, cfg.d_model)
        self.ln2 = nn.LayerNorm(cfg.d_model)
        self.fc = nn.Linear(cfg.d_model, cfg.d_ff)
        self.out = nn.Linear(cfg.d_ff, cfg.d_model)

    def forward(self, x: torch.Tensor, layer: int, cache: KVCache | None, mask: torch.Tensor | None) -> torch.Tensor:
        b, t, d = x.shape
        h = self.n_heads
        q, k, v = self.qkv(self.ln1(x)).split(d, dim=2)
        q, k, v = (z.view(b, t, h, d // h).transpose(1, 2) for z in (q, k, v))
        if cache is not None:
            k, v = cache.append(layer, k, v)
        att = torch.matmul(q, k.transpose(-2, -1)) * (1.0 / math.sqrt(d // h))
        if mask is not None:
            att = att.masked_fill(mask, float("-inf"))
        y = torch.matmul(F.softmax(att, dim=-1), v).transpose(1, 2).reshape(b, t, d)
        x = x + self.proj(y)
        return x + self.out(F.gelu(self.fc(self.ln2(x))))


class Transformer(nn.Module):
    def __init__(self, cfg: Config):
        super().__init__()
        self.cfg = cfg
        self.tok = nn.Embedding(cfg.vocab, cfg.d_model)
        self.pos = nn.Embedding(cfg.max_len, cfg.d_model)
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.n_layers))
        self.ln_f = nn.LayerNorm(cfg.d_model)
        self.head = nn.Linear(cfg.d_model, cfg.outputs, bias=cfg.n_out != 0)
        self.apply(self._init)

    @staticmethod
    def _init(module: nn.Module) -> None:
        if isinstance(module, (nn.Linear, nn.Embedding)):
            nn.init.normal_(module.weight, std=0.02)
            if isinstance(module, nn.Linear) and module.bias is not None:
                nn.init.zeros_(module.bias)

    def n_params(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def new_cache(self) -> KVCache:
        return KVCache(self.cfg.n_layers)

    def forward(self, idx: torch.Tensor, cache: KVCache | None = None, last_only: bool = False) -> torch.Tensor:
        """idx [batch, t] -> outputs [batch, t, n_out] (or [batch, 1, n_out] with last_only).

        With a cache, `idx` continues the cached sequence and the cache grows by t positions.
        """
        b, t = idx.shape
        past = cache.length if cache is not None else 0
        if past + t > self.cfg.max_len:
            raise ValueError(f"sequence of {past + t} tokens exceeds the model's {self.cfg.max_len}")
        pos = torch.arange(past, past + t, device=idx.device)
        x = self.tok(idx) + self.pos(pos)
        mask = None
        if t > 1:  # query i (absolute position past+i) may attend to keys 0..past+i
            keys = torch.arange(past + t, device=idx.device)
            mask = keys[None, :] > pos[:, None]
        for layer, block in enumerate(self.blocks):
            x = block(x, layer, cache, mask)
        if last_only:
            x = x[:, -1:]
        return self.head(self.ln_f(x))

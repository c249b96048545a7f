"""Per-iteration time model and KV-cache capacity of the two replica types.

Every latency comes from published measurements: `data/splitwise_perf_llama2_70b.csv` holds the
rows of SplitwiseSim's `data/perf_model.csv` (Patel et al., "Splitwise", ISCA 2024; MIT
licence) for Llama2-70B in fp16 on DGX-H100 with tensor parallelism 2 and on DGX-A100 with
tensor parallelism 4, 128 generated tokens, five repetitions per configuration. As
SplitwiseSim's own performance model does, the medians of the repetitions are interpolated
piecewise-linearly:

* a prefill iteration over P prompt tokens (one or several prompts) takes
  interp(P; batch tokens = prompt_size x batch_size, median prompt_time);
* a decode iteration over a running batch of b requests takes
  interp(b; batch_size, median token_time of the 512-token-prompt rows).

Excluded: the H100 TP2 batch-64 rows, whose prompt time (0.36 s) is 6.6x *below* the batch-32
time (2.40 s) for twice the tokens (the run evidently did not do the work), so the H100 type's
largest batch is 32. The batch size of each type is capped at its largest measured batch, so the
model never extrapolates in batch size; a prefill iteration holds at most MAX_PREFILL_TOKENS.

KV-cache capacity (tokens) = (GPUs x 80 GB x 0.9 - weights) / KV bytes per token, with vLLM's
default gpu_memory_utilization 0.9, Llama2-70B's 69e9 fp16 parameters (138 GB) and 2 (K and V)
x 80 layers x 8 KV heads x 128 head dims x 2 bytes = 327,680 bytes per token (grouped-query
attention; the model's published config).
"""
from __future__ import annotations

import csv
import dataclasses
import functools
from pathlib import Path

import numpy as np

PERF_CSV = Path(__file__).resolve().parent / "data" / "splitwise_perf_llama2_70b.csv"
GPU_MEMORY_BYTES = 80e9
GPU_MEMORY_UTILIZATION = 0.9
WEIGHT_BYTES = 69e9 * 2
KV_BYTES_PER_TOKEN = 2 * 80 * 8 * 128 * 2
MAX_PREFILL_TOKENS = 16384
EXCLUDED = {("h100-80gb", 2, 64)}   # (hardware, tensor_parallel, batch_size): see the docstring


@dataclasses.dataclass(frozen=True)
class ReplicaType:
    """One model replica: a time model (knots in tokens / batch sizes and seconds) and its memory."""
    name: str
    gpus: int
    prefill_tokens: tuple[float, ...]
    prefill_seconds: tuple[float, ...]
    decode_batch: tuple[float, ...]
    decode_seconds: tuple[float, ...]
    kv_capacity: int
    max_batch: int
    max_prefill_tokens: int = MAX_PREFILL_TOKENS

    def prefill_time(self, tokens: float) -> float:
        return float(np.interp(tokens, self.prefill_tokens, self.prefill_seconds))

    @functools.cached_property
    def decode_table(self) -> tuple[float, ...]:
        """decode_table[b] = seconds of one decode iteration with b running requests (b >= 1)."""
        b = np.arange(self.max_batch + 1, dtype=np.float64)
        table = np.interp(b, self.decode_batch, self.decode_seconds)
        table[0] = 0.0
        return tuple(float(x) for x in table)

    def describe(self) -> dict:
        """What a router is told about this replica type (plain data)."""
        return {"type": self.name, "gpus": self.gpus, "kv_capacity": self.kv_capacity,
                "max_batch": self.max_batch, "max_prefill_tokens": self.max_prefill_tokens}


def kv_capacity(gpus: int) -> int:
    free = gpus * GPU_MEMORY_BYTES * GPU_MEMORY_UTILIZATION - WEIGHT_BYTES
    return int(free // KV_BYTES_PER_TOKEN)


def _rows() -> list[dict]:
    with PERF_CSV.open(newline="") as f:
        return list(csv.DictReader(f))


def _medians(pairs: list[tuple[float, float]]) -> tuple[tuple[float, ...], tuple[float, ...]]:
    keys = sorted({k for k, _ in pairs})
    return tuple(keys), tuple(float(np.median([v for k, v in pairs if k == key])) / 1000.0 for key in keys)


@functools.lru_cache(maxsize=None)
def replica_type(name: str, hardware: str, tensor_parallel: int) -> ReplicaType:
    rows = [r for r in _rows() if r["model"] == "llama2-70b" and r["hardware"] == hardware
            and int(r["tensor_parallel"]) == tensor_parallel and int(r["token_size"]) == 128
            and (hardware, tensor_parallel, int(r["batch_size"])) not in EXCLUDED]
    if not rows:
        raise ValueError(f"no measurements for llama2-70b on {hardware} with tensor parallelism {tensor_parallel}")
    prefill = [(int(r["prompt_size"]) * int(r["batch_size"]), float(r["prompt_time"])) for r in rows]
    decode = [(int(r["batch_size"]), float(r["token_time"])) for r in rows if int(r["prompt_size"]) == 512]
    p_tokens, p_seconds = _medians(prefill)
    d_batch, d_seconds = _medians(decode)
    return ReplicaType(name=name, gpus=tensor_parallel, prefill_tokens=p_tokens, prefill_seconds=p_seconds,
                       decode_batch=d_batch, decode_seconds=d_seconds, kv_capacity=kv_capacity(tensor_parallel),
                       max_batch=int(max(d_batch)))


def h100_tp2() -> ReplicaType:
    """Fast, small: Llama2-70B on 2 x H100-80GB (18,310 KV tokens, batch <= 32)."""
    return replica_type("h100x2", "h100-80gb", 2)


def a100_tp4() -> ReplicaType:
    """Slower, large: Llama2-70B on 4 x A100-80GB (457,763 KV tokens, batch <= 64)."""
    return replica_type("a100x4", "a100-80gb", 4)

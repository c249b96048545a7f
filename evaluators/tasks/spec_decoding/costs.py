"""The cost model: measured wall time of one forward pass, per model and tokens fed, per device.

    python -m evaluators.tasks.spec_decoding.costs      # measure on this machine, write costs.json

Each figure is the fastest of REPEATS calls (the minimum is the estimate least disturbed by
other processes on a shared machine) of a KV-cached forward pass that feeds q tokens
(q = 1..17) after CONTEXT cached tokens, in float64 as the scorer runs the models. The shipped
table (costs.json, key "cpu") makes speedups reproducible across evaluations; a device with no
entry (e.g. "cuda") is measured once per worker process at first use.
"""
from __future__ import annotations

import functools
import json
import sys
import time
from pathlib import Path

import torch

COSTS_FILE = Path(__file__).resolve().parent / "costs.json"
MAX_FEED = 17
CONTEXT = 96
REPEATS = 30


def measure(model, repeats: int = REPEATS) -> list[float]:
    """Seconds per forward pass feeding q = 1..MAX_FEED tokens; index q-1."""
    device = next(model.parameters()).device
    prefix = torch.randint(3, 90, (1, CONTEXT), generator=torch.Generator().manual_seed(0)).to(device)
    out = []
    with torch.inference_mode():
        for q in range(1, MAX_FEED + 1):
            feed = prefix[:, :q]
            times = []
            for _ in range(repeats + 3):
                cache = model.new_cache()
                model(prefix, cache=cache, last_only=True)
                if device.type == "cuda":
                    torch.cuda.synchronize(device)
                started = time.perf_counter()
                model(feed, cache=cache)
                if device.type == "cuda":
                    torch.cuda.synchronize(device)
                times.append(time.perf_counter() - started)
            out.append(min(times[3:]))
    return out


@functools.lru_cache(maxsize=None)
def cost_table(device: str) -> dict[str, list[float]]:
    kind = device.split(":")[0]
    if COSTS_FILE.exists():
        table = json.loads(COSTS_FILE.read_text())
        if kind in table:
            return table[kind]
    from .scorer import spec_models
    target, draft = spec_models(device)
    return {"target": measure(target), "draft": measure(draft)}


def call_cost(table: dict[str, list[float]], model: str, fed: int) -> float:
    """Cost of one call; feeds longer than measured are extrapolated linearly."""
    row = table[model]
    if fed <= len(row):
        return row[fed - 1]
    return row[-1] + (row[-1] - row[-2]) * (fed - len(row))


def main() -> int:
    from evaluators.tasks.models.registry import pick_device

    from .scorer import spec_models
    torch.set_num_threads(1)
    device = str(pick_device("auto"))
    target, draft = spec_models(device)
    table = json.loads(COSTS_FILE.read_text()) if COSTS_FILE.exists() else {}
    table[device.split(":")[0]] = {"target": measure(target), "draft": measure(draft),
                                   "_note": f"fastest of {REPEATS} calls, {CONTEXT} cached tokens, float64, 1 thread"}
    COSTS_FILE.write_text(json.dumps(table, indent=1) + "\n")
    row = table[device.split(":")[0]]
    print(f"{device}: target q=1 {row['target'][0] * 1e3:.3f} ms, q=8 {row['target'][7] * 1e3:.3f} ms; "
          f"draft q=1 {row['draft'][0] * 1e3:.3f} ms -> {COSTS_FILE}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

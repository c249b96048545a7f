"""The scenarios of each split: trace windows x load levels on one heterogeneous fleet.

Fleet (every scenario): 2 x `h100x2` (fast, 18,310 KV tokens, batch <= 32) and 2 x `a100x4`
(slower, 457,763 KV tokens, batch <= 64), Llama2-70B on both (perf_model.py).

train: 4 windows of 400 consecutive requests of the Azure *conversation* trace (data rows
    1000, 6000, 11000, 16000 onward) x 3 load levels = 12 scenarios.
heldout: 4 windows of 400 requests of the Azure *code* trace (rows 500, 2700, 4900, 7100
    onward; a different service: prompts twice as long, outputs 8x shorter) x the same 3 load
    levels = 12 scenarios.

A load level rho sets the window's mean arrival rate to rho x the fleet's nominal capacity for
that window, the sum of its replicas' capacities; arrival times are the window's own, rescaled
(burstiness is kept: the code trace arrives in bursts, inter-arrival CV 6-15 against about 1 for
conversations). A replica's nominal capacity is 1 / (mean prefill(P_i) + mean(O) x decode(B) / B)
requests per second over the window's prompts P_i and outputs O_i, with B the batch that fits
(min(max batch, KV capacity // mean(P + O))).
"""
from __future__ import annotations

import csv
import datetime as dt
import functools
from pathlib import Path

import numpy as np

from .perf_model import ReplicaType, a100_tp4, h100_tp2
from .simulator import Scenario

DATA = Path(__file__).resolve().parent / "data"
WINDOW_FILES = {"conv": DATA / "azure_conv_windows.csv", "code": DATA / "azure_code_windows.csv"}
LOADS = (0.5, 0.7, 0.85)
SPLIT_SERVICE = {"train": "conv", "heldout": "code"}


def fleet() -> tuple[ReplicaType, ...]:
    h, a = h100_tp2(), a100_tp4()
    return (h, h, a, a)


def nominal_capacity(rtype: ReplicaType, prompt: np.ndarray, output: np.ndarray) -> float:
    batch = max(1, min(rtype.max_batch, int(rtype.kv_capacity // float(np.mean(prompt + output)))))
    prefill = float(np.mean(np.interp(prompt, rtype.prefill_tokens, rtype.prefill_seconds)))
    return 1.0 / (prefill + float(np.mean(output)) * rtype.decode_table[batch] / batch)


def fleet_capacity(replicas: tuple[ReplicaType, ...], prompt: np.ndarray, output: np.ndarray) -> float:
    return sum(nominal_capacity(r, prompt, output) for r in replicas)


@functools.lru_cache(maxsize=None)
def windows(service: str) -> tuple[tuple[np.ndarray, np.ndarray, np.ndarray, int], ...]:
    """(seconds since window start, prompt, output, first trace row) for each window."""
    by_window: dict[int, list] = {}
    with WINDOW_FILES[service].open(newline="") as f:
        for row in csv.DictReader(f):
            by_window.setdefault(int(row["window"]), []).append(row)
    out = []
    for k in sorted(by_window):
        rows = by_window[k]
        stamps = np.array([dt.datetime.fromisoformat(r["TIMESTAMP"][:26]).timestamp() for r in rows])
        out.append((stamps - stamps[0], np.array([int(r["ContextTokens"]) for r in rows], dtype=np.int64),
                    np.array([int(r["GeneratedTokens"]) for r in rows], dtype=np.int64), int(rows[0]["row"])))
    return tuple(out)


def build(service: str, loads: tuple[float, ...] = LOADS) -> tuple[Scenario, ...]:
    replicas = fleet()
    scenarios = []
    for w, (offsets, prompt, output, first_row) in enumerate(windows(service)):
        capacity = fleet_capacity(replicas, prompt, output)
        native_rate = (offsets.size - 1) / offsets[-1]
        for rho in loads:
            arrival = offsets * (native_rate / (rho * capacity))
            scenarios.append(Scenario(
                name=f"{service}-w{w}-rho{rho}", arrival=arrival, prompt=prompt, output=output,
                fleet=replicas, service=service, seed=1000 * w + int(round(100 * rho)),
                info={"window": w, "first_row": first_row, "load": rho, "rate": rho * capacity}))
    return tuple(scenarios)


@functools.lru_cache(maxsize=None)
def scenario_set(split: str) -> tuple[Scenario, ...]:
    return build(SPLIT_SERVICE[split])

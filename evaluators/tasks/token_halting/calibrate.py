"""Calibrate the QuickSilver and GateSkip-like baselines' constants on the training split.

    python -m evaluators.tasks.token_halting.calibrate            # print each grid point's training figures
    python -m evaluators.tasks.token_halting.calibrate --write    # and store the best constant in the baseline file

For each grid value the baseline's own source (with its constant replaced) runs in this
process through the simulator on the train split; the value with the best training score
(the most FLOPs saved within the perplexity budget) is chosen. Validation and held-out text
play no part.
"""
from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

import torch

from .scorer import halting_model, reference, split_streams, summarize
from .simulator import decode

BASELINES = Path(__file__).resolve().parent / "baselines"
GRIDS = {
    "quicksilver": ("THRESHOLD", [1.0, 1.1, 1.2, 1.25, 1.3, 1.35, 1.4, 1.45, 1.5, 1.75]),
    "gateskip": ("FRACTION", [0.0, 0.025, 0.05, 0.075, 0.1]),
}


def with_constant(source: str, name: str, value: float) -> str:
    out, n = re.subn(rf"^{name} = .*$", f"{name} = {value!r}", source, count=1, flags=re.M)
    if n != 1:
        raise SystemExit(f"no line '{name} = ...' in the baseline")
    return out


def measure(source: str, split: str = "train", device: str = "cpu") -> dict:
    namespace: dict = {}
    exec(compile(source, "baseline.py", "exec"), namespace)  # a shipped baseline: trusted code
    model = halting_model(device)
    return summarize(model.cfg, decode(model, split_streams(split), namespace["halt"]), reference(split, device))


def calibrate(name: str, write: bool) -> float:
    constant, grid = GRIDS[name]
    path = BASELINES / f"{name}.py"
    source = path.read_text()
    best = None
    for value in grid:
        m = measure(with_constant(source, constant, value))
        print(f"{name} {constant}={value}: score {m['score']:.3f}, perplexity +{m['ppl_increase_pct']:.3f} %, "
              f"FLOPs saved {m['flops_saved_pct']:.2f} %", flush=True)
        if best is None or m["score"] > best[1]:
            best = (value, m["score"])
    print(f"{name}: {constant} = {best[0]} (training score {best[1]:.3f})")
    if write:
        path.write_text(with_constant(source, constant, best[0]))
    return best[0]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m evaluators.tasks.token_halting.calibrate")
    parser.add_argument("--only", choices=list(GRIDS), action="append")
    parser.add_argument("--write", action="store_true", help="store the chosen constant in the baseline file")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    for name in args.only or list(GRIDS):
        calibrate(name, args.write)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Trusted scorer of the wait_scale bench task: WAIT_S seconds of waiting, then one batch call."""
import math
import time

from evaluators.api import InvalidOutput

WAIT_S = 1.0  # bench/bench_scale.py rewrites this line in its copy of the task


def evaluate(candidate, split, ctx):
    time.sleep(WAIT_S)
    xs = [-1 + 2 * i / 8 for i in range(9)]
    ys = candidate.batch([[x] for x in xs])
    errors = []
    for x, y in zip(xs, ys):
        if isinstance(y, bool) or not isinstance(y, (int, float)) or not math.isfinite(y):
            raise InvalidOutput(f"f({x:.3f}) returned {y!r}; expected a finite number")
        errors.append(y - (0.7 * x * x - 0.2 * x + 0.3))
    mse = sum(e * e for e in errors) / len(xs)
    return {"score": -mse, "metrics": {"mse": mse}}

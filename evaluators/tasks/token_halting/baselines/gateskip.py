"""GateSkip-like per-layer budget: at every layer, halt the FRACTION of active tokens whose last update was smallest.

GateSkip learns a gate per layer and keeps the top-scoring tokens under a per-layer budget;
here the update norm stands in for the learned gate (no gate fine-tuning: the model is
frozen), and tokens are ranked among those at the same position across the streams.
FRACTION is calibrated on the training split (`python -m evaluators.tasks.token_halting.calibrate --write`).
"""

FRACTION = 0.025


def halt(layer, tokens):
    norms = tokens["update_norm"]
    k = int(FRACTION * len(norms))
    ranked = sorted(range(len(norms)), key=lambda i: (norms[i], i))
    chosen = set(ranked[:k])
    return [i in chosen for i in range(len(norms))]

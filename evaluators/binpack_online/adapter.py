# Runs inside the candidate process. It rebuilds FunSearch's `bins` argument (every feasible
# open bin in index order, then the still-empty bins) from a compact message and returns the
# argmax. The scorer re-validates the answer, so tampering with this code gains nothing.
import numpy as np


def choose_bin(priority, item, open_bins, n_empty, capacity):
    bins = np.concatenate([open_bins, np.full(n_empty, capacity, dtype=open_bins.dtype)])
    scores = np.asarray(priority(item, bins))
    if scores.shape != bins.shape:
        raise ValueError(f"priority returned shape {scores.shape}; expected {bins.shape}")
    return int(np.argmax(scores))

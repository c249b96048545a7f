# Runs inside the candidate process. It rebuilds exactly the `bins` argument FunSearch's loop
# passes: the remaining capacity of every bin that can hold the item, in bin-index order over
# the full array of one bin per item, with the still-empty bins wherever they stand (a
# heuristic may leave gaps). The message gives one past the highest used position (`top`),
# the remaining capacity of the used bins the item fits, and, only when empty bins stand
# between used ones, where the used bins are (runs of positions) and where the fitting ones
# are. Every position not used is an empty bin. The scorer re-validates the answer, so
# tampering with this code gains nothing.
import numpy as np


def choose_bin(priority, item, capacity, n_bins, top, fit_remaining, gaps=None):
    if gaps is None:  # the used bins are exactly positions [0, top)
        head = fit_remaining
    else:
        gaps = gaps.astype(np.int64)
        n_runs = int(gaps[0])
        fit_positions = gaps[1 + 2 * n_runs:]
        edges = np.zeros(top + 1, dtype=np.int8)  # +1 where a run of used bins starts, -1 after it
        edges[gaps[1:1 + 2 * n_runs:2]] = 1
        edges[gaps[2:2 + 2 * n_runs:2]] = -1
        offered = np.cumsum(edges[:-1]) == 0
        offered[fit_positions] = True
        head = np.full(top, capacity, dtype=np.int64)
        head[fit_positions] = fit_remaining
        head = head[offered]
    bins = np.concatenate([head, np.full(n_bins - top, capacity, dtype=np.int64)])
    scores = np.asarray(priority(item, bins))
    if scores.shape != bins.shape:
        raise ValueError(f"priority returned shape {scores.shape}; expected {bins.shape}")
    return int(np.argmax(scores))

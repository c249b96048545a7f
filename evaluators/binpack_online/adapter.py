# Runs inside the candidate process. It rebuilds exactly the `bins` argument FunSearch's loop
# passes: the remaining capacity of every bin that can hold the item, in bin-index order over
# the full array of one bin per item, with the still-empty bins wherever they stand (a
# heuristic may leave gaps). The message names the used bins as runs of positions, then the
# positions and remaining capacities of the used bins the item fits (one flat integer array);
# every other position is an empty bin. The scorer re-validates the answer, so tampering with
# this code gains nothing.
import numpy as np


def choose_bin(priority, item, capacity, n_bins, layout):
    layout = np.asarray(layout, dtype=np.int64)
    n_runs = int(layout[0])
    runs = layout[1:1 + 2 * n_runs].reshape(-1, 2)
    n_fit = (len(layout) - 1 - 2 * n_runs) // 2
    fit_positions, fit_remaining = layout[1 + 2 * n_runs:][:n_fit], layout[1 + 2 * n_runs + n_fit:]
    top = int(runs[-1, 1]) if n_runs else 0  # every bin from here on is empty
    if n_runs == 1 and runs[0, 0] == 0:  # no gaps: the offered head is exactly the fitting used bins
        head = fit_remaining
    else:
        offered = np.ones(top, dtype=bool)
        for start, stop in runs:
            offered[start:stop] = False
        offered[fit_positions] = True
        head = np.full(top, capacity, dtype=np.int64)
        head[fit_positions] = fit_remaining
        head = head[offered]
    bins = np.full(len(head) + n_bins - top, capacity, dtype=np.int64)
    bins[:len(head)] = head
    scores = np.asarray(priority(item, bins))
    if scores.shape != bins.shape:
        raise ValueError(f"priority returned shape {scores.shape}; expected {bins.shape}")
    return int(np.argmax(scores))

"""Online bin packing: score every open bin for the arriving item; the highest score wins."""
import numpy as np


# EVOLVE-BLOCK-START
def priority(item: float, bins: np.ndarray) -> np.ndarray:
    """Returns a priority for each bin that can hold `item`; `bins` holds remaining capacities."""
    remaining = bins - item
    score = -remaining.astype(float)  # best fit: the tightest bin wins
    return score
# EVOLVE-BLOCK-END

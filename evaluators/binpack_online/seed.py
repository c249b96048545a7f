"""Online bin packing: score every open bin for the arriving item; the highest score wins."""
import numpy as np


# EVOLVE-BLOCK-START
def priority(item: float, bins: np.ndarray) -> np.ndarray:
    """Returns a priority for each bin that can hold `item`; `bins` holds remaining capacities."""
    remaining = bins - item
    score = -remaining.astype(float)  # best fit
    # Shaping terms for the search to tune; with zero weights this program is exactly best fit.
    score = score + 0.0 * bins ** 2 / item ** 2
    score = score + 0.0 * (remaining == 0)
    score = score - 0.0 * ((remaining > 0) & (remaining < 5))
    return score
# EVOLVE-BLOCK-END

"""Online bin packing: score every open bin for the arriving item; the highest score wins."""
import numpy as np


# EVOLVE-BLOCK-START
def priority(item: float, bins: np.ndarray) -> np.ndarray:
    """Returns a priority for each bin that can hold `item`; `bins` holds remaining capacities."""
    remaining = bins - item
    fit = -remaining.astype(float)
    # Reward bins that the item nearly fills; penalise leaving a gap too small to reuse.
    fit = fit + 0.0 * (remaining == 0)
    fit = fit - 0.0 * ((remaining > 0) & (remaining < 5))
    return fit
# EVOLVE-BLOCK-END

import numpy as np


def priority(item: float, bins: np.ndarray) -> np.ndarray:
    """First fit: every feasible bin ties, so the lowest-index bin wins."""
    return np.zeros(len(bins))

import numpy as np


def priority(item: float, bins: np.ndarray) -> np.ndarray:
    """Best fit: the bin left with the least room after placing the item."""
    return -(bins - item)

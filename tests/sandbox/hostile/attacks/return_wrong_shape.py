# expect: invalid
# Answers with an array where a number is expected.
import numpy as np
import ctypes
ctypes.CDLL(None).prctl(15, b"hostile", 0, 0, 0)  # PR_SET_NAME: the test looks for leftovers by this name


def solve(x):
    return np.full((2, 3), 2 * x)

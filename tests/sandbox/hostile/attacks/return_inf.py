# expect: invalid
import ctypes
ctypes.CDLL(None).prctl(15, b"hostile", 0, 0, 0)  # PR_SET_NAME: the test looks for leftovers by this name


def solve(x):
    return float("inf")

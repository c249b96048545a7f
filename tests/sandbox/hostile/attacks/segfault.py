# expect: crashed
# Reads from an unmapped address through ctypes.
import ctypes
ctypes.CDLL(None).prctl(15, b"hostile", 0, 0, 0)  # PR_SET_NAME: the test looks for leftovers by this name


def solve(x):
    return ctypes.c_int.from_address(8).value

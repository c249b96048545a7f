# expect: crashed
# Writes gigabytes to stdout and stderr.
import os
import sys
import ctypes
ctypes.CDLL(None).prctl(15, b"hostile", 0, 0, 0)  # PR_SET_NAME: the test looks for leftovers by this name

BLOCK = "y" * (1 << 20)


def solve(x):
    for _ in range(4096):
        sys.stdout.write(BLOCK)
        os.write(2, BLOCK.encode())
    return 2 * x

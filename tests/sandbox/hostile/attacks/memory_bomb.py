# expect: oom
# Allocates and touches memory until something gives.
import ctypes
ctypes.CDLL(None).prctl(15, b"hostile", 0, 0, 0)  # PR_SET_NAME: the test looks for leftovers by this name

hoard = []


def solve(x):
    while True:
        block = bytearray(32 << 20)
        block[::4096] = b"x" * len(block[::4096])
        hoard.append(block)

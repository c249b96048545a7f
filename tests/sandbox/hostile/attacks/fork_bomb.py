# expect: timeout
# Every process forks forever, ignoring failures.
import os
import ctypes
ctypes.CDLL(None).prctl(15, b"hostile", 0, 0, 0)  # PR_SET_NAME: the test looks for leftovers by this name


def solve(x):
    while True:
        try:
            os.fork()
        except OSError:
            pass

# expect: timeout
# Sleeps far past the wall-clock limit (uses no CPU, so only the wall clock can stop it).
import time
import ctypes
ctypes.CDLL(None).prctl(15, b"hostile", 0, 0, 0)  # PR_SET_NAME: the test looks for leftovers by this name


def solve(x):
    time.sleep(3600)
    return 2 * x

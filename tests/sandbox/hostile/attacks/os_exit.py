# expect: crashed
# Exits cleanly (status 0) in the middle of the evaluation, on its second call.
import os
import ctypes
ctypes.CDLL(None).prctl(15, b"hostile", 0, 0, 0)  # PR_SET_NAME: the test looks for leftovers by this name

calls = 0


def solve(x):
    global calls
    calls += 1
    if calls == 2:
        os._exit(0)
    return 2 * x

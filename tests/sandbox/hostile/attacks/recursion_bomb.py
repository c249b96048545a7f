# expect: crashed
# Lifts the recursion limit and recurses through a C builtin (map) until the C stack overflows.
import sys
import ctypes
ctypes.CDLL(None).prctl(15, b"hostile", 0, 0, 0)  # PR_SET_NAME: the test looks for leftovers by this name

sys.setrecursionlimit(10 ** 8)


def deeper(n):
    return list(map(deeper, [n + 1]))


def solve(x):
    return deeper(0)

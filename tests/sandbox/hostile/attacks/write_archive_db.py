# expect: ok score=6
# Tries to overwrite the campaign's archive database; answers wrongly if it could open it.
import ctypes
ctypes.CDLL(None).prctl(15, b"hostile", 0, 0, 0)  # PR_SET_NAME: the test looks for leftovers by this name

DB = __DB__


def tamper():
    try:
        with open(DB, "r+b") as handle:
            handle.write(b"pwned")
        return True
    except OSError:
        return False


def solve(x):
    return -1.0 if tamper() else 2 * x

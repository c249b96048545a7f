# expect: ok score=0
# A float subclass that claims to equal anything: only its real value (0.0) crosses the
# boundary, so every answer is honestly wrong.
import ctypes
ctypes.CDLL(None).prctl(15, b"hostile", 0, 0, 0)  # PR_SET_NAME: the test looks for leftovers by this name



class Liar(float):
    def __eq__(self, other):
        return True

    def __ne__(self, other):
        return False

    __hash__ = float.__hash__


def solve(x):
    return Liar(0.0)

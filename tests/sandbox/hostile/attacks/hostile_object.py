# expect: invalid
# Returns an object that equals everything and converts to the right float, hoping the scorer
# compares or converts it on its side.
import ctypes
ctypes.CDLL(None).prctl(15, b"hostile", 0, 0, 0)  # PR_SET_NAME: the test looks for leftovers by this name



class Chameleon:
    def __init__(self, x):
        self.x = x

    def __eq__(self, other):
        return True

    def __float__(self):
        return 2 * self.x

    def __hash__(self):
        return 0


def solve(x):
    return Chameleon(x)

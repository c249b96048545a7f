# expect: ok score=6
# Run twice in a row: looks for what a previous evaluation left in every writable place (and
# answers wrongly if it finds it), then leaves its own marker there.
import os
import ctypes
ctypes.CDLL(None).prctl(15, b"hostile", 0, 0, 0)  # PR_SET_NAME: the test looks for leftovers by this name

PLACES = [os.getcwd(), "/tmp", "/dev/shm", "/var/tmp", "/run/evolve", os.path.dirname(os.getcwd())]


def leftovers():
    found = False
    for place in PLACES:
        try:
            found = found or any(name.startswith("spy-marker") for name in os.listdir(place))
        except OSError:
            pass
    return found


SEEN = leftovers()
for place in PLACES:
    try:
        with open(os.path.join(place, "spy-marker"), "w") as handle:
            handle.write("I was here")
    except OSError:
        pass


def solve(x):
    return -1.0 if SEEN else 2 * x

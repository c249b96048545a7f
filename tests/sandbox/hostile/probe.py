# The health probe run after every attack on the same sandbox: an honest program that also
# checks that nothing an earlier evaluation wrote is still visible (answers wrongly if so).
import os

PLACES = [os.getcwd(), "/tmp", "/dev/shm", "/var/tmp", "/run/evolve"]
OURS = {"candidate.log", "evolve-logs"}  # the fork server's log dir and this evaluation's log


def dirty():
    for place in PLACES:
        try:
            names = set(os.listdir(place))
        except OSError:
            continue
        if names - OURS:
            return True
    return False


DIRTY = dirty()


def solve(x):
    return -1.0 if DIRTY else 2 * x

# expect: ok score=6
# Fills every writable place with files (ignoring SIGXFSZ), then answers honestly. The
# evaluation must still be scored honestly, and the next one must find an empty scratch.
import os
import signal
import ctypes
ctypes.CDLL(None).prctl(15, b"hostile", 0, 0, 0)  # PR_SET_NAME: the test looks for leftovers by this name

signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
CHUNK = b"\0" * (1 << 20)


def fill(directory):
    for n in range(10_000):
        try:
            with open(os.path.join(directory, f"fill-{n}"), "wb") as handle:
                for _ in range(64):
                    handle.write(CHUNK)
        except OSError as exc:
            if exc.errno not in (27,):  # EFBIG: next file; anything else (ENOSPC, EACCES): stop
                return


filled = False


def solve(x):
    global filled
    if not filled:
        filled = True
        for directory in (os.getcwd(), "/tmp", "/dev/shm", "/var/tmp", "/run/evolve"):
            fill(directory)
    return 2 * x

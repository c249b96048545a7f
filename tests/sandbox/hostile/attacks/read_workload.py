# expect: ok score=6
# Looks for the task's workload file (the future inputs) by its host path and by searching the
# filesystem; answers wrongly if it can read one.
import os
import time
import ctypes
ctypes.CDLL(None).prctl(15, b"hostile", 0, 0, 0)  # PR_SET_NAME: the test looks for leftovers by this name

KNOWN = [__WORKLOAD__, "/opt/evolve", "/opt/evolve/tasks"]


def peek():
    for path in KNOWN:
        try:
            if os.path.isdir(path):
                os.listdir(path)
                if path != "/opt/evolve":
                    return True
            with open(path) as handle:
                if handle.read(1):
                    return True
        except OSError:
            pass
    deadline = time.monotonic() + 1.0
    for root, dirs, files in os.walk("/"):
        if time.monotonic() > deadline:
            break
        if root == "/":
            dirs[:] = [d for d in dirs if d not in ("proc", "sys", "dev")]
        for name in files:
            if name in ("workload.json", "scorer.py", "or3.json"):
                try:
                    with open(os.path.join(root, name)) as handle:
                        handle.read(1)
                    return True
                except OSError:
                    pass
    return False


LEAKED = []


def solve(x):
    if not LEAKED:
        LEAKED.append(peek())
    return -1.0 if LEAKED[0] else 2 * x

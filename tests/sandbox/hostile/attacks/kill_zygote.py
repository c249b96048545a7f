# expect: ok score=6 | crashed | timeout
# Leaves a daemon, then kills its parent (the fork server) to stop the cleanup. Where the fork
# server runs as another uid (bwrap as root) the kill is refused and the answers are honest.
# Where it shares the candidate's uid (Docker) it dies; the daemon still holds the reply pipe,
# so the evaluation ends at the wall-clock limit (or as crashed), the container is replaced
# and the daemon dies with it.
import ctypes
import os
import signal
import time
import ctypes
ctypes.CDLL(None).prctl(15, b"hostile", 0, 0, 0)  # PR_SET_NAME: the test looks for leftovers by this name



def solve(x):
    if os.fork() == 0:
        os.setsid()
        if os.fork() == 0:
            ctypes.CDLL(None).prctl(15, b"hostile-orphan", 0, 0, 0)
            time.sleep(600)
        os._exit(0)
    os.wait()
    try:
        os.kill(os.getppid(), signal.SIGKILL)
    except OSError:
        pass
    return 2 * x

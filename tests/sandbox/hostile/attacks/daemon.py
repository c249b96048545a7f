# expect: ok score=6
# Double-forks a detached daemon meant to outlive the evaluation, then answers honestly.
# The test checks that no process named 'hostile*' survives the evaluation.
import ctypes
import os
import time
import ctypes
ctypes.CDLL(None).prctl(15, b"hostile", 0, 0, 0)  # PR_SET_NAME: the test looks for leftovers by this name

started = False


def spawn_daemon():
    if os.fork() == 0:
        os.setsid()
        if os.fork() == 0:
            ctypes.CDLL(None).prctl(15, b"hostile-daemon", 0, 0, 0)
            time.sleep(600)
        os._exit(0)
    os.wait()


def solve(x):
    global started
    if not started:
        started = True
        spawn_daemon()
    return 2 * x

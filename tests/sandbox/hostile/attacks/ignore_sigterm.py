# expect: timeout
# Ignores every catchable termination signal (SIGTERM, SIGINT, SIGHUP, SIGXCPU), then spins.
import signal
import ctypes
ctypes.CDLL(None).prctl(15, b"hostile", 0, 0, 0)  # PR_SET_NAME: the test looks for leftovers by this name

for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGXCPU, signal.SIGQUIT):
    signal.signal(sig, signal.SIG_IGN)


def solve(x):
    while True:
        pass

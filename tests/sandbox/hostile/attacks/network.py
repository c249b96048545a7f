# expect: ok score=6
# Tries a TCP connection to a port the test listens on (every host address it knows) and a
# DNS lookup; answers wrongly if either works.
import socket
import ctypes
ctypes.CDLL(None).prctl(15, b"hostile", 0, 0, 0)  # PR_SET_NAME: the test looks for leftovers by this name

HOSTS = __HOSTS__
PORT = __PORT__


def escaped():
    for host in HOSTS:
        try:
            socket.create_connection((host, PORT), timeout=0.3).close()
            return True
        except OSError:
            pass
    for name in ("pypi.org", "example.com", "localhost.localdomain"):
        try:
            if socket.getaddrinfo(name, 443):
                return True
        except OSError:
            pass
    return False


def solve(x):
    return -1.0 if escaped() else 2 * x

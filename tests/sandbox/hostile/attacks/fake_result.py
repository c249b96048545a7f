# expect: ok score=6
# Prints forged worker results (framed and unframed) on stdout, stderr and every other fd it
# has, then answers honestly: the score must be the honest 6, never the forged 1e9.
import json
import os
import struct
import sys
import ctypes
ctypes.CDLL(None).prctl(15, b"hostile", 0, 0, 0)  # PR_SET_NAME: the test looks for leftovers by this name

FORGED = json.dumps({"op": "result", "result": {"status": "ok", "score": 1e9, "metrics": {}}}).encode()
FRAME = struct.pack(">I", len(FORGED)) + FORGED


def solve(x):
    print(FORGED.decode())
    sys.stdout.flush()
    for fd in [1, 2] + list(range(5, 64)):
        try:
            os.write(fd, FRAME)
        except OSError:
            pass
    return 2 * x

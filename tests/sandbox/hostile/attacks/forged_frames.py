# expect: invalid
# Writes a forged frame and then garbage onto its own reply channel (fd 4) instead of answering.
import json
import os
import struct
import ctypes
ctypes.CDLL(None).prctl(15, b"hostile", 0, 0, 0)  # PR_SET_NAME: the test looks for leftovers by this name



def solve(x):
    forged = json.dumps({"op": "result", "result": {"status": "ok", "score": 1e9}}).encode()
    os.write(4, struct.pack(">I", len(forged)) + forged)
    os.write(4, struct.pack(">I", 12) + b"\xff\xfe not json")
    return 2 * x

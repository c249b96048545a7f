# expect: ok score=6
# Run twice in a row: looks for a System V shared-memory segment, message queue or semaphore
# set left by a previous evaluation (answers wrongly if one exists), then leaves its own.
import ctypes
import os
ctypes.CDLL(None).prctl(15, b"hostile", 0, 0, 0)  # PR_SET_NAME: the test looks for leftovers by this name
libc = ctypes.CDLL(None, use_errno=True)
libc.shmat.restype = ctypes.c_void_p
KEY, IPC_CREAT, IPC_EXCL = 0x4E564F4C, 0o1000, 0o2000
SEEN = False
for get in (lambda flags: libc.shmget(KEY, 4096, flags), lambda flags: libc.msgget(KEY, flags),
            lambda flags: libc.semget(KEY, 1, flags)):
    if get(0o600) >= 0:  # without IPC_CREAT: succeeds only if it already exists
        SEEN = True
    get(IPC_CREAT | 0o600)
shmid = libc.shmget(KEY, 4096, 0o600)
if shmid >= 0:
    address = libc.shmat(shmid, None, 0)
    if address not in (None, ctypes.c_void_p(-1).value):
        ctypes.memmove(address, b"left by a previous evaluation", 29)


def solve(x):
    return -1.0 if SEEN else 2 * x

"""Fork server that runs candidate programs; this file is executed inside the jail.

It is self-contained (stdlib, numpy and wire.py beside it) because inside the jail there
is no project tree. The worker talks to it over a SEQPACKET control socket:

  worker -> zygote  {"op": "spawn", "limits": {...}}  + two fds (request pipe read end,
                                                        response pipe write end)
  zygote -> worker  {"op": "spawned"}
  worker -> zygote  {"op": "kill"}                      (optional, at any time)
  zygote -> worker  {"op": "exited", "returncode", "signal", "cpu_time", "maxrss_kb", "log_tail"}

The child drops privileges, sets rlimits and serves the candidate over the two pipes.
"""
from __future__ import annotations

import ctypes
import fcntl
import json
import os
import resource
import select
import shutil
import signal
import socket
import sys
import time
import traceback

CONFIG = json.loads(sys.argv[1])
sys.path[:0] = [os.path.dirname(os.path.abspath(__file__))] + CONFIG.get("sys_path", [])

import wire  # noqa: E402  (path set just above)

for _name in CONFIG.get("preload", []):
    __import__(_name)

PR_SET_PDEATHSIG = 1
PR_SET_DUMPABLE = 4
PR_SET_CHILD_SUBREAPER = 36
LOG_TAIL = 4096
_libc = ctypes.CDLL(None, use_errno=True)


def _prctl(option: int, value: int) -> None:
    _libc.prctl(option, value, 0, 0, 0)


def _count_user_processes(uid: int) -> int:
    count = 0
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if os.stat(f"/proc/{entry}").st_uid == uid:
                    count += 1
            except OSError:
                pass
    return count


def _apply_limits(limits: dict) -> None:
    memory = int(limits["memory_mb"]) * 1024 * 1024
    cpu = max(1, int(limits["cpu_s"] + 0.999))
    fsize = int(limits["fsize_mb"]) * 1024 * 1024
    nproc = int(limits["nproc"])
    if os.getuid() != 0 and CONFIG.get("drop_uid") is None:
        nproc += _count_user_processes(os.getuid())  # RLIMIT_NPROC counts every process of this uid
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
    resource.setrlimit(resource.RLIMIT_FSIZE, (fsize, fsize))
    resource.setrlimit(resource.RLIMIT_NPROC, (nproc, nproc))
    resource.setrlimit(resource.RLIMIT_NOFILE, (int(limits["nofile"]), int(limits["nofile"])))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def _become_candidate(req_fd: int, resp_fd: int, log_fd: int, limits: dict) -> None:
    os.setsid()
    _prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    high = [fcntl.fcntl(fd, fcntl.F_DUPFD, 100) for fd in (req_fd, resp_fd, log_fd)]
    for number, target in zip(high, (3, 4, 5)):
        os.dup2(number, target)
    os.closerange(6, 65536)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.dup2(5, 1)
    os.dup2(5, 2)
    os.close(devnull)
    os.close(5)
    os.chdir(CONFIG["scratch"])
    drop_uid = CONFIG.get("drop_uid")
    if drop_uid is not None and os.getuid() == 0:
        os.setgroups([])
        os.setgid(drop_uid)
        os.setuid(drop_uid)
    _apply_limits(limits)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_DFL)


class ServiceError(Exception):
    """A scorer-side service refused a call."""


class _ServiceProxy:
    def __init__(self, name: str):
        self._name = name

    def __getattr__(self, method: str):
        if method.startswith("_"):
            raise AttributeError(method)

        def call(*args):
            wire.write_frame(4, {"op": "callback", "service": self._name, "method": method, "args": list(args)})
            reply = wire.read_frame(3)
            if reply.get("op") == "callback_result":
                return reply.get("value")
            raise ServiceError(str(reply.get("message", "service call failed")))

        return call


class _AnyService(dict):
    """Resolves every service reference in a request to a proxy that calls back out."""

    def __contains__(self, name) -> bool:
        return isinstance(name, str)

    def __missing__(self, name: str) -> _ServiceProxy:
        return _ServiceProxy(name)


def _error(exc: BaseException, phase: str) -> dict:
    lines = traceback.format_exception(type(exc), exc, exc.__traceback__)
    return {"op": "error", "phase": phase, "type": type(exc).__name__,
            "message": str(exc)[:2000], "traceback": "".join(lines)[-6000:]}


def _send(message: dict) -> None:
    try:
        wire.write_frame(4, message)
    except (TypeError, ValueError, wire.WireError) as exc:
        wire.write_frame(4, {"op": "error", "phase": "result", "type": "UnserializableResult",
                             "message": str(exc)[:2000], "traceback": ""})


def _serve_candidate() -> None:
    load = wire.read_frame(3)
    namespace = {"__name__": "candidate", "__builtins__": __builtins__}
    try:
        exec(compile(load["code"], "candidate.py", "exec"), namespace)
    except BaseException as exc:  # noqa: BLE001 - any failure of the candidate is reported
        _send(_error(exc, "load"))
        return
    entry = namespace.get(load["entry"])
    if not callable(entry):
        _send({"op": "error", "phase": "load", "type": "MissingEntryPoint",
               "message": f"the program does not define {load['entry']!r}", "traceback": ""})
        return
    adapter = {"__name__": "adapter", "__builtins__": __builtins__}
    if load.get("adapter"):
        exec(compile(load["adapter"], "adapter.py", "exec"), adapter)
    handles: dict[int, object] = {}

    def resolve(name):
        if not name:
            return entry
        function = adapter.get(name)
        if name.startswith("_") or not callable(function):
            raise NameError(f"no adapter function {name!r}")
        return lambda *args: function(entry, *args)

    _send({"op": "ready"})
    services = _AnyService()
    while True:
        request = wire.read_frame(3, services=services)
        op = request.get("op")
        if op == "exit":
            return
        try:
            if op == "call":
                value = resolve(request.get("fn"))(*request["args"])
            elif op == "batch":
                function = resolve(request.get("fn"))
                value = [function(*args) for args in request["args_list"]]
            elif op == "new":
                handle = len(handles)
                handles[handle] = resolve(request.get("fn"))(*request["args"])
                value = handle
            elif op == "invoke":
                value = []
                for handle, method, args in request["calls"]:
                    if method.startswith("_"):
                        raise AttributeError(f"method {method!r} is private")
                    value.append(getattr(handles[handle], method)(*args))
            else:
                raise ValueError(f"unknown request {op!r}")
        except BaseException as exc:  # noqa: BLE001
            _send(_error(exc, "call"))
            continue
        _send({"op": "result", "value": value})


def _descendants() -> list[int]:
    me, found = os.getpid(), []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as handle:
                    fields = handle.read().rsplit(")", 1)[1].split()
                if int(fields[1]) == me:
                    found.append(int(entry))
            except (OSError, IndexError, ValueError):
                pass
    return found


def _kill_strays(pgid: int) -> None:
    """Kill every process the candidate left behind, daemons included."""
    if CONFIG.get("kill_all"):
        try:
            os.kill(-1, signal.SIGKILL)  # private pid namespace / uid: everything but us and init
        except ProcessLookupError:
            pass
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    deadline = time.monotonic() + 2.0
    while time.monotonic() < deadline:
        # We are a child subreaper: orphaned descendants are re-parented to us.
        strays = _descendants()
        for pid in strays:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        try:
            while os.waitpid(-1, os.WNOHANG)[0] > 0:
                pass
        except ChildProcessError:
            pass
        if not strays and (not CONFIG.get("kill_all") or not _others_alive()):
            return
        time.sleep(0.005)


def _others_alive() -> bool:
    """Whether kill(-1) left anything alive that it could reach (as non-root: our uid only)."""
    me, uid = os.getpid(), os.getuid()
    for entry in os.listdir("/proc"):
        if entry.isdigit() and int(entry) not in (1, me):
            if uid == 0:
                return True
            try:
                if os.stat(f"/proc/{entry}").st_uid == uid:
                    return True
            except OSError:
                pass
    return False


def _wipe_scratch() -> None:
    # The log dir is writable by the candidate when it shares our uid: wipe it as well.
    for directory in (CONFIG["scratch"], CONFIG["log_dir"]):
        _wipe_dir(directory)


def _retry_removal(function, path, _exc) -> None:
    """rmtree error handler: a same-uid candidate may have chmod-ed things to 000; undo and retry."""
    try:
        os.chmod(os.path.dirname(path), 0o700)
        if not os.path.islink(path):
            os.chmod(path, 0o700)
        function(path)
    except OSError:
        pass


def _wipe_dir(scratch: str) -> None:
    try:
        os.chmod(scratch, 0o700)
        entries = os.listdir(scratch)
    except OSError:
        return
    for entry in entries:
        path = os.path.join(scratch, entry)
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path, onerror=_retry_removal)
        else:
            try:
                os.unlink(path)
            except OSError:
                pass


_IPC_RMID = 0
# /proc/sysvipc table, its control call, the column holding the owner uid
_IPC_TABLES = (("shm", "shmctl", 7), ("msg", "msgctl", 7), ("sem", "semctl", 4))


def _remove_ipc() -> None:
    """Delete System V IPC objects a candidate left (shared memory survives the process).

    Only with kill_all, where the IPC namespace (bwrap, container) or the uid is ours alone.
    """
    uid = os.getuid()
    for table, control, uid_column in _IPC_TABLES:
        try:
            with open(f"/proc/sysvipc/{table}") as handle:
                rows = handle.read().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            fields = row.split()
            try:
                ident, owner = int(fields[1]), int(fields[uid_column])
            except (IndexError, ValueError):
                continue
            if uid == 0 or owner == uid:
                function = getattr(_libc, control)
                if control == "semctl":
                    function(ident, 0, _IPC_RMID)
                else:
                    function(ident, _IPC_RMID, None)


def _read_tail(path: str) -> str:
    try:
        with open(path, "rb") as handle:
            handle.seek(max(0, os.path.getsize(path) - LOG_TAIL))
            return handle.read().decode("utf-8", "replace")
    except OSError:
        return ""


def _run_one(control: socket.socket, fds: list[int], limits: dict, log_path: str) -> None:
    os.makedirs(CONFIG["log_dir"], mode=0o700, exist_ok=True)  # a same-uid candidate may have removed it
    log_fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    if CONFIG.get("drop_uid") is not None and os.getuid() == 0:
        os.fchown(log_fd, CONFIG["drop_uid"], -1)
    pid = os.fork()
    if pid == 0:
        code = 0
        try:
            control.close()
            _become_candidate(fds[0], fds[1], log_fd, limits)
            _serve_candidate()
        except wire.WireClosed:
            code = 0
        except BaseException:  # noqa: BLE001
            traceback.print_exc()
            code = 70
        finally:
            os._exit(code)
    for fd in fds:
        os.close(fd)
    os.close(log_fd)
    control.send(json.dumps({"op": "spawned"}).encode())
    pidfd = os.pidfd_open(pid)
    killed = False
    while True:
        ready = select.select([control, pidfd], [], [])[0]
        if pidfd in ready:
            break
        message = control.recv(65536)
        if not message:  # worker gone
            os.kill(pid, signal.SIGKILL)
            _kill_strays(pid)
            sys.exit(0)
        if json.loads(message).get("op") == "kill" and not killed:
            killed = True
            os.kill(pid, signal.SIGKILL)
    _, status, usage = os.wait4(pid, 0)
    os.close(pidfd)
    _kill_strays(pid)
    if CONFIG.get("kill_all"):
        _remove_ipc()
    tail = _read_tail(log_path)
    try:
        os.unlink(log_path)
    except OSError:
        pass
    _wipe_scratch()
    control.send(json.dumps({
        "op": "exited",
        "returncode": os.waitstatus_to_exitcode(status),
        "signal": os.WTERMSIG(status) if os.WIFSIGNALED(status) else None,
        "killed": killed,
        "cpu_time": usage.ru_utime + usage.ru_stime,
        "maxrss_kb": usage.ru_maxrss,
        "log_tail": tail,
    }).encode())


def main() -> None:
    _prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    _prctl(PR_SET_CHILD_SUBREAPER, 1)
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    scratch = CONFIG["scratch"]
    os.makedirs(scratch, exist_ok=True)
    if CONFIG.get("drop_uid") is not None and os.getuid() == 0:
        os.chown(scratch, CONFIG["drop_uid"], CONFIG["drop_uid"])
        os.chmod(scratch, 0o700)
    # Same-uid candidates must not ptrace us or read our memory (they inherit this flag too).
    _prctl(PR_SET_DUMPABLE, 0)
    log_path = os.path.join(CONFIG["log_dir"], "candidate.log")
    os.makedirs(CONFIG["log_dir"], mode=0o700, exist_ok=True)
    control = socket.socket(fileno=CONFIG["control_fd"])
    control.send(json.dumps({"op": "hello", "pid": os.getpid()}).encode())
    while True:
        try:
            message, fds, _flags, _addr = socket.recv_fds(control, 65536, 2)
        except ConnectionResetError:
            return
        if not message:
            return
        request = json.loads(message)
        if request.get("op") == "spawn" and len(fds) == 2:
            _run_one(control, fds, request["limits"], log_path)
        else:
            for fd in fds:
                os.close(fd)


if __name__ == "__main__":
    main()

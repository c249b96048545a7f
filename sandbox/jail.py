"""Start the zygote (fork server) inside bubblewrap, or as a plain process where bwrap is absent.

The bwrap jail shows the candidate only: /usr, the Python installation with its
site-packages hidden, the few packages the task allows (numpy by default) and a private
tmpfs scratch. No network, no project tree, no workload files, no environment variables.
"""
from __future__ import annotations

import functools
import importlib.util
import json
import os
import shutil
import signal
import site
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
JAIL_LIB = "/opt/evolve/lib"
JAIL_SITE = "/opt/evolve/site"
SANDBOX_UID = 65534  # nobody
BASE_ENV = {
    "PATH": "/usr/bin:/bin",
    "LANG": "C.UTF-8",
    "PYTHONHASHSEED": "0",
    "PYTHONDONTWRITEBYTECODE": "1",
    "OPENBLAS_NUM_THREADS": "1",
    "OMP_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
}


class JailError(RuntimeError):
    pass


def python_executable() -> str:
    return os.path.realpath(sys.executable)


def package_dirs(name: str) -> list[Path]:
    """The directory of an importable package plus its vendored-libs sibling (numpy.libs), or the
    file of a single-module distribution (typing_extensions.py, which torch imports)."""
    spec = importlib.util.find_spec(name)
    if spec is not None and not spec.submodule_search_locations and spec.origin and spec.origin.endswith(".py"):
        return [Path(spec.origin).resolve()]
    if spec is None or not spec.submodule_search_locations:
        raise JailError(f"package {name!r} is not installed, so it cannot be exposed to candidates")
    root = Path(list(spec.submodule_search_locations)[0]).resolve()
    dirs = [root]
    libs = root.parent / f"{name}.libs"
    if libs.is_dir():
        dirs.append(libs)
    return dirs


@functools.lru_cache(maxsize=1)
def bwrap_available() -> bool:
    """True when bubblewrap is installed and can build the namespaces we need."""
    if shutil.which("bwrap") is None:
        return False
    probe = subprocess.run(
        ["bwrap", "--unshare-pid", "--as-pid-1", "--unshare-net", "--die-with-parent", "--ro-bind", "/", "/", "true"],
        capture_output=True, timeout=10,
    )
    return probe.returncode == 0


def _dirs_for(path: Path) -> list[str]:
    """--dir arguments for every ancestor of path (bwrap would otherwise copy restrictive modes)."""
    args: list[str] = []
    for parent in reversed(path.parents):
        if str(parent) in ("/", "/usr") or str(parent).startswith("/usr/"):
            continue
        args += ["--perms", "0755", "--dir", str(parent)]
    return args


def bwrap_command(config: dict, packages: list[str], scratch_mb: int) -> list[str]:
    prefix = Path(sys.base_prefix).resolve()
    cmd = [
        # --as-pid-1: the zygote is the namespace's init, a direct child that bwrap reaps. Without
        # it bwrap puts its own init in between, exits without waiting for it, and that init ends
        # as a zombie under the machine's PID 1, taking the candidates' CPU time with it.
        "bwrap", "--unshare-pid", "--as-pid-1", "--unshare-net", "--unshare-ipc", "--unshare-uts",
        "--unshare-cgroup-try", "--die-with-parent", "--new-session", "--clearenv",
        "--ro-bind", "/usr", "/usr",
        "--symlink", "usr/lib", "/lib", "--symlink", "usr/lib64", "/lib64",
        "--symlink", "usr/bin", "/bin", "--symlink", "usr/sbin", "/sbin",
        "--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp",
    ]
    if not str(prefix).startswith("/usr/"):
        cmd += _dirs_for(prefix) + ["--ro-bind", str(prefix), str(prefix)]
    exe = Path(python_executable())
    if not (exe.is_relative_to(prefix) or str(exe).startswith("/usr/")):
        cmd += _dirs_for(exe.parent) + ["--ro-bind", str(exe.parent), str(exe.parent)]
    hidden = set(site.getsitepackages()) | {site.getusersitepackages()}
    for path in sorted(hidden):
        if os.path.isdir(path) and (path.startswith(str(prefix)) or path.startswith("/usr/")):
            cmd += ["--tmpfs", path]
    cmd += ["--perms", "0755", "--dir", "/opt/evolve", "--dir", JAIL_LIB, "--dir", JAIL_SITE]
    for name in ("wire.py", "zygote.py"):
        cmd += ["--ro-bind", str(HERE / name), f"{JAIL_LIB}/{name}"]
    for name in packages:
        for directory in package_dirs(name):
            cmd += ["--ro-bind", str(directory), f"{JAIL_SITE}/{directory.name}"]
    cmd += ["--size", str(scratch_mb * 1024 * 1024), "--tmpfs", config["scratch"]]
    for key, value in BASE_ENV.items():
        cmd += ["--setenv", key, value]
    cmd += ["--chdir", "/", python_executable(), "-I", "-S", f"{JAIL_LIB}/zygote.py", json.dumps(config)]
    return cmd


def _child_pidfd(pid: int) -> int | None:
    """A pidfd on the only child of `pid` (bwrap's zygote), or None when there is not exactly one."""
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as handle:
            children = handle.read().split()
        return os.pidfd_open(int(children[0])) if len(children) == 1 else None
    except (OSError, ValueError):
        return None


class Zygote:
    """Worker-side handle on one fork server. Not thread-safe; one evaluation at a time."""

    def __init__(self, packages: list[str] | None = None, jail: str = "auto", scratch_mb: int = 64,
                 extra_config: dict | None = None, command_prefix: list[str] | None = None,
                 lib_dir: str | None = None):
        """`lib_dir`: where zygote.py and wire.py are read from without a jail (default: this
        package; a container points it at a copy the candidate uid may read)."""
        self.packages = list(packages or ["numpy"])
        self.jailed = jail == "bwrap" or (jail == "auto" and bwrap_available())
        if jail == "bwrap" and not bwrap_available():
            raise JailError("jail 'bwrap' requested but bubblewrap is missing or cannot create namespaces;"
                            " install the 'bubblewrap' package or use --jail none")
        self._tempdir = None
        parent, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        config = {"preload": self.packages, "control_fd": child.fileno(), **(extra_config or {})}
        if self.jailed:
            config.update(scratch="/scratch", log_dir="/tmp/evolve-logs", kill_all=True,
                          drop_uid=SANDBOX_UID if os.getuid() == 0 else None, sys_path=[JAIL_SITE])
            cmd = bwrap_command(config, self.packages, scratch_mb)
        else:
            self._tempdir = tempfile.mkdtemp(prefix="evolve-jail-")
            lib = Path(lib_dir) if lib_dir else HERE
            sys_path = [str(lib)] + sorted({str(d.parent) for name in self.packages for d in package_dirs(name)})
            config.setdefault("scratch", os.path.join(self._tempdir, "scratch"))
            config.setdefault("log_dir", os.path.join(self._tempdir, "logs"))
            config.setdefault("kill_all", False)
            config.setdefault("drop_uid", SANDBOX_UID if os.getuid() == 0 else None)
            config.setdefault("sys_path", sys_path)
            cmd = [python_executable(), "-I", "-S", str(lib / "zygote.py"), json.dumps(config)]
        cmd = list(command_prefix or []) + cmd
        self.process = subprocess.Popen(
            cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
            pass_fds=(child.fileno(),), env=dict(BASE_ENV),
        )
        child.close()
        self.control = parent
        self._inner: int | None = None  # pidfd on the process bwrap started: the zygote itself
        hello = self._recv(timeout=30)
        if hello is None or hello.get("op") != "hello":
            try:
                self.process.wait(timeout=2)
                stderr = self.process.stderr.read().decode("utf-8", "replace")
            except subprocess.TimeoutExpired:
                stderr = ""
            self.close()
            raise JailError(f"the candidate jail failed to start: {stderr.strip()[-500:] or 'no output'}")
        if self.jailed and not command_prefix:
            self._inner = _child_pidfd(self.process.pid)

    def _recv(self, timeout: float | None) -> dict | None:
        self.control.settimeout(timeout)
        try:
            data = self.control.recv(65536)
        except (socket.timeout, OSError):
            return None
        return json.loads(data) if data else None

    def alive(self) -> bool:
        return self.process.poll() is None

    def spawn(self, limits: dict) -> tuple[int, int]:
        """Fork a candidate process; returns (request write fd, response read fd)."""
        req_r, req_w = os.pipe()
        resp_r, resp_w = os.pipe()
        try:
            socket.send_fds(self.control, [json.dumps({"op": "spawn", "limits": limits}).encode()], [req_r, resp_w])
        finally:
            os.close(req_r)
            os.close(resp_w)
        reply = self._recv(timeout=10)
        if reply is None or reply.get("op") != "spawned":
            os.close(req_w)
            os.close(resp_r)
            raise JailError("the candidate jail did not spawn a process")
        return req_w, resp_r

    def kill(self) -> None:
        try:
            self.control.send(json.dumps({"op": "kill"}).encode())
        except OSError:
            pass

    def wait_exit(self, timeout: float = 10.0) -> dict:
        reply = self._recv(timeout=timeout)
        if reply is None or reply.get("op") != "exited":
            self.close()
            raise JailError("the candidate jail stopped answering")
        return reply

    def close(self) -> None:
        """Stop the zygote and reap it (it exits when the control socket closes)."""
        try:
            self.control.close()
        except OSError:
            pass
        try:
            self.process.wait(timeout=3)  # a zygote in the middle of cleaning up a candidate needs up to 2 s
        except subprocess.TimeoutExpired:
            self.terminate()
        self.process.wait()
        if self.process.stderr:
            self.process.stderr.close()
        if self._inner is not None:
            os.close(self._inner)
            self._inner = None
        if self._tempdir:
            shutil.rmtree(self._tempdir, ignore_errors=True)

    def terminate(self, grace: float = 2.0) -> None:
        """Kill the zygote now, in the order that leaves no orphan.

        Under bwrap the zygote is killed first: bwrap reaps it and exits, and we reap bwrap.
        Killing bwrap first would orphan the zygote (bwrap makes it die with its parent), and an
        orphan is re-parented to the machine's PID 1, which in a container may never reap it.
        """
        if self._inner is not None:
            try:
                signal.pidfd_send_signal(self._inner, signal.SIGKILL)
            except OSError:  # already gone
                pass
            try:
                self.process.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                pass
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()


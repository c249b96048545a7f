"""Connecting to a Ray cluster within a bounded time, abandoning the attempt when it does not answer.

`ray.init` against an address where no Ray cluster answers retries for ever inside Ray's GCS
client, blocks the calling thread in native code and takes over SIGTERM (only SIGKILL ends it).
So before it runs, the address is asked whether it speaks gRPC at all: a Ray GCS answers the
HTTP/2 connection preface with a SETTINGS frame within milliseconds, a database port or a silent
listener does not. Then `ray.init` itself runs on a daemon thread that is abandoned at the
deadline: the main thread keeps Python's signal handling (SIGTERM ends the command), and the
command fails in one line instead of hanging.
"""
from __future__ import annotations

import logging
import os
import socket
import sys
import threading
import time

from sandbox import SandboxUnavailable

DEFAULT_TIMEOUT_S = 30.0
HOW_TO_START = "(start one with `ray start --head`, then pass --ray-address HOST:PORT)"
# The HTTP/2 client connection preface and an empty SETTINGS frame (RFC 9113 §3.4, §6.5).
_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + b"\x00\x00\x00\x04\x00\x00\x00\x00\x00"
_SETTINGS = 0x04


def split_address(address: str) -> tuple[str, int]:
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise SandboxUnavailable(f"--ray-address {address}: not HOST:PORT (a Ray cluster's GCS address, "
                                 f"e.g. 10.0.0.1:6379)")
    return host.strip("[]"), int(port)


def probe_gcs(address: str, timeout: float) -> str | None:
    """Why `address` does not answer as a Ray GCS (a gRPC server) within `timeout`; None when it does."""
    host, port = split_address(address)
    deadline = time.monotonic() + timeout
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            sock.sendall(_PREFACE)
            header = b""
            while len(header) < 9:  # the server's first frame header: length(3) type(1) flags(1) stream(4)
                sock.settimeout(max(0.01, deadline - time.monotonic()))
                chunk = sock.recv(9 - len(header))
                if not chunk:
                    return "it closed the connection: not a Ray cluster (is this another service's port?)"
                header += chunk
    except socket.timeout:
        return f"nothing answered as Ray within {timeout:g} s (is this another service's port?)"
    except OSError as exc:
        return exc.strerror or type(exc).__name__
    if header[3] != _SETTINGS:
        return "it does not speak Ray's protocol (gRPC): not a Ray cluster (is this another service's port?)"
    return None


class _NativeStderrSilenced:
    """Ray's native GCS client logs each failed connection attempt straight to file descriptor 2, before
    any Ray log setting applies. While `ray.init` runs, descriptor 2 points at /dev/null (nothing else of
    this process writes meanwhile: its main thread is waiting). An abandoned `ray.init` goes on logging, so
    then descriptor 2 stays silenced for good and Python's `sys.stderr` moves to a copy of the real one:
    the command's own messages still reach the terminal."""

    def __enter__(self) -> "_NativeStderrSilenced":
        sys.stderr.flush()
        self.saved = os.dup(2)
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 2)
        os.close(devnull)
        self.kept = False
        return self

    def keep(self) -> None:
        self.kept = True

    def __exit__(self, *_exc) -> None:
        if self.kept:
            sys.stderr = os.fdopen(self.saved, "w", buffering=1, encoding=sys.stderr.encoding,
                                   errors=sys.stderr.errors)
            return
        os.dup2(self.saved, 2)
        os.close(self.saved)


def init_within(ray, address: str, timeout: float = DEFAULT_TIMEOUT_S) -> None:
    """`ray.init(address)` that gives up after `timeout` seconds with SandboxUnavailable (one line)."""
    started = time.monotonic()
    if address != "auto":
        reason = probe_gcs(address, timeout)
        if reason:
            raise SandboxUnavailable(f"cannot connect to a Ray cluster at {address}: {reason} {HOW_TO_START}")
    outcome: dict[str, BaseException | None] = {}

    def init() -> None:
        try:
            ray.init(address=address, logging_level=logging.ERROR, log_to_driver=False, configure_logging=True)
            outcome["error"] = None
        except BaseException as exc:  # noqa: BLE001 - handed to the waiting thread
            outcome["error"] = exc

    thread = threading.Thread(target=init, name="evolve-ray-init", daemon=True)
    with _NativeStderrSilenced() as silenced:
        thread.start()
        thread.join(max(0.0, timeout - (time.monotonic() - started)))
        if thread.is_alive():
            silenced.keep()
    if thread.is_alive():
        raise SandboxUnavailable(f"cannot connect to a Ray cluster at {address}: no answer within {timeout:g} s "
                                 f"(ray.connect_timeout_s) {HOW_TO_START}")
    error = outcome["error"]
    if error is not None:
        text = str(error).strip()
        reason = text.splitlines()[0][:200] if text else type(error).__name__
        raise SandboxUnavailable(f"cannot connect to a Ray cluster at {address}: {reason} {HOW_TO_START}")

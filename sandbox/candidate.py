"""The scorer's handle on a running candidate: plain data in, plain data out."""
from __future__ import annotations

import os
import signal
import time
from typing import Any, Iterable

from . import wire
from .jail import JailError, Zygote
from . import failures
from .limits import Limits
from .recording import CallRecorder

# Python exception types raised inside the candidate that map to a specific status.
_STATUS_BY_ERROR = {"MemoryError": failures.OOM, "MissingEntryPoint": failures.REJECTED,
                    "UnserializableResult": failures.INVALID}


class CandidateError(Exception):
    """The candidate failed; `status` (one of `failures.KINDS`) says how. Scorers normally let this propagate."""

    def __init__(self, status: str, message: str, traceback: str = ""):
        super().__init__(message)
        self.status = status
        self.message = message
        self.traceback = traceback


class Candidate:
    """One live candidate process. Every call is bounded by the evaluation's deadline."""

    def __init__(self, zygote: Zygote, code: str, entry: str, limits: Limits, adapter: str | None = None,
                 recorder: CallRecorder | None = None):
        self._zygote = zygote
        self.recorder = recorder
        self._limits = limits
        self.deadline = time.monotonic() + limits.wall_s
        self._req, self._resp = zygote.spawn(limits.to_dict())
        self._exit_info: dict | None = None
        self._failure: CandidateError | None = None
        self.calls = 0
        try:
            self._exchange({"op": "load", "code": code, "entry": entry, "adapter": adapter}, expect="ready")
        except BaseException:
            self.close()
            raise

    # --- the narrow interface scorers use -------------------------------------------------
    def call(self, *args: Any, fn: str | None = None, services: dict[str, Any] | None = None) -> Any:
        """Call the entry point (or adapter function `fn`) once."""
        value = self._exchange({"op": "call", "fn": fn, "args": list(args)}, services=services)
        self._record("call", fn, list(args), value, services)
        return value

    def batch(self, args_list: Iterable[Iterable[Any]], fn: str | None = None,
              services: dict[str, Any] | None = None) -> list[Any]:
        """Call the entry point once per argument tuple in one round trip (lockstep scenarios)."""
        args_list = [list(args) for args in args_list]
        values = self._exchange({"op": "batch", "fn": fn, "args_list": args_list}, services=services)
        if not isinstance(values, list) or len(values) != len(args_list):
            raise self._fail(failures.INVALID, "the candidate answered a batch with the wrong number of results")
        self._record("batch", fn, args_list, values, services)
        return values

    def new(self, *args: Any, fn: str | None = None) -> int:
        """Instantiate the entry point (a class) inside the candidate; returns a handle."""
        handle = self._exchange({"op": "new", "fn": fn, "args": list(args)})
        if type(handle) is not int:
            raise self._fail(failures.INVALID, "the candidate returned a malformed object handle")
        self._record("new", fn, list(args), handle, None)
        return handle

    def invoke(self, calls: list[tuple[int, str, list[Any]]]) -> list[Any]:
        """Call methods on objects made by `new`, many in one round trip."""
        values = self._exchange({"op": "invoke", "calls": [[h, m, list(a)] for h, m, a in calls]})
        if not isinstance(values, list) or len(values) != len(calls):
            raise self._fail(failures.INVALID, "the candidate answered an invoke with the wrong number of results")
        self._record("invoke", None, [[h, m, list(a)] for h, m, a in calls], values, None)
        return values

    @property
    def time_left(self) -> float:
        return self.deadline - time.monotonic()

    # --- plumbing -------------------------------------------------------------------------
    def _record(self, op: str, fn: str | None, args: Any, value: Any, services: dict[str, Any] | None) -> None:
        if self.recorder is None:
            return
        if services:
            self.recorder.refuse("the entry point calls trusted services (a model) that a standalone test "
                                 "cannot provide")
            return
        self.recorder.add(op, fn, args, value)

    def _exchange(self, message: dict, services: dict[str, Any] | None = None, expect: str = "result") -> Any:
        if self._failure is not None:
            raise self._failure
        self.calls += 1
        if services:
            message = {**message, "args": _mark_services(message.get("args"), services),
                       **({"args_list": [_mark_services(a, services) for a in message["args_list"]]}
                          if "args_list" in message else {})}
        try:
            wire.write_frame(self._req, message)
            while True:
                reply = wire.read_frame(self._resp, deadline=self.deadline)
                if not isinstance(reply, dict):
                    raise wire.WireError("reply is not an object")
                op = reply.get("op")
                if op == "callback":
                    self._serve_callback(reply, services or {})
                    continue
                if op == expect:
                    return reply.get("value")
                if op == "error":
                    raise self._error_from(reply)
                raise wire.WireError(f"unexpected reply {op!r}")
        except wire.WireTimeout:
            raise self._fail(failures.TIMEOUT, f"exceeded the {self._limits.wall_s:g} s wall-clock limit") from None
        except (wire.WireClosed, BrokenPipeError):
            raise self._died() from None
        except wire.WireError as exc:
            raise self._fail(failures.INVALID, f"the candidate broke the call protocol: {exc}") from None

    def _serve_callback(self, request: dict, services: dict[str, Any]) -> None:
        service = services.get(request.get("service"))
        method = request.get("method")
        if service is None or not isinstance(method, str) or method.startswith("_") \
                or method not in getattr(service, "sandbox_methods", ()):
            wire.write_frame(self._req, {"op": "callback_error", "message": f"no such service method {method!r}"})
            return
        args = request.get("args")
        try:
            value = getattr(service, method)(*(args if isinstance(args, list) else []))
        except ServiceRefusal as exc:
            wire.write_frame(self._req, {"op": "callback_error", "message": str(exc)})
            return
        wire.write_frame(self._req, {"op": "callback_result", "value": value})

    def _error_from(self, reply: dict) -> CandidateError:
        kind = str(reply.get("type", "Exception"))
        status = _STATUS_BY_ERROR.get(kind, failures.CRASHED)
        message = f"{kind}: {reply.get('message', '')}".strip()
        if reply.get("phase") == "load" and kind != "MissingEntryPoint":
            message = f"failed while loading the program: {message}"
            self._failure = CandidateError(status, message, str(reply.get("traceback", "")))
            return self._failure
        return CandidateError(status, message, str(reply.get("traceback", "")))

    def _fail(self, status: str, message: str) -> CandidateError:
        self._failure = CandidateError(status, message)
        self.close()
        return self._failure

    def _died(self) -> CandidateError:
        info = self.close()
        sig = info.get("signal")
        if sig == signal.SIGXCPU or (sig == signal.SIGKILL and info.get("cpu_time", 0) >= self._limits.cpu_s):
            # SIGKILL at the hard CPU limit: the candidate ignored SIGXCPU at the soft one.
            return self._fail_with(failures.TIMEOUT, f"exceeded the {self._limits.cpu_s:g} s CPU-time limit")
        if sig == signal.SIGXFSZ:
            return self._fail_with(failures.CRASHED, f"wrote more than the {self._limits.fsize_mb} MB output/file limit")
        if sig == signal.SIGKILL and info.get("maxrss_kb", 0) * 1024 >= 0.9 * self._limits.memory_mb * 2**20:
            return self._fail_with(failures.OOM, "killed at the memory limit")
        if sig is not None:
            return self._fail_with(failures.CRASHED, f"killed by signal {signal.Signals(sig).name}")
        return self._fail_with(failures.CRASHED, f"the candidate process exited with code {info.get('returncode')}")

    def _fail_with(self, status: str, message: str) -> CandidateError:
        self._failure = CandidateError(status, message)
        return self._failure

    def close(self) -> dict:
        """Stop the candidate (if still running) and return how it exited."""
        if self._exit_info is not None:
            return self._exit_info
        for fd in (self._req, self._resp):
            try:
                os.close(fd)
            except OSError:
                pass
        self._zygote.kill()
        try:
            self._exit_info = self._zygote.wait_exit()
        except JailError:
            self._exit_info = {"returncode": None, "signal": None, "cpu_time": 0.0, "log_tail": ""}
        return self._exit_info


class ServiceRefusal(Exception):
    """Raised by a scorer-side service to refuse a candidate's call (the candidate sees an error)."""


def _mark_services(args, services: dict[str, Any]):
    """Replace service objects in an argument list with wire references."""
    if args is None:
        return None
    lookup = {id(obj): name for name, obj in services.items()}

    def mark(value):
        if id(value) in lookup:
            return wire.Service(lookup[id(value)])
        if isinstance(value, list):
            return [mark(v) for v in value]
        if isinstance(value, tuple):
            return [mark(v) for v in value]
        return value

    return mark(args)

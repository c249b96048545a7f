"""The scorer host: loads a task, runs its trusted scorer; candidates run in jailed child processes.

Started by a sandbox pool as `python -m evaluators.host [--jail auto|bwrap|none]`. It reads
framed requests on stdin and answers on the original stdout (the scorer's own prints go
to stderr). One request at a time:

  {"op": "evaluate", "task": {"name", "dir"}, "code", "split", "limits", "options"}
  -> EvaluationResult as a dict
"""
from __future__ import annotations

import argparse
import contextlib
import ctypes
import json
import os
import resource
import select
import shutil
import signal
import sys
import threading
import time
import traceback

from sandbox import wire
from sandbox.candidate import Candidate, CandidateError
from sandbox.jail import JailError, Zygote
from sandbox.limits import Limits
from sandbox.recording import Recorder, RecordingComplete

from .api import EvalContext, InvalidOutput
from .contract import EvaluationResult, Status
from .fingerprint import OutputHasher
from .task import TaskError, load_task_ref

STDERR_TAIL = 2000


class ScorerHost:
    """Holds loaded tasks and one zygote per package set; evaluates one program at a time."""

    def __init__(self, jail: str = "auto", zygote_options: dict | None = None):
        self.jail = jail
        self.zygote_options = zygote_options or {}
        self._zygotes: dict[tuple[str, ...], Zygote] = {}
        self._scorers: dict[str, object] = {}
        self.busy = False

    def zygote(self, packages: list[str]) -> Zygote:
        key = tuple(sorted(packages))
        zygote = self._zygotes.get(key)
        if zygote is None or not zygote.alive():
            if zygote is not None:
                zygote.close()
            zygote = Zygote(packages=list(key), jail=self.jail, **self.zygote_options)
            self._zygotes[key] = zygote
        return zygote

    def evaluate(self, task_ref: dict, code: str, split: str, limits: Limits, options: dict | None = None) -> EvaluationResult:
        started, cpu_started = time.monotonic(), time.process_time()
        try:
            task = load_task_ref(task_ref)
            task.check_split(split)
        except TaskError as exc:
            return EvaluationResult.failure(Status.REJECTED, str(exc))
        try:
            compile(code, "candidate.py", "exec")
        except (SyntaxError, ValueError) as exc:
            where = f" at line {exc.lineno}" if getattr(exc, "lineno", None) else ""
            return EvaluationResult.failure(Status.REJECTED, f"does not compile{where}: {getattr(exc, 'msg', exc)}")
        scorer = self._scorers.get(str(task.root))
        if scorer is None:
            scorer = self._scorers[str(task.root)] = task.load_scorer()

        options = dict(options or {})
        recording = options.pop("record", None)
        hashing = options.pop("fingerprint", None)
        recorder = Recorder(**recording) if isinstance(recording, dict) else None
        if isinstance(hashing, dict):  # the probe run: only a running hash of what the candidate returns
            recorder = OutputHasher(int(hashing.get("digits", 6)))
        candidate = None
        result: EvaluationResult
        try:
            candidate = Candidate(self.zygote(task.spec.jail_packages), code, task.entry_point, limits,
                                  adapter=task.adapter_code, recorder=recorder)
            report = scorer.evaluate(candidate, split, EvalContext(task, split, limits, options))
            result = _result_from_report(report)
        except RecordingComplete:
            result = EvaluationResult(status=Status.OK, artifacts={"message": "stopped once the recording was full"})
        except CandidateError as exc:
            result = EvaluationResult.failure(Status(exc.status), exc.message, traceback=exc.traceback[-4000:])
        except InvalidOutput as exc:
            result = EvaluationResult.failure(Status.INVALID, str(exc))
        except JailError as exc:
            result = EvaluationResult.failure(Status.CRASHED, f"sandbox failure: {exc}")
        except Exception as exc:  # a scorer bug must not look like a candidate's fault, nor kill the worker
            result = EvaluationResult.failure(Status.CRASHED, f"scorer error: {type(exc).__name__}: {exc}",
                                              traceback=traceback.format_exc()[-4000:])
        finally:
            exit_info = candidate.close() if candidate is not None else {}
        if isinstance(hashing, dict):
            if result.status is Status.OK:
                result.artifacts["fingerprint"] = recorder.hexdigest()
        elif recorder is not None:
            result.artifacts["recording"] = recorder.to_plain()
        if exit_info.get("log_tail"):
            result.artifacts["stderr_tail"] = exit_info["log_tail"][-STDERR_TAIL:]
        result.wall_time = time.monotonic() - started
        result.cpu_time = (time.process_time() - cpu_started) + float(exit_info.get("cpu_time") or 0.0)
        return result

    def close(self) -> None:
        for zygote in self._zygotes.values():
            zygote.close()
        self._zygotes.clear()


def _result_from_report(report) -> EvaluationResult:
    if not isinstance(report, dict) or "score" not in report:
        raise TypeError("scorer.evaluate must return a dict with at least 'score'")
    score = float(report["score"])
    if score != score or score in (float("inf"), float("-inf")):
        return EvaluationResult.failure(Status.INVALID, "the scorer computed a non-finite score",
                                        metrics=report.get("metrics", {}))
    return EvaluationResult(status=Status.OK, score=score, metrics=dict(report.get("metrics") or {}),
                            artifacts=dict(report.get("artifacts") or {}))


def _watch_stdin(evaluator: "ScorerHost") -> None:
    """Exit when the controller's end of stdin closes in the middle of an evaluation.

    Between evaluations the main loop sees EOF itself. During one, only this thread notices
    that nobody will read the result (a killed controller, a container whose attach
    connection dropped), and it stops the candidate and the worker at once.
    """
    poller = select.poll()
    poller.register(0, 0)  # POLLHUP and POLLERR are always reported
    while True:
        events = poller.poll()
        if any(event & (select.POLLHUP | select.POLLERR | select.POLLNVAL) for _fd, event in events):
            if evaluator.busy:
                for zygote in list(evaluator._zygotes.values()):
                    with contextlib.suppress(Exception):
                        zygote.terminate(grace=1.0)  # and reaped: nothing is left to the machine's PID 1
                    if zygote._tempdir:
                        shutil.rmtree(zygote._tempdir, ignore_errors=True)
                os._exit(0)
            time.sleep(0.05)  # idle: the main loop reads the EOF and shuts down cleanly


def _die_with_parent() -> None:
    try:
        ctypes.CDLL(None).prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m evaluators.host")
    parser.add_argument("--jail", default="auto", choices=["auto", "bwrap", "none"])
    parser.add_argument("--zygote-options", default="{}", type=json.loads,
                        help="JSON object of extra Zygote(...) keyword arguments (used by the Docker backend)")
    args = parser.parse_args(argv)
    _die_with_parent()
    if os.getppid() == 1:
        return 0
    # Keep the protocol channel private: anything the scorer prints goes to stderr.
    out_fd = os.dup(1)
    os.dup2(2, 1)
    evaluator = ScorerHost(jail=args.jail, zygote_options=args.zygote_options)
    threading.Thread(target=_watch_stdin, args=(evaluator,), daemon=True).start()
    wire.write_frame(out_fd, {"op": "hello", "pid": os.getpid()})
    try:
        while True:
            try:
                request = wire.read_frame(0)
            except wire.WireClosed:
                return 0
            if request.get("op") == "evaluate":
                evaluator.busy = True
                try:
                    result = evaluator.evaluate(request["task"], request["code"], request.get("split", "train"),
                                                Limits.from_dict(request.get("limits")), request.get("options"))
                finally:
                    evaluator.busy = False
                try:
                    wire.write_frame(out_fd, {"op": "result", "result": result.to_dict()})
                except (TypeError, ValueError, wire.WireError) as exc:  # scorer returned something not plain
                    failure = EvaluationResult.failure(Status.CRASHED, f"scorer error: unencodable report: {exc}")
                    wire.write_frame(out_fd, {"op": "result", "result": failure.to_dict()})
            elif request.get("op") == "ping":
                wire.write_frame(out_fd, {"op": "pong", "maxrss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss})
            else:
                wire.write_frame(out_fd, {"op": "error", "message": f"unknown op {request.get('op')!r}"})
    finally:
        evaluator.close()


if __name__ == "__main__":
    sys.exit(main())

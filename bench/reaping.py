"""Run a command as a child subreaper and report what it failed to reap, and the CPU time it passed up.

    python bench/reaping.py [--db ARCHIVE] -- evolve run binpack_online --iterations 20 --db ARCHIVE

Every process the command's tree orphans is re-parented to this script instead of the
machine's PID 1, so it is counted exactly (other users' processes never are) and then reaped.
Prints one JSON object: the command's exit code, the names of the orphans, this script's
children CPU time (what `time` would show for the command), and, with --db, the CPU time the
archive's evaluations recorded. When every process is reaped by its parent, the children CPU
time covers the recorded CPU time (candidates included) plus the controller's own work.
"""
from __future__ import annotations

import argparse
import ctypes
import json
import os
import resource
import sqlite3
import subprocess
import sys
import time

PR_SET_CHILD_SUBREAPER = 36


def _children() -> list[int]:
    me = os.getpid()
    with open(f"/proc/{me}/task/{me}/children") as handle:
        return [int(pid) for pid in handle.read().split()]


def _name(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/comm") as handle:
            return handle.read().strip()
    except OSError:
        return "?"


def watch(command: list[str], env: dict[str, str] | None = None) -> dict:
    if ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_CHILD_SUBREAPER) failed")
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    orphans: dict[int, str] = {}
    while proc.poll() is None:
        for pid in _children():
            if pid != proc.pid:
                orphans.setdefault(pid, _name(pid))
        time.sleep(0.05)
    stderr = proc.stderr.read().decode("utf-8", "replace")
    time.sleep(1.0)  # anything dying with the command reaches us within this
    for pid in _children():
        orphans.setdefault(pid, _name(pid))
    for pid in orphans:
        try:
            os.waitpid(pid, 0)
        except ChildProcessError:
            pass
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return {"returncode": proc.returncode, "orphans": sorted(orphans.values()),
            "children_cpu_s": round(usage.ru_utime + usage.ru_stime, 2), "stderr_tail": stderr[-2000:]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", help="archive the command writes: also report the CPU time its evaluations recorded")
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args()
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("give the command to run after --")
    report = watch(command)
    if args.db and os.path.exists(args.db):
        with sqlite3.connect(args.db) as connection:
            recorded = connection.execute("SELECT COALESCE(SUM(cpu_time), 0) FROM evaluations").fetchone()[0]
        report["recorded_evaluation_cpu_s"] = round(recorded, 2)
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())

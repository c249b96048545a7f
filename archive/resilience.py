"""Riding out a database outage: which errors mean "the connection is gone", and commits whose fate is unknown.

A connection that dies before COMMIT is sent leaves nothing behind (the server rolls the transaction
back), so the call that was writing can simply run again. A connection that dies *while* COMMIT is
in flight leaves the outcome unknown: running the call again could write its rows twice, giving up
could lose them. On PostgreSQL every write transaction's id is read just before COMMIT (one extra
round trip per write); when the COMMIT fails on a lost connection, a fresh connection asks the server
`txid_status(id)`: committed (the call returns normally, as if the acknowledgement had arrived),
or aborted (the error stands, and the call is safe to run again). The server may still be down:
the question is asked again, with backoff, for as long as this thread's outage grace allows
(`set_outage_grace`, set by the campaign's database thread; 0 elsewhere).

SQLite is a local file: no connection to lose, nothing changes there.
"""
from __future__ import annotations

import logging
import threading
import time

from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

log = logging.getLogger(__name__)
_local = threading.local()
BACKOFF_FIRST_S = 0.2
BACKOFF_MAX_S = 5.0


def set_outage_grace(seconds: float) -> None:
    """How long archive calls on this thread may wait for a database that went away."""
    _local.grace_s = seconds


def outage_grace() -> float:
    return getattr(_local, "grace_s", 0.0)


def commits_so_far() -> int:
    """Transactions this thread has committed (a call that already committed one must not run again)."""
    return getattr(_local, "commits", 0)


def _committed() -> None:
    _local.commits = commits_so_far() + 1


def is_connection_error(exc: BaseException) -> bool:
    """The database server went away or cannot be reached (as opposed to a bad statement or a conflict)."""
    if not isinstance(exc, DBAPIError):
        return False
    if exc.connection_invalidated:
        return True
    try:
        import psycopg
    except ImportError:
        return False
    # OperationalError: connection refused / reset / closed, the server shutting down (AdminShutdown),
    # or starting up ("the database system is starting up"); never a constraint or syntax error.
    return isinstance(exc.orig, psycopg.OperationalError)


def backoff_delays(first: float = BACKOFF_FIRST_S, cap: float = BACKOFF_MAX_S):
    delay = first
    while True:
        yield delay
        delay = min(cap, delay * 2)


class CommitOutcomeUnknown(Exception):
    """A COMMIT's acknowledgement was lost and the server could not be asked within the grace: the call
    must not run again (it might write twice); `evolve resume` sorts it out from what was stored."""


def commit_outcome(engine, xid: int, grace_s: float) -> str:
    """`committed` or `aborted` (an `in progress` transaction of a crashed server ends aborted)."""
    deadline = time.monotonic() + grace_s
    delays = backoff_delays()
    while True:
        try:
            with engine.connect() as connection:
                status = connection.execute(text("SELECT txid_status(:xid)"), {"xid": xid}).scalar()
            if status in ("committed", "aborted"):
                return status
            if status is None:  # too old to know: cannot happen seconds after the fact
                raise CommitOutcomeUnknown(f"the server no longer knows transaction {xid}")
        except DBAPIError as exc:
            if not is_connection_error(exc):
                raise
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise CommitOutcomeUnknown(f"the archive's database has been unreachable for {grace_s:g} s "
                                       f"(archive.outage_grace_s) since a COMMIT whose answer was lost, so whether "
                                       f"transaction {xid} committed is unknown")
        time.sleep(min(next(delays), remaining))


def settle_commit(engine, xid: int | None, commit) -> None:
    """Run `commit()`; if its acknowledgement is lost, ask the server whether transaction `xid` (read just
    before; None: it wrote nothing) committed, and return normally if it did (module docstring)."""
    try:
        commit()
        _committed()
    except DBAPIError as exc:
        if not is_connection_error(exc) or engine.dialect.name != "postgresql":
            raise
        if xid is None:  # it wrote nothing: nothing to lose or to double
            log.warning("database connection lost at a commit that wrote nothing")
            return
        grace = outage_grace()
        if grace <= 0:  # nobody retries on this thread: the error stands
            raise
        outcome = commit_outcome(engine, xid, grace)
        if outcome == "committed":
            log.warning("database connection lost after COMMIT; the server says transaction %s committed", xid)
            _committed()
            return
        raise


class ResilientSession(Session):
    """A Session whose COMMIT, on PostgreSQL, survives the loss of its acknowledgement (module docstring)."""

    def commit(self) -> None:
        bind = self.get_bind()
        if bind.dialect.name != "postgresql":
            super().commit()
            _committed()
            return
        self.flush()
        xid = self.execute(text("SELECT txid_current_if_assigned()")).scalar()
        settle_commit(bind, xid, super().commit)

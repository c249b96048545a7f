"""One database transaction for several archive calls: `Archive.transaction()`.

Each archive call is otherwise its own transaction, and on PostgreSQL a transaction costs round
trips of its own (BEGIN, the commit-outcome check, COMMIT or ROLLBACK) besides its statements.
Inside `with archive.transaction():` every call made on this thread joins one transaction on
one connection, committed once at the end: all of it is stored, or (an error, a lost
connection) none of it, and a campaign's database thread (evolve/loop/dbthread.py) runs the
whole block again after a lost connection as it would one call. Calls on other threads (the
heartbeat, a TUI) keep their own transactions. Nested blocks join the outer one.

The commit is made safe against a lost acknowledgement the same way as a single call's
(archive/resilience.py): the transaction id is read before COMMIT, only when the block wrote.
"""
from __future__ import annotations

import contextlib
import threading

from sqlalchemy import event, text
from sqlalchemy.orm import Session, sessionmaker

from .resilience import settle_commit


class HeldTransaction:
    """The open transaction of a `transaction()` block: its connection, and sessions that join it."""

    def __init__(self, engine) -> None:
        self.connection = engine.connect()
        self.wrote = False
        event.listen(self.connection, "before_cursor_execute", self._saw)
        self.transaction = self.connection.begin()
        # rollback_only: a call's session.commit() only flushes; the block's end commits
        self.sessions = sessionmaker(bind=self.connection, expire_on_commit=False,
                                     join_transaction_mode="rollback_only", class_=Session)

    def _saw(self, _conn, _cursor, _statement, _parameters, context, _executemany) -> None:
        if context is not None and (context.isinsert or context.isupdate or context.isdelete):
            self.wrote = True
        elif not self.wrote and _statement.lstrip()[:6].upper() in ("INSERT", "UPDATE", "DELETE"):
            self.wrote = True

    def commit(self) -> None:
        connection = self.connection
        xid = None
        if self.wrote and connection.dialect.name == "postgresql":
            xid = connection.execute(text("SELECT txid_current_if_assigned()")).scalar()
        settle_commit(connection.engine, xid, self.transaction.commit)

    def close(self) -> None:
        try:
            if self.transaction.is_active:
                self.transaction.rollback()
        finally:
            self.connection.close()


class Transactions:
    """Mixed into Archive: `session()` joins the thread's held transaction when there is one."""

    def _held(self) -> HeldTransaction | None:
        return getattr(self._held_local(), "held", None)

    def _held_local(self) -> threading.local:
        local = self.__dict__.get("_transactions_local")
        if local is None:
            local = self.__dict__.setdefault("_transactions_local", threading.local())
        return local

    @contextlib.contextmanager
    def transaction(self):
        """Every archive call on this thread inside the block runs in one transaction (module docstring)."""
        local = self._held_local()
        if getattr(local, "held", None) is not None:
            yield
            return
        held = HeldTransaction(self.engine)
        local.held = held
        try:
            yield
            held.commit()
        finally:
            local.held = None
            held.close()

"""Count an archive's database round trips, by the archive call that made them.

On PostgreSQL (psycopg 3) every one of these is a network round trip:
  - a statement (`before_cursor_execute`);
  - a transaction's BEGIN (psycopg sends it on its own before the first statement);
  - a COMMIT, and a ROLLBACK that ends an open transaction (a read-only session ends that way);
  - a liveness ping of a pooled connection (the dialect's `do_ping`: archive/db.py pings only
    connections idle for a while; `pool_pre_ping` pinged at every checkout).
A returned connection's reset costs nothing (its transaction is already over).

`RoundTrips.attach(archive)` counts on the archive's engine from then on, attributed to the
outermost public Archive method running on the thread (`other` for anything else); used by
bench/archive_round_trips.py and tests/archive/test_round_trips.py.
"""
from __future__ import annotations

import collections
import functools
import threading

from sqlalchemy import event

KINDS = ("statement", "begin", "commit", "rollback", "ping")


class RoundTrips:
    def __init__(self) -> None:
        self.counts: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
        self.calls: collections.Counter = collections.Counter()
        self._local = threading.local()
        self._lock = threading.Lock()

    # ---- what is counted ------------------------------------------------------------------------
    def _label(self) -> str:
        return getattr(self._local, "label", None) or "other"

    def _add(self, kind: str) -> None:
        with self._lock:
            self.counts[self._label()][kind] += 1

    def total(self, labels=None) -> int:
        return sum(sum(c.values()) for name, c in self.counts.items() if labels is None or name in labels)

    def by_label(self) -> dict[str, int]:
        return {name: sum(c.values()) for name, c in self.counts.items()}

    # ---- wiring -----------------------------------------------------------------------------------
    def attach(self, archive) -> "RoundTrips":
        engine = archive.engine
        event.listen(engine, "before_cursor_execute", lambda *_: self._add("statement"))
        event.listen(engine, "begin", lambda *_: self._add("begin"))
        event.listen(engine, "commit", lambda *_: self._add("commit"))
        event.listen(engine, "rollback", lambda *_: self._add("rollback"))
        ping = engine.dialect.do_ping

        def counted_ping(dbapi_connection):
            self._add("ping")
            return ping(dbapi_connection)

        engine.dialect.do_ping = counted_ping
        for name in dir(type(archive)):
            if name.startswith("_") or name in ("session", "close", "transaction"):
                continue
            method = getattr(archive, name)
            if callable(method) and not isinstance(method, type):
                setattr(archive, name, self._labelled(name, method))
        return self

    def _labelled(self, name: str, method):
        local = self._local

        @functools.wraps(method)
        def call(*args, **kwargs):
            outer = getattr(local, "label", None)
            if outer is None:
                local.label = name
                with self._lock:
                    self.calls[name] += 1
            try:
                return method(*args, **kwargs)
            finally:
                if outer is None:
                    local.label = None
        return call

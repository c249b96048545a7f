"""Database URLs as the user gives them to --db: checked before anything connects, shown without a password.

A malformed URL is one line saying which part is wrong (the port, the dialect, the shape) and
what a good one looks like, never a parser's traceback; and naming a URL in a message never fails,
however broken it is.
"""
from __future__ import annotations

import re

from .errors import ArchiveUnusable

EXAMPLE = "use a file path or postgresql+psycopg://USER@HOST[:PORT]/DB"
# scheme://[user[:password]@]host[:port][/db][?query]; only what messages need to take apart
_PARTS = re.compile(r"^(?P<scheme>[^:/?#]*)://(?:(?P<user>[^:@/]*)(?::(?P<password>[^@/]*))?@)?"
                    r"(?P<host>\[[^\]/]*\]?|[^:/?]*)(?::(?P<port>[^/?]*))?(?P<rest>.*)$", re.DOTALL)


def display_name(db: str) -> str:
    """The archive as messages name it: the path as given, or the URL with its password hidden."""
    if "://" not in db:
        return db
    parts = _PARTS.match(db)
    if parts is None or parts.group("password") is None:
        return db
    start, end = parts.span("password")
    return db[:start] + "***" + db[end:]


def check_database_url(db: str) -> None:
    """Raise ArchiveUnusable (one line) unless `db` is a path or a URL SQLAlchemy can connect with."""
    if "://" not in db:
        return
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError, NoSuchModuleError

    shown = display_name(db)
    parts = _PARTS.match(db)
    scheme = parts.group("scheme") if parts else ""
    if not scheme:
        raise ArchiveUnusable(f"--db {shown}: no database dialect before '://'; {EXAMPLE}")
    if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_]*(\+[A-Za-z0-9_]+)?", scheme):
        raise ArchiveUnusable(f"--db {shown}: {scheme!r} is not a database dialect (DIALECT or DIALECT+DRIVER); "
                              f"{EXAMPLE}")
    port = parts.group("port")
    if port and not port.isdigit():
        raise ArchiveUnusable(f"--db {shown}: the port {port!r} is not a number; {EXAMPLE}")
    if port and not 0 < int(port) < 65536:
        raise ArchiveUnusable(f"--db {shown}: the port {port} is out of range (1-65535); {EXAMPLE}")
    try:
        url = make_url(db)
    except (ArgumentError, ValueError, TypeError):
        raise ArchiveUnusable(f"--db {shown}: not a database URL (its host, port or database cannot be told "
                              f"apart); {EXAMPLE}") from None
    try:
        url.get_dialect()
    except NoSuchModuleError:
        raise ArchiveUnusable(f"--db {shown}: unknown database dialect {scheme!r}; {EXAMPLE}") from None
    except (ImportError, ArgumentError) as exc:  # a known dialect whose driver is not installed
        reason = " ".join(str(exc).split()) or type(exc).__name__
        raise ArchiveUnusable(f"--db {shown}: the driver for {scheme!r} cannot be loaded ({reason[:150]}); "
                              f"install it, or {EXAMPLE}") from None

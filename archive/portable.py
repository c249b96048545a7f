"""Values every backend stores: what SQLite takes as is but PostgreSQL refuses.

PostgreSQL refuses NUL in text, refuses lone UTF-16 surrogates (they cannot be encoded as UTF-8),
enforces VARCHAR lengths, and fails a JSON path query (`data ->> 'status'`) on any row whose JSON
holds an escaped NUL. Text written by a candidate or a provider must never fail a write or poison a
query, so on PostgreSQL NUL and lone surrogates become U+FFFD and overlong strings are clipped.
SQLite keeps storing exactly what it is given.
"""
from __future__ import annotations

import json
from typing import Any

from sqlalchemy import String, Text
from sqlalchemy.types import TypeDecorator


def clean_text(value: str) -> str:
    if "\x00" in value:
        value = value.replace("\x00", "\ufffd")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:  # lone surrogates, e.g. from bytes decoded with surrogateescape
        value = value.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    return value


def clean_json(value: Any) -> Any:
    if isinstance(value, str):
        return clean_text(value)
    if isinstance(value, dict):
        return {clean_json(k) if isinstance(k, str) else k: clean_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [clean_json(v) for v in value]
    return value


def postgres_json_serializer(value: Any) -> str:
    """The JSON columns' serializer on PostgreSQL (see the module docstring)."""
    return json.dumps(clean_json(value))


def _bind(value: str | None, dialect, length: int | None) -> str | None:
    if value is None or dialect.name != "postgresql":
        return value
    value = clean_text(value)
    return value[:length] if length else value


class PortableString(TypeDecorator):
    """VARCHAR(n) that stores any Python str on every backend (same DDL as String)."""
    impl = String
    cache_ok = True

    def process_bind_param(self, value, dialect):
        return _bind(value, dialect, self.impl.length)


class PortableText(TypeDecorator):
    """TEXT that stores any Python str on every backend (same DDL as Text)."""
    impl = Text
    cache_ok = True

    def process_bind_param(self, value, dialect):
        return _bind(value, dialect, None)

"""Plain-data wire format between trusted code and a candidate process.

Self-contained (stdlib + numpy only) because it is also loaded inside the jail.
A frame is a 4-byte big-endian length followed by UTF-8 JSON. NumPy arrays travel as
tagged dicts with a whitelisted dtype; nothing is ever unpickled.
"""
from __future__ import annotations

import base64
import json
import os
import select
import struct
import time

import numpy as np

MAX_FRAME = 64 * 1024 * 1024
ALLOWED_DTYPES = {"float64", "float32", "int64", "int32", "int16", "int8", "uint8", "bool"}
_HEADER = struct.Struct(">I")


class WireError(Exception):
    """The peer sent something that is not a well-formed frame of plain data."""


class WireTimeout(WireError):
    pass


class WireClosed(WireError):
    pass


class Service:
    """Marks an argument as a scorer-side service the candidate may call back into."""

    def __init__(self, name: str):
        self.name = name


def _to_plain(obj):
    if obj is None or isinstance(obj, (bool, str)):
        return obj
    if isinstance(obj, int):
        return int(obj)
    if isinstance(obj, float):
        return float(obj)
    if isinstance(obj, np.ndarray):
        dtype = obj.dtype.name
        if dtype not in ALLOWED_DTYPES:
            raise TypeError(f"array dtype {dtype} cannot cross the sandbox boundary")
        data = np.ascontiguousarray(obj)
        return {"__nd__": [dtype, list(data.shape), base64.b64encode(data.tobytes()).decode("ascii")]}
    if isinstance(obj, np.generic):
        return _to_plain(obj.item())
    if isinstance(obj, (list, tuple)):
        return [_to_plain(x) for x in obj]
    if isinstance(obj, dict):
        out = {}
        for key, value in obj.items():
            if type(key) is not str or key.startswith("__"):
                raise TypeError("dict keys crossing the sandbox boundary must be plain strings")
            out[key] = _to_plain(value)
        return out
    if isinstance(obj, Service):
        return {"__svc__": obj.name}
    raise TypeError(f"{type(obj).__name__} is not plain data and cannot cross the sandbox boundary")


def _from_plain_hook(services):
    def hook(obj):
        if "__nd__" in obj:
            spec = obj["__nd__"]
            if len(obj) != 1 or not isinstance(spec, list) or len(spec) != 3:
                raise WireError("malformed array")
            dtype, shape, payload = spec
            if dtype not in ALLOWED_DTYPES or not isinstance(payload, str):
                raise WireError(f"array dtype {dtype!r} is not allowed")
            if not isinstance(shape, list) or not all(type(n) is int and n >= 0 for n in shape):
                raise WireError("malformed array shape")
            raw = base64.b64decode(payload.encode("ascii"), validate=True)
            array = np.frombuffer(raw, dtype=np.dtype(dtype))
            if array.size != int(np.prod(shape, dtype=np.int64)):
                raise WireError("array size does not match its shape")
            return array.reshape(shape).copy()
        if "__svc__" in obj:
            if services is None or obj["__svc__"] not in services:
                raise WireError("unknown service reference")
            return services[obj["__svc__"]]
        return obj

    return hook


def encode(message) -> bytes:
    body = json.dumps(_to_plain(message), separators=(",", ":")).encode("utf-8")
    if len(body) > MAX_FRAME:
        raise WireError(f"message of {len(body)} bytes exceeds the {MAX_FRAME}-byte frame limit")
    return _HEADER.pack(len(body)) + body


def decode(body: bytes, services=None):
    try:
        return json.loads(body.decode("utf-8"), object_hook=_from_plain_hook(services))
    except WireError:
        raise
    except Exception as exc:  # malformed JSON, bad base64, bad UTF-8
        raise WireError(f"undecodable message: {type(exc).__name__}") from None


def write_frame(fd: int, message) -> None:
    data = memoryview(encode(message))
    while data:
        written = os.write(fd, data)
        data = data[written:]


def _read_exact(fd: int, size: int, deadline: float | None) -> bytes:
    chunks, remaining = [], size
    while remaining:
        if deadline is not None:
            wait = deadline - time.monotonic()
            if wait <= 0 or not select.select([fd], [], [], wait)[0]:
                raise WireTimeout("timed out waiting for the peer")
        chunk = os.read(fd, min(remaining, 1 << 20))
        if not chunk:
            raise WireClosed("peer closed the channel")
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)


def read_frame(fd: int, deadline: float | None = None, services=None, max_frame: int = MAX_FRAME):
    (size,) = _HEADER.unpack(_read_exact(fd, _HEADER.size, deadline))
    if size > max_frame:
        raise WireError(f"peer sent a {size}-byte message; the limit is {max_frame}")
    return decode(_read_exact(fd, size, deadline), services)

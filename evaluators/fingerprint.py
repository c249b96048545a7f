"""Functional fingerprints: a hash of what a program returned on a task's probe inputs.

Two programs with the same fingerprint made the same decisions on every probe input (floats
equal to `digits` significant digits), so evaluating the second one again would be wasted.
"""
from __future__ import annotations

import hashlib
import json
import math
from typing import Any

import numpy as np


def _canonical(value: Any, digits: int) -> Any:
    if isinstance(value, np.ndarray):
        return [_canonical(v, digits) for v in value.tolist()]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, bool) or value is None or isinstance(value, (int, str)):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            return repr(value)
        return float(f"{value:.{digits}g}")
    if isinstance(value, (list, tuple)):
        return [_canonical(v, digits) for v in value]
    if isinstance(value, dict):
        return {str(k): _canonical(v, digits) for k, v in sorted(value.items(), key=lambda kv: str(kv[0]))}
    return repr(value)


def fingerprint(outputs: list[Any], digits: int = 6) -> str:
    """sha256 of the outputs in order, rounded; `outputs` are the values a candidate sent back."""
    hasher = OutputHasher(digits)
    for value in outputs:
        hasher.add("", None, None, value)
    return hasher.hexdigest()


class OutputHasher:
    """A recorder for the candidate handle that keeps only a running hash of the values sent back:
    constant memory, whatever a (hostile) candidate answers on the probe inputs."""

    full = False

    def __init__(self, digits: int = 6):
        self.digits = digits
        self._hash = hashlib.sha256()

    def add(self, op: str, fn: str | None, args: Any, value: Any) -> None:
        text = json.dumps(_canonical(value, self.digits), separators=(",", ":"), allow_nan=False)
        self._hash.update(text.encode())
        self._hash.update(b"\x1e")  # record separator: [1],[2] and [1,2] hash differently

    def refuse(self, reason: str) -> None:
        pass

    def hexdigest(self) -> str:
        return self._hash.hexdigest()

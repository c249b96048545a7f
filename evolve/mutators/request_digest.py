"""What identifies an LLM request, as the call log records it and a replay matches it.

The digest covers the messages exactly as sent (the system prompt first); the sampling
parameters are those of the model's config that go into the request. Both are stored with every
call, also when `log_prompts: false` keeps the messages themselves out of the archive.
"""
from __future__ import annotations

import hashlib
import json
from typing import Any

from ..config import ModelConfig


def prompt_digest(prompt: list[dict[str, str]]) -> str:
    """sha256 of the messages ([{"role", "content"}, ...]) in a canonical JSON form."""
    text = json.dumps(prompt, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def sampling(model: ModelConfig) -> dict[str, Any]:
    """The request's sampling parameters (a key order fixed for comparison)."""
    return {"max_tokens": model.max_tokens, "temperature": model.temperature}

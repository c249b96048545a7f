"""LLM providers through the official async SDKs: OpenAI Chat Completions (and any OpenAI-compatible
server) and Anthropic Messages. One request per `complete`; retries live in `client.LLMClient`.

The SDKs' own retries are off (max_retries=0) so every attempt is seen, logged and paced here.
Keys come from the environment variable the model names and are never stored or logged.
"""
from __future__ import annotations

import asyncio
import dataclasses
import email.utils
import os
import time
from typing import Any

from ..config import ModelConfig
from ..errors import UserError
from .provider_registry import PROVIDERS, provider_class


@dataclasses.dataclass
class Reply:
    text: str
    tokens_in: int
    tokens_out: int
    stop: str                 # stop | length | refusal
    stop_reason: str | None   # the provider's own word (finish_reason / stop_reason)
    response_id: str | None


class CallFailure(Exception):
    """A request that produced no usable reply. `outcome` is what the call log records."""

    def __init__(self, outcome: str, message: str, *, retryable: bool, retry_after: float | None = None,
                 permanent: bool = False):
        super().__init__(message)
        self.outcome = outcome          # rate_limited | server_error | timeout | connection_error | client_error
        self.message = message
        self.retryable = retryable
        self.retry_after = retry_after
        self.permanent = permanent      # bad key, unknown model: no point asking this model again


def retry_after(headers: Any) -> float | None:
    """Seconds to wait from Retry-After / retry-after-ms headers (a number or an HTTP date)."""
    if headers is None:
        return None
    try:
        millis = headers.get("retry-after-ms")
        if millis is not None:
            return max(0.0, float(millis) / 1000)
    except (TypeError, ValueError):
        pass
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        parsed = email.utils.parsedate_to_datetime(value) if value else None
        return max(0.0, parsed.timestamp() - time.time()) if parsed else None


def _classify(exc: BaseException, model: ModelConfig, sdk) -> CallFailure:
    """Map an exception of `sdk` (the openai or anthropic module: same error classes) to a CallFailure."""
    name = model.name
    if isinstance(exc, sdk.APITimeoutError):
        return CallFailure("timeout", f"{name}: no answer within {model.timeout:g} s", retryable=True)
    if isinstance(exc, sdk.APIConnectionError):
        cause = exc.__cause__ or exc
        return CallFailure("connection_error", f"{name}: connection failed: {type(cause).__name__}: {cause}"[:300],
                           retryable=True)
    if isinstance(exc, sdk.APIStatusError):
        status = exc.status_code
        detail = str(getattr(exc, "message", "") or exc)[:200]
        wait = retry_after(getattr(exc.response, "headers", None))
        if status == 429:
            return CallFailure("rate_limited", f"{name}: HTTP 429 rate limited: {detail}", retryable=True,
                               retry_after=wait)
        if status >= 500 or status in (408, 409):
            return CallFailure("server_error", f"{name}: HTTP {status}: {detail}", retryable=True, retry_after=wait)
        if status in (401, 403):
            return CallFailure("client_error", f"{name}: HTTP {status}: the key in ${model.key_env} was refused: "
                                               f"{detail}", retryable=False, permanent=True)
        if status == 404:
            return CallFailure("client_error", f"{name}: HTTP 404: unknown model or endpoint: {detail}",
                               retryable=False, permanent=True)
        return CallFailure("client_error", f"{name}: HTTP {status}: {detail}", retryable=False)
    return CallFailure("client_error", f"{name}: {type(exc).__name__}: {exc}"[:300], retryable=False)


def resolve_key(model: ModelConfig) -> str:
    """The API key from the model's environment variable. A local server (custom base URL) may need none."""
    key = os.environ.get(model.key_env)
    if key:
        return key
    if model.base_url or os.environ.get(PROVIDERS[model.provider].base_url_env):
        return "no-key"  # vLLM / Ollama / llama.cpp accept any key
    raise UserError(f"llm {model.name}: the environment variable {model.key_env} holding the API key is not set; "
                    f"export it, set api_key_env, or use --llm offline")


class Provider:
    sdk: Any = None  # the SDK module, imported when the provider is built (never inside the event loop's hot path)

    def __init__(self, model: ModelConfig):
        self.model = model

    async def complete(self, system: str, messages: list[dict[str, str]], *, iteration: int | None = None) -> Reply:
        """One request. `iteration` (the campaign iteration asking) is not sent: a replay matches by it."""
        try:
            # The SDK timeout bounds each network phase; this bounds the whole call.
            return await asyncio.wait_for(self._request(system, messages), timeout=self.model.timeout)
        except asyncio.TimeoutError:
            raise CallFailure("timeout", f"{self.model.name}: no answer within {self.model.timeout:g} s",
                              retryable=True) from None
        except CallFailure:
            raise
        except Exception as exc:
            raise _classify(exc, self.model, self.sdk) from None

    async def _request(self, system: str, messages: list[dict[str, str]]) -> Reply:
        raise NotImplementedError

    def _client_options(self) -> dict[str, Any]:
        """SDK client settings: our own retry loop and deadline, so the SDK's retries are off."""
        options: dict[str, Any] = {"api_key": resolve_key(self.model), "timeout": self.model.timeout + 1,
                                   "max_retries": 0}
        if self.model.base_url:
            options["base_url"] = self.model.base_url
        return options

    def warm(self) -> None:
        """Load now what the SDK would load at the first request (called on the preload thread)."""

    async def close(self) -> None:
        client = getattr(self, "client", None)
        if client is not None:
            await client.close()


class OpenAIProvider(Provider):
    def __init__(self, model: ModelConfig):
        super().__init__(model)
        import openai

        self.sdk = openai
        self.client = openai.AsyncOpenAI(**self._client_options())
        # api.openai.com's newer models take max_completion_tokens; compatible servers take max_tokens.
        self._limit_key = "max_completion_tokens" if "api.openai.com" in str(self.client.base_url) else "max_tokens"

    def warm(self) -> None:
        self.client.chat.completions  # noqa: B018 - the SDK imports its resources on first access

    async def _request(self, system, messages):
        sampling = {} if self.model.temperature is None else {"temperature": self.model.temperature}
        response = await self.client.chat.completions.create(
            model=self.model.model, messages=[{"role": "system", "content": system}, *messages],
            **sampling, **{self._limit_key: self.model.max_tokens})
        if not response.choices:
            raise CallFailure("client_error", f"{self.model.name}: the response has no choices", retryable=True)
        choice = response.choices[0]
        usage = response.usage
        refusal = getattr(choice.message, "refusal", None)
        finish = choice.finish_reason
        stop = "refusal" if refusal or finish == "content_filter" else "length" if finish == "length" else "stop"
        return Reply(text=choice.message.content or refusal or "", tokens_in=usage.prompt_tokens if usage else 0,
                     tokens_out=usage.completion_tokens if usage else 0, stop=stop, stop_reason=finish,
                     response_id=response.id)


class AnthropicProvider(Provider):
    def __init__(self, model: ModelConfig):
        super().__init__(model)
        import anthropic

        self.sdk = anthropic
        self.client = anthropic.AsyncAnthropic(**self._client_options())

    def warm(self) -> None:
        self.client.messages  # noqa: B018 - the SDK imports its resources on first access

    async def _request(self, system, messages):
        # This SDK has no temperature parameter (newer models fix it); a configured one goes in the body.
        extra = {} if self.model.temperature is None else {"extra_body": {"temperature": min(self.model.temperature, 1.0)}}
        response = await self.client.messages.create(
            model=self.model.model, system=system, messages=messages, max_tokens=self.model.max_tokens, **extra)
        text = "".join(getattr(block, "text", "") for block in response.content if block.type == "text")
        reason = response.stop_reason
        stop = "refusal" if reason == "refusal" else "length" if reason == "max_tokens" else "stop"
        return Reply(text=text, tokens_in=response.usage.input_tokens, tokens_out=response.usage.output_tokens,
                     stop=stop, stop_reason=reason, response_id=response.id)


def make_provider(model: ModelConfig) -> Provider:
    return provider_class(model.provider)(model)

"""The one registry of LLM providers: adding a provider is one entry here plus its Provider class.

Config validation, `--llm` spec parsing, key lookup and the SDK client all read this table;
the implementation is imported only when a campaign uses the provider.
"""
from __future__ import annotations

import dataclasses
import importlib


@dataclasses.dataclass(frozen=True)
class ProviderEntry:
    implementation: str  # "module:class" of a mutators.providers.Provider subclass
    key_env: str         # default environment variable holding the API key
    base_url_env: str    # environment variable naming a custom server (a local one may need no key)


PROVIDERS: dict[str, ProviderEntry] = {
    "openai": ProviderEntry("evolve.mutators.providers:OpenAIProvider", "OPENAI_API_KEY", "OPENAI_BASE_URL"),
    "anthropic": ProviderEntry("evolve.mutators.providers:AnthropicProvider", "ANTHROPIC_API_KEY",
                               "ANTHROPIC_BASE_URL"),
}


def provider_class(name: str):
    module, _, attr = PROVIDERS[name].implementation.partition(":")
    return getattr(importlib.import_module(module), attr)

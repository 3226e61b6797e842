"""AI providers: ``"provider:model"`` strings resolved to a wire format, sans I/O.

===============  ===================================  ============================  ====================
spec             wire format                          default base_url              key (env)
===============  ===================================  ============================  ====================
``openai:M``     OpenAI Chat Completions              https://api.openai.com/v1     OPENAI_API_KEY
``anthropic:M``  Anthropic Messages (native)          https://api.anthropic.com/v1  ANTHROPIC_API_KEY
``compat:M``     OpenAI-compatible (vLLM, LM Studio)  required ``base_url=``        AIKIT_API_KEY (opt.)
``ollama:M``     OpenAI-compatible                    http://127.0.0.1:11434/v1     none
``azure:D``      OpenAI-compatible, ``api-key`` header  required ``base_url=``        AZURE_OPENAI_API_KEY
``local``        OpenAI-compatible, embedded model    started at the first call     none
===============  ===================================  ============================  ====================

``AIKIT_API_KEY`` is the fallback variable for every provider. ``local`` and ``local:/path/model.gguf``
start (or reuse) the embedded llama.cpp server at the first call, never in the constructor. For Azure
OpenAI, ``D`` names the deployment and ``base_url`` is its URL with the API version, e.g.
``https://RESOURCE.openai.azure.com/openai/deployments/D?api-version=2024-10-21``; the path
``/chat/completions`` goes before the query.

>>> spec = parse_model("openai:gpt-4o-mini")
>>> spec.provider, spec.model, spec.base_url
('openai', 'gpt-4o-mini', 'https://api.openai.com/v1')
>>> parse_model("ollama:llama3.2").base_url
'http://127.0.0.1:11434/v1'
>>> "temprature" in known_params(spec), "temperature" in known_params(spec)
(False, True)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from aikit.auth.urls import shown_url
from aikit.exceptions import ConfigError

if TYPE_CHECKING:  # pragma: no cover
    from aikit.client.providers.base import Provider

__all__ = ["DEFAULT_BASE_URLS", "ProviderSpec", "known_params", "make_provider", "parse_model"]

DEFAULT_BASE_URLS: dict[str, str] = {
    "openai": "https://api.openai.com/v1",
    "anthropic": "https://api.anthropic.com/v1",
    "ollama": "http://127.0.0.1:11434/v1",
}
_KEYS: dict[str, tuple[tuple[str, ...], bool]] = {
    "openai": (("OPENAI_API_KEY", "AIKIT_API_KEY"), True),
    "anthropic": (("ANTHROPIC_API_KEY", "AIKIT_API_KEY"), True),
    "compat": (("AIKIT_API_KEY",), False),
    "ollama": (("AIKIT_API_KEY",), False),
    "azure": (("AZURE_OPENAI_API_KEY", "AIKIT_API_KEY"), True),
    "local": ((), False),
}
PROVIDERS = tuple(_KEYS)


@dataclass(frozen=True, slots=True, repr=False)
class ProviderSpec:
    """A parsed model string.

    Attributes
    ----------
    provider : str
        ``openai``, ``anthropic``, ``compat``, ``ollama`` or ``local``.
    model : str
        The model name (for ``local``: the GGUF path, or ``""`` for the bundled default model).
    base_url : str or None
        The endpoint up to ``/v1``; None for ``local`` until its server is started.
    key_variables : tuple of str
        Environment variables holding the key, most specific first.
    key_required : bool
        Whether a call without a key is an error.
    """

    provider: str
    model: str
    base_url: str | None
    key_variables: tuple[str, ...]
    key_required: bool

    @property
    def wire(self) -> str:
        """``anthropic`` or ``openai`` (the family of the wire format)."""
        return "anthropic" if self.provider == "anthropic" else "openai"

    def __str__(self) -> str:
        return f"{self.provider}:{self.model}" if self.model else self.provider

    def __repr__(self) -> str:
        return f"ProviderSpec({str(self)!r}, base_url={shown_url(self.base_url) or None!r})"


def parse_model(spec: str, base_url: str | None = None) -> ProviderSpec:
    """Resolve ``"provider:model"`` (and an optional base URL override) to a :class:`ProviderSpec`.

    Raises
    ------
    ConfigError
        Unknown provider, missing model name, or ``compat:`` without ``base_url``.

    Examples
    --------
    >>> parse_model("compat:my-model", base_url="http://127.0.0.1:8000/v1/").base_url
    'http://127.0.0.1:8000/v1'
    >>> parse_model("local").model
    ''
    """
    if not isinstance(spec, str) or not spec.strip():
        raise ConfigError('model must be a string like "openai:gpt-4o-mini" or "local"')
    provider, sep, model = spec.strip().partition(":")
    provider = provider.lower()
    if provider not in _KEYS:
        hint = f' (did you mean "openai:{spec}"?)' if not sep else ""
        raise ConfigError(
            f"unknown provider {provider!r} in model {spec!r}{hint}; use one of "
            + ", ".join(f'"{p}:<model>"' for p in PROVIDERS if p != "local")
            + ' or "local"'
        )
    model = model.strip()
    if not model and provider != "local":
        raise ConfigError(f'model {spec!r} names no model; write it as "{provider}:<model name>"')
    if base_url is not None and not str(base_url).strip():
        base_url = None
    if provider == "local":
        if base_url is not None:
            raise ConfigError('"local" starts its own server; for a server you run, use "compat:<model>"')
        url = None
    else:
        url = _trimmed(str(base_url or DEFAULT_BASE_URLS.get(provider) or "")) or None
        if url is None:
            example = (
                f'aikit.AI("azure:{model}", base_url="https://RESOURCE.openai.azure.com/openai/deployments/'
                f'{model}?api-version=2024-10-21")'
                if provider == "azure"
                else f'aikit.AI("compat:{model}", base_url="http://127.0.0.1:8000/v1")'
            )
            raise ConfigError(f'"{provider}:{model}" needs base_url=, e.g. {example}')
        if not url.lower().startswith(("http://", "https://")):
            raise ConfigError(f"base_url must start with http:// or https://, got {shown_url(url)!r}")
    variables, required = _KEYS[provider]
    return ProviderSpec(provider, model, url, variables, required)


def _trimmed(url: str) -> str:
    """``url`` without surrounding spaces and without a trailing slash on its path (a query stays)."""
    head, sep, query = url.strip().partition("?")
    return head.rstrip("/") + (sep + query if sep else "")


def known_params(spec: ProviderSpec) -> frozenset[str]:
    """The request fields ``spec``'s provider takes as keywords; anything else goes in ``extra_body``."""
    if spec.wire == "anthropic":
        from aikit.client.providers.anthropic import ANTHROPIC_PARAMS

        return ANTHROPIC_PARAMS
    from aikit.client.providers.openai import COMPAT_PARAMS, OPENAI_PARAMS

    return OPENAI_PARAMS if spec.provider in ("openai", "azure") else COMPAT_PARAMS


def make_provider(spec: ProviderSpec, base_url: str | None = None) -> Provider:
    """The sans-I/O wire-format object for ``spec`` (``base_url`` overrides, e.g. a started local server)."""
    url = base_url or spec.base_url
    if not url:
        raise ConfigError(f"{spec} has no base_url yet")
    if spec.wire == "anthropic":
        from aikit.client.providers.anthropic import AnthropicProvider

        return AnthropicProvider(url)
    from aikit.client.providers.openai import OpenAIProvider

    return OpenAIProvider(spec.provider, url)

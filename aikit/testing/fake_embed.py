"""The fake provider's embeddings and model pages, without any I/O.

``POST /v1/embeddings`` answers OpenAI's shape with deterministic vectors: each text's lower-cased
words and character trigrams are hashed (sha256) into ``embed_dim`` signed buckets and the vector is
L2-normalised. Texts that share words therefore point the same way, so similarity search, near-duplicate
grouping and joins behave as they would with a real model (coarsely), and the same text always gets
the same vector. More than ``embed_max_inputs`` inputs in one request get a 400, as OpenAI's 2048 do.
``GET /v1/models/{id}`` answers a listed model, else a 404 ``model_not_found``.

>>> v = embedding("the invoice is wrong", 16)
>>> len(v), round(sum(x * x for x in v), 4)
(16, 1.0)
>>> close = sum(a * b for a, b in zip(v, embedding("the invoice is wrong again", 16)))
>>> far = sum(a * b for a, b in zip(v, embedding("shipping was quick", 16)))
>>> close > far
True
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from typing import TYPE_CHECKING, Any

from aikit.testing import fake_wire as wire

if TYPE_CHECKING:  # pragma: no cover
    from aikit.testing.fake_config import FakeConfig

__all__ = ["embedding", "extra_route", "overflow"]

_WORD = re.compile(r"\w+")


def embedding(text: str, dim: int) -> list[float]:
    """The fake's vector for ``text`` (unit length; all zeros but one for an empty text)."""
    vec = [0.0] * dim
    words = _WORD.findall(text.lower())
    features = words + [w[i : i + 3] for w in words for i in range(max(1, len(w) - 2))]
    for feature in features:
        h = hashlib.sha256(feature.encode("utf-8", "surrogatepass")).digest()
        vec[int.from_bytes(h[:4], "big") % dim] += 1.0 if h[4] & 1 else -1.0
    norm = math.sqrt(sum(x * x for x in vec))
    if norm == 0:
        vec[0], norm = 1.0, 1.0
    return [round(x / norm, 6) for x in vec]


def overflow(tokens: int, limit: int, anthropic: bool) -> str:
    """The provider's message for a prompt longer than the context window."""
    if anthropic:
        return f"prompt is too long: {tokens} tokens > {limit} maximum"
    return (
        f"This model's maximum context length is {limit} tokens. However, your messages resulted in "
        f"{tokens} tokens. Please reduce the length of the messages."
    )


def extra_route(route: str, method: str, body: bytes, cfg: FakeConfig, stats: Any) -> tuple[int, Any]:
    """``(status, JSON payload)`` for ``/embeddings`` and ``/models/{id}``."""
    if route.startswith("/models/"):
        model = route[len("/models/") :]
        if method != "GET":
            return 405, wire.openai_error(f"Method {method} not allowed", "invalid_request_error")
        if model not in cfg.models:
            message = f"The model '{model}' does not exist or you do not have access to it."
            return 404, wire.openai_error(message, "invalid_request_error", "model_not_found", "model")
        return 200, {"id": model, "object": "model", "created": 1704067200, "owned_by": "aikit-fake"}
    if method != "POST":
        return 405, wire.openai_error(f"Method {method} not allowed", "invalid_request_error")
    try:
        req = json.loads(body)
    except ValueError:
        return 400, wire.openai_error(
            "We could not parse the JSON body of your request.", "invalid_request_error"
        )
    problem = _problem(req, cfg)
    if problem:
        return 400, wire.openai_error(problem, "invalid_request_error", param="input")
    texts = [req["input"]] if isinstance(req["input"], str) else list(req["input"])
    dim = int(req.get("dimensions") or cfg.embed_dim)
    tokens = sum(wire.count_tokens(t) for t in texts)
    stats.prompt_tokens += tokens
    stats.events["embedded_inputs"] += len(texts)
    data = [{"object": "embedding", "index": i, "embedding": embedding(t, dim)} for i, t in enumerate(texts)]
    return 200, {
        "object": "list",
        "data": data,
        "model": req["model"],
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
    }


def _problem(req: Any, cfg: FakeConfig) -> str | None:
    if not isinstance(req, dict):
        return "The request body must be a JSON object."
    if not isinstance(req.get("model"), str) or not req["model"]:
        return "you must provide a model parameter"
    given = req.get("input")
    if isinstance(given, str):
        given = [given]
    if not isinstance(given, list) or not given or not all(isinstance(t, str) and t for t in given):
        return "'input' must be a non-empty string or a non-empty array of non-empty strings"
    if len(given) > cfg.embed_max_inputs:
        return f"'input' must have at most {cfg.embed_max_inputs} items, got {len(given)}"
    dim = req.get("dimensions")
    if dim is not None and (not isinstance(dim, int) or isinstance(dim, bool) or not 1 <= dim <= 4096):
        return f"'dimensions' must be an integer between 1 and 4096, got {dim!r}"
    return None

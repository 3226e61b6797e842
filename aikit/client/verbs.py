"""The client's verbs beyond one chat: ``arun`` (tools), ``aembed`` (embeddings), cache keys, estimates.

They are methods of :class:`~aikit.client.ai.AsyncAI` (this class is its base, so ``ai.py`` stays one
idea: one call); each is a thin front on its own module, :mod:`~aikit.client.toolloop` and
:mod:`~aikit.client.embed`, which drive the same call flow as ``achat``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aikit.client import pricing
from aikit.client.request import estimate_tokens
from aikit.client.schema import OutputSchema

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np

    from aikit.client.toolloop import RunResult

#: The client (``aikit.client.ai.AsyncAI``, which imports this module: named, not imported).
Client = Any

__all__ = ["Verbs"]


class Verbs:
    """``arun`` and ``aembed``, mixed into :class:`~aikit.client.ai.AsyncAI`."""

    __slots__ = ()

    async def arun(
        self, prompt: Any, *, tools: Any, max_steps: int = 8, system: str | None = None, **kwargs: Any
    ) -> RunResult:
        """Run the tool loop: ask, call the Python ``tools`` the model asks for, feed back, repeat.

        Every step is an ``achat`` (paced, retried, cached, in the call log); a tool that raises sends
        its error back to the model. Returns a :class:`~aikit.client.toolloop.RunResult` (``.text``,
        ``.steps``, ``.responses``, ``.messages``); raises :class:`~aikit.exceptions.ToolLoopError`
        when the model still calls tools after ``max_steps`` model calls. ``kwargs`` go to every
        ``achat`` (``temperature``, ``tool_choice``, ``cache`` ...).

        Examples
        --------
        >>> def get_ticket(ticket_id: str) -> dict:
        ...     '''Get one support ticket.'''
        ...     return crm.get("tickets", ticket_id)
        >>> result = await ai.arun("Summarise ticket 42", tools=[get_ticket])  # doctest: +SKIP
        >>> result.text, [s.call.name for s in result.steps]  # doctest: +SKIP
        """
        from aikit.client.toolloop import arun

        ai: Client = self
        return await arun(ai, prompt, tools, max_steps=max_steps, system=system, **kwargs)

    async def aembed(
        self,
        texts: Any,
        *,
        model: str | None = None,
        dimensions: int | None = None,
        batch_size: int | None = None,
        cache: str | bool = "use",
    ) -> np.ndarray:
        """Embed ``texts``: a ``(len(texts), dim)`` float32 numpy array, row ``i`` for ``texts[i]``.

        Each distinct text is cached under its own key (provider, base URL, ``model``, ``dimensions``);
        only texts not cached are sent, in requests of at most ``batch_size`` inputs (default 2048,
        OpenAI's limit), paced, retried and in the call log (``mode="embed"``). ``model`` defaults to
        ``text-embedding-3-small`` for ``openai``, the embedded e5 model for ``local``, else the
        client's model. ``cache`` as in ``achat``. Vectors of OpenAI's models and of the embedded
        model are unit length, so ``a @ b`` is the cosine similarity.

        Examples
        --------
        >>> vectors = await ai.aembed(["refund please", "where is my refund"])  # doctest: +SKIP
        >>> float(vectors[0] @ vectors[1])  # doctest: +SKIP
        0.91
        """
        from aikit.client.embed import aembed

        return await aembed(
            self, texts, model=model, dimensions=dimensions, batch_size=batch_size, cache=cache
        )

    def cache_key(self, prompt: Any, *, system: str | None = None, schema: Any = None, **params: Any) -> str:
        """The cache key :meth:`achat` uses for these arguments (pure: no I/O).

        ``params`` are the sampling parameters (``temperature``, ``max_tokens``, ``top_p`` ...); the
        ``cache`` and ``observer`` arguments of ``achat`` are accepted and ignored.

        >>> from aikit.client.ai import AsyncAI
        >>> ai = AsyncAI("openai:gpt-4o-mini", cache=False)
        >>> ai.cache_key("hi", temperature=0) == ai.cache_key("hi", temperature=0.0)
        True
        """
        return self.cache_keys([prompt], system=system, schema=schema, **params)[0]

    def cache_keys(self, prompts: list[Any], *, system: str | None = None, schema: Any = None,
                   **params: Any) -> list[str]:  # fmt: skip
        """:meth:`cache_key` of each prompt with the same arguments, at a fraction of the cost per row."""
        temperature, max_tokens = params.pop("temperature", None), params.pop("max_tokens", None)
        extra = params.pop("extra_body", None)
        params.pop("cache", None)
        params.pop("observer", None)
        ai: Client = self
        keys: list[str] = ai._requests.keys(
            prompts, system, OutputSchema.of(schema), temperature, max_tokens, params, extra
        )
        return keys

    def estimate_tokens(
        self, prompt: Any, system: str | None = None, max_tokens: int | None = None
    ) -> tuple[int, int]:
        """``(input_tokens_est, output_tokens_est)``: characters/4 plus 4 per message, and ``max_tokens``
        (else 256). A rough guess for pacing and budgets, not a tokenizer.

        >>> from aikit.client.ai import AsyncAI
        >>> AsyncAI("openai:gpt-4o-mini", cache=False).estimate_tokens("x" * 400, max_tokens=20)
        (104, 20)
        """
        return estimate_tokens(prompt, system, max_tokens)

    def price(self, input_tokens: int, output_tokens: int) -> float | None:
        """USD for these tokens on this model, or None when its price is unknown (never a guess).

        >>> from aikit.client.ai import AsyncAI
        >>> AsyncAI("openai:gpt-4o-mini", cache=False).price(1_000_000, 0)
        0.15
        """
        ai: Client = self
        return pricing.price(ai.spec.provider, ai.spec.model, input_tokens, output_tokens)

"""One AI call: request and cache key, cache and single flight, the attempt flow, the ledger.

:class:`AI` (sync) and :class:`AsyncAI` (async) are the facades; the modules beside them hold one idea
each (``cache``, ``ratelimit``, ``calllog``, ``response``, ``schema``, ``pricing``, ``retry``, and the
sans-I/O wire formats in ``providers``).
"""

from __future__ import annotations

from aikit.client.ai import AI, AsyncAI

__all__ = ["AI", "AsyncAI"]

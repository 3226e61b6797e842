"""One AI call: request and cache key, cache and single flight, the attempt flow, the ledger.

:class:`AI` (``sync``) and :class:`AsyncAI` (``ai``) are the facades. The path of one call:
``request`` (pure: request and cache key) -> the cache read (``cache``, or Redis through ``backends``)
and ``flight`` (single flight) -> ``flow`` (the sans-I/O attempt flow: pace, send, classify, retry,
validate, store, record), performed by ``drive`` for chat and stream alike -> ``ledger`` (counters,
cost, call log, scrubbing). Beside them: ``ratelimit``, ``retry``, ``calllog``, ``response``,
``schema``, ``pricing``, ``stream`` (the stream facades), ``providers`` (sans-I/O wire formats) and
``backends`` (the one seam to ``redis://``, the local model and Dask).
"""

from __future__ import annotations

from aikit.client.ai import AsyncAI
from aikit.client.sync import AI

__all__ = ["AI", "AsyncAI"]

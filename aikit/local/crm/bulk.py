"""Many records at once, with modification dates spread over a range: data for sync tests and benchmarks.

:func:`add_tickets` writes ``n`` tickets straight into the store (one transaction, no HTTP), each
created and last modified at a time spread evenly between ``start`` and ``end``; ``same_ms`` of them
share one millisecond, so a single instant can hold more records than a search can reach.

>>> from aikit.local.crm.store import Store
>>> store = Store(":memory:")
>>> ids = add_tickets(store, 5, start="2025-01-01", end="2025-01-02", same_ms=2)
>>> len(ids), len({store.get("tickets", str(i)).props["hs_lastmodifieddate"] for i in ids})
(5, 4)
"""

from __future__ import annotations

import random
from datetime import UTC, datetime

import pandas as pd

from aikit.local.crm.store import Store

__all__ = ["add_tickets"]

_PRIORITIES = ("LOW", "MEDIUM", "HIGH", "URGENT")


def _iso(ms: int) -> str:
    dt = datetime.fromtimestamp(ms / 1000, UTC)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


def add_tickets(
    store: Store,
    n: int,
    *,
    start: str = "2024-01-01",
    end: str = "2025-12-31",
    seed: int = 0,
    same_ms: int = 0,
) -> list[int]:
    """Add ``n`` tickets modified between ``start`` and ``end`` (``same_ms`` share one instant)."""
    rng = random.Random(seed)
    lo = int(pd.Timestamp(start, tz="UTC").value // 1_000_000)
    hi = int(pd.Timestamp(end, tz="UTC").value // 1_000_000)
    step = (hi - lo) / max(1, n)
    tie_at = lo + (hi - lo) // 3
    ids = []
    with store.transaction():
        for i in range(n):
            ms = tie_at if i < same_ms else lo + int(i * step) + rng.randint(0, max(0, int(step) - 1))
            rec = store.create(
                "tickets",
                {
                    "subject": f"Generated ticket {i}",
                    "hs_pipeline_stage": rng.choice("1234"),
                    "hs_ticket_priority": rng.choice(_PRIORITIES),
                },
                created_at=_iso(ms),
                check=False,
                source="IMPORT",
            )
            ids.append(rec.id)
    return ids

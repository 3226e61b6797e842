"""The listeners running in this process: a re-run cell replaces its listener, exit stops them all.

A notebook cell that builds and starts a listener is often run twice. The second start finds the
first through this registry and stops it when both use the same store file or the same explicit
port, so one kernel never serves two copies of a source. At interpreter exit every listener still
running is stopped (best effort), so queued writes are committed before the process ends.

>>> class Fake:
...     running = True
...     def __init__(self, key): self.key = key
...     def stop(self, timeout=10.0): self.running = False
>>> a, b = Fake("w.sqlite"), Fake("w.sqlite")
>>> track(a)
>>> [x.key for x in replace_others(b, lambda other: other.key == b.key)]
['w.sqlite']
>>> a.running
False
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import threading
import weakref
from collections.abc import Callable
from typing import Protocol, TypeVar, cast

__all__ = ["Stoppable", "replace_others", "track", "untrack"]

log = logging.getLogger("aikit.webhooks")


class Stoppable(Protocol):
    """What the registry needs of a listener."""

    @property
    def running(self) -> bool: ...

    def stop(self, timeout: float = 10.0) -> None: ...


S = TypeVar("S", bound=Stoppable)

_LIVE: weakref.WeakSet[Stoppable] = weakref.WeakSet()
_LOCK = threading.Lock()
_ATEXIT = False


def replace_others(listener: S, same: Callable[[S], bool]) -> list[S]:
    """Stop every other running listener for which ``same(other)`` is true; return them."""
    with _LOCK:
        candidates = [cast(S, o) for o in _LIVE if o is not listener and o.running]
    others = [o for o in candidates if same(o)]
    for other in others:
        log.info("stopping the previous %r (same store or port)", other)
        other.stop()
    return others


def track(listener: Stoppable) -> None:
    """Remember a started listener (weakly) and make sure interpreter exit stops it."""
    global _ATEXIT
    with _LOCK:
        _LIVE.add(listener)
        if not _ATEXIT:
            atexit.register(_stop_all)
            _ATEXIT = True


def untrack(listener: Stoppable) -> None:
    """Forget a stopped listener."""
    with _LOCK:
        _LIVE.discard(listener)


def _stop_all() -> None:
    with _LOCK:
        live = list(_LIVE)
    for listener in live:
        with contextlib.suppress(Exception):  # best effort at interpreter exit
            listener.stop(timeout=3.0)

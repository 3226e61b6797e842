"""What a handler is and what it receives: :class:`Handler`, :class:`Event`, type matching.

The machinery that runs handlers is :mod:`aikit.webhooks.dispatcher` (per-handler state, retry
schedule, dead letters) behind the boundary of :mod:`aikit.webhooks.isolation`. Expensive work inside
a handler, such as an AI call, should go through :meth:`Event.memo`: its result is stored with the
event, so a replay or a retry never pays twice.

>>> matches("ticket", "ticket.creation"), matches("*", None), matches("ticket.creation", "ticket")
(True, True, False)
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import parse_qs

from aikit.exceptions import WebhookError
from aikit.webhooks.store import Store

__all__ = ["Event", "Handler", "matches", "parse_body"]


def matches(pattern: str, event_type: str | None) -> bool:
    """``"*"`` matches all; ``"invoice"`` matches ``"invoice"`` and ``"invoice.paid"``."""
    if pattern == "*":
        return True
    if event_type is None:
        return False
    return event_type == pattern or event_type.startswith(pattern + ".")


@dataclass(frozen=True)
class Handler:
    """A registered handler: ``fn(event)`` for events of ``source`` whose type matches ``pattern``."""

    source: str
    pattern: str
    fn: Callable[[Event], Any]
    name: str
    max_attempts: int | None = None
    #: Seconds before a run is cut off as failed (None: the dispatcher's default).
    timeout: float | None = None

    def wants(self, source: str, event_type: str | None) -> bool:
        return self.source == source and matches(self.pattern, event_type)


@dataclass
class Event:
    """A stored webhook event as a handler receives it.

    Attributes
    ----------
    id : int
        The store's row id (what ``replay`` and ``events()`` use).
    source, event_type, event_id : str
        Source name, the provider's event type and id (may be None).
    body : bytes
        The exact bytes received (one item's JSON for a HubSpot batch).
    headers : dict
        Request headers with signatures redacted.
    attempt : int
        1 on the first run, 2 on the first retry, ...
    """

    id: int
    source: str
    event_type: str | None
    event_id: str | None
    dedupe_key: str
    received_at: datetime
    body: bytes
    headers: dict[str, str]
    content_type: str | None
    attempt: int
    _store: Store | None = field(default=None, repr=False, compare=False)
    _payload: Any = field(default=None, repr=False, compare=False)
    _transformed: bool = field(default=False, repr=False, compare=False)

    @property
    def payload(self) -> Any:
        """The body parsed (JSON, a dict for form-encoded bodies, or the text), or what the source's
        ``transform=`` made of it."""
        if self._transformed:
            return self._payload
        return parse_body(self.body, self.content_type)

    def with_payload(self, payload: Any) -> Event:
        """A copy whose :attr:`payload` is ``payload`` (what a ``transform=`` returns); ``body`` stays raw."""
        from dataclasses import replace

        return replace(self, _payload=payload, _transformed=True)

    def cache_key(self, *parts: str) -> str:
        """A stable key for this event (survives duplicates and replays), e.g. to tag an AI call.

        >>> from datetime import UTC
        >>> ev = Event(1, "crm", "t", "7", "id:7", datetime.now(UTC), b"{}", {}, None, 1)
        >>> ev.cache_key("summary")
        'webhook:crm:id:7:summary'
        """
        return ":".join(("webhook", self.source, self.dedupe_key, *parts))

    def memo(self, key: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Run ``fn(*args, **kwargs)`` once per event and ``key``; later calls return the stored value.

        Use it around AI calls in handlers so a retry or ``replay`` never pays twice. The value must be
        JSON-serialisable (text, numbers, lists, dicts): memo ``reply.text`` or ``reply.data``.

        Examples
        --------
        >>> @hook.on("crm", "ticket.creation")                                 # doctest: +SKIP
        ... def triage(event):
        ...     text = event.payload["objectId"]
        ...     return event.memo("triage", lambda: ai.chat(f"Triage {text}").text)
        """
        store = self._store
        if store is None:
            return fn(*args, **kwargs)
        stored = store.memo(self.id, key)
        if stored is not None:
            return json.loads(stored)
        value = fn(*args, **kwargs)
        try:
            text = json.dumps(value)
        except (TypeError, ValueError) as exc:
            raise WebhookError(
                f"event.memo({key!r}) needs a JSON-serialisable value, got {type(value).__name__}; "
                "memo the text or data of an AI reply"
            ) from exc
        store.set_memo(self.id, key, text)
        return value


def parse_body(body: bytes, content_type: str | None) -> Any:
    """JSON if it parses, a form dict for ``x-www-form-urlencoded``, else the decoded text."""
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError):
        pass
    text = body.decode("utf-8", "replace")
    if content_type and "x-www-form-urlencoded" in content_type:
        form = parse_qs(text, keep_blank_values=True)
        return {k: v[0] if len(v) == 1 else v for k, v in form.items()}
    return text

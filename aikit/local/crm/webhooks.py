"""Webhook deliveries from the demo CRM: HubSpot-signed JSON arrays of events, retried with backoff.

Store changes are turned into events for the matching active subscriptions and queued; a task on the
server's event loop batches them (up to 100 per POST, per app), signs each attempt with
``X-HubSpot-Signature-v3`` over ``POST + target URL + body + timestamp`` (HMAC-SHA256, base64, key =
the app's client secret), and retries failures with exponential backoff. The API request that caused
the change never waits for a delivery.

>>> sign_v3("secret", "POST", "http://127.0.0.1:9/hook", "[]", "1700000000000")
'ABftBDUFmmbI1dNUyORi7IncrROw4e7Kw13feTiSHKM='
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import itertools
import json
import logging
import threading
import time
from collections import deque
from typing import Any

import httpx

from aikit.local.crm.schema import OBJECT_TYPES
from aikit.local.crm.store import Store

__all__ = ["WebhookDispatcher", "sign_v1", "sign_v2", "sign_v3"]

log = logging.getLogger("aikit.local.crm.webhooks")
MAX_EVENTS_PER_POST = 100


def sign_v3(secret: str, method: str, uri: str, body: str, timestamp: str) -> str:
    """HubSpot's v3 signature: base64(HMAC-SHA256(secret, method + uri + body + timestamp))."""
    mac = hmac.new(secret.encode(), f"{method}{uri}{body}{timestamp}".encode(), hashlib.sha256)
    return base64.b64encode(mac.digest()).decode()


def sign_v1(secret: str, body: str) -> str:
    """HubSpot's legacy v1 signature: hex SHA-256 of secret + body."""
    return hashlib.sha256(f"{secret}{body}".encode()).hexdigest()


def sign_v2(secret: str, method: str, uri: str, body: str) -> str:
    """HubSpot's legacy v2 signature: hex SHA-256 of secret + method + uri + body."""
    return hashlib.sha256(f"{secret}{method}{uri}{body}".encode()).hexdigest()


class WebhookDispatcher:
    """Queue events from store changes and deliver them from the server loop.

    Parameters
    ----------
    store : Store
        Where the app settings and subscriptions live.
    portal_id : int
        The ``portalId`` written into events.
    max_attempts : int
        Delivery attempts per batch (first one included).
    backoff_s : float
        First retry delay; doubled each attempt (capped at 60 s). A ``Retry-After`` is honoured.
    """

    def __init__(
        self, store: Store, *, portal_id: int, max_attempts: int = 5, backoff_s: float = 1.0
    ) -> None:
        self.store, self.portal_id = store, portal_id
        self.max_attempts, self.backoff_s = max_attempts, backoff_s
        self.loop: asyncio.AbstractEventLoop | None = None
        self.deliveries: deque[dict[str, Any]] = deque(maxlen=1000)
        self._queue: list[tuple[int, dict[str, Any]]] = []
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self._tasks: set[asyncio.Task[None]] = set()
        self._client: httpx.AsyncClient | None = None
        self._scheduled = False

    # Called by the store (under its lock, from any thread): must be quick and never raise.
    def on_change(
        self, event: str, object_type: str, object_id: int, prop: str | None, value: str | None
    ) -> None:
        singular = OBJECT_TYPES[object_type].singular
        sub_type = f"{singular}.{event}"
        now_ms = int(time.time() * 1000)
        for sub in self.store.webhooks.subscriptions():
            if not sub["active"] or sub["eventType"] != sub_type:
                continue
            if event == "propertyChange" and sub.get("propertyName") not in (None, prop):
                continue
            item: dict[str, Any] = {
                "eventId": next(self._ids),
                "subscriptionId": int(sub["id"]),
                "portalId": self.portal_id,
                "appId": int(sub["appId"]),
                "occurredAt": now_ms,
                "subscriptionType": sub_type,
                "attemptNumber": 0,
                "objectId": object_id,
                "changeSource": "INTEGRATION",
                "changeFlag": {"creation": "CREATED", "deletion": "DELETED"}.get(event, "UPDATED"),
            }
            if event == "propertyChange":
                item |= {"propertyName": prop, "propertyValue": value or "", "sourceId": "aikit-demo-crm"}
            with self._lock:
                self._queue.append((int(sub["appId"]), item))
        self._schedule()

    def _schedule(self) -> None:
        loop = self.loop
        with self._lock:
            if loop is None or not self._queue or self._scheduled or loop.is_closed():
                return
            self._scheduled = True
        loop.call_soon_threadsafe(self._spawn_flush)

    def _spawn_flush(self) -> None:
        task = asyncio.get_running_loop().create_task(self._flush())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _flush(self) -> None:
        await asyncio.sleep(0.02)  # let a burst of changes from one request join one POST
        with self._lock:
            queued, self._queue, self._scheduled = self._queue, [], False
        by_app: dict[int, list[dict[str, Any]]] = {}
        for app_id, item in queued:
            by_app.setdefault(app_id, []).append(item)
        for app_id, items in by_app.items():
            for i in range(0, len(items), MAX_EVENTS_PER_POST):
                task = asyncio.get_running_loop().create_task(
                    self._deliver(app_id, items[i : i + MAX_EVENTS_PER_POST])
                )
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)

    async def _deliver(self, app_id: int, events: list[dict[str, Any]]) -> None:
        app = self.store.webhooks.app(app_id)
        if app is None:
            self.deliveries.append(
                {"appId": app_id, "events": len(events), "status": None, "error": "no target URL"}
            )
            return
        target, secret, version = app
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=5.0, trust_env=False)
        for attempt in range(self.max_attempts):
            for e in events:
                e["attemptNumber"] = attempt
            body = json.dumps(events, separators=(",", ":"))
            ts = str(int(time.time() * 1000))
            headers = {
                "Content-Type": "application/json",
                "User-Agent": "HubSpot Connect 2.0 (aikit demo CRM)",
                "X-HubSpot-Request-Timestamp": ts,
                "X-HubSpot-Signature-v3": sign_v3(secret, "POST", target, body, ts),
            }
            if version == "v1":
                headers |= {"X-HubSpot-Signature": sign_v1(secret, body), "X-HubSpot-Signature-Version": "v1"}
            elif version == "v2":
                headers |= {
                    "X-HubSpot-Signature": sign_v2(secret, "POST", target, body),
                    "X-HubSpot-Signature-Version": "v2",
                }
            status: int | None = None
            error: str | None = None
            delay = min(60.0, self.backoff_s * 2**attempt)
            try:
                resp = await self._client.post(target, content=body, headers=headers)
                status = resp.status_code
                retry_after = resp.headers.get("retry-after", "")
                if retry_after.replace(".", "", 1).isdigit():
                    delay = min(60.0, float(retry_after))
            except httpx.HTTPError as exc:
                error = f"{type(exc).__name__}: {exc}"
            ok = status is not None and 200 <= status < 300
            self.deliveries.append(
                {
                    "appId": app_id,
                    "url": target,
                    "attempt": attempt,
                    "events": len(events),
                    "status": status,
                    "error": error,
                }
            )
            if ok:
                return
            if attempt + 1 < self.max_attempts:
                await asyncio.sleep(delay)
        log.warning("webhook delivery to %s gave up after %d attempts", target, self.max_attempts)

    async def idle(self, timeout: float) -> bool:
        """Wait until nothing is queued or being delivered (True), or ``timeout`` passes (False)."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if not self._queue and not self._tasks and not self._scheduled:
                return True
            await asyncio.sleep(0.02)
        return False

    async def aclose(self, grace_s: float = 2.0) -> None:
        """Deliver what is queued (waiting up to ``grace_s``), then cancel retries and close."""
        if self._queue:
            self._spawn_flush()
        pending = set(self._tasks)
        if pending:
            _done, still = await asyncio.wait(pending, timeout=grace_s)
            for task in still:
                task.cancel()
            if still:
                await asyncio.gather(*still, return_exceptions=True)
        if self._client is not None:
            await self._client.aclose()
            self._client = None

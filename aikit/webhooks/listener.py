"""``WebhookListener``: verified, durable, deduplicated webhooks in a background thread of the kernel.

>>> import pathlib, tempfile
>>> hook = WebhookListener(port=0, store=pathlib.Path(tempfile.mkdtemp()) / "hooks.sqlite")
>>> hook.add_source("stripe", scheme="stripe", secret="whsec_test_secret").start()  # doctest: +ELLIPSIS
<WebhookListener http://127.0.0.1:... running sources=['stripe']>
>>> hook.url_for("stripe")  # doctest: +ELLIPSIS
'http://127.0.0.1:.../hooks/stripe'
>>> @hook.on("stripe", "invoice")
... def paid(event):
...     return event.payload["data"]["amount"]
>>> hook.simulate("stripe", {"id": "evt_1", "type": "invoice.paid", "data": {"amount": 42}}).json()
{'ok': True}
>>> hook.simulate("stripe", {"id": "evt_1", "type": "invoice.paid", "data": {"amount": 42}}).json()
{'ok': True, 'duplicate': True}
>>> hook.wait_idle()
True
>>> hook.events()[["event_id", "status", "result"]].to_dict("records")
[{'event_id': 'evt_1', 'status': 'done', 'result': {'paid': 42}}]
>>> hook.stop()

With real providers, secrets come from the environment and URL-signing schemes need the public URL
your tunnel exposes::

    hook = aikit.WebhookListener(port=8787)        # store under $AIKIT_HOME
    hook.add_source("stripe", scheme="stripe", secret=os.environ["STRIPE_WEBHOOK_SECRET"])
    hook.add_source("crm", scheme="hubspot", secret=os.environ["HUBSPOT_CLIENT_SECRET"],
                    public_url="https://hooks.example.com/hooks/crm")
    hook.start()                                   # re-running the cell replaces, never duplicates
    hook.stats(); hook.replay(3); hook.dead(); hook.events(status="failed"); hook.widget()

This module is the notebook-facing facade; it composes the parts and holds no mechanism of its own:
sources (:mod:`~aikit.webhooks.sources`), the ASGI app that verifies, stores and answers
(:mod:`~aikit.webhooks.app`), the store (:mod:`~aikit.webhooks.store`), handler workers
(:mod:`~aikit.webhooks.handlers`), the uvicorn thread (:mod:`~aikit.webhooks.server`), the
"re-running the cell replaces" registry (:mod:`~aikit.webhooks.live`), ``simulate``
(:mod:`~aikit.webhooks.simulate`), the notebook summary (:mod:`~aikit.webhooks.display`) and the
live-monitor slot (:mod:`~aikit.webhooks.monitor`).
To receive from the internet, see :mod:`aikit.webhooks.hosting` (tunnels; why JupyterHub/Binder
``/proxy/<port>/`` URLs must never be handed to a provider).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aikit._http_limits import HttpLimits
from aikit.exceptions import ConfigError, WebhookError
from aikit.settings import settings
from aikit.webhooks import live
from aikit.webhooks.alerts import DeadAlert
from aikit.webhooks.app import HookApp
from aikit.webhooks.dispatcher import DEFAULT_RETRY, DeadLetter, Dispatcher
from aikit.webhooks.display import summary_html
from aikit.webhooks.frame import as_epoch, dead_frame, events_frame, query_events
from aikit.webhooks.handlers import Event, Handler
from aikit.webhooks.monitor import open_monitor
from aikit.webhooks.server import ServerThread
from aikit.webhooks.simulate import Simulator
from aikit.webhooks.sources import MiB, Source, make_source, redact_secrets
from aikit.webhooks.store import Store
from aikit.webhooks.verify import HmacSpec

if TYPE_CHECKING:
    import httpx
    import pandas as pd

__all__ = ["WebhookListener"]

log = logging.getLogger("aikit.webhooks")

#: Seconds between two prunings of a listener with ``retention=``.
PRUNE_EVERY_S = 3600.0


class WebhookListener:
    """Receive webhooks on 127.0.0.1 in the background: verify, store durably, then acknowledge.

    Parameters
    ----------
    port : int
        TCP port; 0 picks a free one (see :attr:`port` after :meth:`start`).
    store : str, Path or Store, optional
        The SQLite file; default ``$AIKIT_HOME/webhooks.sqlite`` (``settings().webhooks_path``).
    host : str
        Bind address; keep 127.0.0.1 and expose through a tunnel.
    workers : int
        Handler worker threads.
    retry : sequence of float
        Seconds before each retry of a failed handler; default 5 s, 30 s, 2 min, 10 min, 1 h, 6 h,
        then the handler is ``dead`` on that event. Kept in the store: a restart resumes it.
    max_attempts : int, optional
        Runs of a handler before it is dead (default ``len(retry) + 1``).
    jitter : float
        Each retry delay is scaled by a random factor in ``[1 - jitter, 1 + jitter]``.
    handler_timeout : float or None
        Seconds a handler may run before it is cut off and counted as failed (``on(timeout=)``
        overrides it per handler).
    on_dead : callable, optional
        ``on_dead(letter)`` with a :class:`~aikit.webhooks.dispatcher.DeadLetter` each time a
        handler gives up on an event (runs on a worker thread; what it raises is logged).
    alert_url, alert_secret : str, optional
        Also post each dead letter to a Slack incoming-webhook URL, or to any URL signed with the
        ``standard`` scheme and ``alert_secret`` (``whsec_...``).
    retention : float, optional
        Days to keep handled events (``done``, ``received``, ``filtered``); older ones and their
        bodies are deleted at start and every hour. Failed and dead events are kept.
    limits : HttpLimits, optional
        The server's per-connection limits (:class:`aikit._http_limits.HttpLimits`: header size and
        count, request line, read timeouts, connection cap); the body limit is per source.

    Examples
    --------
    >>> with WebhookListener(port=0, store=tmp_path / "w.sqlite") as hook:      # doctest: +SKIP
    ...     hook.add_source("gh", scheme="github", secret="s3cret")
    ...     hook.simulate("gh", {"zen": "hi"}).status_code
    200
    """

    def __init__(
        self,
        port: int = 0,
        store: str | Path | Store | None = None,
        host: str = "127.0.0.1",
        *,
        workers: int = 2,
        retry: Sequence[float] = DEFAULT_RETRY,
        max_attempts: int | None = None,
        jitter: float = 0.2,
        handler_timeout: float | None = 60.0,
        on_dead: Callable[[DeadLetter], Any] | None = None,
        alert_url: str | None = None,
        alert_secret: str | None = None,
        retention: float | None = None,
        limits: HttpLimits | None = None,
    ) -> None:
        self.host = host
        self._requested_port = int(port)
        self.port: int | None = None
        if isinstance(store, Store):
            self.store = store
        else:
            self.store = Store(Path(store) if store is not None else settings().webhooks_path)
        self._sources: dict[str, Source] = {}
        if retention is not None and retention <= 0:
            raise ConfigError("retention is a number of days > 0 (or None to keep every event)")
        self.retention = retention
        self._on_dead = on_dead
        self.alert = DeadAlert(alert_url, alert_secret) if alert_url else None
        self._alert_secrets = (alert_secret,) if alert_secret else ()
        self.dispatcher = Dispatcher(
            self.store,
            workers=workers,
            retry=retry,
            max_attempts=max_attempts,
            jitter=jitter,
            timeout=handler_timeout,
            redact=self._redact,
            prepare=self._prepare,
            on_dead=self._dead_letter if (on_dead or self.alert) else None,
        )
        self.app = HookApp(
            self.store,
            self._sources,
            self.dispatcher.wants,
            self.dispatcher.wake,
            healthy=lambda: self.dispatcher.healthy,
        )
        self._pruner: threading.Thread | None = None
        self._pruning = threading.Event()
        self.pruned = 0
        self._server = ServerThread(self.app, host, limits=limits)
        self._simulator = Simulator()
        self._lock = threading.RLock()
        self.recovered = 0

    def add_source(
        self,
        name: str,
        scheme: str,
        secret: str | None = None,
        *,
        secrets: list[str] | tuple[str, ...] | None = None,
        public_url: str | None = None,
        max_body: int = MiB,
        rate_limit: float | tuple[float, float] | None = None,
        tolerance: float | None = None,
        hubspot_versions: tuple[str, ...] = ("v3",),
        github_sha1: bool = False,
        hmac: HmacSpec | dict[str, Any] | None = None,
        transform: Callable[[Event], Any] | None = None,
        filter: Callable[[Event], bool] | None = None,
        allow: Sequence[str] | None = None,
        trusted_proxies: Sequence[str] | None = None,
        failed_signature_limit: float | tuple[float, float] | None = (1.0, 20.0),
    ) -> WebhookListener:
        """Serve ``POST /hooks/<name>`` verified with ``scheme``.

        Parameters
        ----------
        name : str
            The URL segment and the ``source`` column.
        scheme : str
            ``standard`` (also ``svix-*`` headers), ``stripe``, ``github``, ``slack``, ``hubspot``,
            ``shopify``, ``twilio``, ``zoom``, ``linear``, ``intercom`` or ``hmac``.
        secret, secrets : str or list of str
            The signing secret, or several during a rotation (any may match). Never shown.
        public_url : str, optional
            The URL the provider calls (through your tunnel). HubSpot v3 and Twilio sign it: the
            listener verifies against ``public_url`` plus the request's query string.
        max_body : int
            Largest accepted body in bytes (413 above it).
        rate_limit : float or (rate, burst), optional
            Verified requests per second for this source before answering 429 with Retry-After
            (requests that fail the signature check never spend it).
        tolerance : float, optional
            Timestamp window in seconds, both directions (default 300; Linear 60).
        hubspot_versions : tuple of str
            Accepted HubSpot signature versions; ``v1``/``v2`` carry no timestamp (opt-in only).
        hmac : HmacSpec or dict, optional
            For ``scheme="hmac"``: header, algorithm, encoding, prefix, template, ...
        transform : callable, optional
            ``transform(event) -> payload``: what handlers see as ``event.payload``. Runs before the
            handlers, never before the store: the raw event is always kept.
        filter : callable, optional
            ``filter(event) -> bool``: False marks the event ``filtered`` and runs no handler.
        allow : list of str, optional
            CIDRs (``"192.30.252.0/22"``) or addresses the source accepts requests from; others get
            403. The peer address is used, or ``X-Forwarded-For`` when the peer is a trusted proxy.
        trusted_proxies : list of str, optional
            CIDRs of proxies (your tunnel's local end, e.g. ``"127.0.0.1/32"``) whose
            ``X-Forwarded-For`` is believed: the client is the right-most address not in this list.
        failed_signature_limit : (rate, burst) or None
            Requests per second (and burst) a single client address may fail the signature check
            with before it gets 429; None turns the limit off.

        Examples
        --------
        >>> hook.add_source("acme", scheme="hmac", secret="s",                        # doctest: +SKIP
        ...                 hmac={"header": "X-Acme-Signature", "prefix": "sha256="})
        """
        self._sources[name] = make_source(
            name,
            scheme,
            secret,
            secrets=secrets,
            public_url=public_url,
            max_body=max_body,
            rate_limit=rate_limit,
            tolerance=tolerance,
            hubspot_versions=hubspot_versions,
            github_sha1=github_sha1,
            hmac=hmac,
            transform=transform,
            filter=filter,
            allow=allow,
            trusted_proxies=trusted_proxies,
            failed_signature_limit=failed_signature_limit,
        )
        return self

    @property
    def sources(self) -> list[str]:
        return list(self._sources)

    def on(
        self,
        source: str,
        event_type: str = "*",
        *,
        max_attempts: int | None = None,
        timeout: float | None = None,
    ) -> Callable[[Callable[[Event], Any]], Callable[[Event], Any]]:
        """Decorator: run the function for each stored event of ``source`` matching ``event_type``.

        ``"invoice"`` matches ``invoice`` and ``invoice.paid``; ``"*"`` matches everything. The
        function gets an :class:`~aikit.webhooks.handlers.Event`; its return value is recorded.
        Async functions run on aikit's loop thread. Wrap AI calls in ``event.memo(...)``.
        Each handler has its own state and retry schedule per event: one that raises (anything,
        ``SystemExit`` included) or runs past ``timeout`` seconds never stops the others.

        Examples
        --------
        >>> @hook.on("stripe", "invoice.paid")                                         # doctest: +SKIP
        ... def paid(event):
        ...     return event.payload["data"]["object"]["amount_paid"]
        """

        def register(fn: Callable[[Event], Any]) -> Callable[[Event], Any]:
            name = f"{source}:{event_type}:{getattr(fn, '__name__', repr(fn))}"
            self.dispatcher.add(Handler(source, event_type, fn, name, max_attempts, timeout))
            return fn

        return register

    def memo(self, event: Event, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """``event.memo`` keyed by the function's name: run once per event, stored with it."""
        return event.memo(getattr(fn, "__qualname__", repr(fn)), fn, *args, **kwargs)

    @property
    def running(self) -> bool:
        return self._server.running

    @property
    def url(self) -> str:
        """Base URL, ``http://127.0.0.1:PORT`` (start first)."""
        if self.port is None:
            raise WebhookError("the listener is not started: call hook.start()")
        return f"http://{self.host}:{self.port}"

    def url_for(self, source: str) -> str:
        """The local URL of a source: ``http://127.0.0.1:PORT/hooks/<source>``."""
        if source not in self._sources:
            raise ConfigError(f"unknown source {source!r}; add it with add_source() first")
        return f"{self.url}/hooks/{source}"

    def start(self, timeout: float = 15.0) -> WebhookListener:
        """Open the store, recover interrupted handlers and serve (idempotent).

        Another running listener of this process on the same store or the same explicit port is
        stopped first, so re-running a notebook cell never leaves two servers behind.
        """
        with self._lock:
            if self.running:
                return self
            live.replace_others(self, self._same_place)
            self.store.open()
            try:
                self.recovered = self.store.recover()
                self.port = self._server.start(self._requested_port, timeout)
            except BaseException:
                self._stop_parts()
                raise
            self.dispatcher.start()
            self._start_pruner()
            live.track(self)
            if not log.handlers:
                log.addHandler(logging.NullHandler())
            return self

    def _same_place(self, other: WebhookListener) -> bool:
        """True when ``other`` serves this listener's store file or its explicit port."""
        if other.store.path.resolve() == self.store.path.resolve():
            return True
        return bool(self._requested_port) and (other.host, other.port) == (self.host, self._requested_port)

    def stop(self, timeout: float = 10.0) -> None:
        """Stop serving, let running handlers finish (up to ``timeout``) and close the store."""
        with self._lock:
            self._stop_parts(timeout)
            live.untrack(self)

    def _stop_parts(self, timeout: float = 10.0) -> None:
        self._pruning.set()
        if self._pruner is not None:
            self._pruner.join(timeout)
            self._pruner = None
        self._server.stop(timeout)
        self._simulator.close()
        self.dispatcher.stop(timeout)
        self.store.close()

    def __enter__(self) -> WebhookListener:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def events(
        self,
        source: str | None = None,
        status: str | None = None,
        since: float | datetime | timedelta | str | None = None,
        *,
        event_type: str | None = None,
        limit: int | None = None,
    ) -> pd.DataFrame:
        """Stored events as a DataFrame, oldest first (``limit`` keeps the newest).

        Columns: ``id, source, event_type, event_id, status, attempts, received_at, provider_ts,
        last_error, processed_at, payload, result, headers``. ``payload`` is the parsed body; headers
        have their signatures redacted. ``since`` takes a datetime, a unix time, an ISO string or a
        timedelta ("the last 10 minutes").

        Examples
        --------
        >>> hook.events(source="stripe", status="dead")                                 # doctest: +SKIP
        """
        if not self.store.exists:
            return events_frame([], {})
        return query_events(
            self.store, source=source, status=status, since=since, event_type=event_type, limit=limit
        )

    def dead(self, source: str | None = None) -> pd.DataFrame:
        """The dead-letter view: one row per handler that gave up on an event, oldest first.

        Columns: ``id, source, event_type, event_id, received_at, handler, attempts, error (the last
        line), dead_at, payload, last_error (the traceback)``. Fix the cause, then
        ``hook.replay(status="dead")`` (or ``event_ids=df["id"].tolist()``).
        """
        if not self.store.exists:
            return dead_frame([])
        return dead_frame(self.store.dead_runs(source))

    def stats(self) -> dict[str, Any]:
        """Counters: per source (received, stored, duplicates, rejected by reason, ...) and per status.

        ``dispatcher`` is ``running``, ``stopped`` or ``dead: <why>`` (new events then get 503 until
        the listener is restarted).
        """
        return {
            "url": self.url if self.port is not None else None,
            "running": self.running,
            "dispatcher": self.dispatcher.state,
            "sources": {name: dict(src.counts) for name, src in self._sources.items()},
            "rejected": dict(self.app.counts),
            "status": self.store.status_counts() if self.store.exists else {},
            "commits": self.store.commits,
            "recovered": self.recovered,
            "handlers_busy": self.dispatcher.busy,
            "pruned": self.pruned,
            "alerts": None if self.alert is None else {"sent": self.alert.sent, "failed": self.alert.failed},
        }

    def rejections(self, limit: int = 50) -> list[dict[str, Any]]:
        """The most recent refused requests (time, source, status, reason, client), newest last."""
        return self.app.recent_rejections(limit)

    def replay(
        self,
        event: int | str | None = None,
        *,
        event_ids: Sequence[int | str] | None = None,
        source: str | None = None,
        since: float | datetime | timedelta | str | None = None,
        status: str | None = None,
        handler: str | None = None,
    ) -> list[int]:
        """Run handlers again on stored events (nothing is stored again); return the row ids.

        Pick one ``event`` (row id, or the provider's event id), several ``event_ids``, or every
        event of a ``source`` / received ``since`` / with a ``status`` (``"dead"`` replays the dead
        letters). ``handler`` (its function name) re-runs only that handler. Values memoised with
        ``event.memo`` are reused, so an AI call is not paid twice.

        Examples
        --------
        >>> hook.replay(status="dead", handler="push_to_crm")                         # doctest: +SKIP
        [3, 7]
        """
        picked = [event] if event is not None else list(event_ids) if event_ids is not None else None
        rows: list[tuple[int, str, str | None]] = []
        if picked is not None:
            for one in picked:
                found = self.store.find(one) if self.store.exists else None
                if found is None:
                    raise WebhookError(f"no stored event {one!r}")
                rows.append(found)
            ids = [r[0] for r in rows]
            rows = [
                r
                for r in self.store.select(
                    ids=ids, source=source, status=status, since=None if since is None else as_epoch(since)
                )
            ]
        elif source is None and since is None and status is None:
            raise WebhookError("say what to replay: an event, event_ids=, source=, since= or status=")
        elif self.store.exists:
            rows = self.store.select(
                source=source, status=status, since=None if since is None else as_epoch(since)
            )
        return self.dispatcher.replay(rows, handler)

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """Block until no event is pending, processing or due for a retry; False on timeout.

        Pending events whose handler is not registered (after a restart) keep it False until the
        handler is registered again.
        """
        return self.dispatcher.wait_idle(timeout)

    def simulate(
        self,
        source: str,
        payload: Any,
        *,
        headers: dict[str, str] | None = None,
        content_type: str | None = None,
        event_id: str | None = None,
        timeout: float = 10.0,
    ) -> httpx.Response:
        """Sign ``payload`` with the source's first secret as its provider would and POST it here.

        ``payload`` is a dict/list (sent as JSON; for Twilio a dict is sent as a form), a str or
        bytes. For HubSpot v3 and Twilio the signature covers ``public_url`` when it is set, exactly
        like the real provider. Returns the ``httpx.Response``.

        Examples
        --------
        >>> hook.simulate("stripe", {"id": "evt_1", "type": "invoice.paid"}).json()     # doctest: +SKIP
        {'ok': True}
        """
        src = self._sources.get(source)
        if src is None:
            raise ConfigError(f"unknown source {source!r}")
        return self._simulator.post(
            src,
            payload,
            self.url_for(source),
            headers=headers,
            content_type=content_type,
            event_id=event_id,
            timeout=timeout,
        )

    def widget(self, interval: float = 1.0) -> Any:
        """A live ipywidgets panel of this listener, refreshed every ``interval`` seconds.

        Needs ``aikit[notebook]``; the panel is :class:`aikit.widgets.webhooks.WebhookMonitor`,
        reached through :func:`aikit.webhooks.monitor.open_monitor`. The plain HTML view (``hook``
        as the last line of a cell) needs nothing.

        Examples
        --------
        >>> hook.widget()                                                              # doctest: +SKIP
        """
        return open_monitor(self, interval)

    def _redact(self, text: str) -> str:
        return redact_secrets(self._sources, text, extra=self._alert_secrets)

    def _prepare(self, event: Event) -> Event | None:
        """The event's source filter (None: filtered out) and transform, before its handlers."""
        src = self._sources.get(event.source)
        if src is None:
            return event
        if src.filter is not None and not src.filter(event):
            return None
        if src.transform is not None:
            return event.with_payload(src.transform(event))
        return event

    def _dead_letter(self, letter: DeadLetter) -> None:
        if self._on_dead is not None:
            try:
                self._on_dead(letter)
            finally:
                if self.alert is not None:
                    self.alert(letter)
        elif self.alert is not None:
            self.alert(letter)

    def _start_pruner(self) -> None:
        if self.retention is None:
            return
        self._pruning.clear()
        days = float(self.retention)

        def prune() -> None:
            while True:
                try:
                    self.pruned += self.store.prune(time.time() - days * 86400.0)
                except Exception as exc:  # the store closed under us: try again next round
                    log.debug("webhook pruning failed: %s", exc)
                if self._pruning.wait(PRUNE_EVERY_S):
                    return

        self._pruner = threading.Thread(target=prune, name="aikit-webhook-pruner", daemon=True)
        self._pruner.start()

    def __repr__(self) -> str:
        where = self.url if self.port is not None else "not started"
        state = "running" if self.running else "stopped"
        if self.running and not self.dispatcher.healthy:
            state += f", dispatcher {self.dispatcher.state} (new events get 503; restart the listener)"
        return f"<WebhookListener {where} {state} sources={self.sources}>"

    def _repr_html_(self) -> str:
        return summary_html(
            url=self.url if self.port is not None else None,
            running=self.running,
            port=self.port,
            store=self.store,
            sources=self._sources,
            rejections=self.rejections(10),
        )

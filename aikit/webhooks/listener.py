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
    hook.stats(); hook.replay(3); hook.events(status="dead"); hook.widget()

The server is uvicorn (httptools, uvloop) on its own event loop in a daemon thread; it never prints.
Each request is verified on its raw bytes, stored in SQLite (WAL, ``synchronous=FULL``, group commit)
and only then acknowledged. Handlers run on worker threads (:mod:`aikit.webhooks.handlers`).
To receive from the internet, see :mod:`aikit.webhooks.hosting` (tunnels; why JupyterHub/Binder
``/proxy/<port>/`` URLs must never be handed to a provider).
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import logging
import socket
import threading
import time
import weakref
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aikit.exceptions import ConfigError, WebhookError
from aikit.settings import settings
from aikit.webhooks.app import HookApp, RateLimit, Source
from aikit.webhooks.frame import events_frame, query_events
from aikit.webhooks.handlers import Dispatcher, Event, Handler
from aikit.webhooks.hosting import detect_hosting
from aikit.webhooks.sign import encode_payload, sign
from aikit.webhooks.store import Store
from aikit.webhooks.verify import HmacSpec, SourceConfig, Verifier
from aikit.webhooks.view import render_html

if TYPE_CHECKING:
    import httpx
    import pandas as pd

__all__ = ["WebhookListener"]

log = logging.getLogger("aikit.webhooks")
MiB = 1024 * 1024
_LIVE: weakref.WeakSet[WebhookListener] = weakref.WeakSet()
_LIVE_LOCK = threading.Lock()
_ATEXIT = False


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
    max_attempts : int
        Handler runs before an event is ``dead``.
    retry_base, retry_cap, retry_min : float
        Handler retry backoff (seconds): full jitter in ``[retry_min, min(cap, base * 2**n)]``.

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
        max_attempts: int = 5,
        retry_base: float = 1.0,
        retry_cap: float = 300.0,
        retry_min: float = 0.0,
    ) -> None:
        self.host = host
        self._requested_port = int(port)
        self.port: int | None = None
        if isinstance(store, Store):
            self.store = store
        else:
            self.store = Store(Path(store) if store is not None else settings().webhooks_path)
        self._sources: dict[str, Source] = {}
        self.dispatcher = Dispatcher(
            self.store,
            workers=workers,
            max_attempts=max_attempts,
            retry_base=retry_base,
            retry_cap=retry_cap,
            retry_min=retry_min,
            redact=self._redact,
        )
        self.app = HookApp(self.store, self._sources, self.dispatcher.wants, self.dispatcher.wake)
        self._thread: threading.Thread | None = None
        self._server: Any = None
        self._error: BaseException | None = None
        self._lock = threading.RLock()
        self.recovered = 0
        self._client: httpx.Client | None = None

    # -- configuration -----------------------------------------------------------------------------
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
            Requests per second for this source before answering 429 with Retry-After.
        tolerance : float, optional
            Timestamp window in seconds, both directions (default 300; Linear 60).
        hubspot_versions : tuple of str
            Accepted HubSpot signature versions; ``v1``/``v2`` carry no timestamp (opt-in only).
        hmac : HmacSpec or dict, optional
            For ``scheme="hmac"``: header, algorithm, encoding, prefix, template, ...

        Examples
        --------
        >>> hook.add_source("acme", scheme="hmac", secret="s",                        # doctest: +SKIP
        ...                 hmac={"header": "X-Acme-Signature", "prefix": "sha256="})
        """
        if not name or "/" in name:
            raise ConfigError("a source name must be non-empty and contain no '/'")
        if secrets is not None and secret is not None:
            raise ConfigError("pass secret= or secrets=, not both")
        values = tuple(secrets) if secrets is not None else ((secret,) if secret else ())
        if not values:
            raise ConfigError(f"source {name!r} needs secret= (or secrets=[...] during a rotation)")
        spec = HmacSpec(**hmac) if isinstance(hmac, dict) else hmac
        config = SourceConfig(
            name,
            scheme,
            values,
            tolerance=tolerance,
            public_url=public_url,
            hubspot_versions=tuple(hubspot_versions),
            github_sha1=github_sha1,
            hmac=spec,
        )
        limiter = None
        if rate_limit is not None:
            rate, burst = rate_limit if isinstance(rate_limit, tuple) else (rate_limit, None)
            limiter = RateLimit(rate, burst)
        redact = frozenset({spec.header} if spec else ())
        self._sources[name] = Source(config, Verifier(config), int(max_body), limiter, redact)
        return self

    @property
    def sources(self) -> list[str]:
        return list(self._sources)

    def on(
        self, source: str, event_type: str = "*", *, max_attempts: int | None = None
    ) -> Callable[[Callable[[Event], Any]], Callable[[Event], Any]]:
        """Decorator: run the function for each stored event of ``source`` matching ``event_type``.

        ``"invoice"`` matches ``invoice`` and ``invoice.paid``; ``"*"`` matches everything. The
        function gets an :class:`~aikit.webhooks.handlers.Event`; its return value is recorded.
        Async functions run on aikit's loop thread. Wrap AI calls in ``event.memo(...)``.

        Examples
        --------
        >>> @hook.on("stripe", "invoice.paid")                                         # doctest: +SKIP
        ... def paid(event):
        ...     return event.payload["data"]["object"]["amount_paid"]
        """

        def register(fn: Callable[[Event], Any]) -> Callable[[Event], Any]:
            name = f"{source}:{event_type}:{getattr(fn, '__name__', repr(fn))}"
            self.dispatcher.add(Handler(source, event_type, fn, name, max_attempts))
            return fn

        return register

    def memo(self, event: Event, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """``event.memo`` keyed by the function's name: run once per event, stored with it."""
        return event.memo(getattr(fn, "__qualname__", repr(fn)), fn, *args, **kwargs)

    # -- lifecycle ---------------------------------------------------------------------------------
    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

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
            self._replace_others()
            self.store.open()
            self.recovered = self.store.recover()
            sock = self._bind()
            self.port = sock.getsockname()[1]
            self._error = None
            self._thread = threading.Thread(
                target=self._serve, args=(sock,), name="aikit-webhooks", daemon=True
            )
            self._thread.start()
            deadline = time.monotonic() + timeout
            while not (self._server is not None and self._server.started):
                if not self._thread.is_alive() or time.monotonic() > deadline:
                    self._stop_parts()
                    raise WebhookError(f"the webhook listener failed to start: {self._error!r}")
                time.sleep(0.005)
            self.dispatcher.start()
            global _ATEXIT
            with _LIVE_LOCK:
                _LIVE.add(self)
                if not _ATEXIT:
                    atexit.register(_stop_all)
                    _ATEXIT = True
            logging.getLogger("aikit.webhooks").addHandler(logging.NullHandler())
            return self

    def _replace_others(self) -> None:
        with _LIVE_LOCK:
            others = [
                o
                for o in _LIVE
                if o is not self
                and o.running
                and (
                    o.store.path.resolve() == self.store.path.resolve()
                    or (self._requested_port and (o.host, o.port) == (self.host, self._requested_port))
                )
            ]
        for other in others:
            log.info("stopping the previous listener on port %s (same store or port)", other.port)
            other.stop()

    def _bind(self) -> socket.socket:
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((self.host, self._requested_port))
            sock.listen(2048)
        except OSError as exc:
            sock.close()
            self.store.close()
            raise WebhookError(
                f"cannot listen on {self.host}:{self._requested_port}: {exc.strerror}; "
                "pick another port or port=0"
            ) from exc
        return sock

    def _serve(self, sock: socket.socket) -> None:
        try:
            import uvicorn

            for name in ("uvicorn", "uvicorn.error", "uvicorn.access", "uvicorn.asgi"):
                logger = logging.getLogger(name)
                if not logger.handlers:
                    logger.addHandler(logging.NullHandler())
            try:
                import uvloop

                loop: asyncio.AbstractEventLoop = uvloop.new_event_loop()
                http = "httptools"
            except ImportError:  # pragma: no cover - uvloop is in the serve extra
                loop = asyncio.new_event_loop()
                http = "auto"
            asyncio.set_event_loop(loop)
            config = uvicorn.Config(
                self.app,
                log_config=None,
                access_log=False,
                lifespan="off",
                http=http,
                backlog=2048,
                timeout_keep_alive=30,
                timeout_graceful_shutdown=3,
                server_header=False,
            )
            self._server = uvicorn.Server(config)
            loop.run_until_complete(self._server.serve(sockets=[sock]))
            loop.close()
        except BaseException as exc:  # never print from this thread; start() reports it
            self._error = exc
            log.debug("webhook server stopped: %r", exc)
        finally:
            sock.close()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop serving, let running handlers finish (up to ``timeout``) and close the store."""
        with self._lock:
            self._stop_parts(timeout)
            with _LIVE_LOCK:
                _LIVE.discard(self)

    def _stop_parts(self, timeout: float = 10.0) -> None:
        server, thread = self._server, self._thread
        if server is not None:
            server.should_exit = True
        if thread is not None:
            thread.join(timeout)
        self._server, self._thread = None, None
        if self._client is not None:
            self._client.close()
            self._client = None
        self.dispatcher.stop(timeout)
        self.store.close()

    def __enter__(self) -> WebhookListener:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- notebook API ------------------------------------------------------------------------------
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
        if not self._has_store():
            return events_frame([], {})
        return query_events(
            self.store, source=source, status=status, since=since, event_type=event_type, limit=limit
        )

    def stats(self) -> dict[str, Any]:
        """Counters: per source (received, stored, duplicates, rejected by reason, ...) and per status."""
        by_status = self.store.status_counts() if self._has_store() else {}
        return {
            "url": self.url if self.port is not None else None,
            "running": self.running,
            "sources": {name: dict(src.counts) for name, src in self._sources.items()},
            "rejected": dict(self.app.counts),
            "status": by_status,
            "commits": self.store.commits,
            "recovered": self.recovered,
            "handlers_busy": self.dispatcher.busy,
        }

    def rejections(self, limit: int = 50) -> list[dict[str, Any]]:
        """The most recent refused requests (time, source, status, reason, client), newest last."""
        return [
            {
                "at": datetime.fromtimestamp(r.at, UTC),
                "source": r.source,
                "status": r.status,
                "reason": r.reason,
                "client": r.client,
            }
            for r in list(self.app.rejections)[-limit:]
        ]

    def replay(self, event_id: int | str) -> int:
        """Run the handlers of a stored event again (row id, or the provider's event id).

        Values memoised with ``event.memo`` are reused, so an AI call is not paid twice. Returns the
        row id.
        """
        return self.dispatcher.replay(event_id)

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
        import httpx

        src = self._sources.get(source)
        if src is None:
            raise ConfigError(f"unknown source {source!r}")
        body, ctype = encode_payload(src.config.scheme, payload, content_type)
        local = self.url_for(source)
        signed_url = src.config.public_url.split("?", 1)[0] if src.config.public_url else local
        signed = sign(src.config, body, url=signed_url, event_id=event_id, content_type=ctype)
        send_headers = {"content-type": ctype, **signed.headers, **(headers or {})}
        target = f"{local}?{signed.query}" if signed.query else local
        client = self._client
        if client is None:
            client = self._client = httpx.Client()
        return client.post(target, content=body, headers=send_headers, timeout=timeout)

    # -- views -------------------------------------------------------------------------------------
    def widget(self, interval: float = 1.0) -> Any:
        """A live ipywidgets panel of this listener, refreshed every ``interval`` seconds.

        Needs ``aikit[notebook]``. The plain HTML view (``hook`` as the last line of a cell) needs
        nothing.

        Examples
        --------
        >>> hook.widget()                                                              # doctest: +SKIP
        """
        from aikit.widgets.webhooks import WebhookMonitor

        return WebhookMonitor(self, interval)

    def _has_store(self) -> bool:
        """True once the store file exists (reading never creates it or starts its writer)."""
        return self.store.exists

    def _redact(self, text: str) -> str:
        for src in self._sources.values():
            for secret in src.config.secrets:
                if len(secret) >= 4:
                    text = text.replace(secret, "***")
        return text

    def __repr__(self) -> str:
        where = self.url if self.port is not None else "not started"
        state = "running" if self.running else "stopped"
        return f"<WebhookListener {where} {state} sources={self.sources}>"

    def _repr_html_(self) -> str:
        recent: list[dict[str, Any]] = []
        if self.store.path.exists():
            try:
                recent = self.store.recent(10)
            except Exception:  # the view must render even if the store is unreadable
                recent = []
        sources = [
            {
                "name": name,
                "scheme": src.config.scheme,
                "url": f"{self.url}/hooks/{name}" if self.port is not None else "(not started)",
                "public_url": src.config.public_url or "",
                "secrets": f"{len(src.config.secrets)} (hidden)",
                "counts": dict(src.counts),
            }
            for name, src in self._sources.items()
        ]
        hosting = detect_hosting()
        return render_html(
            url=self.url if self.port is not None else None,
            running=self.running,
            store=str(self.store.path),
            sources=sources,
            recent=recent,
            rejections=self.rejections(10),
            warning=hosting.warning,
            port=self.port,
        )


def _stop_all() -> None:
    with _LIVE_LOCK:
        live = list(_LIVE)
    for listener in live:
        with contextlib.suppress(Exception):  # best effort at interpreter exit
            listener.stop(timeout=3.0)

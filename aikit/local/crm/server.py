"""``DemoCRM``: the demo HubSpot-style CRM running in a background thread, for notebooks and tests.

>>> from aikit.local.crm import DemoCRM
>>> with DemoCRM(seed=0) as server:                        # doctest: +SKIP
...     crm = aikit.HubSpot(token=server.token, base_url=server.url)
...     tickets = crm.fetch("tickets", properties=["subject", "content"])

The server runs in a daemon thread through :class:`aikit._serving.AppThread` (start, wait until ready,
serve, stop, join; bound to 127.0.0.1, port 0 picks a free port); ``aikit serve crm`` runs the same
thread and waits for Ctrl-C.
"""

from __future__ import annotations

import asyncio
import secrets
import sqlite3
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Any

from aikit._serving import AppThread, wait_until_interrupted
from aikit.exceptions import ConfigError, CRMError
from aikit.local.crm.app import AppConfig, Expired, TokenValidator, build_app
from aikit.local.crm.schema import EVENT_TYPES
from aikit.local.crm.store import Store
from aikit.local.crm.webhooks import WebhookDispatcher

__all__ = ["DEMO_APP_ID", "DemoCRM", "oauth_validator"]

DEMO_APP_ID = 42


def oauth_validator(issuer: Any) -> TokenValidator:
    """Accept the access tokens a local :class:`~aikit.local.oauth.server.OAuthServer` issued.

    An expired one gets HubSpot's 401 ``EXPIRED_AUTHENTICATION`` (so clients know to refresh), a
    revoked or unknown one 401 ``INVALID_AUTHENTICATION``.
    """

    def check(token: str) -> bool | Expired:
        issued = issuer.store.by_access(token)
        if issued is None or issued.is_revoked():
            return False
        if issued.is_expired():
            return Expired(float(issued.issued_at + issued.expires_in))
        return True

    return check


class DemoCRM:
    """A local, SQLite-backed CRM speaking a faithful subset of HubSpot's CRM v3 API.

    Parameters
    ----------
    token : str, optional
        The Bearer token clients must send. Default: a fresh random ``demo-...`` token.
    db : str or Path, optional
        SQLite file (durable across restarts). Default: in memory.
    seed : int or None
        Seed of the deterministic demo dataset (50 companies, 220 contacts, 640 tickets, notes,
        owners and about 90 deals in the sales pipeline), loaded when the store is empty. ``None``
        starts with an empty CRM (pipelines included, no owners).
    port : int
        TCP port on 127.0.0.1; 0 picks a free one (read it back from ``url``).
    rate_limit : int or None
        Requests per rolling window per token (HubSpot's free tier: 100 per 10 s). None disables it.
    window_s : float
        The rolling window length (HubSpot: 10 s).
    search_per_second : int or None
        The separate search bucket (HubSpot: 5 per second).
    search_cap : int
        How many results a search can reach (HubSpot: 10,000; ``after`` past it is a 400). Small
        values let tests and benchmarks cross the cap with little data.
    token_validator : callable, optional
        ``token -> bool`` (or :class:`~aikit.local.crm.app.Expired`), accepted in addition to
        ``token``: for example OAuth access tokens issued by a local authorization server.
    oauth : OAuthServer, optional
        Accept the access tokens this local authorization server issues; expired ones get HubSpot's
        401 ``EXPIRED_AUTHENTICATION`` (:func:`oauth_validator`). Not together with ``token_validator``.
    send_retry_after : bool
        Send ``Retry-After`` with 429s (HubSpot's behaviour here is not documented for certain).
    strict : bool
        Reject writes to undefined properties (HubSpot does), so custom properties must be created.
    webhook_attempts, webhook_backoff_s :
        Delivery attempts per event batch and the first retry delay (doubling).

    Examples
    --------
    >>> server = DemoCRM(token="demo-token", rate_limit=100).start()     # doctest: +SKIP
    >>> server.url                                                        # doctest: +SKIP
    'http://127.0.0.1:41235'
    >>> server.subscribe("http://127.0.0.1:8000/hooks", ["ticket.creation"], "s3cret")  # doctest: +SKIP
    >>> server.stop()                                                     # doctest: +SKIP
    """

    def __init__(
        self,
        token: str | None = None,
        db: str | Any = None,
        seed: int | None = 0,
        port: int = 0,
        rate_limit: int | None = 100,
        *,
        window_s: float = 10.0,
        search_per_second: int | None = 5,
        search_cap: int = 10_000,
        token_validator: TokenValidator | None = None,
        oauth: Any = None,
        send_retry_after: bool = True,
        strict: bool = True,
        webhook_attempts: int = 5,
        webhook_backoff_s: float = 1.0,
    ) -> None:
        for name, value in (("rate_limit", rate_limit), ("search_per_second", search_per_second)):
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
                raise ConfigError(
                    f"{name} must be a whole number of requests >= 1, or None (off); got {value!r}"
                )
        if not isinstance(window_s, int | float) or window_s <= 0:
            raise ConfigError(f"window_s must be a positive number of seconds, got {window_s!r}")
        self.token = token or f"demo-{secrets.token_urlsafe(18)}"
        self.db = ":memory:" if db is None else str(db)
        self.seed, self.port = seed, port
        try:
            if self.db != ":memory:":
                Path(self.db).expanduser().parent.mkdir(parents=True, exist_ok=True)
            self.store = Store(self.db, strict=strict)
        except (OSError, sqlite3.Error) as exc:
            raise ConfigError(f"cannot open the demo CRM database {self.db!r}: {exc}") from exc
        if self.store.get_meta("portal_id") is None:  # a new CRM is a new portal (clients key state by it)
            self.store.set_meta("portal_id", str(secrets.randbelow(90_000_000) + 10_000_000))
        if seed is not None and self.store.get_meta("seeded") is None:
            from aikit.local.crm.seed import load

            load(self.store, seed=seed)
        if search_cap < 1:
            raise ConfigError("search_cap must be at least 1")
        if oauth is not None:
            if token_validator is not None:
                raise ConfigError("pass either oauth= or token_validator=, not both")
            token_validator = oauth_validator(oauth)
        self.dispatcher = WebhookDispatcher(
            self.store, portal_id=self.portal_id, max_attempts=webhook_attempts, backoff_s=webhook_backoff_s
        )
        self.store.listener = self.dispatcher.on_change
        self.config = AppConfig(
            token=self.token,
            token_validator=token_validator,
            rate_limit=rate_limit,
            window_s=window_s,
            search_per_second=search_per_second,
            send_retry_after=send_retry_after,
            search_cap=search_cap,
        )
        self.app = build_app(self.store, self.config, self.dispatcher)
        self._thread: AppThread | None = None

    def __repr__(self) -> str:
        where = self.url if self.running else "not started"
        return f"<DemoCRM {where} db={self.db!r} {'running' if self.running else 'stopped'}>"

    @property
    def portal_id(self) -> int:
        """This CRM's portal id (random per new database, kept in it; ``/account-info/v3/details``)."""
        return int(self.store.get_meta("portal_id") or 0)

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT`` (the base URL for clients)."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.running

    @property
    def stats(self) -> dict[str, int]:
        """Counters: ``requests``, ``429`` (rate-limited), ``401`` (bad token), ``search`` (answered
        searches) and ``search_results`` (objects they returned)."""
        return dict(self.config.stats)

    @property
    def webhook_deliveries(self) -> list[dict[str, Any]]:
        """The last 1,000 delivery attempts: app, url, attempt, events, status, error."""
        return list(self.dispatcher.deliveries)

    def start(self) -> DemoCRM:
        """Serve in a daemon thread and return once the server accepts connections.

        Raises ``ConfigError`` when the port is taken, ``CRMError`` when the server does not start.
        """
        if self.running:
            return self
        thread = AppThread(self.app, self.port, name="aikit-demo-crm", error=CRMError).start()
        self._thread, self.port = thread, thread.port
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """Deliver queued webhooks briefly, stop serving and join the thread."""
        if self._thread is not None:
            self._thread.stop(timeout)
        self._thread = None

    def serve_forever(self, announce: Callable[[str], None] | None = None) -> None:
        """Serve until Ctrl-C / SIGTERM, then stop and close the store (used by ``aikit serve crm``).

        ``announce`` is called with the URL once the server is ready (port 0 picks a free one).
        """
        self.start()
        try:
            if announce is not None:
                announce(self.url)
            wait_until_interrupted(lambda: self.running)
        finally:
            self.stop()
            self.store.close()

    def subscribe(
        self,
        target_url: str,
        events: list[str] | str,
        client_secret: str,
        signature_version: str = "v3",
        *,
        property_name: str | None = None,
        app_id: int = DEMO_APP_ID,
    ) -> list[dict[str, Any]]:
        """Send ``events`` (e.g. ``"ticket.creation"``, ``"contact.propertyChange"``) to ``target_url``.

        The same as ``PUT /webhooks/v3/{appId}/settings`` plus ``POST .../subscriptions``. Deliveries
        are JSON arrays signed with ``X-HubSpot-Signature-v3`` (and ``X-HubSpot-Signature`` v1/v2 when
        ``signature_version`` asks for it). ``property_name`` narrows ``propertyChange`` events;
        without it every property change is sent.

        Returns
        -------
        list of dict
            The created subscriptions (``id``, ``eventType``, ``active``, ...).
        """
        names = [events] if isinstance(events, str) else list(events)
        unknown = [e for e in names if e not in EVENT_TYPES]
        if unknown:
            raise ConfigError(
                f"unknown webhook event types {unknown}; use e.g. 'ticket.creation', 'contact.propertyChange'"
            )
        if signature_version not in ("v1", "v2", "v3"):
            raise ConfigError("signature_version must be 'v1', 'v2' or 'v3'")
        self.store.webhooks.set_app(app_id, target_url, client_secret, signature_version)
        return [self.store.webhooks.add_subscription(app_id, e, property_name, True) for e in names]

    def flush_webhooks(self, timeout: float = 5.0) -> None:
        """Wait until queued webhook deliveries (and their retries) have finished, up to ``timeout``."""
        loop = self.dispatcher.loop
        if loop is None or not self.running:
            return

        asyncio.run_coroutine_threadsafe(self.dispatcher.idle(timeout), loop).result(timeout + 1.0)

    def __enter__(self) -> DemoCRM:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

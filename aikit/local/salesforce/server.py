"""``DemoSalesforce``: a demo Salesforce org over HTTPS on 127.0.0.1, in a background thread.

>>> import aikit
>>> with aikit.DemoSalesforce() as org:                                  # doctest: +SKIP
...     sf = aikit.Salesforce(instance_url=org.url, auth=org.token, ca_file=org.ca_file)
...     cases = sf.fetch("SELECT Id, Subject, Account.Name FROM Case")

The org serves Salesforce's REST subset (versions, query/queryAll with ``nextRecordsUrl``, sObject
describe and CRUD, upsert by external id, sObject Collections, Bulk API 2.0 query jobs, limits) and the
OAuth token endpoint (JWT bearer, client credentials, web server flow with PKCE, refresh), from SQLite,
seeded with the demo CRM's companies. TLS uses a local CA made once under ``$AIKIT_HOME``
(:mod:`aikit.local.salesforce.tls`); clients trust :attr:`DemoSalesforce.ca_file`, nothing turns
verification off. It runs on :class:`aikit._serving.AppThread`; ``aikit serve salesforce`` runs the same.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Any

from aikit._serving import AppThread, wait_until_interrupted
from aikit.exceptions import ConfigError, CRMError
from aikit.local.salesforce.oauth import ConnectedApps, Sessions, User
from aikit.local.salesforce.org import ApiBudget, Org
from aikit.local.salesforce.store import Store, custom_field
from aikit.local.salesforce.tls import TlsFiles, ensure_certificates

__all__ = ["DemoSalesforce"]


class DemoSalesforce:
    """A local demo Salesforce org that simple-salesforce and :class:`aikit.Salesforce` accept.

    Parameters
    ----------
    db : str or Path, optional
        SQLite file (0600; durable across restarts). Default: in memory.
    seed : int or None
        Seed of the demo dataset (the demo CRM's 50 companies as Accounts, its contacts, its tickets as
        Cases, plus Opportunities), loaded when the store is empty. ``None`` starts empty.
    cases : int, optional
        How many Cases to seed (default: one per demo CRM ticket, 640).
    port : int
        TCP port on 127.0.0.1; 0 picks a free one.
    api_budget : int or None
        API requests per ``budget_window_s`` (a Developer Edition org: 15,000 per 24 h). None: unlimited.
    budget_window_s : float
        The budget's rolling window (Salesforce: 24 hours; tests use seconds).
    session_ttl_s : float
        Session lifetime (Salesforce's default: 2 hours); :meth:`expire_sessions` ends them all now.
    page_size : int
        Records per query page (Salesforce: up to 2,000; smaller pages exercise ``nextRecordsUrl``).
    bulk_delay_s : float
        How long a Bulk API 2.0 query job stays ``InProgress``.
    consumer_secret : str, optional
        The connected app's secret (default: random, see :attr:`consumer_secret`).
    tls_dir : Path, optional
        Where the CA and certificate live (default ``$AIKIT_HOME/salesforce/tls``).

    Examples
    --------
    >>> org = DemoSalesforce(api_budget=1000).start()                      # doctest: +SKIP
    >>> org.url, org.ca_file                                               # doctest: +SKIP
    ('https://127.0.0.1:41235', PosixPath('.../salesforce/tls/ca.pem'))
    >>> org.stop()                                                         # doctest: +SKIP
    """

    def __init__(
        self,
        db: str | Path | None = None,
        seed: int | None = 0,
        *,
        cases: int | None = None,
        port: int = 0,
        api_budget: int | None = 15000,
        budget_window_s: float = 86400.0,
        session_ttl_s: float = 7200.0,
        page_size: int = 2000,
        bulk_delay_s: float = 0.0,
        consumer_secret: str | None = None,
        tls_dir: Path | None = None,
    ) -> None:
        if not 1 <= page_size <= 2000:
            raise ConfigError("page_size must be between 1 and 2000 (Salesforce's largest query page)")
        self.db = ":memory:" if db is None else str(Path(db).expanduser())
        self.port = port
        try:
            if self.db != ":memory:":
                Path(self.db).parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            self.store = Store(self.db)
        except (OSError, sqlite3.Error) as exc:
            raise ConfigError(f"cannot open the demo org's database {self.db!r}: {exc}") from exc
        self.tls: TlsFiles = ensure_certificates(tls_dir)
        self.apps = ConnectedApps.default(consumer_secret)
        self._ensure_users()
        if seed is not None and self.store.get_meta("seeded") is None:
            from aikit.local.salesforce.seed import load

            load(self.store, seed=seed, cases=cases)
        self.org = Org(
            self.store,
            self.apps,
            Sessions(session_ttl_s),
            ApiBudget(api_budget, budget_window_s),
            page_size=page_size,
            bulk_delay_s=bulk_delay_s,
        )
        from aikit.local.salesforce.app import build_app

        self.app = build_app(self.org, lambda: self.url)
        self._thread: AppThread | None = None
        self._token: str | None = None
        self._jwt_key: Path | None = None

    def _ensure_users(self) -> None:
        if self.store.count("User"):
            return
        for user in self.apps.users.values():
            first, _, last = user.display_name.partition(" ")
            self.store.insert(
                "User",
                {
                    "Username": user.username,
                    "FirstName": first,
                    "LastName": last,
                    "Email": user.username,
                    "Name": user.display_name,
                    "IsActive": True,
                },
            )

    def __repr__(self) -> str:
        where = self.url if self.running else "not started"
        return f"<DemoSalesforce {where} db={self.db!r} {'running' if self.running else 'stopped'}>"

    @property
    def url(self) -> str:
        """``https://127.0.0.1:PORT``: the instance URL and the login URL."""
        return f"https://127.0.0.1:{self.port}"

    instance_url = url
    login_url = url

    @property
    def ca_file(self) -> Path:
        """The demo CA's certificate: give it to clients (``verify=``/``ca_file=``) to trust the org."""
        return self.tls.ca_file

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.running

    @property
    def consumer_key(self) -> str:
        """The demo connected app's consumer key (client id)."""
        return self.apps.default_app.consumer_key

    @property
    def consumer_secret(self) -> str:
        """The demo connected app's consumer secret."""
        return self.apps.default_app.consumer_secret

    @property
    def username(self) -> str:
        """The integration user (client credentials and JWT logins act as this user)."""
        return self.apps.default_app.run_as

    @property
    def analyst(self) -> User:
        """The demo analyst (web server logins and ``password`` grants); ``analyst.password`` is hers."""
        found = self.apps.user("analyst@demo-org.example")
        assert found is not None
        return found

    @property
    def token(self) -> str:
        """A session id for the integration user, minted on first read (like a copied access token)."""
        if self._token is None or self.org.sessions.validate(self._token) is None:
            self._token, _ = self.org.sessions.issue(
                self.apps.users[self.username.lower()].user_id, self.consumer_key
            )
        return self._token

    @property
    def stats(self) -> dict[str, int]:
        """Counters: ``requests``, ``401``, ``403_limit``, ``queries``, ``bulk_jobs``, ``token_<grant>``..."""
        return dict(self.org.stats)

    @property
    def api_usage(self) -> tuple[int, int]:
        """``(used, max)`` of the API budget right now."""
        return self.org.budget.used(), self.org.budget.limit

    def jwt_private_key(self) -> Path:
        """A private key whose certificate the demo connected app trusts for JWT bearer logins (0600).

        Made on first call under ``$AIKIT_HOME/salesforce/jwt`` (the "certificate uploaded to the
        connected app" step of a real org's setup).
        """
        if self._jwt_key is None:
            from cryptography.hazmat.primitives import serialization
            from cryptography.hazmat.primitives.asymmetric import rsa

            directory = self.tls.directory.parent / "jwt"
            directory.mkdir(parents=True, exist_ok=True, mode=0o700)
            path = directory / "connected-app-key.pem"
            if not path.exists():
                key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
                data = key.private_bytes(
                    serialization.Encoding.PEM,
                    serialization.PrivateFormat.PKCS8,
                    serialization.NoEncryption(),
                )
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
                try:
                    os.write(fd, data)
                finally:
                    os.close(fd)
            loaded = serialization.load_pem_private_key(path.read_bytes(), password=None)
            public = loaded.public_key().public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
            self.register_certificate(public.decode())
            self._jwt_key = path
        return self._jwt_key

    def register_certificate(self, pem: str) -> None:
        """Trust ``pem`` (a certificate or public key) for JWT assertions signed for the connected app."""
        if pem not in self.apps.default_app.certificates:
            self.apps.default_app.certificates.append(pem)

    def expire_sessions(self) -> int:
        """End every live session now (the next call with one gets ``INVALID_SESSION_ID``)."""
        return self.org.sessions.expire_all()

    def fail_next(self, n: int = 1, status: int = 503) -> None:
        """Answer the next ``n`` API calls with ``status`` (503 ``SERVER_UNAVAILABLE`` by default)."""
        with self.org.lock:
            self.org.faults.extend([status] * n)

    def spend_api(self, n: int) -> None:
        """Use ``n`` requests of the API budget, as another integration sharing the org would."""
        self.org.budget.spend(n)

    def add_field(self, object_name: str, name: str, ftype: str = "string", **options: Any) -> dict[str, Any]:
        """Add a custom field (``AI_Urgency__c``...), as an admin would in Setup; kept in ``db``."""
        if not name.endswith("__c"):
            raise ConfigError(f"custom field names end in '__c' (got {name!r})")
        if object_name not in self.store.objects:
            raise ConfigError(
                f"the demo org has no object {object_name!r}; it has {sorted(self.store.objects)}"
            )
        if self.store.objects[object_name].field(name) is not None:
            raise ConfigError(f"{object_name} already has a field {name}")
        definition = custom_field(name, ftype, **options)
        self.store.add_field(object_name, definition)
        for record in self.store.scan(object_name, include_deleted=True):
            record.setdefault(name, False if ftype == "boolean" else None)
        return definition

    def start(self) -> DemoSalesforce:
        """Serve in a daemon thread and return once the org accepts TLS connections."""
        if self.running:
            return self
        options = {
            "ssl_certfile": str(self.tls.certfile),
            "ssl_keyfile": str(self.tls.keyfile),
        }
        thread = AppThread(self.app, self.port, name="aikit-demo-salesforce", options=options, error=CRMError)
        self._thread = thread.start()
        self.port = thread.port
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """Stop serving and join the thread (the store stays open: start again or :meth:`close`)."""
        if self._thread is not None:
            self._thread.stop(timeout)
        self._thread = None

    def close(self) -> None:
        self.stop()
        self.store.close()

    def serve_forever(self, announce: Callable[[DemoSalesforce], None] | None = None) -> None:
        """Serve until Ctrl-C / SIGTERM, then stop (``aikit serve salesforce``)."""
        self.start()
        try:
            if announce is not None:
                announce(self)
            wait_until_interrupted(lambda: self.running)
        finally:
            self.close()

    def __enter__(self) -> DemoSalesforce:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

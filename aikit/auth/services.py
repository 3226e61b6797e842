"""Configured services as plain objects: what a login panel lists, and what its buttons call.

:class:`ApiKeyService` wraps a credential variable (resolved by :func:`aikit.auth.secret`) and
:class:`OAuthService` wraps an :class:`~aikit.auth.session.OAuth2Auth`. Both report an
:class:`~aikit.auth.session.AuthStatus`; the widgets in :mod:`aikit.widgets.auth` only render these
and call their methods, so tests drive them without a browser.

>>> svc = ApiKeyService("Demo AI", "DOC_SVC_KEY")
>>> svc.submit("sk-doc-1").state
'connected'
>>> svc
ApiKeyService('Demo AI', variable='DOC_SVC_KEY', state='connected')
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aikit.auth.secrets import Secret, forget_secret, lookup_secret, secret, set_secret
from aikit.auth.session import AuthStatus, OAuth2Auth, is_remote_kernel

__all__ = ["SALESFORCE_LOGIN_URL", "ApiKeyService", "OAuthService", "salesforce_service"]


def _masked_error(exc: BaseException, value: str) -> str:
    text = f"{type(exc).__name__}: {exc}"
    return text.replace(value, "***") if value else text


class ApiKeyService:
    """An API-key credential: connected once a value resolves (session, env, .env or keyring).

    Parameters
    ----------
    label : str
        What the panel shows, e.g. ``"OpenAI"``.
    variable : str
        The variable name, e.g. ``"OPENAI_API_KEY"``.
    check : callable, optional
        ``check(value)`` validates a typed key (e.g. one cheap API call); an exception marks the
        service as "error" and the key is not stored.
    """

    kind = "api_key"

    def __init__(self, label: str, variable: str, *, check: Callable[[str], Any] | None = None) -> None:
        self.label = label
        self.variable = variable
        self.check = check
        self.last_error: str | None = None

    def status(self) -> AuthStatus:
        if self.last_error:
            return AuthStatus("error", None, self.last_error)
        found = lookup_secret(self.variable)
        if found is None:
            return AuthStatus("not connected", None, f"set {self.variable} or enter it here")
        return AuthStatus("connected", None, f"from {found.source}")

    def submit(self, value: str) -> AuthStatus:
        """Validate (optional) and keep ``value`` in this kernel's session store."""
        value = value.strip()
        if not value:
            self.last_error = "empty value: nothing was stored"
            return self.status()
        if self.check is not None:
            try:
                self.check(value)
            except Exception as exc:  # shown in the panel; the key itself is masked out of the text
                self.last_error = _masked_error(exc, value)
                return self.status()
        set_secret(self.variable, value)
        self.last_error = None
        return AuthStatus("connected", None, "entered in this session (not saved in the notebook)")

    def secret(self) -> Secret:
        """The credential, resolved without prompting."""
        return secret(self.variable, prompt=False)

    def disconnect(self) -> None:
        forget_secret(self.variable)
        self.last_error = None

    def __repr__(self) -> str:
        return f"ApiKeyService({self.label!r}, variable={self.variable!r}, state={self.status().state!r})"


class OAuthService:
    """An OAuth 2.0 connection; ``flows`` are the login buttons the panel offers.

    Default flows: device code on remote kernels (Binder, JupyterHub), otherwise PKCE then device;
    ``client_credentials`` when the client is confidential.
    """

    kind = "oauth"

    def __init__(self, label: str, auth: OAuth2Auth, *, flows: tuple[str, ...] | None = None) -> None:
        self.label = label
        self.auth = auth
        if flows is None:
            if not auth.client.is_public:
                flows = ("client_credentials",)
            elif is_remote_kernel() or not auth.client.authorize_url:
                flows = ("device",)
            else:
                flows = ("pkce", "device")
        self.flows = flows

    def status(self) -> AuthStatus:
        return self.auth.status()

    def disconnect(self) -> None:
        self.auth.logout()

    def __repr__(self) -> str:
        return f"OAuthService({self.label!r}, flows={self.flows}, state={self.status().state!r})"


#: Salesforce's production login host (``https://test.salesforce.com`` for sandboxes).
SALESFORCE_LOGIN_URL = "https://login.salesforce.com"


def salesforce_service(
    consumer_key: str,
    consumer_secret: str | Secret | None = None,
    *,
    login_url: str = SALESFORCE_LOGIN_URL,
    ca_file: str | None = None,
    persist: str | None = None,
    label: str = "Salesforce",
) -> OAuthService:
    """Salesforce for the login panel: the web server flow (PKCE) of a connected app, refreshed by itself.

    ``login_url`` is ``https://login.salesforce.com``, ``https://test.salesforce.com`` or the org's My
    Domain (the demo org's ``url``). The panel's button opens Salesforce's login page (a pasted redirect
    URL on remote kernels); afterwards ``service.auth`` signs every request and refreshes the session
    with the refresh token when Salesforce answers ``INVALID_SESSION_ID``. ``ca_file`` trusts a private
    CA (the demo org's); verification is never switched off.

    Examples
    --------
    >>> svc = salesforce_service("3MVG9-consumer-key", login_url="https://acme.my.salesforce.com")
    >>> svc.flows, svc.auth.client.token_url
    (('pkce',), 'https://acme.my.salesforce.com/services/oauth2/token')
    """
    import ssl

    import httpx

    from aikit.auth.oauth import OAuth2Client

    root = login_url.rstrip("/")
    transport = (
        httpx.AsyncHTTPTransport(verify=ssl.create_default_context(cafile=str(ca_file))) if ca_file else None
    )
    client = OAuth2Client(
        client_id=consumer_key,
        client_secret=consumer_secret,
        token_url=f"{root}/services/oauth2/token",
        authorize_url=f"{root}/services/oauth2/authorize",
        revocation_url=f"{root}/services/oauth2/revoke",
        scope="api refresh_token",
        transport=transport,
    )
    return OAuthService(label, OAuth2Auth(client, persist=persist), flows=("pkce",))

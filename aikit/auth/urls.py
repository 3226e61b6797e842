"""Credentials inside URLs: split them off, show URLs without them, keep them out of log lines.

A URL can carry a credential in two places: its user info (``https://user:KEY@host``, which httpx and
curl send as HTTP Basic) and its query (``?key=...``, ``?sig=...``, ``?access_token=...``). aikit
accepts both where a URL is accepted and shows neither: :func:`split_url` takes a URL apart once,
where it is given; its :attr:`~SplitURL.shown` form is what reprs, messages and the call log print;
:func:`redact_urls` masks both kinds in any text, and :func:`protect_logs` applies it to the log lines of
httpx and httpcore (whose ``HTTP Request: POST https://...`` INFO line prints every URL in full).

A query parameter counts as secret when its name contains ``key``, ``token``, ``secret``, ``pass``,
``sig``, ``auth`` or ``cred`` (case-insensitive); ``api-version`` and the like are kept.

>>> u = split_url("https://bot:pw-123456@API.example.com/v1?api-version=2024-10-21&key=k-123456")
>>> u.url
'https://API.example.com/v1?api-version=2024-10-21&key=k-123456'
>>> u.shown
'https://API.example.com/v1?api-version=2024-10-21&key=***'
>>> u.login
('bot', Secret(source='url', value='***'))
>>> u.secrets
('pw-123456', 'k-123456')
>>> redact_urls("GET https://u:pw@h.example/x?token=abc&page=2 failed")
'GET https://h.example/x?token=***&page=2 failed'
"""

from __future__ import annotations

import base64
import logging
import re
import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl, unquote, urlsplit, urlunsplit

from aikit.auth.secrets import Secret
from aikit.exceptions import ConfigError

if TYPE_CHECKING:  # pragma: no cover
    import httpx

__all__ = ["SECRET_PARAM", "SplitURL", "protect_logs", "redact_urls", "shown_url", "split_url"]

#: Query parameter names that hold credentials (searched, case-insensitive).
SECRET_PARAM = re.compile(r"key|token|secret|pass|sig|auth|cred", re.IGNORECASE)
_MASK = "***"
_USERINFO = re.compile(r"(?P<scheme>\b[a-zA-Z][a-zA-Z0-9+.\-]*://)[^/\s@?#\"'<>]*@")
_QUERY_SECRET = re.compile(
    r"(?P<lead>[?&;](?:[^=&#\s\"'<>]*)(?:key|token|secret|pass|sig|auth|cred)(?:[^=&#\s\"'<>]*)=)"
    r"(?P<value>[^&#\s\"'<>]+)",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class SplitURL:
    """A URL taken apart once: what to send, what to show, and the credentials it carried.

    Attributes
    ----------
    url : str
        The URL to send: the original without its user info (query kept whole, secrets included).
    shown : str
        The URL for reprs, messages and logs: no user info, secret query values as ``***``.
    login : tuple of (str, Secret), optional
        The user info as a (username, password) pair for HTTP Basic; None when there was none.
    secrets : tuple of str
        Every credential value found (the password, secret query values): what to mask in texts.
    """

    url: str
    shown: str
    login: tuple[str, Secret] | None = field(default=None, repr=False)
    secrets: tuple[str, ...] = field(default=(), repr=False)

    def basic_header(self) -> str | None:
        """``Basic <base64(user:password)>`` for the user info, or None without one."""
        if self.login is None:
            return None
        user, password = self.login
        raw = f"{user}:{password.reveal()}".encode()
        return "Basic " + base64.b64encode(raw).decode("ascii")

    def sign(self, request: httpx.Request, *, what: str) -> None:
        """Send the user info as HTTP Basic on ``request`` (nothing without one).

        Raises ``ConfigError`` when the request already carries an ``Authorization`` header (a Bearer
        key): both cannot be sent, and httpx would silently drop the key.
        """
        basic = self.basic_header()
        if basic is None:
            return
        if "authorization" in request.headers:
            raise ConfigError(
                f"{what}: the URL carries a user:password@ login and there is a key or token too; both "
                "go in the Authorization header. Keep one: drop the login from the URL, or the key"
            )
        request.headers["authorization"] = basic


def split_url(url: str) -> SplitURL:
    """Take ``url`` apart into what to send, what to show and the credentials it held (pure).

    >>> split_url("http://127.0.0.1:8000/v1").shown
    'http://127.0.0.1:8000/v1'
    >>> split_url("https://:only-a-key-1234@h.example/").login[0]
    ''
    """
    parts = urlsplit(url)
    userinfo, at, hostport = parts.netloc.rpartition("@")
    found: list[str] = []
    login: tuple[str, Secret] | None = None
    if at:
        user, _, password = userinfo.partition(":")
        user, password = unquote(user), unquote(password)
        login = (user, Secret(password, source="url"))
        found.extend(v for v in (password,) if v)
    for name, value in parse_qsl(parts.query, keep_blank_values=True):
        if value and SECRET_PARAM.search(name):
            found.append(value)
    clean = urlunsplit((parts.scheme, hostport, parts.path, parts.query, parts.fragment))
    return SplitURL(url=clean, shown=redact_urls(clean), login=login, secrets=tuple(found))


def shown_url(url: str | None) -> str:
    """``url`` without user info and with secret query values masked (``""`` for None).

    >>> shown_url("https://user:pw@h.example/p?sig=abc")
    'https://h.example/p?sig=***'
    """
    return "" if not url else split_url(url).shown


def redact_urls(text: str) -> str:
    """Mask URL user info and secret query values wherever they appear in ``text``.

    >>> redact_urls("see http://a:b@127.0.0.1:9/v1/chat?api-version=1&api_key=x1 now")
    'see http://127.0.0.1:9/v1/chat?api-version=1&api_key=*** now'
    """
    if "@" in text:
        text = _USERINFO.sub(r"\g<scheme>", text)
    if "=" in text:
        text = _QUERY_SECRET.sub(lambda m: m.group("lead") + _MASK, text)
    return text


class _RedactURLs(logging.Filter):
    """Rewrites a record whose message shows a URL credential (formatting it once, here)."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken record is the logging module's business, not ours
            return True
        clean = redact_urls(message)
        if clean != message:
            record.msg, record.args = clean, None
        return True


#: The loggers that print request URLs: httpx's INFO line, and httpcore's DEBUG trace.
_LOGGERS = ("httpx", "httpcore", "httpcore.connection", "httpcore.http11", "httpcore.http2", "httpcore.proxy")
_installed = False
_install_lock = threading.Lock()


def protect_logs() -> None:
    """Mask URL credentials in the log lines of httpx and httpcore, from now on (idempotent).

    aikit's HTTP clients call this when they are made, never at import. It is process-wide and only
    ever removes credentials, so it also protects other httpx users in the process.
    """
    global _installed
    if _installed:
        return
    with _install_lock:
        if not _installed:
            redact = _RedactURLs()
            for name in _LOGGERS:
                logging.getLogger(name).addFilter(redact)
            _installed = True

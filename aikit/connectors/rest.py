"""``aikit.RestSource``: any paginated REST API into a DataFrame (other CRMs, help desks, billing).

Four pagination styles cover most business APIs:

- ``"cursor"``: the body names the next cursor (HubSpot ``paging.next.after``, Zendesk
  ``meta.after_cursor``, Pipedrive ``additional_data.next_cursor``, Intercom ``pages.next.starting_after``);
- ``"offset"``: ``offset``/``limit`` (or ``start``) advanced by the rows received;
- ``"page"``: ``page=1, 2, ...`` until a short or empty page;
- ``"link"``: the RFC 8288 ``Link: <...>; rel="next"`` header (GitHub, Freshdesk, Shopify);
- ``"next_url"``: the body holds the next page's URL (Salesforce ``nextRecordsUrl``, Dynamics
  ``@odata.nextLink``, Zendesk ``links.next``).

>>> src = RestSource("https://helpdesk.example/api/v2", records="tickets", pagination="cursor",
...                  cursor_param="page[after]", cursor_path="meta.after_cursor",
...                  has_more_path="meta.has_more", token="...")               # doctest: +SKIP
>>> df = src.fetch("/tickets", params={"page[size]": 100}, limit=500)        # doctest: +SKIP

Requests go through the same core as :class:`aikit.HubSpot`: one client on aikit's loop thread,
retries on 429/5xx honouring ``Retry-After``, optional pacing, secrets kept out of reprs and errors.
With ``token_variable="ZENDESK_TOKEN"`` the bearer token resolves like every aikit credential
(:func:`aikit.auth.secrets.resolve_key`): ``token=`` > this kernel's session (the login panel) > the
environment > ``.env`` > keyring. ``fetch`` is the sync twin of ``afetch`` (same signature and docs).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import httpx
import pandas as pd

from aikit import _runtime
from aikit._runtime import twin_of
from aikit.auth.secrets import Secret, resolve_key
from aikit.auth.urls import redact_urls, shown_url
from aikit.client.retry import RetryPolicy
from aikit.connectors.pacing import WindowPacer
from aikit.connectors.session import ApiSession, TokenAuth, on_loop
from aikit.exceptions import ConfigError, CRMError

__all__ = ["PAGINATION_STYLES", "RestSource"]

PAGINATION_STYLES = ("cursor", "offset", "page", "link", "next_url", None)
_MISSING = object()


def dig(body: Any, path: str | None) -> Any:
    """``body["a"]["b"]`` for ``"a.b"`` (None when absent). A key containing dots is tried whole first."""
    if path is None or path == "":
        return body
    if isinstance(body, Mapping) and path in body:
        return body[path]
    node = body
    for part in path.split("."):
        if isinstance(node, Mapping) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return None
    return node


class RestSource:
    """A paginated JSON REST endpoint as a DataFrame source.

    Parameters
    ----------
    base_url : str
        API root; ``fetch(path)`` is relative to it.
    pagination : {"cursor", "offset", "page", "link", "next_url", None}
        How to get the next page (None: a single request).
    records : str or callable, optional
        Dotted path to the list of records in the body (``"data"``, ``"results"``, ``"meta.items"``);
        None when the body itself is the list; or ``body -> list``.
    token : str or Secret, optional
        Sent as ``Authorization: Bearer``. Or pass ``auth=`` (any ``httpx.Auth``), or ``headers``.
    token_variable : str, optional
        The credential's variable name (``"ZENDESK_TOKEN"``): without ``token=``, the token is looked
        up in this kernel's session (the login panel), the environment, ``.env`` and the keyring, and a
        missing one raises ``MissingCredentialError`` naming it.
    page_size : int, optional
        Sent as ``limit_param`` on every request (None: the server's default).
    limit_param, cursor_param, offset_param, page_param : str
        Query parameter names (defaults ``limit``, ``cursor``, ``offset``, ``page``).
    cursor_path, next_url_path, has_more_path : str, optional
        Dotted body paths of the next cursor, the next URL, and an optional "more pages" flag.
    first_page : int
        First page number for ``"page"`` (default 1).
    max_pages : int
        Safety bound on the number of requests per fetch.
    rate_limit : tuple (int, float), optional
        ``(requests, seconds)`` client-side pacing, e.g. ``(100, 10.0)``.
    retry : RetryPolicy, optional
    timeout : float
    transport : httpx.AsyncBaseTransport, optional
        Injected transport (tests).

    Examples
    --------
    >>> src = RestSource(server.url, records="results", pagination="cursor", cursor_param="after",
    ...                  cursor_path="paging.next.after", token=server.token)   # doctest: +SKIP
    >>> src.fetch("/crm/v3/objects/contacts")                                   # doctest: +SKIP
    """

    def __init__(
        self,
        base_url: str,
        *,
        pagination: str | None = "cursor",
        records: str | Callable[[Any], list[Any]] | None = "data",
        token: str | Secret | None = None,
        token_variable: str | None = None,
        auth: httpx.Auth | None = None,
        headers: Mapping[str, str] | None = None,
        params: Mapping[str, Any] | None = None,
        page_size: int | None = 100,
        limit_param: str = "limit",
        cursor_param: str = "cursor",
        cursor_path: str = "next_cursor",
        offset_param: str = "offset",
        page_param: str = "page",
        next_url_path: str = "next",
        has_more_path: str | None = None,
        first_page: int = 1,
        max_pages: int = 10_000,
        rate_limit: tuple[int, float] | None = None,
        retry: RetryPolicy | None = None,
        timeout: float = 30.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        if pagination not in PAGINATION_STYLES:
            raise ConfigError(f"pagination must be one of {PAGINATION_STYLES}, got {pagination!r}")
        if auth is not None and (token is not None or token_variable is not None):
            raise ConfigError("pass either token= (or token_variable=) or auth=, not both")
        if token_variable is not None:
            token = resolve_key(
                [token_variable],
                token,
                provider=f"the REST API at {shown_url(base_url)}",
                what="token",
                pass_as="token=... or auth=<httpx.Auth> to aikit.RestSource()",
            )
        self.pagination, self.records = pagination, records
        self.params = dict(params or {})
        self.page_size, self.limit_param = page_size, limit_param
        self.cursor_param, self.cursor_path = cursor_param, cursor_path
        self.offset_param, self.page_param, self.first_page = offset_param, page_param, first_page
        self.next_url_path, self.has_more_path, self.max_pages = next_url_path, has_more_path, max_pages
        pacer = (
            WindowPacer(rate_limit[0], rate_limit[1], header_prefix="x-ratelimit-") if rate_limit else None
        )
        self.session = ApiSession(
            base_url,
            auth=TokenAuth(token) if token is not None else auth,
            retry=retry,
            pacer=pacer,
            timeout=timeout,
            transport=transport,
            headers=headers,
        )

    def __repr__(self) -> str:
        return f"RestSource(base_url={self.session.base_url!r}, pagination={self.pagination!r})"

    @on_loop
    async def afetch(
        self, path: str = "", params: Mapping[str, Any] | None = None, *, limit: int | None = None
    ) -> pd.DataFrame:
        """Every record across pages as a DataFrame (nested objects flattened with dots).

        Parameters
        ----------
        path : str
            Relative to ``base_url`` (``"/tickets"``).
        params : mapping, optional
            Query parameters for every page, on top of the source's ``params``.
        limit : int, optional
            Stop after this many records.

        Examples
        --------
        >>> src.fetch("/tickets", params={"status": "open"}, limit=1000)     # doctest: +SKIP
        >>> frame = await src.afetch("/tickets")                             # doctest: +SKIP
        """
        rows = await self._collect(path, params, limit)
        if not rows:
            return pd.DataFrame()
        if all(isinstance(r, Mapping) for r in rows):
            return pd.json_normalize(rows)
        return pd.DataFrame({"value": rows})

    @twin_of(afetch)
    def fetch(self, *args: Any, **kwargs: Any) -> pd.DataFrame:
        return _runtime.run_sync(self.afetch(*args, **kwargs))

    async def aclose(self) -> None:
        """Close the HTTP client (it reopens on next use)."""
        await self.session.aclose()

    @twin_of(aclose)
    def close(self) -> None:
        _runtime.run_sync(self.aclose())

    def _records(self, body: Any) -> list[Any]:
        found = self.records(body) if callable(self.records) else dig(body, self.records)
        if found is None:
            return []
        if not isinstance(found, list):
            raise CRMError(f"expected a list of records at {self.records!r}, got {type(found).__name__}")
        return found

    async def _collect(self, path: str, params: Mapping[str, Any] | None, limit: int | None) -> list[Any]:
        base: dict[str, Any] = {**self.params, **(params or {})}
        if self.page_size is not None and self.pagination in ("cursor", "offset", "page", "link", None):
            base.setdefault(self.limit_param, self.page_size)
        out: list[Any] = []
        url: str = path
        query: dict[str, Any] | None = dict(base)
        offset, page = 0, self.first_page
        if self.pagination == "offset":
            query = {**base, self.offset_param: offset}
        elif self.pagination == "page":
            query = {**base, self.page_param: page}
        seen: set[str] = set()
        for _ in range(self.max_pages):
            resp = await self.session.request("GET", url, what=f"GET {url or '/'}", params=query, ok=(200,))
            try:
                body = resp.json()
            except ValueError as exc:
                raise CRMError(f"GET {redact_urls(url) or '/'} did not return JSON") from exc
            batch = self._records(body)
            out.extend(batch)
            if limit is not None and len(out) >= limit:
                return out[:limit]
            more = dig(body, self.has_more_path) if self.has_more_path else _MISSING
            if more is not _MISSING and not more:
                break
            if self.pagination is None or not batch:
                break
            if self.pagination == "cursor":
                cursor = dig(body, self.cursor_path)
                if cursor in (None, ""):
                    break
                key = str(cursor)
                query = {**base, self.cursor_param: cursor}
            elif self.pagination == "offset":
                offset += len(batch)
                if self.page_size is not None and len(batch) < self.page_size and more is _MISSING:
                    break
                key = str(offset)
                query = {**base, self.offset_param: offset}
            elif self.pagination == "page":
                page += 1
                if self.page_size is not None and len(batch) < self.page_size and more is _MISSING:
                    break
                key = str(page)
                query = {**base, self.page_param: page}
            else:
                nxt = (
                    resp.links.get("next", {}).get("url")
                    if self.pagination == "link"
                    else dig(body, self.next_url_path)
                )
                if not nxt:
                    break
                key = str(nxt)
                url, query = str(resp.url.join(str(nxt))), None
            if key in seen:
                raise CRMError(
                    f"pagination loop: the server sent the same next page twice ({self.pagination})"
                )
            seen.add(key)
        else:
            raise CRMError(
                f"stopped after max_pages={self.max_pages} requests; raise max_pages or pass limit="
            )
        return out

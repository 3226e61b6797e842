"""``aikit.HubSpot``: fetch CRM objects into a DataFrame, push AI insights back, safely.

The same code runs against the embedded demo CRM and a real HubSpot portal; only ``base_url`` and the
token change.

>>> import aikit
>>> crm = aikit.HubSpot(token=server.token, base_url=server.url)            # doctest: +SKIP
>>> tickets = crm.fetch("tickets", properties=["subject", "content", "hs_ticket_priority"],
...     where={"hs_ticket_priority": ["HIGH", "URGENT"]}, associations=["contacts"])  # doctest: +SKIP
>>> tickets["ai_sentiment"] = ...                                            # doctest: +SKIP
>>> crm.push("tickets", tickets[["id", "ai_sentiment"]], dry_run=True,
...          create_properties=True)                                         # doctest: +SKIP
<PushReport tickets: dry run, 120 rows, 0 unchanged, 0 sent, 0 updated, 0 failed, 0 batches>

``fetch`` pages through everything (the list endpoint, or search when filtered). ``push`` reads the
current values first and writes only the cells that differ, in batches of 100, paced to the portal's
rate limit (learned from the ``X-HubSpot-RateLimit-*`` headers) and retried on 429/5xx. A partial
failure (HTTP 207) is reported row by row in the :class:`~aikit.connectors.report.PushReport`; running
the same push again writes only what is still different.

The token resolves like every aikit credential (:func:`aikit.auth.secrets.resolve_key`): ``token=`` >
this kernel's session (the login panel, ``aikit.auth.set_secret("HUBSPOT_TOKEN", ...)``) > the
``HUBSPOT_TOKEN`` environment variable > ``.env`` > keyring. It is kept inside an ``httpx.Auth`` as a
masked :class:`~aikit.auth.secrets.Secret` and never appears in a repr, a log line, an exception or a
DataFrame.

Each async method (``afetch``, ``apush``, ``acreate_property``, ``aclose``) is written once and runs on
aikit's loop thread; its sync twin takes the same signature and docstring from it
(:func:`aikit._runtime.twin_of`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from types import TracebackType
from typing import Any

import httpx
import pandas as pd

from aikit import _runtime
from aikit._runtime import twin_of
from aikit.auth.secrets import Secret, resolve_key
from aikit.auth.urls import split_url
from aikit.client.retry import RetryPolicy
from aikit.connectors.associate import AssociateSpec, association_columns, empty_report, push_associations
from aikit.connectors.credentials import HasAuth, ResolvedTokenAuth, as_auth
from aikit.connectors.frames import coerce, records_frame, wire_value
from aikit.connectors.pacing import WindowPacer
from aikit.connectors.portal import PortalMethods
from aikit.connectors.push import BATCH_LIMIT, property_spec, run_push
from aikit.connectors.report import PushReport
from aikit.connectors.session import ApiSession, TokenAuth, on_loop, path_segment
from aikit.connectors.sync import SyncMethods
from aikit.connectors.upsert import run_upsert
from aikit.connectors.where import filter_groups, sorts
from aikit.exceptions import ConfigError, CRMError

__all__ = ["DEFAULT_BASE_URL", "HubSpot"]

DEFAULT_BASE_URL = "https://api.hubapi.com"
_OBJECT_TYPE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_\-]{0,99}")
LIST_PAGE, SEARCH_PAGE, SEARCH_CAP = 100, 200, 10_000


class HubSpot(SyncMethods, PortalMethods):
    """A HubSpot CRM v3 client (or the demo CRM's) returning DataFrames.

    Parameters
    ----------
    token : str or Secret, optional
        Private-app or OAuth access token. Default: ``HUBSPOT_TOKEN`` from this kernel's session (the
        login panel), the environment, ``.env`` or the keyring, in that order.
    base_url : str, optional
        API root. Default ``https://api.hubapi.com``; the demo CRM's ``server.url`` locally. A
        ``user:password@`` in it is sent as HTTP Basic instead of a token; like the token, it never
        appears in a repr, a message or a log line.
    auth : httpx.Auth, optional
        Any httpx auth instead of ``token``: an :class:`aikit.auth.OAuth2Auth` (or the login panel's
        ``OAuthService``) refreshes an expired access token once, however many requests are in
        flight, and the request is retried. Without ``token`` and ``auth``, a 401 makes the client
        look the token up again (the login panel may hold a newer one).
    rate_limit : int
        Requests per 10 s assumed until the server's headers say otherwise (HubSpot's lowest tier: 100).
    search_rate : int
        Search requests per second (HubSpot: 5, a limit of its own that sends no headers).
    search_cap : int
        Results a search can reach (HubSpot: 10,000); :meth:`sync` splits windows holding more.
    retry : RetryPolicy, optional
        Attempts and deadline for 429/5xx/connection failures (default: 8 attempts within 300 s).
    timeout : float
        Per-request timeout in seconds.
    transport : httpx.AsyncBaseTransport, optional
        Injected transport (tests).

    Raises
    ------
    MissingCredentialError
        No token and no auth, and ``HUBSPOT_TOKEN`` is found nowhere.

    Examples
    --------
    >>> crm = HubSpot(token="pat-na1-...", base_url="http://127.0.0.1:8765")   # doctest: +SKIP
    >>> contacts = crm.fetch("contacts", properties=["email", "firstname"], limit=50)  # doctest: +SKIP
    """

    def __init__(
        self,
        token: str | Secret | None = None,
        base_url: str | None = None,
        *,
        auth: httpx.Auth | HasAuth | None = None,
        rate_limit: int = 100,
        search_rate: int = 5,
        search_cap: int = SEARCH_CAP,
        retry: RetryPolicy | None = None,
        timeout: float = 30.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        if token is not None and auth is not None:
            raise ConfigError("pass either token= or auth=, not both")
        if isinstance(rate_limit, bool) or not isinstance(rate_limit, int) or rate_limit < 1:
            raise ConfigError(
                f"rate_limit must be a whole number of requests per 10 s (>= 1), got {rate_limit!r}"
            )
        if search_rate < 1 or search_cap < 1:
            raise ConfigError("search_rate and search_cap must be at least 1")
        if auth is not None:
            auth = as_auth(auth)
        explicit = token is not None
        if auth is None and (explicit or split_url(base_url or DEFAULT_BASE_URL).login is None):
            found = resolve_key(
                ["HUBSPOT_TOKEN"],
                token,
                provider="HubSpot (a private-app access token)",
                what="token",
                pass_as="token=... or auth=<httpx.Auth> to aikit.HubSpot() (the local demo CRM: "
                "token=server.token, base_url=server.url)",
            )
            auth = TokenAuth(found) if explicit else ResolvedTokenAuth(["HUBSPOT_TOKEN"], found)
        self.session = ApiSession(
            (base_url or DEFAULT_BASE_URL).rstrip("/"),
            auth=auth,
            retry=retry,
            pacer=WindowPacer(rate_limit, 10.0),
            timeout=timeout,
            transport=transport,
        )
        #: The API root as shown (credentials in a ``base_url`` are kept out of it, see ApiSession).
        self.base_url = self.session.base_url
        self.search_pacer = WindowPacer(search_rate, 1.0, header_prefix="x-aikit-none-")  # no headers
        self.search_cap = search_cap
        self._types: dict[str, dict[str, str]] = {}
        self._options: dict[str, dict[str, set[str]]] = {}
        self._groups: set[tuple[str, str]] = set()

    def __repr__(self) -> str:
        return f"HubSpot(base_url={self.base_url!r}, auth={type(self.session.auth).__name__})"

    @property
    def stats(self) -> dict[str, int]:
        """Requests sent, retries and 429s seen by this client."""
        return dict(self.session.stats)

    async def aclose(self) -> None:
        """Close the HTTP client (it reopens on next use)."""
        await self.session.aclose()

    @twin_of(aclose)
    def close(self) -> None:
        _runtime.run_sync(self.aclose())

    def __enter__(self) -> HubSpot:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    async def aproperty_types(self, object_type: str, refresh: bool = False) -> dict[str, str]:
        """``{property name: HubSpot type}`` for ``object_type`` (cached; ``refresh`` re-reads)."""
        if refresh or object_type not in self._types:
            resp = await self.session.request(
                "GET", f"/crm/v3/properties/{_segment(object_type)}", what=f"list {object_type} properties"
            )
            defs = resp.json().get("results", [])
            self._types[object_type] = {p["name"]: p.get("type", "string") for p in defs}
            self._options[object_type] = {
                p["name"]: {str(o.get("value")) for o in p["options"]}
                for p in defs
                if p.get("type") in ("enumeration", "bool") and p.get("options")
            }
        return self._types[object_type]

    def enum_options(self, object_type: str) -> dict[str, set[str]]:
        """Allowed values of enumeration/bool properties, from the last :meth:`aproperty_types` read."""
        return self._options.get(object_type, {})

    def properties(self, object_type: str) -> pd.DataFrame:
        """The property definitions of ``object_type`` (name, label, type, fieldType, groupName, ...).

        >>> crm.properties("tickets")[["name", "type"]].head()    # doctest: +SKIP
        """

        async def _go() -> pd.DataFrame:
            resp = await self.session.request(
                "GET", f"/crm/v3/properties/{_segment(object_type)}", what=f"list {object_type} properties"
            )
            return pd.DataFrame(resp.json().get("results", []))

        return _runtime.run_sync(_go())

    async def _ensure_group(self, object_type: str, group: str) -> None:
        """Create the property group if the portal does not have it (HubSpot requires it to exist)."""
        if (object_type, group) in self._groups:
            return
        try:
            await self.session.request(
                "GET",
                f"/crm/v3/properties/{_segment(object_type)}/groups/{path_segment(group)}",
                what=f"read property group {group}",
            )
            self._groups.add((object_type, group))
            return
        except CRMError as exc:
            if exc.status != 404:
                raise
        try:
            await self.session.request(
                "POST",
                f"/crm/v3/properties/{_segment(object_type)}/groups",
                what=f"create property group {group}",
                json_body={"name": group, "label": group.replace("_", " ").title(), "displayOrder": -1},
            )
        except CRMError as exc:
            if exc.status != 409:
                raise
        self._groups.add((object_type, group))

    @on_loop
    async def acreate_property(
        self,
        object_type: str,
        name: str | Mapping[str, Any],
        *,
        label: str | None = None,
        type: str = "string",
        field_type: str | None = None,
        options: Sequence[str] | None = None,
        group: str = "aikit",
        description: str = "",
    ) -> dict[str, Any]:
        """Create a custom property and its group (returns the definition; an existing one as is).

        Parameters
        ----------
        object_type : str
            ``"tickets"``, ``"contacts"``...
        name : str or dict
            The property name, or a complete HubSpot property definition (``name``, ``label``,
            ``type``, ``fieldType``, ``groupName``...), in which case the other arguments do not apply.
        label : str, optional
            Shown in HubSpot; default from the name (``ai_sentiment`` -> ``AI Sentiment``).
        type : str
            ``"string"``, ``"number"``, ``"enumeration"``, ``"datetime"``, ``"date"`` or ``"bool"``.
        field_type : str, optional
            The form field (default follows ``type``: text, number, select, date, booleancheckbox).
        options : list of str, optional
            The allowed values of an enumeration.
        group, description : str
            The property group (created when missing) and the description.

        Examples
        --------
        >>> crm.create_property("tickets", "ai_sentiment", type="enumeration",
        ...                     options=["negative", "neutral", "positive"])    # doctest: +SKIP
        >>> await crm.acreate_property("tickets", "ai_summary")                 # doctest: +SKIP
        """
        spec = (
            dict(name)
            if isinstance(name, Mapping)
            else property_spec(name, label, type, field_type, options, group, description)
        )
        await self._ensure_group(object_type, spec["groupName"])
        try:
            resp = await self.session.request(
                "POST",
                f"/crm/v3/properties/{_segment(object_type)}",
                what=f"create property {spec['name']}",
                json_body=spec,
            )
        except CRMError as exc:
            if exc.status != 409:
                raise
            resp = await self.session.request(
                "GET",
                f"/crm/v3/properties/{_segment(object_type)}/{path_segment(spec['name'])}",
                what=f"read property {spec['name']}",
            )
        self._types.pop(object_type, None)
        result: dict[str, Any] = resp.json()
        return result

    @twin_of(acreate_property)
    def create_property(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        return _runtime.run_sync(self.acreate_property(*args, **kwargs))

    @on_loop
    async def afetch(
        self,
        object_type: str,
        properties: Sequence[str] | None = None,
        where: Mapping[str, Any] | Sequence[Any] | None = None,
        associations: Sequence[str] | str | None = None,
        *,
        limit: int | None = None,
        sort: str | Sequence[str] | None = None,
        query: str | None = None,
        archived: bool = False,
        typed: bool = True,
    ) -> pd.DataFrame:
        """All objects of a type as a DataFrame: ``id``, one column per property, dates, associations.

        Parameters
        ----------
        object_type : str
            ``"contacts"``, ``"companies"``, ``"tickets"``, ``"notes"``, ...
        properties : list of str, optional
            Properties to read (default: the API's default set).
        where : dict or list, optional
            Filters, run through the search API. ``{"prop": value}`` is EQ, a list is IN, a tuple is
            ``(operator, value)`` with ``"<" "<=" ">" ">=" "!=" "contains" "between" "has" "not has"``
            (or HubSpot operator names); ``None`` means the property has no value. A list of dicts
            ORs the groups; raw HubSpot ``filterGroups`` pass through.
        associations : list of str, optional
            Associated types to add as id-list columns, e.g. ``["contacts"]``.
        limit : int, optional
            Stop after this many rows.
        sort : str or list of str, optional
            Property names, ``-name`` for descending (search API).
        query : str, optional
            Full-text search across default searchable properties (search API).
        archived : bool
            List archived objects instead (list API only).
        typed : bool
            Type columns from the property definitions (numbers, UTC datetimes, booleans).

        Examples
        --------
        >>> crm.fetch("tickets", ["subject", "hs_ticket_priority"], where={"hs_ticket_priority": "HIGH"},
        ...           associations=["contacts"], limit=100)     # doctest: +SKIP
        >>> contacts = await crm.afetch("contacts", ["email"])  # doctest: +SKIP
        """
        if limit is not None and limit < 0:
            raise ConfigError("limit must be >= 0")
        props = list(properties) if properties is not None else None
        assoc = [associations] if isinstance(associations, str) else list(associations or [])
        links: dict[str, dict[str, list[str]]] | None = None
        if where or sort or query:
            if archived:
                raise ConfigError("archived=True works with the list API only; drop where/sort/query")
            results = await self._search(object_type, props, where, sort, query, limit)
            if assoc:
                links = {to: await self._links(object_type, [r["id"] for r in results], to) for to in assoc}
        else:
            results = await self._list(object_type, props, assoc, limit, archived)
        frame = records_frame(results, props, assoc, links)
        if typed:
            try:
                types = await self.aproperty_types(object_type)
            except CRMError as exc:
                if exc.status not in (401, 403, 404):
                    raise
                types = {}
            frame = coerce(frame, types)
        return frame

    @twin_of(afetch)
    def fetch(self, *args: Any, **kwargs: Any) -> pd.DataFrame:
        return _runtime.run_sync(self.afetch(*args, **kwargs))

    async def _list(
        self, t: str, props: list[str] | None, assoc: list[str], limit: int | None, archived: bool
    ) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        after: str | None = None
        while limit is None or len(out) < limit:
            page = LIST_PAGE if limit is None else max(1, min(LIST_PAGE, limit - len(out)))
            params: list[tuple[str, str]] = [("limit", str(page)), ("archived", str(archived).lower())]
            if props:
                params.append(("properties", ",".join(props)))
            if assoc:
                params.append(("associations", ",".join(assoc)))
            if after:
                params.append(("after", after))
            resp = await self.session.request(
                "GET", f"/crm/v3/objects/{_segment(t)}", what=f"list {t}", params=params
            )
            body = resp.json()
            out.extend(body.get("results", []))
            after = ((body.get("paging") or {}).get("next") or {}).get("after")
            if not after:
                break
        return out if limit is None else out[:limit]

    async def _search(
        self,
        t: str,
        props: list[str] | None,
        where: Mapping[str, Any] | Sequence[Any] | None,
        sort: str | Sequence[str] | None,
        query: str | None,
        limit: int | None,
    ) -> list[dict[str, Any]]:
        body: dict[str, Any] = {"filterGroups": filter_groups(where)}
        if props:
            body["properties"] = props
        if sort:
            body["sorts"] = sorts(sort)
        if query:
            body["query"] = query
        out: list[dict[str, Any]] = []
        after = 0
        while limit is None or len(out) < limit:
            body["limit"] = SEARCH_PAGE if limit is None else max(1, min(SEARCH_PAGE, limit - len(out)))
            body["after"] = str(after) if after else None
            if body["after"] is None:
                body.pop("after")
            resp = await self.session.request(
                "POST",
                f"/crm/v3/objects/{_segment(t)}/search",
                what=f"search {t}",
                json_body=body,
                pacer=self.search_pacer,
            )
            page = resp.json()
            total = int(page.get("total", 0))
            if total > self.search_cap and (limit is None or limit > self.search_cap):
                raise CRMError(
                    f"search {t} matches {total} objects, more than the {self.search_cap:,} the search API "
                    f"reaches; narrow `where` (for example by a date range), pass limit<={self.search_cap}, "
                    f"or read them all with crm.sync({t!r}, ...), which splits past the cap",
                    status=400,
                    category="VALIDATION_ERROR",
                )
            out.extend(page.get("results", []))
            nxt = ((page.get("paging") or {}).get("next") or {}).get("after")
            if not nxt:
                break
            after = int(nxt)
        return out if limit is None else out[:limit]

    async def _links(self, t: str, ids: list[str], to: str) -> dict[str, list[str]]:
        links: dict[str, list[str]] = {}
        for i in range(0, len(ids), BATCH_LIMIT):
            chunk = ids[i : i + BATCH_LIMIT]
            resp = await self.session.request(
                "POST",
                f"/crm/v4/associations/{_segment(t)}/{_segment(to)}/batch/read",
                what=f"read {t}->{to} associations",
                json_body={"inputs": [{"id": x} for x in chunk]},
            )
            for item in resp.json().get("results", []):
                links[str(item["from"]["id"])] = [str(x["toObjectId"]) for x in item.get("to", [])]
        return links

    @on_loop
    async def apush(
        self,
        object_type: str,
        frame: pd.DataFrame,
        *,
        id_column: str = "id",
        create_properties: bool = False,
        dry_run: bool = False,
        batch_size: int = BATCH_LIMIT,
        property_group: str = "aikit",
        upsert: bool = False,
        id_property: str | None = None,
        associate: AssociateSpec | None = None,
    ) -> PushReport:
        """Write the non-id columns of ``frame`` back to the CRM, changed cells only.

        Parameters
        ----------
        object_type : str
            ``"tickets"``, ``"contacts"``...
        frame : DataFrame
            ``id_column`` plus one column per property. NaN/None cells are skipped; ``""`` clears a value.
        create_properties : bool
            Create missing custom properties first (group ``property_group``; the type follows the
            column: categorical -> enumeration, numbers -> number, datetimes -> datetime,
            booleans -> bool, else string).
        dry_run : bool
            Read and diff only: the report's ``diff`` shows what would change; nothing is written.
        batch_size : int
            Objects per ``batch/update`` call (at most 100).
        upsert : bool
            Rows have no CRM id: find each record by ``id_property`` and update it, or create it
            (``batch/upsert``; see :mod:`aikit.connectors.upsert`). ``report.ids`` maps each key to
            the CRM id.
        id_property : str, optional
            With ``upsert``: the column and property identifying records (``"email"`` on contacts, or
            a property with unique values).
        associate : dict, optional
            ``{"contacts": "contact_id"}``: associate each record with the record(s) whose id the
            column holds (an id or a list of ids); ``{"companies": ("company_id", "Primary")}`` uses a
            label or type id. Only missing links are written (:mod:`aikit.connectors.associate`).

        Returns
        -------
        PushReport
            Counts, the ``diff`` written and a ``failed`` DataFrame (id, property, error) that lists
            every cell that could not be written, including those of a 207 partial failure and
            those refused before any request because HubSpot would refuse them (``inf`` or
            ``"12,5"`` in a number, a list in a string property, a date not at midnight, text over
            65,536 characters...: :mod:`aikit.connectors.values`). Cells sent in a batch that got
            no answer are in ``unknown``: push the same frame again to resolve them.

        Raises
        ------
        PushError
            Properties are missing and ``create_properties`` is False, or a column is read-only.
        CRMError
            The token was rejected (401/403) or the CRM could not be read.

        Examples
        --------
        >>> report = crm.push("tickets", df[["id", "ai_sentiment"]], create_properties=True)  # doctest: +SKIP
        >>> report.failed            # doctest: +SKIP
        >>> report = await crm.apush("tickets", df[["id", "ai_sentiment"]])                   # doctest: +SKIP
        >>> crm.push("contacts", leads[["email", "name"]], upsert=True, id_property="email")  # doctest: +SKIP
        >>> crm.push("tickets", df[["id", "contact"]], associate={"contacts": "contact"})   # doctest: +SKIP
        """
        links = association_columns(associate)
        missing = [c for c, _ in links.values() if c not in getattr(frame, "columns", [])]
        if missing:
            raise ConfigError(f"associate= names columns the DataFrame does not have: {missing}")
        props = frame.drop(columns=[c for c, _ in links.values()]) if links else frame
        key = (id_property or "") if upsert else id_column
        if upsert:
            report = await run_upsert(
                self, object_type, props, id_property, create_properties, dry_run, batch_size, property_group
            )
        elif links and list(props.columns) == [id_column]:  # associations only: no property to write
            report = empty_report(object_type, props, id_column, dry_run)
        else:
            report = await run_push(
                self, object_type, props, id_column, create_properties, dry_run, batch_size, property_group
            )
        if links:
            if upsert:
                known = (
                    dict(zip(report.ids["key"], report.ids["id"], strict=True))
                    if report.ids is not None
                    else {}
                )
                keys = [wire_value(v) or "" for v in frame[key]]
                rows = [
                    (k, known[k], row)
                    for k, (_, row) in zip(keys, frame.iterrows(), strict=True)
                    if k in known
                ]
            else:
                rows = [
                    (str(wire_value(row[key])), str(wire_value(row[key])), row) for _, row in frame.iterrows()
                ]
            await push_associations(self, object_type, rows, links, report)
        return report

    def tools(self, *, read_only: bool = True, objects: Sequence[str] | None = None) -> list[Any]:
        """Tools for ``ai.run``: search and get records; ``update_record`` (dry-run diff first) only
        with ``read_only=False`` (:mod:`aikit.connectors.crm_tools`)."""
        from aikit.connectors.crm_tools import DEFAULT_OBJECTS, tools

        return tools(self, read_only=read_only, objects=objects or DEFAULT_OBJECTS)

    @twin_of(apush)
    def push(self, *args: Any, **kwargs: Any) -> PushReport:
        return _runtime.run_sync(self.apush(*args, **kwargs))


def _segment(object_type: str) -> str:
    """``object_type`` checked as a HubSpot object type name and escaped as one URL path segment."""
    if not isinstance(object_type, str) or not _OBJECT_TYPE.fullmatch(object_type):
        raise ConfigError(
            f"{object_type!r} is not a CRM object type: use a name such as 'contacts', 'tickets' or "
            "'p_my_object', or an id such as '2-1234567' (letters, digits, '_' and '-')"
        )
    return path_segment(object_type)

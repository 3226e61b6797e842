"""``aikit.Salesforce``: SOQL into typed DataFrames, AI results pushed back, within the org's API budget.

The same code runs against a real org and the demo org (:class:`aikit.DemoSalesforce`); only the
instance URL, the login and (for the demo) ``ca_file`` change.

>>> import aikit
>>> sf = aikit.Salesforce(instance_url=org.url, auth=org.token, ca_file=org.ca_file)  # doctest: +SKIP
>>> cases = sf.fetch("SELECT Id, Subject, Description, Priority, Account.Name FROM Case")  # doctest: +SKIP
>>> cases["AI_Sentiment__c"] = ...                                                       # doctest: +SKIP
>>> sf.push("Case", cases[["Id", "AI_Sentiment__c"]])                                    # doctest: +SKIP
<PushReport Case: 640 rows, 0 unchanged, 640 sent, 640 updated, 0 failed, 4 batches>

``fetch`` follows ``nextRecordsUrl`` through every page (``queryAll`` with ``include_deleted=True``),
switches to a Bulk API 2.0 query job above ``bulk_threshold`` rows (or with ``bulk=True``), flattens
lookups into dotted columns and types the columns from ``describe``. ``push`` checks every cell
against ``describe`` before any request, reads the current values and writes only what differs through
sObject Collections (200 records a call), by ``Id`` or by an external id field (upsert). Requests share
the connector session with :class:`aikit.HubSpot` (aikit's loop thread, retries of
``REQUEST_LIMIT_EXCEEDED`` and 503 with backoff, errors as :class:`~aikit.exceptions.CRMError` with
Salesforce's ``errorCode``), and are paced to the org's API budget (``Sforce-Limit-Info``, ``/limits``).

A session id resolves like every aikit credential (``auth=`` > this kernel's session > the
``SALESFORCE_ACCESS_TOKEN`` variable > ``.env`` > keyring) but cannot renew itself; the login helpers
(:func:`~aikit.connectors.salesforce.auth.salesforce_jwt_auth`, client credentials, web server flow)
log in again by themselves when Salesforce answers ``INVALID_SESSION_ID``.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx
import pandas as pd

from aikit import _runtime
from aikit._runtime import twin_of
from aikit.auth.secrets import Secret, resolve_key
from aikit.client.retry import RetryPolicy
from aikit.connectors.report import PushReport
from aikit.connectors.salesforce.auth import tls_transport
from aikit.connectors.salesforce.limits import ApiBudget, classify
from aikit.connectors.salesforce.push import COLLECTION_LIMIT, run_push
from aikit.connectors.salesforce.records import coerce, csv_frame, flatten
from aikit.connectors.salesforce.soql import build_soql, is_soql, query_object, select_fields
from aikit.connectors.session import ApiSession, TokenAuth, on_loop
from aikit.exceptions import ConfigError, CRMError

__all__ = ["DEFAULT_VERSION", "Salesforce"]

DEFAULT_VERSION = "60.0"
_COMPOUND = frozenset({"address", "location", "base64"})


class Salesforce:
    """A Salesforce REST client (or the demo org's) returning DataFrames.

    Parameters
    ----------
    instance_url : str, optional
        The org's URL, ``https://yourorg.my.salesforce.com`` (default ``$SALESFORCE_INSTANCE_URL``).
    auth : str, Secret or httpx.Auth, optional
        A session id / access token, or a login from
        :mod:`aikit.connectors.salesforce.auth` (JWT bearer, client credentials, web server flow).
        Default: ``SALESFORCE_ACCESS_TOKEN`` from this kernel's session, the environment, ``.env`` or
        the keyring.
    version : str
        REST API version (``"60.0"``).
    ca_file : str or Path, optional
        A private CA to trust (the demo org's ``ca_file``). TLS verification is never switched off.
    bulk_threshold : int
        Above this many rows, ``fetch`` runs a Bulk API 2.0 query job instead of REST pages.
    api_reserve : int
        API requests of the org's budget to leave for other integrations.
    budget_window_s : float
        The org's budget window (Salesforce: a rolling 24 hours).
    retry : RetryPolicy, optional
        Attempts and deadline for ``REQUEST_LIMIT_EXCEEDED``, 429/5xx and connection failures.
    timeout : float
        Per-request timeout in seconds.
    transport : httpx.AsyncBaseTransport, optional
        Injected transport (tests); replaces ``ca_file``.

    Examples
    --------
    >>> sf = Salesforce(instance_url="https://acme.my.salesforce.com", auth="00D...!AQ...")
    >>> sf
    Salesforce(instance_url='https://acme.my.salesforce.com', version='60.0', auth=TokenAuth)
    """

    def __init__(
        self,
        instance_url: str | None = None,
        auth: str | Secret | httpx.Auth | None = None,
        *,
        version: str = DEFAULT_VERSION,
        ca_file: str | Path | None = None,
        bulk_threshold: int = 10_000,
        api_reserve: int = 0,
        budget_window_s: float = 86400.0,
        retry: RetryPolicy | None = None,
        timeout: float = 60.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        url = instance_url or os.environ.get("SALESFORCE_INSTANCE_URL")
        if not url:
            raise ConfigError(
                "pass instance_url='https://yourorg.my.salesforce.com' (or set SALESFORCE_INSTANCE_URL); "
                "for the demo org: instance_url=org.url, auth=org.token, ca_file=org.ca_file"
            )
        if not isinstance(auth, httpx.Auth):
            found = resolve_key(
                ["SALESFORCE_ACCESS_TOKEN"],
                auth,
                provider="Salesforce (a session id / access token)",
                what="access token",
                pass_as="auth=<session id> or auth=salesforce_jwt_auth(...) to aikit.Salesforce()",
            )
            auth = TokenAuth(found)
        if version.startswith("v"):
            raise ConfigError(f"version is the number only ('60.0'), not {version!r}")
        self.instance_url, self.version = url.rstrip("/"), version
        self.bulk_threshold = bulk_threshold
        retry = retry or RetryPolicy()
        self.budget = ApiBudget(budget_window_s, api_reserve, max_wait_s=retry.deadline_s)
        self.session = ApiSession(
            self.instance_url,
            auth=auth,
            retry=retry,
            pacer=self.budget,
            timeout=timeout,
            transport=transport or tls_transport(ca_file),
            classify=classify,
        )
        self._describes: dict[str, dict[str, Any]] = {}
        self.bulk_jobs = 0

    def __repr__(self) -> str:
        return (
            f"Salesforce(instance_url={self.instance_url!r}, version={self.version!r}, "
            f"auth={type(self.session.auth).__name__})"
        )

    def path(self, resource: str) -> str:
        """``/services/data/vXX.X/<resource>``."""
        return f"/services/data/v{self.version}/{resource.lstrip('/')}"

    @property
    def stats(self) -> dict[str, int]:
        """Requests sent, retries, bulk jobs, and the org's API usage as last reported."""
        out = dict(self.session.stats)
        out["bulk_jobs"] = self.bulk_jobs
        if self.budget.used is not None and self.budget.max is not None:
            out["api_used"], out["api_max"] = self.budget.used, self.budget.max
        return out

    async def aclose(self) -> None:
        """Close the HTTP client (it reopens on next use)."""
        await self.session.aclose()

    @twin_of(aclose)
    def close(self) -> None:
        _runtime.run_sync(self.aclose())

    def __enter__(self) -> Salesforce:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    @on_loop
    async def adescribe(self, object_name: str, refresh: bool = False) -> dict[str, Any]:
        """The object's ``describe`` (fields, types, picklist values, lengths; cached, ``refresh`` re-reads).

        Examples
        --------
        >>> [f["name"] for f in sf.describe("Case")["fields"]][:3]     # doctest: +SKIP
        ['Id', 'IsDeleted', 'CreatedDate']
        """
        key = object_name.lower()
        if refresh or key not in self._describes:
            resp = await self.session.request(
                "GET", self.path(f"sobjects/{object_name}/describe"), what=f"describe {object_name}"
            )
            self._describes[key] = resp.json()
        return self._describes[key]

    @twin_of(adescribe)
    def describe(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        return _runtime.run_sync(self.adescribe(*args, **kwargs))

    def fields(self, object_name: str) -> pd.DataFrame:
        """The object's fields as a table: name, label, type, length, updateable, picklist values...

        >>> sf.fields("Case")[["name", "type", "length"]].head()    # doctest: +SKIP
        """
        describe = self.describe(object_name)
        rows = [
            {
                "name": f["name"],
                "label": f["label"],
                "type": f["type"],
                "length": f.get("length"),
                "updateable": f.get("updateable"),
                "nillable": f.get("nillable"),
                "externalId": f.get("externalId"),
                "picklist": [p["value"] for p in f.get("picklistValues") or [] if p.get("active")] or None,
                "referenceTo": f.get("referenceTo") or None,
            }
            for f in describe["fields"]
        ]
        return pd.DataFrame(rows)

    @on_loop
    async def alimits(self) -> dict[str, Any]:
        """The org's ``/limits`` (``DailyApiRequests``: ``Max``, ``Remaining``...); also feeds the pacing.

        Examples
        --------
        >>> sf.limits()["DailyApiRequests"]                         # doctest: +SKIP
        {'Max': 15000, 'Remaining': 14872}
        """
        resp = await self.session.request("GET", self.path("limits/"), what="read the org's limits")
        body: dict[str, Any] = resp.json()
        self.budget.observe_limits(body)
        return body

    @twin_of(alimits)
    def limits(self) -> dict[str, Any]:
        return _runtime.run_sync(self.alimits())

    @on_loop
    async def aquery(self, soql: str, include_deleted: bool = False) -> list[dict[str, Any]]:
        """Every record of ``soql`` as Salesforce returns it (REST, following ``nextRecordsUrl``).

        Examples
        --------
        >>> sf.query("SELECT COUNT() FROM Case")                     # doctest: +SKIP
        []
        """
        records, _ = await self._rest_pages(soql, include_deleted, None)
        return records

    @twin_of(aquery)
    def query(self, *args: Any, **kwargs: Any) -> list[dict[str, Any]]:
        return _runtime.run_sync(self.aquery(*args, **kwargs))

    async def _rest_pages(
        self, soql: str, include_deleted: bool, switch_above: int | None
    ) -> tuple[list[dict[str, Any]], int | None]:
        """All pages, or ``([], total)`` once the first page says there are more than ``switch_above``."""
        resource = "queryAll/" if include_deleted else "query/"
        resp = await self.session.request(
            "GET", self.path(resource), what="run the SOQL query", params={"q": soql}
        )
        page = resp.json()
        total = int(page.get("totalSize", 0))
        if switch_above is not None and total > switch_above and not page.get("done", True):
            return [], total
        records = list(page.get("records") or [])
        while not page.get("done", True) and page.get("nextRecordsUrl"):
            resp = await self.session.request(
                "GET", str(page["nextRecordsUrl"]), what="read the next query page"
            )
            page = resp.json()
            records.extend(page.get("records") or [])
        return records, total

    async def _bulk(self, soql: str, include_deleted: bool) -> pd.DataFrame:
        job = await self.session.request(
            "POST",
            self.path("jobs/query"),
            what="create a Bulk API 2.0 query job",
            json_body={
                "operation": "queryAll" if include_deleted else "query",
                "query": soql,
                "contentType": "CSV",
                "columnDelimiter": "COMMA",
                "lineEnding": "LF",
            },
        )
        job_id = str(job.json()["id"])
        self.bulk_jobs += 1
        wait = 0.05
        while True:
            info = (
                await self.session.request("GET", self.path(f"jobs/query/{job_id}"), what="poll the bulk job")
            ).json()
            state = info.get("state")
            if state == "JobComplete":
                break
            if state in ("Failed", "Aborted"):
                raise CRMError(
                    f"the Bulk API 2.0 query job {job_id} ended {state}: "
                    f"{info.get('errorMessage') or 'no reason given'}",
                    status=None,
                    category=f"BULK_{str(state).upper()}",
                )
            await asyncio.sleep(wait)
            wait = min(wait * 2, 10.0)
        pages: list[str] = []
        locator: str | None = None
        while True:
            params = {"locator": locator} if locator else None
            resp = await self.session.request(
                "GET", self.path(f"jobs/query/{job_id}/results"), what="read bulk results", params=params
            )
            pages.append(resp.text)
            locator = resp.headers.get("sforce-locator")
            if not locator or locator == "null":
                break
        return csv_frame(pages)

    async def _column_fields(self, object_name: str, columns: Sequence[str]) -> dict[str, dict[str, Any]]:
        out: dict[str, dict[str, Any]] = {}
        for column in columns:
            parts = column.split(".")
            describe = await self.adescribe(object_name)
            found: dict[str, Any] | None = None
            for i, part in enumerate(parts):
                fields = describe["fields"]
                if i == len(parts) - 1:
                    found = next((f for f in fields if f["name"].lower() == part.lower()), None)
                    break
                rel = next(
                    (f for f in fields if (f.get("relationshipName") or "").lower() == part.lower()), None
                )
                if rel is None or not rel.get("referenceTo"):
                    break
                describe = await self.adescribe(rel["referenceTo"][0])
            if found is not None:
                out[column] = found
        return out

    @on_loop
    async def afetch(
        self,
        soql_or_object: str,
        fields: Sequence[str] | None = None,
        where: Mapping[str, Any] | str | None = None,
        *,
        order_by: str | Sequence[str] | None = None,
        limit: int | None = None,
        include_deleted: bool = False,
        bulk: bool | None = None,
        typed: bool = True,
    ) -> pd.DataFrame:
        """Records as a DataFrame: one column per selected field, lookups as ``Account.Name`` columns.

        Parameters
        ----------
        soql_or_object : str
            A SOQL query (``"SELECT Id, Subject FROM Case WHERE ..."``) or an object name (``"Case"``).
        fields : list of str, optional
            With an object name: the fields to read (default: every field but compound ones).
        where : dict or str, optional
            With an object name: ``{"Priority": ["High", "Medium"], "IsClosed": False,
            "CreatedDate": (">=", "2025-01-01T00:00:00Z")}`` (a list is ``IN``, a tuple
            ``(operator, value)``, None is ``= null``; literals are escaped), or a raw SOQL condition.
        order_by : str or list of str, optional
            Field names; ``-Name`` for descending.
        limit : int, optional
            ``LIMIT`` of the query.
        include_deleted : bool
            ``queryAll``: records in the recycle bin too (``IsDeleted`` tells them apart).
        bulk : bool, optional
            True: a Bulk API 2.0 query job; False: REST pages; None (default): REST, or Bulk when the
            query holds more than ``bulk_threshold`` rows.
        typed : bool
            Type the columns from ``describe`` (UTC datetimes, dates, numbers, booleans, picklists as
            categoricals).

        Raises
        ------
        CRMError
            Salesforce refused the query: ``category`` is its ``errorCode`` (``MALFORMED_QUERY``,
            ``INVALID_FIELD``, ``INVALID_TYPE``...) and the message shows where.

        Examples
        --------
        >>> sf.fetch("Case", ["Id", "Subject", "Account.Name"], {"IsClosed": False})  # doctest: +SKIP
        >>> await sf.afetch("SELECT Id FROM Case", bulk=True)                         # doctest: +SKIP
        """
        if is_soql(soql_or_object):
            if fields is not None or where is not None or order_by is not None or limit is not None:
                raise ConfigError(
                    "pass either a SOQL query, or an object name with fields/where/order_by/limit"
                )
            soql = soql_or_object.strip()
        else:
            chosen = list(fields) if fields is not None else None
            if chosen is None:
                describe = await self.adescribe(soql_or_object)
                chosen = [f["name"] for f in describe["fields"] if f["type"] not in _COMPOUND]
            soql = build_soql(soql_or_object, chosen, where, order_by=order_by, limit=limit)
        try:
            columns: list[str] | None = select_fields(soql)
            object_name: str | None = query_object(soql)
        except ConfigError:  # not readable here: Salesforce answers with its MALFORMED_QUERY and caret
            columns = object_name = None
        head = soql.upper().split(" FROM ", 1)[0]
        bulk_ok = "(" not in head and " GROUP BY " not in soql.upper() and " OFFSET " not in soql.upper()
        if bulk and not bulk_ok:
            raise ConfigError(
                "Bulk API 2.0 cannot run this query (subqueries, aggregates, FIELDS() and OFFSET are REST "
                "only); pass bulk=False"
            )
        frame: pd.DataFrame | None = None
        if bulk:
            frame = await self._bulk(soql, include_deleted)
        else:
            switch = self.bulk_threshold if bulk is None and bulk_ok else None
            records, total = await self._rest_pages(soql, include_deleted, switch)
            if switch is not None and total is not None and total > switch and not records:
                frame = await self._bulk(soql, include_deleted)
            else:
                aggregate = columns is None or any(c.startswith("expr") for c in columns)
                frame = flatten(records, None if aggregate else columns)
        if frame.empty and not len(frame.columns) and columns:
            frame = pd.DataFrame(columns=columns)
        if typed and object_name is not None:
            frame = coerce(frame, await self._column_fields(object_name, list(frame.columns)))
        return frame

    @twin_of(afetch)
    def fetch(self, *args: Any, **kwargs: Any) -> pd.DataFrame:
        return _runtime.run_sync(self.afetch(*args, **kwargs))

    @on_loop
    async def apush(
        self,
        object_name: str,
        frame: pd.DataFrame,
        id_column: str = "Id",
        *,
        dry_run: bool = False,
        batch_size: int = COLLECTION_LIMIT,
        all_or_none: bool = False,
        allow_new_picklist_values: bool = False,
    ) -> PushReport:
        """Write the non-id columns of ``frame`` back, changed cells only, through sObject Collections.

        Parameters
        ----------
        object_name : str
            ``"Case"``, ``"Account"``...
        frame : DataFrame
            ``id_column`` plus one column per field (API names, ``AI_Sentiment__c``). NaN/None cells
            are skipped; ``""`` clears a field.
        id_column : str
            ``"Id"`` updates existing records. An external id field (``"Ticket_Id__c"``) upserts:
            matching records are updated, the others created.
        dry_run : bool
            Check, read and diff only: the report's ``diff`` is what would change; nothing is written.
        batch_size : int
            Records per collection call (at most 200).
        all_or_none : bool
            Roll a whole call back when one record in it fails (Salesforce's ``allOrNone``).
        allow_new_picklist_values : bool
            Send values that are not in an unrestricted picklist's list (restricted ones never).

        Returns
        -------
        PushReport
            Counts, the ``diff`` and a ``failed`` DataFrame (id, property, error, status, category) with
            every cell that could not be written: refused by ``describe`` before sending (a picklist
            value not in the list, a text too long, a number that is not one), or by Salesforce.

        Raises
        ------
        PushError
            A column is not a field of the object, or read-only; ``id_column`` is not an external id.
        CRMError
            The session was refused, or the org could not be read.

        Examples
        --------
        >>> report = sf.push("Case", cases[["Id", "AI_Sentiment__c", "AI_Summary__c"]])     # doctest: +SKIP
        >>> report.failed                                                                   # doctest: +SKIP
        >>> await sf.apush("Case", df, id_column="Ticket_Id__c")                            # doctest: +SKIP
        """
        return await run_push(
            self, object_name, frame, id_column, dry_run, batch_size, all_or_none, allow_new_picklist_values
        )

    def tools(self, *, read_only: bool = True, objects: Sequence[str] | None = None) -> list[Any]:
        """Tools for ``ai.run``: search records by exact field filters and get one by Id;
        ``update_record`` (dry-run diff first) only with ``read_only=False``
        (:mod:`aikit.connectors.crm_tools`)."""
        from aikit.connectors.crm_tools import SALESFORCE_OBJECTS, tools

        return tools(
            self,
            read_only=read_only,
            objects=objects or SALESFORCE_OBJECTS,
            id_field="Id",
            id_column="Id",
            free_text=False,
        )

    @twin_of(apush)
    def push(self, *args: Any, **kwargs: Any) -> PushReport:
        return _runtime.run_sync(self.apush(*args, **kwargs))

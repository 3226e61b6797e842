"""Incremental sync for :class:`aikit.HubSpot`: only what changed since last time, past the search cap.

``crm.sync("tickets", properties=[...])`` reads every record on the first run and, on later runs,
only the records modified since the saved cursor (``hs_lastmodifieddate``; ``lastmodifieddate`` on
contacts). The plan (:mod:`aikit.connectors.sync_plan`) splits any time window holding more than the
search API can reach (10,000) by bisection and reads each window by id keyset, so nothing is lost to
the cap or to records changing mid-read; search requests are paced to the search API's own limit (5
per second). The position lives in :class:`~aikit.connectors.sync_state.SyncState` under
``$AIKIT_HOME``, keyed by portal and object type: every page lands there together with the progress
that says it was read, and the cursor moves only once a slice has landed, so a run killed at any point
is resumed by the next one without fetching a committed page again or missing a record. The records
are handed over (and cleared from the state) when the call returns.

``crm.sync_into(df)`` applies the changes to a frame from an earlier sync: changed rows replaced,
new ones appended, deleted ones dropped.

>>> crm = aikit.HubSpot(token=server.token, base_url=server.url)            # doctest: +SKIP
>>> tickets, report = crm.sync("tickets", ["subject", "hs_pipeline_stage"])  # doctest: +SKIP
>>> tickets, report = crm.sync_into(tickets)           # tomorrow: only the changes  # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import email.utils
import logging
import time
from collections.abc import Sequence
from typing import Any, Protocol

import pandas as pd

from aikit import _runtime
from aikit._runtime import twin_of
from aikit.connectors.frames import coerce, records_frame
from aikit.connectors.pacing import WindowPacer
from aikit.connectors.session import ApiSession, on_loop
from aikit.connectors.sync_plan import (
    Window,
    modified_ms,
    modified_property,
    next_cursor,
    probe_limit,
    quantile_body,
    search_body,
    split,
    split_at,
    to_ms,
)
from aikit.connectors.sync_report import SyncReport
from aikit.connectors.sync_state import SavedState, SyncState
from aikit.exceptions import ConfigError, CRMError

__all__ = ["SyncMethods", "SyncTarget", "merge_changes"]

log = logging.getLogger("aikit.connectors")
PAGE = 200
#: How far the next run looks back by default (seconds): a write can take a while to be searchable.
LOOKBACK_S = 60.0
ATTRS_KEY = "aikit.sync"


class SyncTarget(Protocol):
    """What a sync needs from a CRM client (:class:`aikit.HubSpot` is one)."""

    base_url: str
    search_cap: int
    search_pacer: WindowPacer

    @property
    def session(self) -> ApiSession: ...

    async def aproperty_types(self, object_type: str, refresh: bool = False) -> dict[str, str]: ...


def _now_ms() -> int:
    return int(time.time() * 1000)


async def _portal(hs: SyncTarget) -> tuple[str, int]:
    """``("hubspot:<portal id>" or the base URL, the server's clock in ms)``, from one cheap call."""
    try:
        resp = await hs.session.request("GET", "/account-info/v3/details", what="read the account details")
    except CRMError as exc:
        if exc.status not in (403, 404):
            raise
        log.info("account details unavailable (HTTP %s): sync state is keyed by base URL", exc.status)
        return hs.base_url, _now_ms()
    server = _now_ms()
    with_date = resp.headers.get("date")
    if with_date:
        with contextlib.suppress(TypeError, ValueError):
            server = int(email.utils.parsedate_to_datetime(with_date).timestamp() * 1000)
    portal = resp.json().get("portalId")
    return (f"hubspot:{portal}" if portal else hs.base_url), min(server, _now_ms())


class _Run:
    """One sync run: reads windows, commits pages, hands the records over."""

    def __init__(
        self, hs: SyncTarget, state: SyncState, saved: SavedState, t: str, report: SyncReport
    ) -> None:
        self.hs, self.state, self.saved, self.t, self.report = hs, state, saved, t, report
        self.prop = modified_property(t)
        #: The run's lower bound (None: a full run), kept in the progress so a resumed run reports it.
        self.start: int | None = None

    async def page(self, window: Window) -> dict[str, Any]:
        body = search_body(
            self.prop, self.saved.properties, window, probe_limit(window, self.hs.search_cap, PAGE)
        )
        resp = await self.hs.session.request(
            "POST",
            f"/crm/v3/objects/{self.t}/search",
            what=f"sync {self.t}",
            json_body=body,
            pacer=self.hs.search_pacer,
        )
        self.report.requests += 1
        page: dict[str, Any] = resp.json()
        return page

    async def oldest_at(self, window: Window, cap: int) -> int | None:
        """When the window's ``cap``-th oldest record was modified (where to cut it)."""
        resp = await self.hs.session.request(
            "POST",
            f"/crm/v3/objects/{self.t}/search",
            what=f"sync {self.t}",
            json_body=quantile_body(self.prop, window, cap),
            pacer=self.hs.search_pacer,
        )
        self.report.requests += 1
        results = resp.json().get("results") or []
        self.report.probed += len(results)
        return modified_ms(results[0], self.prop) if results else None

    async def earliest(self) -> tuple[int | None, int]:
        """The oldest modification time (a full run starts there, not at 1970) and the record count."""
        body = {
            "sorts": [{"propertyName": self.prop, "direction": "ASCENDING"}],
            "limit": 1,
            "properties": [self.prop],
        }
        resp = await self.hs.session.request(
            "POST",
            f"/crm/v3/objects/{self.t}/search",
            what=f"sync {self.t}",
            json_body=body,
            pacer=self.hs.search_pacer,
        )
        self.report.requests += 1
        body = resp.json()
        results = body.get("results") or []
        self.report.probed += len(results)
        return (modified_ms(results[0], self.prop) if results else None), int(body.get("total", 0))

    async def windows(
        self, windows: list[Window], run_at: int, lookback_ms: int, ties: dict[str, int]
    ) -> None:
        stack = list(reversed(windows))
        cap = self.hs.search_cap
        while stack:
            window = stack.pop()
            page = await self.page(window)
            total = int(page.get("total", 0))
            if window.after is None and total > cap:
                halves = split_at(window, await self.oldest_at(window, cap), total, cap)
                halves = halves or split(window, run_at, total)
                if halves is not None:
                    self.report.splits += 1
                    self.report.probed += len(page.get("results") or [])
                    stack += [halves[1], halves[0]]
                    continue
            self.report.expected += total
            while True:
                results = page.get("results") or []
                kept, mods = [], []
                for record in results:
                    self.report.fetched += 1
                    mod = modified_ms(record, self.prop)
                    if mod is not None and ties.get(str(record["id"])) == mod:
                        self.report.skipped += 1
                        continue
                    kept.append(record)
                    mods.append(mod)
                if results:
                    window = window.resume(int(results[-1]["id"]))
                if results and total > len(results):  # more ids after the last one: commit, read on
                    self.saved.progress = {"lo": window.lo, "hi": window.hi, "after": window.after,
                                           "run_at": run_at, "start": self.start}  # fmt: skip
                    self.state.commit(self.saved, kept, mods)
                    page = await self.page(window)
                    total = int(page.get("total", 0))
                    continue
                self.report.slices += 1
                self.saved.next_lo = cursor = next_cursor(window, run_at, lookback_ms)
                done = {k: v for k, v in ties.items() if v >= cursor}
                done |= {
                    str(r["id"]): m for r, m in zip(kept, mods, strict=True) if m is not None and m >= cursor
                }
                done |= self.state.pending_modified(self.saved.key, cursor)
                self.saved.ties = done
                self.saved.progress = None  # between slices a restart is a new run from the cursor
                self.state.commit(self.saved, kept, mods)
                break

    async def deleted(self, since: int | None, until: int, lookback_ms: int) -> None:
        """Ids archived (or merged away) since the last run, from the list API (no search cap)."""
        found: dict[str, int] = {}
        after: str | None = None
        while True:
            params: list[tuple[str, str]] = [
                ("limit", "100"),
                ("archived", "true"),
                ("properties", "hs_object_id"),
            ]
            if after:
                params.append(("after", after))
            resp = await self.hs.session.request(
                "GET", f"/crm/v3/objects/{self.t}", what=f"list archived {self.t}", params=params
            )
            body = resp.json()
            for record in body.get("results", []):
                at = to_ms(record.get("archivedAt")) or 0
                oid = str(record["id"])
                if (since is None or at >= since) and self.saved.del_ties.get(oid) != at:
                    found[oid] = at
            after = ((body.get("paging") or {}).get("next") or {}).get("after")
            if not after:
                break
        floor = until - lookback_ms
        self.saved.del_lo = floor
        self.saved.del_ties = {k: v for k, v in {**self.saved.del_ties, **found}.items() if v >= floor}
        self.state.commit(self.saved, deleted=found)


async def run(
    hs: SyncTarget,
    state: SyncState,
    object_type: str,
    properties: Sequence[str] | None,
    *,
    name: str,
    since: Any,
    full: bool,
    deleted: bool,
    lookback: float,
    typed: bool,
) -> tuple[pd.DataFrame, SyncReport]:
    """The body of :meth:`SyncMethods.async_` (documented there)."""
    if not isinstance(object_type, str) or not object_type:
        raise ConfigError("object_type must be a CRM object type such as 'tickets'")
    if lookback < 0:
        raise ConfigError("lookback must be >= 0 seconds")
    started = time.monotonic()
    wanted = None if properties is None else [str(p) for p in properties]
    portal, server_now = await _portal(hs)
    key = state.key(portal, object_type, name)
    report = SyncReport(object_type, name)
    retries_before = hs.session.stats["retries"]
    state.acquire(key)
    try:
        saved = state.load(key) or SavedState(key, portal, object_type, name)
        if full:
            saved.next_lo, saved.ties, saved.progress, saved.properties = None, {}, None, None
            saved.del_lo, saved.del_ties = None, {}
        if wanted is None:
            wanted = saved.properties
        elif saved.properties is not None and (saved.next_lo is not None or saved.progress) and since is None:
            missing = sorted(set(wanted) - set(saved.properties))
            if missing:
                raise ConfigError(
                    f"state {name!r} of {object_type} was synced with properties {saved.properties}; "
                    f"{missing} were never read for the records that did not change. Pass full=True to read "
                    f"everything again with the new properties, or use another state= name"
                )
        saved.properties = wanted
        report.recovered = state.count_pending(key)
        report.resumed = report.recovered > 0
        sync = _Run(hs, state, saved, object_type, report)
        lookback_ms = int(lookback * 1000)
        progress = saved.progress
        if progress is not None and since is None:
            report.resumed = True
            run_at = int(progress["run_at"])
            sync.start = progress.get("start")
            report.previous = None if sync.start is None else pd.Timestamp(sync.start, unit="ms", tz="UTC")
            first = Window(int(progress["lo"]), progress["hi"], progress["after"])
            windows = [first] + (
                [Window(int(progress["hi"]) + 1, None)] if progress["hi"] is not None else []
            )
            ties = saved.ties
        else:
            run_at = server_now
            lo = to_ms(since) if since is not None else saved.next_lo
            ties = saved.ties if since is None else {}
            report.full = lo is None
            report.previous = None if lo is None else pd.Timestamp(lo, unit="ms", tz="UTC")
            expect = None
            if lo is None:
                lo, expect = await sync.earliest()
            sync.start = None if report.full else lo
            windows = [] if lo is None else [Window(lo, None, expect=expect)]
            saved.progress = None
        await sync.windows(windows, run_at, lookback_ms, ties)
        if not windows and saved.next_lo is None:
            saved.next_lo = run_at - lookback_ms  # an empty portal: the next run starts about now
        if deleted:
            await sync.deleted(saved.del_lo, run_at, lookback_ms)
        saved.progress = None
        saved.runs += 1
        records, gone = state.pending(key)
        frame = records_frame(records, wanted, [])
        if typed:
            try:
                frame = coerce(frame, await hs.aproperty_types(object_type))
            except CRMError as exc:
                if exc.status not in (401, 403, 404):
                    raise
        frame.attrs[ATTRS_KEY] = {"object_type": object_type, "state": name, "properties": wanted}
        report.ids, report.deleted = list(frame["id"]), gone
        report.delivered = len(frame)
        report.cursor = None if saved.next_lo is None else pd.Timestamp(saved.next_lo, unit="ms", tz="UTC")
        report.retries = hs.session.stats["retries"] - retries_before
        report.seconds = time.monotonic() - started
        state.hand_over(saved)
    finally:
        state.release(key)
    return frame, report


def merge_changes(
    frame: pd.DataFrame, changes: pd.DataFrame, deleted: Sequence[str], id_column: str = "id"
) -> pd.DataFrame:
    """``frame`` with ``changes`` applied by id: changed rows replaced in place, new rows appended,
    ``deleted`` ids dropped. Columns only ``frame`` has (your analysis) are left empty on changed
    rows: the record changed, so what was derived from it is stale.

    >>> old = pd.DataFrame({"id": ["1", "2", "3"], "subject": ["a", "b", "c"], "ai_label": ["x", "y", "z"]})
    >>> new = pd.DataFrame({"id": ["2", "4"], "subject": ["B", "d"]})
    >>> merge_changes(old, new, ["3"]).to_dict("list")
    {'id': ['1', '2', '4'], 'subject': ['a', 'B', 'd'], 'ai_label': ['x', nan, nan]}
    """
    if id_column not in frame.columns:
        raise ConfigError(f"the DataFrame has no {id_column!r} column to merge the changes by")
    ids = frame[id_column].astype(str)
    changed = changes[id_column].astype(str)
    drop = set(deleted) | set(changed)
    kept = frame[~ids.isin(drop)]
    fresh = changes.rename(columns={"id": id_column}) if id_column != "id" else changes
    merged = pd.concat([kept, fresh], ignore_index=True, sort=False)
    order = [i for i in dict.fromkeys(ids) if i not in set(deleted)]
    order += [i for i in changed if i not in set(ids)]
    position = {oid: n for n, oid in enumerate(order)}
    merged = merged.iloc[merged[id_column].astype(str).map(position).argsort(kind="stable")].reset_index(
        drop=True
    )
    columns = list(frame.columns) + [c for c in changes.columns if c not in frame.columns]
    return merged[columns]


class SyncMethods:
    """The sync methods of :class:`aikit.HubSpot` (kept here so each module holds one idea)."""

    _sync_state: SyncState | None = None

    @property
    def sync_state(self) -> SyncState:
        """Where this client's syncs keep their position (default: ``$AIKIT_HOME/sync/state.sqlite``)."""
        if self._sync_state is None:
            self._sync_state = SyncState()
        return self._sync_state

    @sync_state.setter
    def sync_state(self, value: SyncState) -> None:
        self._sync_state = value

    @on_loop
    async def async_(
        self,
        object_type: str,
        properties: Sequence[str] | None = None,
        *,
        since: Any = None,
        state: str = "default",
        full: bool = False,
        deleted: bool = False,
        lookback: float = LOOKBACK_S,
        typed: bool = True,
    ) -> tuple[pd.DataFrame, SyncReport]:
        """The records changed since the last sync (everything on the first run), and a report.

        Parameters
        ----------
        object_type : str
            ``"tickets"``, ``"contacts"``, ``"deals"``...
        properties : list of str, optional
            Properties to read (default: those of the last run, else the API's defaults). Adding a
            property to an existing state needs ``full=True`` (records that did not change were never
            read with it).
        since : timestamp, optional
            Read changes from this time on (inclusive) instead of the saved cursor: ISO-8601 text,
            epoch milliseconds, a datetime or Timestamp.
        state : str
            The name of the saved position; runs with the same portal, object type and name continue
            each other. Positions live in :attr:`sync_state`.
        full : bool
            Forget the saved position and read everything.
        deleted : bool
            Also report the ids archived (or merged away) since the last run, in ``report.deleted``
            (from the list API; on a first run, every archived id it lists).
        lookback : float
            Seconds the next run looks back before this run's start, for writes that became
            searchable late. Versions already delivered are skipped, never delivered twice.
        typed : bool
            Type the columns from the property definitions, as :meth:`fetch` does.

        Returns
        -------
        (DataFrame, SyncReport)
            One row per changed record (``id``, the properties, ``created_at``, ``updated_at``); the
            report counts what was fetched, expected, skipped and split, and gives the new cursor.

        Raises
        ------
        SyncError
            Another run holds the same state, or the state file cannot be read or written.
        ConfigError
            New properties on an existing state without ``full=True``; a bad ``since``.
        CRMError
            The token was rejected, or the CRM could not be read after retries (the position of the
            last committed page is kept; the next run resumes there).

        Examples
        --------
        >>> tickets, report = crm.sync("tickets", ["subject", "hs_pipeline_stage"])   # doctest: +SKIP
        >>> changes, report = crm.sync("tickets", deleted=True)                       # doctest: +SKIP
        >>> report.deleted                                                            # doctest: +SKIP
        >>> changes, report = await crm.async_("deals", ["amount", "dealstage"])       # doctest: +SKIP
        """
        target: Any = self
        return await run(
            target,
            self.sync_state,
            object_type,
            properties,
            name=state,
            since=since,
            full=full,
            deleted=deleted,
            lookback=lookback,
            typed=typed,
        )

    @twin_of(async_)
    def sync(self, *args: Any, **kwargs: Any) -> tuple[pd.DataFrame, SyncReport]:
        return _runtime.run_sync(self.async_(*args, **kwargs))

    @on_loop
    async def async_into(
        self,
        frame: pd.DataFrame,
        object_type: str | None = None,
        *,
        state: str | None = None,
        deleted: bool = True,
        lookback: float = LOOKBACK_S,
    ) -> tuple[pd.DataFrame, SyncReport]:
        """Bring a frame from an earlier sync up to date: changed rows replaced, new rows appended,
        deleted ones dropped (see :func:`merge_changes`).

        Parameters
        ----------
        frame : DataFrame
            A frame with an ``id`` column, usually returned by :meth:`sync` (which remembers the object
            type, state and properties in ``frame.attrs``).
        object_type, state : str, optional
            Needed only when ``frame`` does not carry them (for example after ``pd.concat``).
        deleted : bool
            Drop the rows of records archived or merged away since the last run.
        lookback : float
            As in :meth:`sync`.

        Returns
        -------
        (DataFrame, SyncReport)
            The updated frame (a new object) and the sync's report (``report.ids``: what changed).

        Examples
        --------
        >>> tickets, _ = crm.sync("tickets", ["subject", "hs_ticket_priority"])   # doctest: +SKIP
        >>> tickets, report = crm.sync_into(tickets)                              # doctest: +SKIP
        """
        if not isinstance(frame, pd.DataFrame):
            raise ConfigError("sync_into expects the DataFrame of an earlier sync")
        meta = frame.attrs.get(ATTRS_KEY) or {}
        t = object_type or meta.get("object_type")
        if not t:
            raise ConfigError("this frame does not say which object type it holds; pass object_type=...")
        name = state or meta.get("state") or "default"
        changes, report = await self.async_(
            t, meta.get("properties"), state=name, deleted=deleted, lookback=lookback
        )
        merged = merge_changes(frame, changes, report.deleted)
        merged.attrs[ATTRS_KEY] = {
            **meta,
            "object_type": t,
            "state": name,
            "properties": changes.attrs[ATTRS_KEY]["properties"],
        }
        return merged, report

    @twin_of(async_into)
    def sync_into(self, *args: Any, **kwargs: Any) -> tuple[pd.DataFrame, SyncReport]:
        return _runtime.run_sync(self.async_into(*args, **kwargs))

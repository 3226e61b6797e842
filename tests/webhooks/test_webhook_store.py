"""The store's queries on a real file: insert and dedupe, claim, results, marks, memo, replay, reads.

What a method wrote is read back with the ``select`` fixture (the test's own connection), so a query
that only agrees with itself cannot pass.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from aikit.exceptions import WebhookError
from aikit.webhooks.store import NewEvent, Run, Store


def _event(key: str, status: str = "received", source: str = "s", event_type: str = "t") -> NewEvent:
    return NewEvent(
        source, key, key, event_type, time.time(), None, "{}", "", b"{}", "application/json", "github", status
    )


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    opened = Store(tmp_path / "s.sqlite")
    opened.open()
    try:
        yield opened
    finally:
        opened.close()


def test_insert_dedupes_per_source_and_key(store: Store, select: Callable[..., Any]) -> None:
    assert store.insert([_event("a"), _event("b"), _event("a")]) == [True, True, False]
    assert store.insert([_event("a", source="other")]) == [True]  # the key is per source

    async def from_the_loop() -> list[bool]:
        return await store.insert_async([_event("c"), _event("b")])

    assert asyncio.run(from_the_loop()) == [True, False]
    assert store.count() == 4 and store.count("s") == 3 and store.count("nope") == 0
    keys = [(r["source"], r["dedupe_key"]) for r in select(store, "SELECT * FROM events ORDER BY id")]
    assert keys == [("s", "a"), ("s", "b"), ("other", "a"), ("s", "c")]


def test_recover_puts_processing_rows_back(store: Store, select: Callable[..., Any]) -> None:
    store.insert([_event("p", "processing"), _event("d", "done")])
    assert store.recover() == 1
    assert dict(select(store, "SELECT dedupe_key, status FROM events")) == {"p": "pending", "d": "done"}


def test_claim_takes_the_first_due_wanted_event_once(store: Store, select: Callable[..., Any]) -> None:
    store.insert(
        [
            _event("1", "pending", event_type="skip"),
            _event("2", "pending", event_type="take"),
            _event("3", "pending", source="elsewhere", event_type="take"),
            _event("4", "received", event_type="take"),
        ]
    )
    wanted_types: list[str | None] = []

    def wanted(source: str, event_type: str | None) -> bool:
        wanted_types.append(event_type)
        return event_type == "take"

    row = store.claim(["s"], wanted)
    assert row is not None and row["dedupe_key"] == "2" and row["attempts"] == 1
    assert "skip" in wanted_types
    assert select(store, "SELECT status FROM events WHERE dedupe_key='2'")[0][0] == "processing"
    assert store.claim(["s"], wanted) is None  # nothing else due for these sources
    commits = store.commits
    assert store.claim(["s"], lambda source, event_type: False) is None
    assert store.commits == commits  # an idle claim reads; it never opens a write transaction


def test_failed_events_come_back_when_their_retry_is_due(store: Store, select: Callable[..., Any]) -> None:
    store.insert([_event("f", "pending")])
    row = store.claim(["s"], lambda s, t: True)
    assert row is not None
    store.start_run(row["id"], "s:*:h", 1)
    assert store.runs(row["id"])["s:*:h"].status == "running"
    retry_at = time.time() + 60
    store.settle(row["id"], [Run("s:*:h", "failed", 1, retry_at, "boom")], [], "failed", retry_at, "boom")
    assert store.claim(["s"], lambda s, t: True) is None  # not due yet
    again = store.claim(["s"], lambda s, t: True, now=time.time() + 61)
    assert again is not None and again["attempts"] == 2 and again["last_error"] == "boom"
    store.settle(row["id"], [Run("s:*:h", "dead", 2, 0.0, "still boom")], [], "dead", 0.0, "still boom")
    status, error = select(store, "SELECT status, last_error FROM events")[0]
    assert (status, error) == ("dead", "still boom")
    assert [(r["id"], r["handler"], r["attempts"]) for r in store.dead_runs()] == [(row["id"], "s:*:h", 2)]
    assert store.unsettled() == 0


def test_results_runs_and_requeue(store: Store, select: Callable[..., Any]) -> None:
    store.insert([_event("r", "pending")])
    row = store.claim(["s"], lambda s, t: True)
    assert row is not None
    rid = row["id"]
    assert store.unsettled() == 1
    runs = [Run("s:*:first", "done", 1, 0.0, None), Run("s:*:second", "done", 1, 0.0, None)]
    store.settle(rid, runs, [("s:*:first", '{"n": 1}'), ("s:*:second", "null")], "done", 0.0, None)
    assert set(store.runs(rid)) == {"s:*:first", "s:*:second"}
    assert sorted(store.results_from(rid)) == [(rid, "s:*:first", '{"n": 1}'), (rid, "s:*:second", "null")]
    assert store.status_counts() == {"done": 1} and store.unsettled() == 0
    store.set_memo(rid, "summary", '"kept"')
    store.requeue(rid, "s:*:second")  # one handler only
    assert set(store.runs(rid)) == {"s:*:first"}
    store.requeue(rid)
    assert store.runs(rid) == {} and store.memo(rid, "summary") == '"kept"'
    status, attempts, error = select(store, "SELECT status, attempts, last_error FROM events")[0]
    assert (status, attempts, error) == ("pending", 0, None)


def test_prune_deletes_old_handled_events_only(store: Store, select: Callable[..., Any]) -> None:
    store.insert([_event("old", "received"), _event("keep", "pending")])
    store.set_memo(1, "k", '"v"')
    assert store.prune(before=time.time() - 3600) == 0  # nothing is that old
    assert store.prune(before=time.time() + 1) == 1  # the received one goes, the pending one stays
    assert [r[0] for r in select(store, "SELECT dedupe_key FROM events")] == ["keep"]
    assert select(store, "SELECT count(*) FROM memo")[0][0] == 0


def test_memo_values_are_per_event_and_key(store: Store) -> None:
    store.insert([_event("m1"), _event("m2")])
    assert store.memo(1, "k") is None
    store.set_memo(1, "k", "[1, 2]")
    store.set_memo(1, "k", "[3]")  # replaced, not duplicated
    assert store.memo(1, "k") == "[3]" and store.memo(2, "k") is None and store.memo(1, "other") is None


def test_find_by_row_id_or_provider_event_id(store: Store) -> None:
    store.insert([_event("x", source="a"), _event("x", source="b")])
    assert store.find(1) == (1, "a", "t")
    assert store.find("x") == (2, "b", "t")  # the newest row carrying that provider id
    assert store.find(99) is None and store.find("nope") is None

    class NumpyLike(int):  # numbers.Integral, like numpy.int64 from hook.events()["id"]
        pass

    assert store.find(NumpyLike(2)) == (2, "b", "t")


def test_events_filters_oldest_first_and_limit_keeps_newest(store: Store) -> None:
    store.insert(
        [_event(f"e{i}", "pending" if i % 2 else "received", event_type=f"t{i % 3}") for i in range(6)]
    )
    assert [r["id"] for r in store.events()] == [1, 2, 3, 4, 5, 6]
    assert [r["id"] for r in store.events(limit=2)] == [5, 6]
    assert [r["id"] for r in store.events(status="pending")] == [2, 4, 6]
    assert [r["id"] for r in store.events(event_type="t0", status="received")] == [1]
    assert store.events(since=time.time() + 60) == [] and len(store.events(since=0.0)) == 6
    assert store.events(source="other") == []
    assert [r["id"] for r in store.recent(2)] == [6, 5]
    assert set(store.recent(1)[0]) == {"id", "source", "event_type", "status", "received_at", "last_error"}


def test_reading_needs_no_writer_and_the_file_is_created_only_on_open(tmp_path: Path) -> None:
    store = Store(tmp_path / "later" / "s.sqlite")
    assert not store.exists and not store.is_open
    with pytest.raises(WebhookError, match="closed"):
        store.insert([_event("a")])
    store.open()
    store.insert([_event("a")])
    store.close()
    assert store.exists and not store.is_open
    assert store.count() == 1 and store.status_counts() == {"received": 1}  # read after close


def test_unwritable_location_is_a_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(WebhookError, match="cannot open the webhook store"):
        Store(blocker / "sub" / "s.sqlite").open()


def test_a_locked_database_fails_the_write_not_the_writer(store: Store) -> None:
    """Another process holding the write lock: the insert fails (the app answers 503), later ones work."""
    other = sqlite3.connect(store.path, timeout=0.1, isolation_level=None)
    store.writer.call(lambda c: c.execute("PRAGMA busy_timeout=100"))
    try:
        other.execute("BEGIN IMMEDIATE")
        with pytest.raises(sqlite3.OperationalError, match="locked"):
            store.insert([_event("blocked")])
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert store.insert([_event("after")]) == [True]

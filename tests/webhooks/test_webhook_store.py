"""The store on its own: durable pragmas, group commit, failure isolation, checkpoints, recovery."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from aikit.exceptions import WebhookError
from aikit.webhooks.store import INSERT_SQL, Store


def _row(key: str, status: str = "received") -> tuple[object, ...]:
    return ("s", key, key, "t", time.time(), None, "{}", "", b"{}", "application/json", "github", status)


def _insert(key: str) -> Callable[[sqlite3.Connection], bool]:
    return lambda conn: conn.execute(INSERT_SQL, _row(key)).rowcount == 1


def test_pragmas_are_durable(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.sqlite")
    store.open()
    try:
        assert store.call(lambda c: c.execute("PRAGMA journal_mode").fetchone()[0]) == "wal"
        assert store.call(lambda c: c.execute("PRAGMA synchronous").fetchone()[0]) == 2  # FULL
    finally:
        store.close()


def test_concurrent_requests_share_commits(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.sqlite")
    store.open()

    async def burst() -> list[bool]:
        futs = [store.submit_async(_insert(f"k{i}")) for i in range(200)]
        return list(await asyncio.gather(*futs))

    try:
        results = asyncio.run(burst())
        assert all(results) and store.batched == 200
        assert store.commits < 50  # grouped, not one fsync per event
        dup = asyncio.run(burst())
        assert not any(dup)  # the second time every key is a duplicate
        assert store.query("SELECT count(*) FROM events")[0][0] == 200
    finally:
        store.close()


def test_a_failing_operation_does_not_fail_its_batch(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.sqlite")
    store.open()

    def bad(conn: sqlite3.Connection) -> None:
        conn.execute("INSERT INTO no_such_table VALUES (1)")

    async def mixed() -> list[object]:
        futs = [store.submit_async(_insert("a")), store.submit_async(bad), store.submit_async(_insert("b"))]
        return list(await asyncio.gather(*futs, return_exceptions=True))

    try:
        ok_a, err, ok_b = asyncio.run(mixed())
        assert ok_a is True and ok_b is True and isinstance(err, sqlite3.OperationalError)
        assert store.query("SELECT count(*) FROM events")[0][0] == 2
    finally:
        store.close()
    with pytest.raises(WebhookError, match="closed"):
        store.call(lambda c: None)


def test_checkpoints_run_off_the_writer(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.sqlite", checkpoint_every=5)
    store.open()
    try:
        for i in range(30):
            store.call(_insert(f"c{i}"))
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            probe = sqlite3.connect(f"file:{tmp_path / 's.sqlite'}?mode=ro", uri=True)
            try:  # a reader that ignores the WAL sees only checkpointed pages
                pages = probe.execute("PRAGMA page_count").fetchone()[0]
            finally:
                probe.close()
            if pages > 1 and (tmp_path / "s.sqlite").stat().st_size > 4096 * 2:
                break
            time.sleep(0.05)
        assert (tmp_path / "s.sqlite").stat().st_size > 4096 * 2
    finally:
        store.close()


def test_recover_puts_processing_rows_back(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.sqlite")
    store.open()
    try:
        store.call(lambda c: c.execute(INSERT_SQL, _row("p", "processing")))
        store.call(lambda c: c.execute(INSERT_SQL, _row("d", "done")))
        assert store.recover() == 1
        assert dict(store.query("SELECT dedupe_key, status FROM events")) == {"p": "pending", "d": "done"}
    finally:
        store.close()


def test_unwritable_location_is_a_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(WebhookError, match="cannot open the webhook store"):
        Store(blocker / "sub" / "s.sqlite").open()

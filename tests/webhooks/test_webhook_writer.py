"""The writer on its own: durable pragmas, group commit, failure isolation, checkpoints, errors."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from aikit.exceptions import WebhookError
from aikit.webhooks.writer import Writer

SCHEMA = "CREATE TABLE IF NOT EXISTS t (k TEXT PRIMARY KEY, pad BLOB)"


def _insert(key: str) -> Callable[[sqlite3.Connection], bool]:
    sql = "INSERT INTO t VALUES (?, zeroblob(512)) ON CONFLICT (k) DO NOTHING"
    return lambda conn: conn.execute(sql, (key,)).rowcount == 1


def _count(path: Path) -> int:
    conn = sqlite3.connect(path)
    try:
        return int(conn.execute("SELECT count(*) FROM t").fetchone()[0])
    finally:
        conn.close()


def test_pragmas_are_durable(tmp_path: Path) -> None:
    writer = Writer(tmp_path / "s.sqlite")
    writer.open(SCHEMA)
    try:
        assert writer.call(lambda c: c.execute("PRAGMA journal_mode").fetchone()[0]) == "wal"
        assert writer.call(lambda c: c.execute("PRAGMA synchronous").fetchone()[0]) == 2  # FULL
    finally:
        writer.close()


def test_concurrent_requests_share_commits(tmp_path: Path) -> None:
    writer = Writer(tmp_path / "s.sqlite")
    writer.open(SCHEMA)

    async def burst() -> list[bool]:
        futs = [writer.submit_async(_insert(f"k{i}")) for i in range(200)]
        return list(await asyncio.gather(*futs))

    try:
        results = asyncio.run(burst())
        assert all(results) and writer.batched == 200
        assert writer.commits < 50  # grouped, not one fsync per event
        dup = asyncio.run(burst())
        assert not any(dup)  # the second time every key is a duplicate
        assert _count(tmp_path / "s.sqlite") == 200
    finally:
        writer.close()


def test_a_failing_operation_does_not_fail_its_batch(tmp_path: Path) -> None:
    writer = Writer(tmp_path / "s.sqlite")
    writer.open(SCHEMA)

    def bad(conn: sqlite3.Connection) -> None:
        conn.execute("INSERT INTO no_such_table VALUES (1)")

    async def mixed() -> list[object]:
        futs = [
            writer.submit_async(_insert("a")),
            writer.submit_async(bad),
            writer.submit_async(_insert("b")),
        ]
        return list(await asyncio.gather(*futs, return_exceptions=True))

    try:
        ok_a, err, ok_b = asyncio.run(mixed())
        assert ok_a is True and ok_b is True and isinstance(err, sqlite3.OperationalError)
        assert _count(tmp_path / "s.sqlite") == 2
    finally:
        writer.close()
    with pytest.raises(WebhookError, match="closed"):
        writer.call(lambda c: None)


def test_checkpoints_run_off_the_writer(tmp_path: Path) -> None:
    writer = Writer(tmp_path / "s.sqlite", checkpoint_every=5)
    writer.open(SCHEMA)
    try:
        for i in range(30):
            writer.call(_insert(f"c{i}"))
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
        writer.close()


def test_unwritable_location_is_a_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(WebhookError, match="cannot open the webhook store"):
        Writer(blocker / "sub" / "s.sqlite").open(SCHEMA)

"""The call log: queued off the hot path, batched into SQLite, read back as a typed DataFrame."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import pytest

from aikit.client.calllog import CallLog, CallRecord, calllog


def test_records_round_trip_with_types(tmp_path: Path) -> None:
    log = CallLog(tmp_path / "sub" / "calls.sqlite")
    log.record(CallRecord(provider="openai", model="m", outcome="retry", status=429, attempt=1, wait_s=0.4,
                          error="HTTP 429: slow down", session="s1"))  # fmt: skip
    ok = CallRecord(provider="openai", model="m", outcome="ok", status=200, attempt=2, input_tokens=10,
                    output_tokens=3, cost_usd=1e-6, latency_s=0.2, cache_key="k", session="s1")  # fmt: skip
    log.record(ok)
    log.record(CallRecord(provider="anthropic", model="c", outcome="cache_hit", attempt=0, cache_hit=True))
    df = log.frame()
    assert list(df.outcome) == ["retry", "ok", "cache_hit"]
    assert str(df.ts.dtype).startswith("datetime64") and df.ts.dt.tz is not None
    assert df.status.tolist()[:2] == [429, 200] and df.status.isna().tolist()[2]
    assert df.cache_hit.tolist() == [False, False, True] and df.cost_usd.iloc[1] == 1e-6
    assert len(log.frame({"provider": "openai"})) == 2 and len(log.frame(limit=1)) == 1
    assert log.frame(limit=1).outcome.iloc[0] == "cache_hit"
    with pytest.raises(ValueError, match="unknown call-log column"):
        log.frame({"api_key": "x"})
    assert (tmp_path / "sub" / "calls.sqlite").stat().st_mode & 0o077 == 0  # private file


def test_recording_is_cheap_and_batched(tmp_path: Path) -> None:
    log = CallLog(tmp_path / "calls.sqlite")
    n = 10_000
    t0 = time.perf_counter()
    for i in range(n):
        log.record(
            CallRecord(provider="openai", model="m", outcome="cache_hit", attempt=0, cache_key=f"k{i}")
        )
    per_record_us = (time.perf_counter() - t0) / n * 1e6
    log.flush()
    con = sqlite3.connect(tmp_path / "calls.sqlite")
    assert con.execute("SELECT count(*) FROM calls").fetchone()[0] == n
    con.close()
    assert per_record_us < 100  # a queue put, not an INSERT + COMMIT (about 200 µs)


def test_empty_or_missing_log_is_an_empty_frame(tmp_path: Path) -> None:
    df = CallLog(tmp_path / "nothing.sqlite").frame()
    assert df.empty and "outcome" in df.columns and not (tmp_path / "nothing.sqlite").exists()


def test_unwritable_path_never_raises_from_the_writer(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    log = CallLog(blocker / "calls.sqlite")
    log.record(CallRecord(provider="p", model="m", outcome="ok"))
    log.flush()
    assert log._writer.failures == 1
    assert capsys.readouterr() == ("", "")  # background threads never print


def test_default_log_follows_aikit_home(
    aikit_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert calllog().path == aikit_home / "calls.sqlite"
    monkeypatch.setenv("AIKIT_HOME", str(tmp_path / "elsewhere"))
    assert calllog().path == tmp_path / "elsewhere" / "calls.sqlite"

"""Jobs survive the kernel: a process killed (SIGKILL) while waiting, then a new process re-running the
same cell, makes no new submission and completes the frame; duplicates are never submitted twice."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

import aikit
from aikit.client import AI
from aikit.testing import FakeProvider

CELL = textwrap.dedent(
    """
    import sys, pandas as pd, aikit
    ai = aikit.AI("openai:gpt-4o-mini", base_url=sys.argv[1])  # the key comes from OPENAI_API_KEY
    df = pd.DataFrame({"text": [f"row {i}" for i in range(int(sys.argv[2]))]})
    out = df.ai.map("Summarise: {text}", ai=ai, mode="batch", wait=0.1, progress="log")
    out.to_json(sys.argv[3])
    """
)


def run_cell(script: Path, fake: FakeProvider, rows: int, out: Path, home: Path) -> subprocess.Popen[bytes]:
    root = str(Path(aikit.__file__).resolve().parents[1])
    env = {
        **os.environ,
        "AIKIT_HOME": str(home),
        "OPENAI_API_KEY": fake.config.api_key or "",
        "PYTHONPATH": root,
    }
    cmd = [sys.executable, str(script), fake.base_url, str(rows), str(out)]
    return subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


@pytest.mark.slow
def test_sigkill_while_waiting_then_a_new_process_attaches(
    batches: Callable[..., Any], fake: FakeProvider, tmp_path: Path, aikit_home: Path
) -> None:
    batches(processing_s=4.0)
    script = tmp_path / "cell.py"
    script.write_text(CELL)
    out = tmp_path / "out.json"
    first = run_cell(script, fake, 30, out, aikit_home)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # until the job is recorded with its provider batch id
        jobs = aikit.jobs()
        if len(jobs) and jobs.iloc[0]["remote_ids"]:
            break
        assert first.poll() is None, first.stdout.read() if first.stdout else ""
        time.sleep(0.1)
    time.sleep(0.5)  # now it is waiting
    os.kill(first.pid, signal.SIGKILL)
    first.wait(10)
    assert first.returncode == -signal.SIGKILL and not out.exists()
    assert fake.batch_stats()["stats"]["batches"] == 1
    assert aikit.jobs().iloc[0]["status"] == "running"

    second = run_cell(script, fake, 30, out, aikit_home)
    log, _ = second.communicate(timeout=90)
    assert second.returncode == 0, log.decode()
    stats = fake.batch_stats()["stats"]
    assert stats["batches"] == 1 and stats["lines"] == 30 and stats["uploads"] == 1  # 0 new submissions
    frame = pd.read_json(out)
    assert frame["ai_output"].notna().all() and frame["ai_error"].isna().all() and len(frame) == 30
    job = aikit.jobs().iloc[0]
    assert len(aikit.jobs()) == 1 and job["status"] == "done" and job["counts"] == {"answered": 30}
    assert b"attached to job_" in log  # the progress log says so


def test_rerunning_the_cell_attaches_instead_of_submitting(
    openai_ai: AI, batches: Callable[..., Any], fake: FakeProvider
) -> None:
    batches(processing_s=1.0)
    df = pd.DataFrame({"text": [f"row {i}" for i in range(6)]})
    first = df.ai.map("S: {text}", ai=openai_ai, mode="batch", wait=False, progress=False)
    again = df.ai.map("S: {text}", ai=openai_ai, mode="batch", wait=False, progress=False)
    shuffled = df.sample(frac=1, random_state=1).ai.map(
        "S: {text}", ai=openai_ai, mode="batch", wait=False, progress=False
    )
    assert first.id == again.id == shuffled.id
    assert fake.batch_stats()["stats"]["batches"] == 1
    out = again.wait(wait=0.05)
    assert out["ai_error"].isna().all()
    assert fake.batch_stats()["stats"]["batches"] == 1 and len(aikit.jobs()) == 1
    # a finished job is not attached to again: its answers are cached, so nothing is sent at all
    assert (
        df.ai.map("S: {text}", ai=openai_ai, mode="batch", wait=0.05, progress=False)["ai_error"].isna().all()
    )
    assert fake.batch_stats()["stats"]["batches"] == 1


def test_a_part_recorded_but_never_created_is_created_on_attach(
    openai_ai: AI, batches: Callable[..., Any], fake: FakeProvider, aikit_home: Path
) -> None:
    from aikit._batch.batchmode import fingerprint
    from aikit._jobs.store import job_store

    df = pd.DataFrame({"text": ["a", "b"]})
    keys = [openai_ai.aio.cache_key(f"S: {t}") for t in df["text"]]
    store = job_store()
    spec = openai_ai.aio.spec
    record = store.claim(
        "provider_batch",
        fingerprint=fingerprint(spec.provider, openai_ai.aio._requests.base_url, spec.model, keys),
        name="crashed",
    )
    store.add_items(record.id, [("row-0", keys[0], [0]), ("row-1", keys[1], [1])])
    store.add_part(record.id, 0, ["row-0", "row-1"])  # the kernel died here, before the upload
    out = df.ai.map("S: {text}", ai=openai_ai, mode="batch", wait=0.05, progress=False)
    assert out["ai_error"].isna().all() and fake.batch_stats()["stats"]["batches"] == 1
    assert aikit.jobs().iloc[0]["id"] == record.id


def test_the_store_is_private_and_claims_are_exclusive(tmp_path: Path) -> None:
    import threading

    from aikit._jobs.store import JobStore

    store = JobStore(tmp_path / "state" / "jobs.sqlite")
    ids: list[str] = []
    threads = [
        threading.Thread(target=lambda: ids.append(store.claim("rest", fingerprint="fp").id))
        for _ in range(8)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(ids)) == 1
    assert (tmp_path / "state").stat().st_mode & 0o777 == 0o700
    for suffix in ("", "-wal"):
        path = Path(f"{store.path}{suffix}")
        assert not path.exists() or path.stat().st_mode & 0o777 == 0o600
    store.finish(ids[0], "done", summary={"answered": 1})
    assert store.claim("rest", fingerprint="fp").id != ids[0]
    assert store.claim("rest", fingerprint="fp", reuse_done=False).attached
    with pytest.raises(ValueError, match="finished status"):
        store.finish(ids[0], "running")
    assert json.loads(json.dumps(store.get(ids[0]).summary)) == {"answered": 1}

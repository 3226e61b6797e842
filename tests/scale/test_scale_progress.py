"""Summing worker reports on the driver: recomputed partitions are not counted twice, money is."""

from __future__ import annotations

from typing import Any

from aikit.scale.progress import PartitionReporter, RunTracker, register, snapshot_from_lineage


def _msg(part: int, attempt: str, final: bool = False, **counts: Any) -> dict[str, Any]:
    base = {"total": 10, "to_call": 10, "done": 0, "cached": 0, "failed": 0, "requests_finished": 0}
    return {"run": "r", "part": part, "attempt": attempt, "final": final, **base, **counts}


def test_a_recomputed_partition_counts_its_rows_once_and_its_costs_twice() -> None:
    t = RunTracker("r", npartitions=2)
    t.receive(_msg(0, "a", done=6, requests_finished=6, cost_usd=0.6, input_tokens=60))
    t.receive(_msg(1, "b", final=True, done=10, requests_finished=10, cost_usd=1.0, input_tokens=100))
    assert not t.finished
    # Partition 0's worker died; the recompute finds its first 6 answers in the shared cache.
    t.receive(_msg(0, "c", final=True, done=10, cached=6, requests_finished=4, cost_usd=0.4, input_tokens=40))
    t.receive(_msg(0, "a", done=7, requests_finished=7, cost_usd=0.7, input_tokens=70))  # a late straggler
    assert t.finished
    s = t.summary()
    assert (s["rows"], s["ok"], s["cached"]) == (20, 20, 6)
    assert s["calls"] == 7 + 10 + 4 and s["input_tokens"] == 210
    assert abs(s["cost_usd"] - 2.1) < 1e-9
    assert s["partition_attempts"] == 3 and s["partitions_done"] == 2


def test_unknown_cost_anywhere_makes_the_total_unknown_and_other_runs_are_ignored() -> None:
    t = RunTracker("r", npartitions=1)
    t.receive({**_msg(0, "a", final=True, done=10), "cost_usd": None})
    t.receive({**_msg(0, "z", done=10), "run": "other"})
    assert t.summary()["cost_usd"] is None and t.summary()["ok"] == 10


def test_total_is_extrapolated_until_every_partition_reported() -> None:
    t = RunTracker("r", npartitions=4)
    t.receive(_msg(0, "a", done=5))
    assert t.state().total == 40
    for part in range(4):
        t.receive(_msg(part, f"p{part}", final=True, total=9 + part, done=9 + part))
    assert t.state().total == 9 + 10 + 11 + 12


def test_reporter_without_a_dask_worker_delivers_to_the_local_tracker() -> None:
    tracker = register(RunTracker("local-run", npartitions=1))
    reporter = PartitionReporter("local-run", 0)
    reporter.send(
        snapshot_from_lineage({"counts": {"rows": 3, "ok": 3, "cached": 1, "calls": 2}, "calls": 2}),
        final=True,
    )
    assert tracker.finished and tracker.summary()["cached"] == 1


def test_replayed_or_out_of_order_reports_never_move_counts_backwards() -> None:
    t = RunTracker("r", npartitions=1)
    final = _msg(0, "a", final=True, done=10, requests_finished=10, cost_usd=1.0)
    t.receive(final)
    for stale in (_msg(0, "a", done=3, requests_finished=3, cost_usd=0.3), final):
        t.receive(stale)
    s = t.summary()
    assert (s["ok"], s["calls"], s["cost_usd"], s["partitions_done"]) == (10, 10, 1.0, 1)

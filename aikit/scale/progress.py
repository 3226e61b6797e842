"""Progress of a batch that runs on many Dask workers, summed on the driver.

Each partition runs aikit's ordinary batch engine on a worker. A :class:`PartitionReporter` sends
its counters (a small dict) a couple of times a second and once at the end through Dask's event
channel (``Worker.log_event`` -> ``Client.subscribe_topic``). On the driver, a :class:`RunTracker`
keeps the latest snapshot of each partition and sums them into one :class:`ProgressState`, which
aikit's usual views (a widget in a live kernel, log lines headless) display.

Rows are counted from the latest attempt of each partition, so a partition recomputed after its
worker died is not counted twice; tokens, cost and requests are summed over every attempt, because
a killed attempt's calls were paid for.

>>> tracker = RunTracker("run1", npartitions=2)
>>> tracker.receive({"run": "run1", "part": 0, "attempt": "a", "final": True,
...                  "total": 3, "to_call": 3, "done": 3, "cached": 1, "cost_usd": 0.5})
>>> tracker.summary()["ok"], tracker.finished
(3, False)
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Mapping
from typing import Any

from aikit._batch.progress import RATE_WINDOW_S, ProgressState, ProgressView

__all__ = ["TOPIC", "AggregateState", "PartitionReporter", "RunTracker", "register", "tracker_for"]

#: The Dask event topic partitions report on.
TOPIC = "aikit.scale.progress"
#: Minimum seconds between two live reports of one partition.
REPORT_EVERY_S = 0.5

_ROW_FIELDS = ("total", "to_call", "done", "cached", "failed", "skipped", "in_flight", "retrying")
_SPEND_FIELDS = ("retries", "requests_finished", "input_tokens", "output_tokens")

_registry_lock = threading.Lock()
_registry: dict[str, RunTracker] = {}


def snapshot(state: ProgressState) -> dict[str, Any]:
    """The counters of a worker-side :class:`ProgressState` as a msgpack-able dict."""
    data: dict[str, Any] = {name: int(getattr(state, name)) for name in _ROW_FIELDS + _SPEND_FIELDS}
    data["cost_usd"] = state.cost_usd
    return data


def snapshot_from_lineage(info: Mapping[str, Any]) -> dict[str, Any]:
    """The final counters of a partition from its result's ``attrs["aikit"]`` lineage."""
    counts = info.get("counts") or {}
    return {
        "total": int(counts.get("rows", 0)),
        "to_call": int(counts.get("calls", info.get("calls", 0)) or 0),
        "done": int(counts.get("ok", 0)),
        "cached": int(counts.get("cached", 0)),
        "failed": int(counts.get("failed", 0)),
        "skipped": int(counts.get("skipped", 0)),
        "in_flight": 0,
        "retrying": 0,
        "retries": int(counts.get("retries", 0)),
        "requests_finished": int(info.get("calls", 0) or 0),
        "input_tokens": int(info.get("input_tokens", 0) or 0),
        "output_tokens": int(info.get("output_tokens", 0) or 0),
        "cost_usd": info.get("cost_usd"),
    }


def _older(new: Mapping[str, Any], old: Mapping[str, Any]) -> bool:
    """True when ``new`` says less than ``old`` about the same attempt (reports only move forward)."""
    if old.get("final"):
        return True
    settled = ("done", "failed", "skipped", "requests_finished")
    return not new.get("final") and sum(int(new.get(k, 0)) for k in settled) < sum(
        int(old.get(k, 0)) for k in settled
    )


class AggregateState(ProgressState):
    """A :class:`ProgressState` whose request rate is measured from summed snapshots."""

    def __init__(self, total: int, to_call: int) -> None:
        super().__init__(total, to_call)
        self.rate = 0.0

    def rate_per_s(self) -> float:
        return self.rate


class RunTracker:
    """Driver-side sum of the snapshots of one distributed batch.

    Parameters
    ----------
    run_id : str
        The id every partition of the run reports with.
    npartitions : int
        How many partitions the run has (it is finished when each sent its final report).
    title : str
        Shown by the progress view.
    """

    def __init__(self, run_id: str, npartitions: int, title: str = "ddf.ai.map") -> None:
        self.run_id = run_id
        self.npartitions = npartitions
        self.title = title
        #: The progress choice of the run (None auto, True, False, "widget", "log", "off" or a view).
        self.progress: bool | str | ProgressView | None = None
        self.started = time.monotonic()
        self.finished_at: float | None = None
        self._lock = threading.Lock()
        self._current: dict[int, str] = {}  # partition -> its latest attempt
        self._rows: dict[int, dict[str, Any]] = {}  # partition -> latest snapshot of that attempt
        self._final: set[int] = set()
        self._spend: dict[tuple[int, str], dict[str, Any]] = {}  # every attempt's latest snapshot
        self._requests: list[tuple[float, int]] = []  # (time, requests started so far) samples

    def __repr__(self) -> str:
        return f"<RunTracker {self.run_id}: {len(self._final)}/{self.npartitions} partitions>"

    def receive(self, msg: Mapping[str, Any]) -> None:
        """Take one report (a dict sent by :class:`PartitionReporter`)."""
        if msg.get("run") != self.run_id:
            return
        part, attempt = int(msg["part"]), str(msg["attempt"])
        with self._lock:
            if self._current.get(part) != attempt and (part, attempt) not in self._spend:
                self._current[part] = attempt  # a new attempt: the partition is being (re)computed
                self._final.discard(part)
            previous = self._spend.get((part, attempt))
            if previous is not None and _older(msg, previous):
                return  # a duplicate or out-of-order report (e.g. replayed from the scheduler's log)
            self._spend[(part, attempt)] = dict(msg)
            if self._current.get(part) == attempt:
                self._rows[part] = dict(msg)
                if msg.get("final"):
                    self._final.add(part)
            if len(self._final) >= self.npartitions and self.finished_at is None:
                self.finished_at = time.monotonic()
            now = time.monotonic()
            self._requests.append((now, self._total_requests()))
            while self._requests and now - self._requests[0][0] > RATE_WINDOW_S:
                self._requests.pop(0)

    def _total_requests(self) -> int:
        return sum(
            int(s.get("requests_finished", 0)) + int(s.get("in_flight", 0)) for s in self._spend.values()
        )

    @property
    def finished(self) -> bool:
        """True once every partition has sent its final report."""
        return self.finished_at is not None

    @property
    def attempts(self) -> int:
        """Partition attempts seen (more than ``npartitions`` when some were recomputed)."""
        return len(self._spend)

    def state(self) -> AggregateState:
        """The summed counters as a :class:`ProgressState` for aikit's views."""
        with self._lock:
            rows = list(self._rows.values())
            spends = list(self._spend.values())
            samples = list(self._requests)
        total = sum(int(r.get("total", 0)) for r in rows)
        if rows and len(rows) < self.npartitions and self.finished_at is None:
            total = round(total / len(rows) * self.npartitions)  # extrapolated until all have started
        to_call = sum(int(r.get("to_call", 0)) for r in rows)
        state = AggregateState(total, to_call)
        state.started = self.started
        for name in ("done", "cached", "failed", "skipped", "in_flight", "retrying"):
            setattr(state, name, sum(int(r.get(name, 0)) for r in rows))
        for name in _SPEND_FIELDS:
            setattr(state, name, sum(int(s.get(name, 0)) for s in spends))
        cost: float | None = 0.0
        for spend in spends:
            value = spend.get("cost_usd")
            cost = None if value is None or cost is None else cost + float(value)
        state.cost_usd = cost
        if len(samples) >= 2 and samples[-1][0] > samples[0][0]:
            state.rate = (samples[-1][1] - samples[0][1]) / (samples[-1][0] - samples[0][0])
        if self.finished_at is not None:
            state.finish("done")
            state.finished = self.finished_at
        state.version = len(spends) + sum(int(s.get("requests_finished", 0)) for s in spends)
        return state

    def restart_clock(self) -> None:
        """Measure elapsed time from now (when the computation actually starts)."""
        self.started = time.monotonic()

    def summary(self) -> dict[str, Any]:
        """Rows ok/cached/failed/skipped, calls, tokens, cost and partitions, summed over workers."""
        state = self.state()
        return {
            "rows": state.total,
            "ok": state.done,
            "cached": state.cached,
            "failed": state.failed,
            "skipped": state.skipped,
            "calls": state.requests_finished,
            "retries": state.retries,
            "input_tokens": state.input_tokens,
            "output_tokens": state.output_tokens,
            "cost_usd": state.cost_usd,
            "partitions": self.npartitions,
            "partitions_done": len(self._final),
            "partition_attempts": self.attempts,
            "elapsed_s": round(state.elapsed_s, 3),
        }


class PartitionReporter:
    """Worker side: sends a partition's counters to the driver; also a no-display progress view.

    ``send`` uses the Dask worker's event channel when running on a ``distributed`` worker, else it
    hands the report straight to the tracker registered in this process (threaded or sync scheduler).
    """

    live = True

    def __init__(self, run_id: str, part: int) -> None:
        self.run_id = run_id
        self.part = part
        self.attempt = uuid.uuid4().hex[:12]
        self._last = 0.0
        self._sink: Callable[[dict[str, Any]], None] = self._pick_sink()

    def _pick_sink(self) -> Callable[[dict[str, Any]], None]:
        try:
            from distributed import get_worker

            worker = get_worker()
        except (ImportError, ValueError):
            worker = None
        if worker is not None:
            return lambda msg: worker.log_event(TOPIC, msg)
        tracker = tracker_for(self.run_id)
        return tracker.receive if tracker is not None else (lambda msg: None)

    def send(self, counters: Mapping[str, Any], *, final: bool = False) -> None:
        msg = {"run": self.run_id, "part": self.part, "attempt": self.attempt, "final": final, **counters}
        self._sink(msg)

    # The ProgressView protocol: the worker's batch engine drives the live reports through it.
    def start(self, state: ProgressState, title: str) -> None:
        self._last = time.monotonic()
        self.send(snapshot(state))

    def refresh(self, state: ProgressState) -> None:
        now = time.monotonic()
        if now - self._last >= REPORT_EVERY_S:
            self._last = now
            self.send(snapshot(state))

    def finish(self, state: ProgressState) -> None:
        return None  # the final report comes from the result's lineage, see aikit.scale.dask


def register(tracker: RunTracker) -> RunTracker:
    """Remember ``tracker`` in this process (looked up by run id)."""
    with _registry_lock:
        _registry[tracker.run_id] = tracker
        while len(_registry) > 64:  # keep the last runs only
            _registry.pop(next(iter(_registry)))
    return tracker


def tracker_for(run_id: str) -> RunTracker | None:
    """The tracker of ``run_id`` in this process, if any."""
    with _registry_lock:
        return _registry.get(run_id)


def dispatch(event: tuple[float, Any]) -> None:
    """``Client.subscribe_topic`` handler: route a worker's report to its run's tracker."""
    _, msg = event
    if isinstance(msg, Mapping):
        tracker = tracker_for(str(msg.get("run")))
        if tracker is not None:
            tracker.receive(msg)

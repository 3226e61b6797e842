"""Progress of a batch: live counters, shown as a widget in a live kernel and as log lines headless.

:class:`ProgressState` is a plain object the batch engine updates as requests start, retry and finish
(done / cached / failed / skipped rows, retrying and in-flight requests, tokens, cost spent and
projected, the current request rate). A *view* shows it:

- in a live Jupyter kernel (JupyterLab, Notebook, VS Code, Colab): an ipywidgets bar with the counters,
  refreshed a few times a second; when the batch ends the widget is closed and replaced by a static
  HTML summary, so a saved notebook never shows a frozen bar;
- headless (scripts, CI, nbconvert, papermill, nbclient): tqdm-style lines on the ``aikit.batch``
  logger (written to stderr when logging is not configured), at 10/25/50/75/90 % and at least every
  :data:`LogView.MAX_SILENCE_S` seconds (rows done, rate, elapsed and ETA), and one final summary
  line on stdout;
- ``progress=False``: nothing.

``progress=None`` picks automatically; ``AIKIT_HEADLESS=1`` forces the headless view and
``AIKIT_PROGRESS=widget|log|off`` overrides the choice. ipywidgets is imported only when a widget is
actually shown.

>>> state = ProgressState(total=3, to_call=2)
>>> state.add_cached(1)
>>> state.summary_line(elapsed_s=1.0)
'aikit batch: 3 rows in 1.0 s: 1 ok (1 cached), 0 failed, 0 skipped, 2 not done; 0 tokens; cost $0.0000'
"""

from __future__ import annotations

import html
import logging
import os
import sys
import threading
import time
from collections import deque
from typing import Any, Protocol

from aikit.exceptions import ConfigError

__all__ = [
    "KernelBusy",
    "LogView",
    "NullView",
    "ProgressState",
    "ProgressView",
    "WidgetView",
    "check_progress",
    "is_live_kernel",
    "make_view",
]

#: The logger of the headless view (named after the public entry point, ``aikit.batch``).
logger = logging.getLogger("aikit.batch")

#: Seconds of request starts used for the "current rate".
RATE_WINDOW_S = 10.0
#: Refresh period of a live view (5 Hz).
REFRESH_S = 0.2


def _money(x: float | None) -> str:
    return "unknown" if x is None else f"${x:,.4f}"


def _clock(seconds: float) -> str:
    seconds = max(0, int(seconds))
    return (
        f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"
        if seconds >= 3600
        else (f"{seconds // 60}:{seconds % 60:02d}")
    )


class ProgressState:
    """Counters of one batch. Updated on the event-loop thread, read by views.

    Rows are what the caller passed (duplicates included); requests are the unique prompts that need a
    call. ``done`` counts successful rows, cache hits included.
    """

    def __init__(self, total: int, to_call: int, *, estimated_cost_usd: float | None = None) -> None:
        self.total = total
        self.to_call = to_call
        self.done = 0
        self.cached = 0
        self.failed = 0
        self.skipped = 0
        self.in_flight = 0
        self.retrying = 0
        self.retries = 0
        self.requests_finished = 0
        self.input_tokens = 0
        self.output_tokens = 0
        self.cost_usd: float | None = 0.0
        self.estimated_cost_usd = estimated_cost_usd
        self.started = time.monotonic()
        self.finished: float | None = None
        self.outcome = "running"
        self.version = 0
        self._starts: deque[float] = deque()
        #: Batch mode: the provider's own word on the job (status, its counts, the time waited).
        self.note: str | None = None
        #: Batch mode: requests by outcome (answered, failed, expired, missing, resubmitted, live ...).
        self.batch: dict[str, int] | None = None
        #: Batch mode: rows the provider says it has processed (its results arrive when a batch ends).
        self.provider_done = 0

    def add_cached(self, rows: int) -> None:
        """``rows`` rows answered from the cache before any call."""
        self.done += rows
        self.cached += rows
        self.version += 1

    def request_started(self, was_retrying: bool) -> None:
        """An HTTP attempt started (after waiting for a retry when ``was_retrying``)."""
        if was_retrying:
            self.retrying -= 1
        self.in_flight += 1
        now = time.monotonic()
        starts = self._starts
        starts.append(now)
        while starts and now - starts[0] > RATE_WINDOW_S:
            starts.popleft()
        self.version += 1

    def request_retrying(self, was_in_flight: bool) -> None:
        """An attempt failed with a retryable error; the request waits before trying again."""
        if was_in_flight:
            self.in_flight -= 1
        self.retrying += 1
        self.retries += 1
        self.version += 1

    def request_finished(
        self,
        rows: int,
        *,
        ok: bool,
        cached: bool,
        in_flight: bool,
        retrying: bool,
        input_tokens: int = 0,
        output_tokens: int = 0,
        cost_usd: float | None = 0.0,
    ) -> None:
        """A unique request ended, settling ``rows`` rows (more than one for duplicate prompts)."""
        if in_flight:
            self.in_flight -= 1
        if retrying:
            self.retrying -= 1
        self.requests_finished += 1
        if ok:
            self.done += rows
            if cached:
                self.cached += rows
        else:
            self.failed += rows
        self.input_tokens += input_tokens
        self.output_tokens += output_tokens
        if cost_usd is None:
            if not cached and ok:
                self.cost_usd = None  # one answer of unknown price makes the total unknown
        elif self.cost_usd is not None:
            self.cost_usd += cost_usd
        self.version += 1

    def add_skipped(self, rows: int) -> None:
        """``rows`` rows were not scheduled (budget reached, or the batch was stopped)."""
        self.skipped += rows
        self.version += 1

    def finish(self, outcome: str) -> None:
        """Mark the batch ended: ``"done"``, ``"failed"`` (on_error="raise") or ``"interrupted"``."""
        self.finished = time.monotonic()
        self.outcome = outcome
        self.in_flight = 0
        self.retrying = 0
        self.version += 1

    @property
    def settled(self) -> int:
        """Rows with a final outcome (ok, failed or skipped)."""
        return self.done + self.failed + self.skipped

    @property
    def bar_value(self) -> int:
        """What a progress bar shows: settled rows, or the provider's own count while it works."""
        return min(self.total, max(self.settled, self.provider_done))

    @property
    def elapsed_s(self) -> float:
        return (self.finished if self.finished is not None else time.monotonic()) - self.started

    def rate_per_s(self) -> float:
        """HTTP attempts started per second over the last ten seconds."""
        now = time.monotonic()
        starts = self._starts
        while starts and now - starts[0] > RATE_WINDOW_S:
            starts.popleft()
        window = min(RATE_WINDOW_S, max(now - self.started, 1e-3))
        return len(starts) / window

    def projected_cost_usd(self) -> float | None:
        """Spent so far plus the average cost per finished call times the calls still to make."""
        if self.cost_usd is None:
            return None
        paid = self.requests_finished
        remaining = max(0, self.to_call - paid)
        if paid == 0:
            if self.estimated_cost_usd is None:
                return None
            return self.cost_usd + self.estimated_cost_usd
        return self.cost_usd + self.cost_usd / paid * remaining

    def set_note(self, note: str) -> None:
        """Batch mode: what the provider says about the job now."""
        if note != self.note:
            self.note = note
            self.version += 1

    def counts(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "rows": self.total,
            "ok": self.done,
            "cached": self.cached,
            "failed": self.failed,
            "skipped": self.skipped,
            "calls": self.to_call,
            "retries": self.retries,
        }
        if self.batch is not None:
            out["batch"] = dict(self.batch)
        return out

    def status_line(self) -> str:
        """One line for a live view or a periodic log line."""
        if self.note is not None:  # batch mode: the provider's counts, not a request rate
            return (
                f"{self.settled:,}/{self.total:,} rows: {self.done:,} ok ({self.cached:,} cached), "
                f"{self.failed:,} failed, {self.skipped:,} skipped | {self.note} | "
                f"{_money(self.cost_usd)} spent | {_clock(self.elapsed_s)} elapsed"
            )
        rate = self.rate_per_s()
        projected = self.projected_cost_usd()
        left = ""
        if self.settled and self.settled < self.total and self.finished is None:
            per_row = self.elapsed_s / max(1, self.settled - self.cached)
            left = f", ~{_clock(per_row * (self.total - self.settled))} left"
        return (
            f"{self.settled:,}/{self.total:,} rows: {self.done:,} ok ({self.cached:,} cached), "
            f"{self.failed:,} failed, {self.skipped:,} skipped | {self.in_flight} in flight, "
            f"{self.retrying} retrying | {rate:,.1f} req/s ({rate * 60:,.0f}/min) | "
            f"{self.input_tokens + self.output_tokens:,} tokens | {_money(self.cost_usd)} spent, "
            f"{_money(projected)} projected | {_clock(self.elapsed_s)} elapsed{left}"
        )

    def progress_line(self, title: str) -> str:
        """A tqdm-style line for a terminal or a log: percent, bar, rows, elapsed<ETA, rows/s, outcomes.

        >>> s = ProgressState(total=4, to_call=4)
        >>> s.started -= 10
        >>> s.request_finished(2, ok=True, cached=False, in_flight=False, retrying=False)
        >>> s.progress_line("df.ai.map (local)")
        'df.ai.map (local):  50%|█████     | 2/4 rows [0:10<0:10, 0.20 rows/s] 0 failed, 0 cached'
        """
        total = max(1, self.total)
        fraction = min(1.0, self.settled / total)
        filled = int(fraction * 10)
        bar = "█" * filled + " " * (10 - filled)
        if self.note is not None:  # batch mode: the provider's own counts and the time waited
            return (
                f"{title}: {fraction:4.0%}|{bar}| {self.settled:,}/{self.total:,} rows | {self.note} | "
                f"{self.failed:,} failed, {self.cached:,} cached"
            )
        worked = self.settled - self.cached  # rows that took time (cache hits are instant)
        rate = worked / self.elapsed_s if self.elapsed_s > 0 else 0.0
        left = self.total - self.settled
        eta = _clock(left / rate) if rate > 0 else "?"
        cost = f", {_money(self.cost_usd)}" if self.cost_usd else ""
        retrying = f", {self.retrying} retrying" if self.retrying else ""
        return (
            f"{title}: {fraction:4.0%}|{bar}| {self.settled:,}/{self.total:,} rows "
            f"[{_clock(self.elapsed_s)}<{eta}, {rate:.2f} rows/s] {self.failed:,} failed, "
            f"{self.cached:,} cached{retrying}{cost}"
        )

    def summary_line(self, elapsed_s: float | None = None) -> str:
        """The final one-line summary."""
        elapsed = self.elapsed_s if elapsed_s is None else elapsed_s
        not_done = self.total - self.settled
        tail = f", {not_done:,} not done" if not_done else ""
        word = "" if self.outcome in ("done", "running") else f" ({self.outcome})"
        line = (
            f"aikit batch{word}: {self.total:,} rows in {elapsed:.1f} s: {self.done:,} ok "
            f"({self.cached:,} cached), {self.failed:,} failed, {self.skipped:,} skipped{tail}; "
            f"{self.input_tokens + self.output_tokens:,} tokens; cost {_money(self.cost_usd)}"
        )
        if self.batch:
            line += "; batch API: " + ", ".join(f"{n:,} {what}" for what, n in self.batch.items() if n)
        return line


class ProgressView(Protocol):
    """How a batch is shown. ``start``/``finish`` run on the caller's thread, ``refresh`` on the loop."""

    live: bool

    def start(self, state: ProgressState, title: str) -> None: ...

    def refresh(self, state: ProgressState) -> None: ...

    def finish(self, state: ProgressState) -> None: ...


class NullView:
    """Shows nothing (``progress=False``)."""

    live = False

    def start(self, state: ProgressState, title: str) -> None:
        return None

    def refresh(self, state: ProgressState) -> None:
        return None

    def finish(self, state: ProgressState) -> None:
        return None


class LogView:
    """Headless: a start line, a line at 10/25/50/75/90 % and whenever 9 s passed without one, a summary.

    The progress lines are tqdm-style (:meth:`ProgressState.progress_line`), so a terminal watching a
    headless run (``aikit demo``, papermill with ``--log-output``) is never silent for 10 s. They go
    to the ``aikit.batch`` logger at INFO, or straight to stderr when logging is not configured; the
    summary line is written to ``stream`` (stdout) so it lands in the notebook's output.
    """

    live = True
    MILESTONES = (0.10, 0.25, 0.50, 0.75, 0.90)
    MAX_SILENCE_S = 9.0

    def __init__(self, stream: Any = None) -> None:
        self._stream = stream
        self._next = 0
        self._last_line = 0.0
        self._title = "aikit batch"
        self._phase: str | None = None
        self.lines: list[str] = []

    def _emit(self, line: str) -> None:
        self.lines.append(line)
        if logger.hasHandlers():
            logger.info(line)
        else:
            err = sys.stderr
            if err is not None:
                err.write(f"INFO aikit.batch: {line}\n")
                err.flush()

    def start(self, state: ProgressState, title: str) -> None:
        self._last_line = time.monotonic()
        self._title = title
        self._emit(f"{title}: {state.total:,} rows, {state.cached:,} cached, {state.to_call:,} to call")

    def refresh(self, state: ProgressState) -> None:
        if state.total == 0 or state.finished is not None:
            return
        fraction = state.settled / state.total
        now = time.monotonic()
        crossed = False
        while self._next < len(self.MILESTONES) and fraction >= self.MILESTONES[self._next]:
            self._next += 1
            crossed = True
        phase = state.note.split(" ", 2)[1] if state.note and " " in state.note else None
        moved = phase != self._phase  # batch mode: a line when the provider's status word changes
        self._phase = phase
        if crossed or moved or now - self._last_line >= self.MAX_SILENCE_S:
            self._last_line = now
            self._emit(state.progress_line(self._title))

    def finish(self, state: ProgressState) -> None:
        line = state.summary_line()
        self.lines.append(line)
        stream = self._stream if self._stream is not None else sys.stdout
        if stream is not None:
            stream.write(line + "\n")
            stream.flush()


class KernelBusy:
    """Keeps the kernel's published status "busy" while a cell that shows a widget is still running.

    Why: when a cell displays its first widget, JupyterLab's widget manager asks ipykernel (>= 7) for
    a *subshell* (``create_subshell_request``, a control message). The kernel answers it on its
    control thread while the cell keeps running, and publishes ``status: busy`` then ``status: idle``
    with that request as parent. JupyterLab (its status bar, ``kernel.status``) and jupyter-server
    (``/api/kernels`` ``execution_state``) take any status message as the kernel's state, so they say
    "Idle" until the cell ends. :meth:`beat` re-publishes ``busy`` with the running cell's own parent
    header, at most once a second; the kernel's final ``idle`` for the cell still comes last, because
    beats stop before the cell's code returns.

    :meth:`capture` runs on the kernel's main thread (it reads the cell's parent header);
    :meth:`beat` is safe from any thread (ipykernel's IOPub socket is thread-safe). Outside a kernel
    both do nothing.
    """

    PERIOD_S = 1.0

    def __init__(self) -> None:
        self._kernel: Any = None
        self._parent: Any = None
        self._last = 0.0

    def capture(self) -> None:
        ipython = sys.modules.get("IPython")
        shell = ipython.get_ipython() if ipython is not None else None
        kernel = getattr(shell, "kernel", None)
        if kernel is None or not callable(getattr(kernel, "_publish_status", None)):
            return
        try:
            self._parent = kernel.get_parent("shell")
        except Exception:  # pragma: no cover - an older or unusual kernel
            return
        self._kernel = kernel if self._parent else None

    def beat(self, force: bool = False) -> None:
        kernel = self._kernel
        if kernel is None:
            return
        now = time.monotonic()
        if not force and now - self._last < self.PERIOD_S:
            return
        self._last = now
        try:
            kernel._publish_status("busy", "shell", self._parent)
        except Exception:  # a status message must never break the batch
            self._kernel = None

    def stop(self) -> None:
        self._kernel = None


class WidgetView:
    """Live kernel: an ipywidgets progress bar plus counters, replaced in place by static HTML at the end.

    The widget is displayed with a display id; when the batch ends that output is *updated* to a
    static HTML summary (so the saved notebook holds no widget view, frozen or otherwise) and the
    widget models are closed. While it shows, :class:`KernelBusy` keeps the kernel reported busy.
    """

    live = True

    def __init__(self) -> None:
        self.busy = KernelBusy()
        self._bar: Any = None
        self._label: Any = None
        self._box: Any = None
        self._handle: Any = None
        self._title = ""
        self._seen = -1
        self._last = 0.0

    def start(self, state: ProgressState, title: str) -> None:
        import ipywidgets as widgets
        from IPython.display import display

        self._title = title
        self._bar = widgets.IntProgress(
            value=state.bar_value, min=0, max=max(1, state.total), description="", bar_style="info"
        )
        self._label = widgets.HTML(value=self._html(state))
        self._box = widgets.VBox([self._bar, self._label])
        self._handle = display(self._box, display_id=True)  # type: ignore[no-untyped-call]
        self.busy.capture()

    def _html(self, state: ProgressState) -> str:
        return f"<b>{html.escape(self._title)}</b> &nbsp; <code>{html.escape(state.status_line())}</code>"

    def refresh(self, state: ProgressState) -> None:
        if self._box is None:
            return
        self.busy.beat()
        now = time.monotonic()
        # Redraw when something changed, and once a second anyway (the rate and clock move).
        if state.version == self._seen and now - self._last < 1.0:
            return
        self._seen, self._last = state.version, now
        self._bar.value = state.bar_value
        self._bar.bar_style = "warning" if state.retrying else "info"
        self._label.value = self._html(state)

    def finish(self, state: ProgressState) -> None:
        from IPython.display import HTML, display

        self.busy.stop()
        colour = "#2e7d32" if state.failed == 0 and state.outcome == "done" else "#c62828"
        summary = HTML(  # type: ignore[no-untyped-call]
            f'<div style="border-left:4px solid {colour};padding:2px 8px">'
            f"<code>{html.escape(state.summary_line())}</code></div>"
        )
        if self._handle is not None:
            self._handle.update(summary)
        else:  # pragma: no cover - display() gave no handle
            display(summary)  # type: ignore[no-untyped-call]
        if self._box is not None:
            for widget in (self._box, self._bar, self._label):
                widget.close()
            self._box = None


def is_live_kernel() -> bool:
    """True inside an interactive Jupyter kernel, False for scripts and headless executions.

    Kernels that jupyter-server starts carry ``JPY_SESSION_NAME``; nbclient, nbconvert, papermill
    and nbmake kernels do not. VS Code and Colab are recognised by their own markers.
    ``AIKIT_HEADLESS=1`` forces False.
    """
    if os.environ.get("AIKIT_HEADLESS", "").strip() not in ("", "0", "false", "False"):
        return False
    ipython = sys.modules.get("IPython")
    if ipython is None:
        return False
    shell = ipython.get_ipython()
    if shell is None or getattr(shell, "kernel", None) is None:
        return False
    if "google.colab" in sys.modules:
        return True
    if os.environ.get("JPY_SESSION_NAME"):
        return True
    user_ns = getattr(shell, "user_ns", {})
    return bool(user_ns.get("__vsc_ipynb_file__"))


def _widgets_available() -> bool:
    try:
        import importlib.util

        return importlib.util.find_spec("ipywidgets") is not None
    except (ImportError, ValueError):  # pragma: no cover
        return False


def _is_view(progress: object) -> bool:
    return all(callable(getattr(progress, name, None)) for name in ("start", "refresh", "finish"))


def check_progress(progress: Any) -> Any:
    """``progress`` if it is a valid choice (None, a bool, "widget"/"log"/"off", or a view), else raise.

    >>> check_progress("log")
    'log'
    """
    if progress is None or isinstance(progress, bool) or progress in _CHOICES or _is_view(progress):
        return progress
    raise ConfigError(f"progress must be None, True, False, 'widget', 'log' or 'off', got {progress!r}")


_CHOICES = ("widget", "log", "off")


def make_view(progress: bool | str | ProgressView | None) -> ProgressView:
    """Pick the view for ``progress`` (None = auto, True, False, "widget"/"log"/"off", or a view).

    ``True`` shows the widget in any Jupyter kernel (even a headless one) and log lines elsewhere;
    ``None`` shows the widget only in a live kernel, and only when called from its main thread. An
    object with ``start``/``refresh``/``finish`` methods (a custom :class:`ProgressView`) is used as
    it is. ``AIKIT_PROGRESS=widget|log|off`` overrides ``None``.
    """
    check_progress(progress)
    if _is_view(progress):
        return progress  # type: ignore[return-value]
    choice: bool | str | None = progress  # type: ignore[assignment]
    override = os.environ.get("AIKIT_PROGRESS", "").strip().lower()
    if choice is None and override:
        if override not in _CHOICES:
            raise ConfigError(f"AIKIT_PROGRESS must be 'widget', 'log' or 'off', got {override!r}")
        choice = override
    if choice is False or choice == "off":
        return NullView()
    if choice == "log":
        return LogView()
    if choice == "widget":
        return WidgetView() if _widgets_available() else LogView()
    if choice is True:
        ipython = sys.modules.get("IPython")
        shell = ipython.get_ipython() if ipython is not None else None
        if getattr(shell, "kernel", None) is not None and _widgets_available():
            return WidgetView()
        return LogView()
    # Only the kernel's main thread displays into the running cell; a batch started from a worker
    # thread (a webhook handler, say) logs instead of drawing into some other cell.
    on_main = threading.current_thread() is threading.main_thread()
    return WidgetView() if on_main and is_live_kernel() and _widgets_available() else LogView()

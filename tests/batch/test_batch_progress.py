"""Progress: counters, the headless log view, the widget view (no frontend), and the automatic choice."""

from __future__ import annotations

import io
import logging
import subprocess
import sys

import pytest

from aikit._batch.progress import LogView, NullView, ProgressState, WidgetView, is_live_kernel, make_view
from aikit.exceptions import ConfigError


def _run_state() -> ProgressState:
    s = ProgressState(total=10, to_call=6, estimated_cost_usd=0.06)
    s.add_cached(3)
    s.request_started(was_retrying=False)
    s.request_retrying(was_in_flight=True)
    assert (s.in_flight, s.retrying) == (0, 1)
    s.request_started(was_retrying=True)
    assert (s.in_flight, s.retrying) == (1, 0)
    s.request_finished(
        2,
        ok=True,
        cached=False,
        in_flight=True,
        retrying=False,
        input_tokens=10,
        output_tokens=5,
        cost_usd=0.01,
    )
    s.request_started(was_retrying=False)
    s.request_finished(1, ok=False, cached=False, in_flight=True, retrying=False)
    return s


def test_counters_follow_events() -> None:
    s = _run_state()
    assert (s.done, s.cached, s.failed, s.skipped, s.settled) == (5, 3, 1, 0, 6)
    assert (s.in_flight, s.retrying, s.retries) == (0, 0, 1)
    assert s.input_tokens + s.output_tokens == 15
    assert s.cost_usd == pytest.approx(0.01)
    # 2 calls finished for $0.01: 4 more calls at the same average.
    assert s.projected_cost_usd() == pytest.approx(0.03)
    assert s.rate_per_s() > 0
    s.add_skipped(4)
    s.finish("done")
    assert s.settled == 10
    assert s.counts() == {
        "rows": 10,
        "ok": 5,
        "cached": 3,
        "failed": 1,
        "skipped": 4,
        "calls": 6,
        "retries": 1,
    }
    line = s.summary_line()
    assert "10 rows" in line and "5 ok (3 cached), 1 failed, 4 skipped" in line and "$0.0100" in line


def test_unknown_price_makes_cost_unknown() -> None:
    s = ProgressState(total=1, to_call=1)
    s.request_started(was_retrying=False)
    s.request_finished(1, ok=True, cached=False, in_flight=True, retrying=False, cost_usd=None)
    assert s.cost_usd is None and s.projected_cost_usd() is None
    assert "cost unknown" in s.summary_line()


def test_log_view_says_a_few_lines_and_a_summary(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="aikit.batch")
    out = io.StringIO()
    view = LogView(stream=out)
    s = ProgressState(total=100, to_call=100)
    view.start(s, "aikit batch")
    for _ in range(100):
        s.request_started(was_retrying=False)
        s.request_finished(1, ok=True, cached=False, in_flight=True, retrying=False)
        view.refresh(s)  # called at 5 Hz in real runs; here after every row
    s.finish("done")
    view.refresh(s)
    view.finish(s)
    # start + one line per milestone (10/25/50/75/90 %) + the summary: a few lines, not 100.
    assert len(view.lines) == 7
    assert view.lines[0].startswith("aikit batch: 100 rows")
    assert out.getvalue().strip() == view.lines[-1]
    assert "100 ok" in view.lines[-1]
    assert [r.getMessage() for r in caplog.records if r.name == "aikit.batch"] == view.lines[:-1]


def test_log_view_writes_to_stderr_when_logging_is_not_configured() -> None:
    code = (
        "import io; from aikit._batch.progress import LogView, ProgressState; "
        "v = LogView(stream=io.StringIO()); "
        "s = ProgressState(total=2, to_call=2); v.start(s, 'aikit batch')"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.stderr == "INFO aikit.batch: aikit batch: 2 rows, 0 cached, 2 to call\n"


def test_widget_view_is_replaced_by_static_html(capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("ipywidgets")
    view = WidgetView()
    s = ProgressState(total=4, to_call=4)
    view.start(s, "df.ai.map")
    box, bar, label = view._box, view._bar, view._label
    s.request_started(was_retrying=False)
    s.request_finished(3, ok=True, cached=False, in_flight=True, retrying=False)
    view.refresh(s)
    assert bar.value == 3 and bar.max == 4
    assert "3/4 rows" in label.value
    s.request_started(was_retrying=False)
    s.request_retrying(was_in_flight=True)
    view.refresh(s)
    assert bar.bar_style == "warning" and "1 retrying" in label.value
    s.finish("interrupted")
    view.finish(s)
    assert view._box is None
    assert box.comm is None and bar.comm is None  # closed: no live widget left behind
    assert "HTML object" in capsys.readouterr().out  # the static summary took its place


def test_make_view_choices(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AIKIT_PROGRESS", raising=False)
    assert isinstance(make_view(False), NullView)
    assert isinstance(make_view("off"), NullView)
    assert isinstance(make_view("log"), LogView)
    assert isinstance(make_view(None), LogView)  # pytest is headless
    assert isinstance(make_view(True), LogView)  # no kernel here
    monkeypatch.setenv("AIKIT_PROGRESS", "off")
    assert isinstance(make_view(None), NullView)
    assert isinstance(make_view("log"), LogView)  # an explicit choice wins over the variable
    with pytest.raises(ConfigError):
        make_view("fancy")
    assert is_live_kernel() is False


def test_headless_choice_never_imports_ipywidgets() -> None:
    code = (
        "import sys; from aikit._batch.progress import make_view, LogView; "
        "v = make_view(None); assert isinstance(v, LogView); "
        "assert 'ipywidgets' not in sys.modules, 'ipywidgets imported'; print('ok')"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.stdout.strip() == "ok", proc.stderr


def test_auto_view_from_a_worker_thread_is_never_a_widget(monkeypatch: pytest.MonkeyPatch) -> None:
    import threading

    import aikit._batch.progress as progress

    monkeypatch.delenv("AIKIT_PROGRESS", raising=False)
    monkeypatch.setattr(progress, "is_live_kernel", lambda: True)  # pretend: a live kernel
    monkeypatch.setattr(progress, "_widgets_available", lambda: True)
    assert isinstance(make_view(None), WidgetView)
    seen: list[object] = []
    worker = threading.Thread(target=lambda: seen.append(make_view(None)))
    worker.start()
    worker.join()
    assert isinstance(seen[0], LogView)

"""Run a report notebook headless with papermill, and show in the terminal what it is doing.

:func:`run_notebook` executes a notebook with papermill (parameters injected after the cell tagged
``parameters``, the executed copy saved even when a cell fails) and keeps the terminal informed:

- a stage line when the run enters a new section of the notebook (its ``##`` heading: fetching,
  analysing, pushing, rendering...), with the elapsed time;
- the kernel's own lines as they arrive: what the cells print, and aikit's batch progress lines
  (rows done, rate, ETA, every few seconds);
- a heartbeat when nothing was said for :data:`HEARTBEAT_S` seconds, naming the running cell.

The kernel is started over IPC sockets rather than TCP: nothing listens on a port, and ipykernel's
"Kernel is running over TCP without encryption" warning never appears. Widget state is not stored
(a password box's value would be). A failing cell raises :class:`NotebookFailure`, which carries the
cell, its section and the traceback.

>>> stage_of("## 2. Analyse every ticket")
'analysing'
>>> section_title("## 2. Analyse every ticket\\n\\nOne AI call per ticket.")
'2. Analyse every ticket'
"""

from __future__ import annotations

import os
import re
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TextIO

from aikit.exceptions import ReportError

__all__ = ["HEARTBEAT_S", "NotebookFailure", "Terminal", "run_notebook", "section_title", "stage_of"]

#: Longest silence in the terminal before a heartbeat line.
HEARTBEAT_S = 8.0

_STAGES = (
    ("fetch", "fetching"),
    ("analys", "analysing"),
    ("classif", "analysing"),
    ("scor", "analysing"),
    ("push", "pushing"),
    ("read", "checking"),
    ("chart", "charting"),
    ("what the", "charting"),
    ("report", "rendering"),
    ("summary", "rendering"),
    ("save", "rendering"),
    ("attention", "summarising"),
    ("finding", "summarising"),
    ("tickets to", "summarising"),
)
_KERNEL_PREFIX = "INFO aikit.batch: "


def section_title(markdown: str) -> str | None:
    """The first section heading (``##`` or ``###``) of a markdown cell, without the ``#``; or None.

    A notebook's ``#`` title is not a section: the cells under it are the set-up.
    """
    for line in markdown.splitlines():
        match = re.match(r"^#{2,3}\s+(.+?)\s*#*\s*$", line)
        if match:
            return match.group(1).replace("**", "").replace("`", "")
    return None


def stage_of(heading: str) -> str:
    """The stage a section heading names: ``fetching``, ``analysing``, ``pushing``, ``rendering``..."""
    text = heading.lower()
    for needle, stage in _STAGES:
        if needle in text:
            return stage
    return "running"


def _clock(seconds: float) -> str:
    s = max(0, int(seconds))
    return f"{s // 60}:{s % 60:02d}"


class Terminal:
    """Progress lines for a terminal: ``aikit <name> | m:ss | text``, thread-safe, with a heartbeat.

    Parameters
    ----------
    name : str
        The command, e.g. ``"demo"``.
    stream : file, optional
        Where the lines go (default: stderr, so stdout keeps only the result).
    """

    def __init__(self, name: str, stream: TextIO | None = None) -> None:
        self.name = name
        self.stream = stream
        self.started = time.monotonic()
        self._last = self.started
        self._lock = threading.Lock()
        self.doing = "starting"
        self.lines: list[str] = []

    def say(self, text: str) -> None:
        """One line, stamped with the elapsed time."""
        line = f"aikit {self.name} | {_clock(time.monotonic() - self.started)} | {text}"
        with self._lock:
            self._last = time.monotonic()
            self.lines.append(line)
            stream = self.stream or sys.stderr
            stream.write(line + "\n")
            stream.flush()

    def kernel(self, text: str) -> None:
        """Lines the kernel wrote (cell prints, aikit's batch progress), indented under the stage."""
        for raw in text.splitlines():
            line = raw.rstrip()
            if not line.strip():
                continue
            self.say("  " + (line[len(_KERNEL_PREFIX) :] if line.startswith(_KERNEL_PREFIX) else line))

    def quiet_for(self) -> float:
        with self._lock:
            return time.monotonic() - self._last

    @contextmanager
    def heartbeat(self, every: float = HEARTBEAT_S) -> Iterator[None]:
        """While the block runs, say what is going on whenever the terminal was quiet for ``every`` s."""
        stop = threading.Event()

        def beat() -> None:
            while not stop.wait(min(1.0, every / 4)):
                if self.quiet_for() >= every:
                    self.say(f"… {self.doing}")

        thread = threading.Thread(target=beat, name=f"aikit-{self.name}-heartbeat", daemon=True)
        thread.start()
        try:
            yield
        finally:
            stop.set()
            thread.join(2)


class NotebookFailure(ReportError):
    """A cell of the notebook raised: which cell, its section, the error and the traceback lines."""

    def __init__(
        self,
        message: str,
        *,
        cell: int | None,
        section: str | None,
        ename: str,
        evalue: str,
        traceback: list[str],
    ) -> None:
        super().__init__(message)
        self.cell, self.section, self.ename, self.evalue, self.traceback = (
            cell,
            section,
            ename,
            evalue,
            traceback,
        )


class _Writer:
    """A file-like object papermill writes the kernel's stream output to, line by line."""

    def __init__(self, emit: Callable[[str], None]) -> None:
        self._emit = emit
        self._buffer = ""

    def write(self, text: str) -> int:
        self._buffer += text
        *lines, self._buffer = self._buffer.split("\n")
        if lines:
            self._emit("\n".join(lines))
        return len(text)

    def flush(self) -> None:
        if self._buffer:
            self._emit(self._buffer)
            self._buffer = ""


def _sections(cells: list[Any]) -> dict[int, str | None]:
    """Each cell's index -> the heading of the section it is in."""
    sections: dict[int, str | None] = {}
    current: str | None = None
    for i, cell in enumerate(cells):
        if cell.cell_type == "markdown":
            current = section_title(cell.source) or current
        sections[i] = current
    return sections


def _engine(terminal: Terminal, seen: list[Any]) -> type:
    from papermill.engines import NBClientEngine

    class AikitEngine(NBClientEngine):  # type: ignore[misc]
        """papermill's nbclient engine, telling the terminal which section and cell are running."""

        @classmethod
        def execute_managed_notebook(cls, nb_man: Any, kernel_name: str, **kwargs: Any) -> Any:
            cells = list(nb_man.nb.cells)  # as papermill runs them, injected parameters included
            seen[:] = cells
            sections = _sections(cells)
            code = [i for i, c in enumerate(cells) if c.cell_type == "code"]
            cell_start = nb_man.cell_start
            shown: list[object] = [object()]  # the first cell always says where the run is

            def on_cell_start(cell: Any, cell_index: int | None = None, **kw: Any) -> Any:
                index = cell_index if cell_index is not None else -1
                section = sections.get(index)
                number = code.index(index) + 1 if index in code else 0
                label = section or "setting up"
                terminal.doing = f"{stage_of(label)}: {label} (cell {number} of {len(code)} still running)"
                if section != shown[0]:
                    shown[0] = section
                    terminal.say(f"{stage_of(label)}: {label}")
                return cell_start(cell, cell_index, **kw)

            nb_man.cell_start = on_cell_start
            return super().execute_managed_notebook(nb_man, kernel_name, **kwargs)

    return AikitEngine


def _failure(exc: Any, cells: list[Any]) -> NotebookFailure:
    from papermill.exceptions import strip_color

    index = exc.cell_index if isinstance(exc.cell_index, int) else None
    section = _sections(cells).get(index) if index is not None else None
    lines = [strip_color(t) for t in (exc.traceback or [])]
    where = f"the cell under “{section}”" if section else f"cell {exc.exec_count}"
    return NotebookFailure(
        f"{where} failed: {exc.ename}: {exc.evalue}",
        cell=exc.exec_count,
        section=section,
        ename=str(exc.ename),
        evalue=str(exc.evalue),
        traceback=lines,
    )


def run_notebook(
    notebook: Path,
    executed: Path,
    parameters: Mapping[str, Any],
    *,
    terminal: Terminal,
    env: Mapping[str, str] | None = None,
    timeout_s: float | None = 1800,
) -> None:
    """Execute ``notebook`` into ``executed`` with ``parameters``, narrating on ``terminal``.

    ``env`` is added to the kernel's environment (credentials go there, never into parameters:
    parameters are saved in the executed notebook). The kernel runs in the notebook's folder.

    Raises
    ------
    NotebookFailure
        A cell raised; the executed notebook (up to that cell) is saved at ``executed``.
    ReportError
        The kernel could not be started or did not finish within ``timeout_s``.
    """
    import papermill
    from papermill.engines import papermill_engines
    from traitlets.config import Config

    cells: list[Any] = []
    papermill_engines.register("aikit", _engine(terminal, cells))
    config = Config({"KernelManager": {"transport": "ipc"}})
    out, err = _Writer(terminal.kernel), _Writer(terminal.kernel)
    old_env = dict(os.environ)
    os.environ.update(env or {})
    os.environ["AIKIT_HEADLESS"] = "1"  # progress as log lines, never a widget nobody sees
    os.environ.pop("JPY_SESSION_NAME", None)
    try:
        with terminal.heartbeat():
            papermill.execute_notebook(
                str(notebook),
                str(executed),
                parameters=dict(parameters),
                engine_name="aikit",
                kernel_name="python3",
                progress_bar=False,
                cwd=str(notebook.parent),
                stdout_file=out,
                stderr_file=err,
                execution_timeout=timeout_s,
                store_widget_state=False,
                config=config,
            )
    except papermill.PapermillExecutionError as exc:
        raise _failure(exc, cells) from None
    except (RuntimeError, TimeoutError, OSError) as exc:
        raise ReportError(f"the notebook's kernel failed: {type(exc).__name__}: {exc}") from exc
    finally:
        out.flush()
        err.flush()
        os.environ.clear()
        os.environ.update(old_env)

"""The page a failed report run leaves: what failed and how to fix it first, the traceback folded below.

:func:`failure_page` writes a small self-contained HTML page whose first line is one sentence (what
failed, and what to do about it); the details and the traceback sit in a closed ``<details>`` block,
with the frames inside libraries (aikit's own, site-packages, the standard library) trimmed so the
notebook's own cell and the line that raised stay in view.

>>> lines = ["----", "ValueError   Traceback (most recent call last)", "Cell In[3], line 1\\n----> 1 f()",
...          "File /venv/lib/python3.11/site-packages/x.py:9, in f()\\n----> 9 g()",
...          "File /venv/lib/python3.11/site-packages/x.py:12, in g()\\n---> 12 raise ValueError('no')",
...          "ValueError: no"]
>>> print(trim_traceback(lines))
ValueError   Traceback (most recent call last)
Cell In[3], line 1
----> 1 f()
… 1 library frame hidden …
File /venv/lib/python3.11/site-packages/x.py:12, in g()
---> 12 raise ValueError('no')
ValueError: no
"""

from __future__ import annotations

import html
import os
import re
import sysconfig
import tempfile
from collections.abc import Sequence
from pathlib import Path

__all__ = ["failure_page", "is_library_frame", "trim_traceback", "write_atomic"]

_FRAME = re.compile(r"^File (?P<path>[^:]+):\d+")
_AIKIT_DIR = str(Path(__file__).resolve().parents[1])
_STDLIB = sysconfig.get_paths().get("stdlib", "\0")


def is_library_frame(chunk: str) -> bool:
    """True for a traceback frame inside a library (aikit, site-packages, the standard library)."""
    match = _FRAME.match(chunk)
    if match is None:
        return False
    path = os.path.expanduser(match.group("path"))
    return (
        "site-packages" in path
        or "dist-packages" in path
        or path.startswith(_AIKIT_DIR)
        or path.startswith(_STDLIB)
        or "/aikit/" in path
    )


def trim_traceback(chunks: Sequence[str]) -> str:
    """The traceback with runs of library frames folded into one line; the last frame is kept."""
    chunks = [c for c in chunks if c.strip() and not set(c.strip()) <= {"-"}]
    frames = [i for i, c in enumerate(chunks) if _FRAME.match(c) or c.startswith("Cell In")]
    last_frame = frames[-1] if frames else -1
    out: list[str] = []
    hidden = 0
    for i, chunk in enumerate(chunks):
        if i != last_frame and is_library_frame(chunk):
            hidden += 1
            continue
        if hidden:
            out.append(f"… {hidden} library frame{'' if hidden == 1 else 's'} hidden …")
            hidden = 0
        out.append(chunk.rstrip("\n"))
    return "\n".join(out)


def write_atomic(path: Path, data: str, mode: int = 0o644) -> Path:
    """Write ``data`` to ``path`` through a temporary file in the same folder and a rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


_STYLE = (
    "body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;color:#1f2328;max-width:980px;"
    "margin:0 auto;padding:24px 28px;line-height:1.5}"
    "h1{font-size:1.35em;color:#cf222e;margin:0 0 10px}"
    ".kept{background:#f6f8fa;border-left:4px solid #1a7f37;padding:8px 14px;margin:12px 0}"
    "details{margin-top:18px}summary{cursor:pointer;color:#59636e}"
    "pre{background:#f6f8fa;padding:12px;overflow:auto;font-size:.85em;white-space:pre-wrap}"
)


def failure_page(
    sentence: str,
    *,
    title: str,
    kept: str | None = None,
    details: Sequence[tuple[str, str]] = (),
    traceback: Sequence[str] = (),
) -> str:
    """An HTML page: ``sentence`` as its first line, what was kept, then details and traceback folded.

    Parameters
    ----------
    sentence : str
        What failed and how to fix it, in one sentence.
    title : str
        The report's name (the tab title reads "failed: <title>").
    kept : str, optional
        Which earlier report is still in place.
    details : sequence of (label, text)
        Facts about the run (command, notebook, executed copy).
    traceback : sequence of str
        The error's traceback lines (IPython's chunks or plain lines); library frames are trimmed.
    """
    rows = "".join(f"<li><b>{html.escape(k)}</b>: {html.escape(v)}</li>" for k, v in details)
    trace = trim_traceback(traceback) if traceback else ""
    folded = f"<h2>Traceback (library frames trimmed)</h2><pre>{html.escape(trace)}</pre>" if trace else ""
    kept_html = f"<p class='kept'>{html.escape(kept)}</p>" if kept else ""
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>failed: {html.escape(title)}</title><style>{_STYLE}</style></head><body>"
        f"<h1 id='reason'>{html.escape(sentence)}</h1>{kept_html}"
        f"<details><summary>Technical details</summary><ul>{rows}</ul>{folded}</details>"
        "</body></html>\n"
    )

"""Reports a manager can read, built from a notebook: ``Report``, and ``read_summary`` for tools.

A notebook collects what it found with :class:`Report` (findings first, then measures with their
uncertainty, what is not reliable, charts, tables and a "how this was made" footer) and ends with
``rep.save(path)``: one self-contained HTML page, written atomically, readable offline. ``aikit demo``
runs notebook 02 this way and reads the saved page's embedded data back with :func:`read_summary`;
``aikit report NOTEBOOK`` does the same for any report notebook. :func:`proportion` writes a share
with its 95 % interval (``25% (95% CI 16-37%), 15 of 60``), the way a measure should be shown.

Beyond the contract notebook 02 was written against: ``table(..., max_rows=50)`` (the page says how
many rows it left out), ``note(title, "a sentence")`` as well as a mapping, ``Report.to_dict()`` and
``to_html()``, and the report notebooks' ``source_name`` parameter (how the page names its data
source; ``aikit demo`` sets it). The modules: :mod:`~aikit.report.document` (the Report),
:mod:`~aikit.report.render` (HTML), :mod:`~aikit.report.values` (how values read),
:mod:`~aikit.report.notebook` (papermill with terminal progress), :mod:`~aikit.report.job` (report
in place only on success), :mod:`~aikit.report.failure` (the failure page),
:mod:`~aikit.report.preflight` (checks before any work) and :mod:`~aikit.report.cli`
(``aikit report``).

>>> import tempfile
>>> from pathlib import Path
>>> rep = Report("Ticket health", source="Demo CRM", date="2026-05-12")
>>> rep.finding("12 of 60 tickets are negative.")
>>> rep.note("How this was made", {"model": "local", "rows": 60})
>>> path = rep.save(Path(tempfile.mkdtemp()) / "health.html")
>>> summary = read_summary(path)
>>> summary["title"], summary["values"]
('Ticket health', {'model': 'local', 'rows': 60})
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

from aikit.exceptions import ConfigError
from aikit.report.document import Report
from aikit.report.values import proportion

__all__ = ["Report", "proportion", "read_summary"]

_DATA = re.compile(r"<script type='application/json' id='aikit-report-data'>(.*?)</script>", re.S)


def read_summary(path: str | os.PathLike[str]) -> dict[str, Any]:
    """What a saved report says, as data: title, date, source, findings, metrics, notes and ``values``
    (the footer's raw values, e.g. ``rows`` and ``cost_usd``).

    Raises
    ------
    ConfigError
        The file is not a report saved by :meth:`Report.save`.
    """
    text = Path(path).read_text(encoding="utf-8")
    match = _DATA.search(text)
    if match is None:
        raise ConfigError(f"{path} is not a report saved by aikit.report.Report.save (no embedded data)")
    data: dict[str, Any] = json.loads(match.group(1))
    return data

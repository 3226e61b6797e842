"""How values read in a business document: clean text, human column names, numbers, money and times.

Pure functions shared by every part of a report. A report never shows a Python repr, a dict, a
``None`` or a literal ``\\n``: :func:`clean_text` folds line breaks (real or escaped) into spaces,
:func:`format_value` writes numbers with separators, dates as dates, missing values as a dash and
mappings as ``Label: value`` pairs, and :func:`humanize` turns ``ai_churn_risk`` into ``Churn risk``.

>>> clean_text("Hello,\\\\n\\\\nthe invoice is wrong.\\n  Thanks")
'Hello, the invoice is wrong. Thanks'
>>> humanize("ai_churn_risk"), humanize("hs_ticket_priority"), humanize("createdate")
('Churn risk', 'Priority', 'Created')
>>> format_value(1234.5), format_value(None), format_value(["a", "b"]), format_value(True)
('1,234.50', '—', 'a, b', 'yes')
>>> format_note_value("cost_usd", 0.01234), format_note_value("elapsed_s", 252.4)
('$0.0123', '4 min 12 s')
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Mapping
from typing import Any

__all__ = [
    "DASH",
    "clean_text",
    "duration",
    "format_note_value",
    "format_value",
    "humanize",
    "money",
    "proportion",
    "wilson_interval",
]

#: What a missing value reads as.
DASH = "—"

_ESCAPED_BREAKS = re.compile(r"(?:\\r|\\n|\\t)+")
_SPACES = re.compile(r"\s+")

#: Column and key names that read better spelled out than derived.
_NAMES = {
    "id": "ID",
    "createdate": "Created",
    "created_at": "Created",
    "hs_lastmodifieddate": "Last modified",
    "lastmodifieddate": "Last modified",
    "hs_ticket_priority": "Priority",
    "hs_pipeline_stage": "Stage",
    "content": "Text",
    "cost_usd": "Cost",
    "elapsed_s": "Time",
    "cache_hits": "Cache hits",
    "cached": "Cache hits",
    "requests": "AI requests",
    "rows": "Rows",
    "model": "Model",
}
_PREFIXES = ("ai_", "hs_ticket_", "hs_")


def clean_text(text: object) -> str:
    """One line of prose: escaped and real line breaks become spaces, runs of spaces collapse.

    >>> clean_text("  two\\n\\nlines ")
    'two lines'
    """
    value = _ESCAPED_BREAKS.sub(" ", str(text))
    return _SPACES.sub(" ", value).strip()


def humanize(name: object) -> str:
    """A column or key name as a reader would say it: no prefixes, no underscores, capitalised.

    >>> humanize("ai_summary"), humanize("num_contacts"), humanize("Ticket")
    ('Summary', 'Num contacts', 'Ticket')
    """
    key = str(name)
    if key in _NAMES:
        return _NAMES[key]
    for prefix in _PREFIXES:
        if key.startswith(prefix) and len(key) > len(prefix):
            key = key[len(prefix) :]
            break
    words = key.replace("_", " ").strip()
    words = re.sub(r"\busd\b", "(USD)", words)
    return words[:1].upper() + words[1:] if words else str(name)


def _is_missing(value: object) -> bool:
    if value is None:
        return True
    if isinstance(value, float) and math.isnan(value):
        return True
    try:
        import pandas as pd

        result = pd.isna(value)  # type: ignore[call-overload]
    except (ImportError, TypeError, ValueError):
        return False
    return isinstance(result, bool) and result  # arrays and lists are values, not missing


def _number(value: float) -> str:
    if math.isinf(value):
        return "∞" if value > 0 else "-∞"
    if value == int(value) and abs(value) < 1e15:
        return f"{int(value):,}"
    if abs(value) >= 1:
        return f"{value:,.2f}"
    return f"{value:.3g}"


def format_value(value: Any) -> str:
    """``value`` as report text: numbers with separators, dates, lists joined, mappings as pairs.

    >>> import datetime as dt
    >>> format_value(dt.datetime(2026, 3, 1, 0, 0)), format_value({"ok": 3, "failed": 0})
    ('2026-03-01', 'Ok: 3; Failed: 0')
    """
    if _is_missing(value):
        return DASH
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return _number(value)
    if isinstance(value, dt.datetime):
        if value.hour == value.minute == value.second == 0:
            return value.strftime("%Y-%m-%d")
        return value.strftime("%Y-%m-%d %H:%M")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, str):
        return clean_text(value) or DASH
    if isinstance(value, Mapping):
        return "; ".join(f"{humanize(k)}: {format_value(v)}" for k, v in value.items()) or DASH
    if isinstance(value, list | tuple | set | frozenset):
        return ", ".join(format_value(v) for v in value) or DASH
    item = getattr(value, "item", None)  # numpy scalars
    if callable(item):
        try:
            return format_value(item())
        except (TypeError, ValueError):
            pass
    tolist = getattr(value, "tolist", None)  # numpy arrays
    if callable(tolist):
        return format_value(tolist())
    return clean_text(value)


def money(usd: float | None) -> str:
    """A cost: ``$0.0123``, ``$12.34``, ``$0`` for nothing spent, ``unknown`` when not priced.

    >>> money(0), money(12.345), money(None)
    ('$0', '$12.35', 'unknown')
    """
    if usd is None or _is_missing(usd):
        return "unknown"
    if usd == 0:
        return "$0"
    return f"${usd:,.2f}" if abs(usd) >= 1 else f"${usd:.4f}"


def duration(seconds: float) -> str:
    """A wall time: ``42 s``, ``4 min 12 s``, ``1 h 05 min``.

    >>> duration(9.6), duration(61), duration(3900)
    ('10 s', '1 min 1 s', '1 h 05 min')
    """
    s = max(0, round(float(seconds)))
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60} s"
    return f"{s // 3600} h {s // 60 % 60:02d} min"


def format_note_value(key: str, value: Any) -> str:
    """A "how this was made" value: money for ``*_usd``, durations for ``*_s``, else :func:`format_value`."""
    if key.endswith("_usd") and (value is None or isinstance(value, int | float)):
        return money(value)
    if key.endswith("_s") and isinstance(value, int | float) and not isinstance(value, bool):
        return duration(value)
    return format_value(value)


def wilson_interval(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """The Wilson score interval of ``k`` successes in ``n`` trials (95 % by default).

    >>> [round(x, 3) for x in wilson_interval(15, 60)]
    [0.158, 0.372]
    """
    if n <= 0:
        return (0.0, 1.0)
    p = k / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return (max(0.0, centre - half), min(1.0, centre + half))


def proportion(k: int, n: int, *, counts: bool = True) -> str:
    """A share with its uncertainty, as a report shows it: ``25% (95% CI 16-37%), 15 of 60``.

    ``counts=False`` leaves out the ``k of n`` part (for a sentence that already says it).

    >>> proportion(15, 60), proportion(15, 60, counts=False), proportion(0, 0)
    ('25% (95% CI 16-37%), 15 of 60', '25% (95% CI 16-37%)', 'no data')
    """
    if n <= 0:
        return "no data"
    low, high = wilson_interval(k, n)
    text = f"{k / n:.0%} (95% CI {low * 100:.0f}-{high * 100:.0f}%)"
    return f"{text}, {k:,} of {n:,}" if counts else text

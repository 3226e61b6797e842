"""The slot a live monitor plugs into: what ``hook.widget()`` opens.

The live, auto-refreshing panel lives on the widget side (:class:`aikit.widgets.webhooks.WebhookMonitor`,
which needs ``aikit[notebook]``). :mod:`aikit.webhooks` never imports it: whoever provides a monitor
registers its factory here with :func:`set_monitor`, and the top-level ``aikit`` package registers
the widget one (imported only when a monitor is opened). This module imports nothing else, so
``import aikit`` stays cheap.

>>> previous = set_monitor(lambda listener, interval: f"monitor of {listener} every {interval}s")
>>> open_monitor("hook", 0.5)
'monitor of hook every 0.5s'
>>> _ = set_monitor(None)
>>> open_monitor("hook", 0.5)  # doctest: +ELLIPSIS
Traceback (most recent call last):
aikit.exceptions.WebhookError: no live monitor is registered: ...
>>> _ = set_monitor(previous)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aikit.exceptions import WebhookError

__all__ = ["MonitorFactory", "open_monitor", "set_monitor"]

#: ``factory(listener, interval) -> widget``: builds the live view of a listener.
MonitorFactory = Callable[[Any, float], Any]

_monitor: MonitorFactory | None = None


def set_monitor(factory: MonitorFactory | None) -> MonitorFactory | None:
    """Register the factory :func:`open_monitor` uses (None removes it); return the previous one."""
    global _monitor
    previous, _monitor = _monitor, factory
    return previous


def open_monitor(listener: Any, interval: float) -> Any:
    """A live view of ``listener`` from the registered factory.

    Raises
    ------
    WebhookError
        When no factory is registered.
    """
    factory = _monitor
    if factory is None:
        raise WebhookError(
            "no live monitor is registered: use aikit.widgets.webhooks.WebhookMonitor(hook) "
            "(needs aikit[notebook]), or show `hook` itself for the HTML summary"
        )
    return factory(listener, interval)

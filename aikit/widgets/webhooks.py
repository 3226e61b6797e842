"""A live view of a :class:`~aikit.webhooks.listener.WebhookListener` (needs ``aikit[notebook]``).

The widget is the listener's HTML summary (URL, sources, last events and rejections), re-rendered by a
daemon thread every ``interval`` seconds while it is displayed; the thread never prints and stops
with :meth:`WebhookMonitor.close` or when the listener stops.

The dependency points one way: this module uses the listener, the listener never imports it.
``hook.widget()`` reaches :class:`WebhookMonitor` through the factory the top-level ``aikit``
package registers with :func:`aikit.webhooks.monitor.set_monitor`; building one directly is the same:

>>> from aikit.widgets.webhooks import WebhookMonitor                          # doctest: +SKIP
>>> WebhookMonitor(hook, interval=1.0)                                          # doctest: +SKIP
"""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING, Any

import ipywidgets

if TYPE_CHECKING:
    from aikit.webhooks.listener import WebhookListener

__all__ = ["WebhookMonitor"]

log = logging.getLogger("aikit.webhooks")


class WebhookMonitor(ipywidgets.VBox):  # type: ignore[misc]
    """An auto-refreshing HTML panel for a listener.

    Parameters
    ----------
    listener : WebhookListener
        The listener to show.
    interval : float
        Seconds between refreshes (at least 0.2).
    """

    def __init__(self, listener: WebhookListener, interval: float = 1.0, **kwargs: Any) -> None:
        self.listener = listener
        self.interval = max(0.2, float(interval))
        self.html = ipywidgets.HTML(value=listener._repr_html_())
        super().__init__(children=[self.html], **kwargs)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="aikit-webhook-monitor", daemon=True)
        self._thread.start()

    def refresh(self) -> None:
        """Re-render now."""
        value = self.listener._repr_html_()
        if value != self.html.value:
            self.html.value = value

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.refresh()
            except Exception as exc:  # a view must never raise or print from its thread
                log.debug("webhook monitor refresh failed: %s", exc)
            if not self.listener.running:
                return

    def close(self) -> None:
        """Stop refreshing and close the widget."""
        self._stop.set()
        super().close()

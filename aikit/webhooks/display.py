"""How a listener shows itself in a notebook: its HTML summary, with no widget library.

:func:`summary_html` gathers what the summary shows (sources with their secret *count* only, the
last events from the store, the last rejections, a hosting warning) and renders it with
:func:`~aikit.webhooks.view.render_html`. The live panel of ``hook.widget()`` is opened through
:mod:`aikit.webhooks.monitor`.

>>> import pathlib, tempfile
>>> from aikit.webhooks.store import Store
>>> html = summary_html(url=None, running=False, port=None, rejections=[], sources={},
...                     store=Store(pathlib.Path(tempfile.mkdtemp()) / "none.sqlite"))
>>> "not started" in html and "none yet" in html
True
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from aikit.webhooks.hosting import detect_hosting
from aikit.webhooks.view import render_html

if TYPE_CHECKING:
    from aikit.webhooks.sources import Source
    from aikit.webhooks.store import Store

__all__ = ["summary_html"]

log = logging.getLogger("aikit.webhooks")


def summary_html(
    *,
    url: str | None,
    running: bool,
    port: int | None,
    store: Store,
    sources: Mapping[str, Source],
    rejections: Sequence[dict[str, Any]],
) -> str:
    """The listener's HTML summary; renders even when the store cannot be read."""
    recent: list[dict[str, Any]] = []
    if store.exists:
        try:
            recent = store.recent(10)
        except Exception as exc:  # the view must render even if the store is unreadable
            log.debug("webhook summary could not read the store: %s", exc)
    shown = [
        {
            "name": name,
            "scheme": src.config.scheme,
            "url": f"{url}/hooks/{name}" if url is not None else "(not started)",
            "public_url": src.config.public_url or "",
            "secrets": f"{len(src.config.secrets)} (hidden)",
            "counts": dict(src.counts),
        }
        for name, src in sources.items()
    ]
    return render_html(
        url=url,
        running=running,
        store=str(store.path),
        sources=shown,
        recent=recent,
        rejections=rejections,
        warning=detect_hosting().warning,
        port=port,
    )

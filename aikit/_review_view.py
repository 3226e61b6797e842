"""Where the widget side plugs in the view of a review queue (no pandas, no widgets imported here).

The top-level ``aikit`` package registers :class:`aikit.widgets.review.ReviewView` with
:func:`set_review_view`; :class:`aikit._batch.review.Review` shows it in a live kernel through
:func:`review_view`. Kept outside :mod:`aikit._batch` so ``import aikit`` imports neither it nor pandas.

>>> previous = set_review_view(lambda review: f"view of {review}")
>>> review_view()("r")
'view of r'
>>> _ = set_review_view(previous)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

__all__ = ["ViewFactory", "review_view", "set_review_view"]

ViewFactory = Callable[[Any], Any]
_view: ViewFactory | None = None


def set_review_view(factory: ViewFactory | None) -> ViewFactory | None:
    """Register the widget that shows a review in a live kernel (None removes it); return the previous one."""
    global _view
    previous, _view = _view, factory
    return previous


def review_view() -> ViewFactory | None:
    """The registered view factory, or None."""
    return _view

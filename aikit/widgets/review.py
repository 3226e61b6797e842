"""The review queue as a widget: one doubtful row at a time, a button per label, skip (``aikit[notebook]``).

A thin view over :class:`aikit._batch.review.Review`: every click goes straight to the review's SQLite
store (:meth:`Review.decide`), and the widget only shows what the store says, so nothing lives in
widget state or the notebook file and a kernel restart loses nothing. The top-level ``aikit`` package
registers :class:`ReviewView` with :func:`aikit._batch.review.set_review_view`; ``df.ai.review(...)``
shown in a live kernel is this widget.

>>> from aikit.widgets.review import ReviewView        # doctest: +SKIP
>>> ReviewView(df.ai.review("ai_category"))             # doctest: +SKIP
"""

from __future__ import annotations

import html
from typing import TYPE_CHECKING, Any

import ipywidgets

if TYPE_CHECKING:
    from aikit._batch.review import Review, ReviewItem

__all__ = ["ReviewView"]


class ReviewView(ipywidgets.VBox):  # type: ignore[misc]
    """Shows the first row still awaiting review; each button records a decision and moves on."""

    def __init__(self, review: Review, **kwargs: Any) -> None:
        self.review = review
        self.header = ipywidgets.HTML()
        self.text = ipywidgets.HTML()
        self.output = ipywidgets.Output()
        self.buttons = [self._button(label) for label in review.labels]
        skip = ipywidgets.Button(description="skip", tooltip="do not push this row's label")
        skip.add_class("aikit-review-skip")
        skip.on_click(lambda _: self._decide(None))
        self.skip_button = skip
        row = ipywidgets.HBox([*self.buttons, skip])
        super().__init__(children=[self.header, self.text, row, self.output], **kwargs)
        self.add_class("aikit-review")
        self.current: ReviewItem | None = None
        self.refresh()

    def _button(self, label: str) -> ipywidgets.Button:
        button = ipywidgets.Button(description=label, tooltip=f"the right label is {label}")
        button.add_class("aikit-review-label")
        button.on_click(lambda _, label=label: self._decide(label))
        return button

    def _decide(self, label: str | None) -> None:
        with self.output:  # a failing callback shows its error here instead of vanishing
            if self.current is not None:
                self.review.decide(self.current.row_id, label)
            self.refresh()

    def refresh(self) -> None:
        """Show the first pending row (or that the queue is done), as the store says."""
        pending = self.review.pending()
        self.header.value = f"<b>{html.escape(self.review.status())}</b>"
        self.current = pending[0] if pending else None
        if self.current is None:
            self.text.value = "<p class='aikit-review-done'>Nothing left to review.</p>"
            for b in [*self.buttons, self.skip_button]:
                b.disabled = True
            return
        item = self.current
        conf = "unknown" if item.confidence != item.confidence else f"{item.confidence:.0%}"
        body = html.escape(item.text).replace("\n", "<br>")
        self.text.value = (
            f"<div class='aikit-review-row' data-row-id='{html.escape(item.row_id)}'>"
            f"<p>Row <code>{html.escape(item.row_id)}</code>: proposed "
            f"<b>{html.escape(str(item.proposed))}</b>"
            f" (confidence {conf})</p><blockquote>{body}</blockquote></div>"
        )
        for b in self.buttons:
            b.button_style = "info" if b.description == item.proposed else ""

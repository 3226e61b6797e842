"""The review widget without a frontend: clicks go to the store, the view shows what the store says.

The real-browser version (click in JupyterLab, restart the kernel, ``apply``) is
tests/test_browser_review.py.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

pytest.importorskip("ipywidgets")

from aikit._batch.review import review
from aikit.widgets.review import ReviewView

LABELS = ["a", "b", "c"]


def _frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "id": ["1", "2", "3"],
            "text": ["first <b>ticket</b>", "second", "third"],
            "cat": pd.Categorical(["a", "b", "c"], categories=LABELS),
            "cat_confidence": [0.3, 0.95, 0.5],
        }
    )


def test_buttons_record_decisions_and_move_on(tmp_path: Path) -> None:
    store = tmp_path / "review.sqlite"
    view = ReviewView(review(_frame(), "cat", threshold=0.9, text="text", store=store))
    assert [b.description for b in view.buttons] == LABELS
    assert "first &lt;b&gt;ticket&lt;/b&gt;" in view.text.value  # the row's text is escaped, not rendered
    assert view.buttons[0].button_style == "info"  # the proposed label is highlighted
    view.buttons[2].click()  # row 1 is really "c"
    assert "data-row-id='3'" in view.text.value and "1 decided" in view.header.value
    view.skip_button.click()
    assert "Nothing left to review" in view.text.value and all(b.disabled for b in view.buttons)
    # a fresh review (after a kernel restart) on the same store has nothing pending and applies the fix
    again = review(_frame(), "cat", threshold=0.9, text="text", store=store)
    assert again.pending() == []
    fixed = again.apply(_frame())
    assert fixed["cat"].tolist() == ["c", "b", "c"] and fixed["cat_ok"].tolist() == [True, True, False]

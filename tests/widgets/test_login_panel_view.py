"""The login panel says each state once, and its key box shows its whole placeholder (no frontend)."""

from __future__ import annotations

import re

import ipywidgets as w
import pytest

from aikit.auth import ApiKeyService
from aikit.widgets.auth import LoginPanel

VAR = "AIKIT_PANEL_VIEW_KEY"


def _html_texts(widget: w.Widget) -> list[str]:
    out: list[str] = []
    if isinstance(widget, w.HTML):
        out.append(re.sub(r"<[^>]+>", "", widget.value))
    for child in getattr(widget, "children", ()):
        out.extend(_html_texts(child))
    return out


def test_an_api_key_row_has_one_status_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(VAR, raising=False)
    panel = LoginPanel([ApiKeyService("Demo AI", VAR)])
    lines = [t for t in _html_texts(panel.widget) if "connected" in t]
    assert len(lines) == 1, lines
    assert lines[0].startswith("Demo AI: ● not connected")
    prompt = panel.prompts["Demo AI"]
    assert prompt.password.placeholder == "paste the key, then Save"
    # The box holds the label (the variable's name) and the whole placeholder: ~1 em per 2 characters.
    width_em = float(prompt.password.layout.width.removesuffix("em"))
    assert width_em >= (len(VAR) + len(prompt.password.placeholder)) / 2 + 4


def test_saving_updates_the_one_line_and_a_rejection_stays_in_view(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(VAR, raising=False)

    def check(value: str) -> None:
        if value != "good-key":
            raise ValueError("the provider rejected this key")

    panel = LoginPanel([ApiKeyService("Demo AI", VAR, check=check)])
    prompt = panel.prompts["Demo AI"]
    prompt.password.value = "bad-key"
    prompt.button.click()
    lines = [t for t in _html_texts(panel.widget) if "connected" in t or "error" in t]
    assert len(lines) == 1 and "error" in lines[0] and "rejected" in lines[0], lines
    prompt.password.value = "good-key"
    prompt.button.click()
    lines = [t for t in _html_texts(panel.widget) if "connected" in t or "error" in t]
    assert lines == [next(t for t in lines if "● connected" in t)], lines

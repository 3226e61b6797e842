"""Prompt templates: placeholders, escapes, missing values, and clear errors before any call."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from aikit._batch.template import Template
from aikit.exceptions import ConfigError


def test_placeholders_and_escapes() -> None:
    t = Template("Ticket {id}: {subject} -- {{literal}} {{{id}}}")
    assert t.fields == ("id", "subject")
    assert t.render({"id": 7, "subject": "Refund"}) == "Ticket 7: Refund -- {literal} {7}"


def test_repeated_field_and_no_fields() -> None:
    assert Template("{a}-{a}").fields == ("a",)
    assert Template("{a}-{a}").render({"a": "x"}) == "x-x"
    df = pd.DataFrame({"a": [1, 2, 3]})
    assert Template("same {{for}} all").render_frame(df) == ["same {for} all"] * 3


def test_render_frame_keeps_row_order_and_blanks_missing_values() -> None:
    df = pd.DataFrame(
        {"subject": ["A", "B", "C"], "n": [1.5, math.nan, 3.0], "s": ["x", None, pd.NA]},
        index=[10, 5, 7],
    )
    assert Template("{subject}|{n}|{s}").render_frame(df) == ["A|1.5|x", "B||", "C|3.0|"]


def test_column_names_with_spaces_and_non_str_labels() -> None:
    df = pd.DataFrame({"first name": ["Ada"], 3: ["three"]})
    assert Template("{first name} {3}").render_frame(df) == ["Ada three"]


def test_missing_column_lists_existing_columns_and_suggests() -> None:
    df = pd.DataFrame({"subject": ["a"], "content": ["b"]})
    with pytest.raises(ConfigError) as info:
        Template("{subjct} {body}").render_frame(df)
    message = str(info.value)
    assert "'subjct' (did you mean 'subject'?)" in message
    assert "'body'" in message
    assert "Columns: 'subject', 'content'" in message


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("open {brace", "unclosed"),
        ("lone } brace", "lone"),
        ("empty {} here", "empty placeholder"),
        ("nested {a{b}}", "inside a placeholder"),
    ],
)
def test_malformed_braces_raise(text: str, fragment: str) -> None:
    with pytest.raises(ConfigError, match=fragment):
        Template(text)


def test_not_a_string() -> None:
    with pytest.raises(ConfigError):
        Template(42)  # type: ignore[arg-type]


def test_duplicated_column_label_is_an_error() -> None:
    df = pd.DataFrame([[1, 2]], columns=["a", "a"])
    with pytest.raises(ConfigError, match="more than once"):
        Template("{a}").render_frame(df)


def test_render_frame_is_fast() -> None:
    import time

    df = pd.DataFrame({"a": ["x" * 200] * 20_000, "b": range(20_000)})
    t0 = time.perf_counter()
    out = Template("Row {b}: {a} {{json}}").render_frame(df)
    assert len(out) == 20_000 and out[3].startswith("Row 3: xx")
    assert time.perf_counter() - t0 < 1.0


def test_braces_inside_values_stay_literal() -> None:
    df = pd.DataFrame({"body": ["{subject} and {{x}} and {0}"]})
    assert Template("Text: {body}").render_frame(df) == ["Text: {subject} and {{x}} and {0}"]

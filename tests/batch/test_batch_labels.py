"""Few-shot classification prompts (pure functions, no model needed)."""

from __future__ import annotations

import json

import pytest

from aikit._batch.labels import (
    EXAMPLE_BANK,
    classification_messages,
    classification_schema,
    few_shot_turns,
    system_prompt,
)
from aikit.exceptions import ConfigError

SENTIMENT = ["positive", "negative", "neutral"]


def _answers(turns: list[dict[str, str]], field: str = "label") -> list[str]:
    return [json.loads(t["content"])[field] for t in turns if t["role"] == "assistant"]


def test_every_label_gets_an_example_and_turns_alternate() -> None:
    turns = few_shot_turns(SENTIMENT)
    assert [t["role"] for t in turns] == ["user", "assistant"] * (len(turns) // 2)
    assert set(_answers(turns)) == set(SENTIMENT)
    assert all(t["content"].startswith("Message: ") for t in turns if t["role"] == "user")


def test_examples_are_interleaved_so_no_label_clusters_at_the_end() -> None:
    answers = _answers(few_shot_turns(SENTIMENT))
    assert answers[: len(SENTIMENT)] == SENTIMENT  # one round of every label first
    assert answers[-1] != answers[-2]


def test_unknown_labels_get_a_placeholder_and_user_examples_win() -> None:
    turns = few_shot_turns(["spam", "ham"], examples={"spam": ["WIN NOW", "FREE $$$"]})
    assert _answers(turns) == ["spam", "ham", "spam"]
    assert turns[0]["content"] == "Message: WIN NOW"
    assert "ham" in turns[2]["content"]


def test_answers_are_compact_json_in_the_requested_field() -> None:
    turns = few_shot_turns(["yes", "no"], field="answer")
    assert turns[1]["content"] == '{"answer":"yes"}'


def test_schema_enumerates_labels() -> None:
    schema = classification_schema(SENTIMENT, field="sentiment")
    assert schema["properties"]["sentiment"]["enum"] == SENTIMENT
    assert schema["required"] == ["sentiment"] and schema["additionalProperties"] is False


def test_messages_end_with_the_text_and_zero_shot_has_no_examples() -> None:
    msgs = classification_messages("Where is my parcel?", SENTIMENT, task="the customer's sentiment")
    assert msgs[0]["role"] == "system" and "the customer's sentiment" in msgs[0]["content"]
    assert msgs[-1] == {"role": "user", "content": "Message: Where is my parcel?"}
    zero = classification_messages("Where is my parcel?", SENTIMENT, few_shot=False)
    assert [m["role"] for m in zero] == ["system", "user"]


def test_system_prompt_lists_every_label_with_hints_and_overrides() -> None:
    text = system_prompt(["billing", "other"], descriptions={"other": "anything else"})
    assert '- "billing"\n' in text and '- "other": anything else' in text


def test_bank_texts_are_not_benchmark_texts() -> None:
    from pathlib import Path

    data = Path(__file__).parents[2] / "benchmarks" / "data"
    bench = {json.loads(line)["text"] for f in data.glob("*.jsonl") for line in f.read_text().splitlines()}
    assert bench, "benchmark data missing"
    assert not bench & {t for texts in EXAMPLE_BANK.values() for t in texts}


@pytest.mark.parametrize("labels", [["only"], ["a", "a"], "positive"])
def test_bad_labels_are_refused(labels: list[str] | str) -> None:
    with pytest.raises(ConfigError):
        classification_schema(labels)

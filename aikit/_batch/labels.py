"""Classification prompts for every provider: a JSON schema plus one few-shot turn per label.

``df.ai.classify`` (:mod:`aikit._batch.accessor`) sends each row as :func:`classification_messages`
with :func:`classification_schema` as its output schema, whatever the model. The prompt shape was
tuned on the smallest model aikit runs: SmolLM2-135M labels every non-positive text "negative" when
asked zero-shot; given each label's meaning in the system prompt and one short example per label (as
prior chat turns) it uses "neutral" too. These helpers are pure (no I/O) and model-agnostic.

Examples come from a small built-in bank for common labels (sentiment, support-ticket categories,
urgency, yes/no); for other labels pass ``examples={"label": "a text"}`` or a neutral placeholder turn is
used, which still teaches the model the output format and that the label exists. The bank's texts are
deliberately not the texts of ``benchmarks/data/*.jsonl``.

>>> msgs = classification_messages("Where is my parcel?", ["positive", "negative", "neutral"])
>>> len(msgs), msgs[0]["role"], msgs[-1]
(12, 'system', {'role': 'user', 'content': 'Message: Where is my parcel?'})
>>> msgs[2]["content"]
'{"label":"positive"}'
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from aikit.exceptions import ConfigError

__all__ = [
    "EXAMPLE_BANK",
    "LABEL_HINTS",
    "classification_messages",
    "classification_schema",
    "few_shot_turns",
    "system_prompt",
]

#: Short example texts per (lower-case) label. Order inside a list is the order of the turns.
EXAMPLE_BANK: dict[str, tuple[str, ...]] = {
    # sentiment
    "positive": ("The staff were helpful and my room was spotless.",),
    "negative": (
        "The screen cracked after a week and support ignored me.",
        "I would appreciate an answer to my complaint from two weeks ago.",
    ),
    "neutral": ("I moved to a new apartment last month.", "Do you ship to Canada?"),
    # support tickets
    "billing": ("Please refund the extra charge on my last invoice.",),
    "bug": ("The save button shows an error and nothing is saved.",),
    "feature request": ("Could you add an option to export my data as JSON?",),
    "account": ("I cannot reset my password to sign in.",),
    # urgency
    "high": ("Our whole team is blocked and customers cannot pay. Please help now!",),
    "medium": ("The report is wrong; we need it fixed before Friday.",),
    "low": ("When you have time, could you check a typo on the pricing page?",),
    # yes / no
    "yes": ("Yes, that works for me.",),
    "no": ("No, please do not renew it.",),
}


#: One-line meanings of common labels, listed in the system prompt. For sentiment SmolLM2 needs both the
#: meaning and an example (benchmarks/data/feedback.jsonl: either alone is far worse). Support-ticket
#: categories have no hint on purpose: with hints SmolLM2 answered "feature request" for every ticket
#: (10/42 vs 18/42 without; both near chance, the model is too small for that task).
LABEL_HINTS: dict[str, str] = {
    "positive": "the writer is happy or praises something",
    "negative": "the writer is unhappy, complains, or is sarcastic",
    "neutral": "a question, request or plain fact with no feeling",
    "high": "urgent: work is blocked or money is lost now",
    "medium": "important but can wait a few days",
    "low": "minor, no deadline",
    "yes": "agrees or confirms",
    "no": "declines or refuses",
}


def _label_list(labels: Sequence[str]) -> list[str]:
    if isinstance(labels, str):
        raise ConfigError("labels must be a list of strings, not one string")
    out = [str(label) for label in labels]
    if len(out) < 2:
        raise ConfigError(f"classification needs at least 2 labels, got {out!r}")
    if len(set(out)) != len(out):
        raise ConfigError(f"labels must be unique, got {out!r}")
    return out


def classification_schema(labels: Sequence[str], *, field: str = "label") -> dict[str, Any]:
    """A JSON schema ``{field: one of labels}`` for ``response_format: json_schema``.

    Examples
    --------
    >>> classification_schema(["yes", "no"])["properties"]
    {'label': {'type': 'string', 'enum': ['yes', 'no']}}
    """
    return {
        "type": "object",
        "properties": {field: {"type": "string", "enum": _label_list(labels)}},
        "required": [field],
        "additionalProperties": False,
    }


def _answer(field: str, label: str) -> str:
    return json.dumps({field: label}, separators=(",", ":"))


def _interleave(per_label: list[list[tuple[str, str]]]) -> list[tuple[str, str]]:
    """Round-robin over labels, so no label's examples cluster at the end (tiny models copy the last)."""
    out: list[tuple[str, str]] = []
    depth = max((len(items) for items in per_label), default=0)
    for i in range(depth):
        out.extend(items[i] for items in per_label if i < len(items))
    return out


def few_shot_turns(
    labels: Sequence[str],
    *,
    field: str = "label",
    examples: Mapping[str, str | Sequence[str]] | None = None,
) -> list[dict[str, str]]:
    """User/assistant turns showing at least one example per label, answered as compact JSON.

    Parameters
    ----------
    labels : sequence of str
        The allowed labels.
    field : str
        The JSON key of the answer.
    examples : mapping, optional
        Your own example text(s) per label; they replace the built-in bank for those labels.

    Examples
    --------
    >>> turns = few_shot_turns(["spam", "ham"], examples={"spam": "WIN A CRUISE", "ham": "Lunch at 1?"})
    >>> [t["content"] for t in turns[:2]]
    ['Message: WIN A CRUISE', '{"label":"spam"}']
    """
    given = {str(k): v for k, v in (examples or {}).items()}
    per_label: list[list[tuple[str, str]]] = []
    for label in _label_list(labels):
        texts: Sequence[str]
        if label in given:
            value = given[label]
            texts = (value,) if isinstance(value, str) else tuple(value)
        else:
            texts = EXAMPLE_BANK.get(label.lower(), (f"A typical message that is clearly {label}.",))
        per_label.append([(text, label) for text in texts])
    turns: list[dict[str, str]] = []
    for text, label in _interleave(per_label):
        turns.append({"role": "user", "content": f"Message: {text}"})
        turns.append({"role": "assistant", "content": _answer(field, label)})
    return turns


def system_prompt(
    labels: Sequence[str],
    *,
    task: str | None = None,
    field: str = "label",
    descriptions: Mapping[str, str] | None = None,
) -> str:
    """The system message: the task, each label with its meaning, and the answer format.

    Examples
    --------
    >>> print(system_prompt(["yes", "no"], task="the reply"))
    Classify the reply. Labels:
    - "yes": agrees or confirms
    - "no": declines or refuses
    Answer with JSON {"label": ...}.
    """
    given = dict(descriptions or {})
    lines = []
    for label in _label_list(labels):
        hint = given.get(label) or LABEL_HINTS.get(label.lower())
        lines.append(f'- "{label}": {hint}' if hint else f'- "{label}"')
    listing = "\n".join(lines)
    return f'Classify {task or "the message"}. Labels:\n{listing}\nAnswer with JSON {{"{field}": ...}}.'


def classification_messages(
    text: str,
    labels: Sequence[str],
    *,
    task: str | None = None,
    field: str = "label",
    examples: Mapping[str, str | Sequence[str]] | None = None,
    descriptions: Mapping[str, str] | None = None,
    few_shot: bool = True,
) -> list[dict[str, str]]:
    """The full chat for classifying ``text``: system prompt, few-shot turns, then the message.

    Parameters
    ----------
    text : str
        What to classify.
    labels : sequence of str
        The allowed labels (also the schema's enum).
    task : str, optional
        What is classified, e.g. ``"the customer's sentiment"``. Default: "the message".
    field : str
        JSON key of the answer (match :func:`classification_schema`).
    examples : mapping, optional
        Example text(s) per label, see :func:`few_shot_turns`.
    descriptions : mapping, optional
        One-line meaning per label; defaults to :data:`LABEL_HINTS` for common labels.
    few_shot : bool
        False gives the zero-shot prompt (the benchmark's baseline): same system prompt, no examples.

    Examples
    --------
    >>> msgs = classification_messages("Hi", ["a", "b"], few_shot=False)
    >>> [m["role"] for m in msgs]
    ['system', 'user']
    """
    names = _label_list(labels)
    system = system_prompt(names, task=task, field=field, descriptions=descriptions)
    messages = [{"role": "system", "content": system}]
    if few_shot:
        messages.extend(few_shot_turns(names, field=field, examples=examples))
    messages.append({"role": "user", "content": f"Message: {text}"})
    return messages

"""P(label) from the token log-probabilities of one answer: the confidence of ``df.ai.classify``.

The model's answer is ``{"label":"<label>"}``; the distribution that decides the label is the one at
the first token of the label. Each label's probability is the summed probability of every returned
candidate token that is a prefix of that label ("B", "BILL", "BILLING_ISSUE" all lead to
BILLING_ISSUE); a label with no candidate among the returned top tokens is given the smallest returned
probability (it is at most that likely); then the label probabilities are renormalised. A token that
several labels start with ("b" for "billing" and "bug") is split evenly between them: it does not say
which, so labels with distinct first words score sharper. ``label_mass``
(the share of the model's whole distribution that fell on labels) says whether the model meant to
answer with a label at all. The numbers llama.cpp returns are taken before any grammar or schema
mask, which is why renormalising over the labels is right (``shared/reference/labels.md`` §1.3).

Two ways to reach that position, chosen by provider (:func:`scoring_mode`):

- ``"prefill"`` (the embedded llama.cpp server, which continues a final assistant message): the chat
  ends with the assistant's ``{"label":"`` and one token is asked for; its ``top_logprobs`` are the
  distribution. One forward pass per row, no generation.
- ``"generate"`` (OpenAI and compatible servers): the usual enum-schema answer with ``logprobs``; the
  position is found by walking the answer's tokens up to ``"label":"``.
- ``"none"`` (Anthropic returns no token probabilities): no confidence is given rather than one made up.

>>> lp = [{"token": '{"label":"', "logprob": 0.0, "top_logprobs": []},
...       {"token": "B", "logprob": -0.2, "top_logprobs": [{"token": "B", "logprob": -0.2},
...        {"token": "P", "logprob": -2.0}, {"token": "The", "logprob": -3.0}]}]
>>> p, mass = label_probabilities(lp, ["BILLING", "PRODUCT", "GENERAL"])
>>> [round(x, 3) for x in p], round(mass, 3)
([0.816, 0.135, 0.05], 0.954)
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, Literal

__all__ = [
    "ScoringMode",
    "answer_prefix",
    "label_position",
    "label_probabilities",
    "prefill_turn",
    "scoring_mode",
]

ScoringMode = Literal["prefill", "generate", "none"]


def answer_prefix(field: str = "label") -> str:
    """The assistant's answer up to the label: compact JSON, as the few-shot turns show it."""
    return '{"' + field + '":"'


def prefill_turn(field: str = "label") -> dict[str, str]:
    """The final assistant message that the embedded server continues with the label."""
    return {"role": "assistant", "content": answer_prefix(field)}


def scoring_mode(provider: str) -> ScoringMode:
    """How labels are scored on ``provider`` (see the module docstring).

    >>> scoring_mode("local"), scoring_mode("openai"), scoring_mode("anthropic")
    ('prefill', 'generate', 'none')
    """
    if provider == "local":
        return "prefill"
    if provider == "anthropic":
        return "none"
    return "generate"


def label_position(logprobs: Sequence[Mapping[str, Any]], field: str = "label") -> int | None:
    """Index of the first token of the label in a generated answer, or None when it cannot be found.

    Whitespace between JSON tokens is ignored (small models write several layouts).

    >>> label_position([{"token": "{\\n "}, {"token": '"label": "'}, {"token": "yes"}])
    2
    """
    want = answer_prefix(field)
    seen = ""
    for i, entry in enumerate(logprobs):
        if "".join(seen.split()).endswith(want):
            return i
        seen += str(entry.get("token", ""))
    return None


def label_probabilities(
    logprobs: Sequence[Mapping[str, Any]] | None,
    labels: Sequence[str],
    *,
    prefilled: bool = False,
    field: str = "label",
) -> tuple[list[float] | None, float]:
    """``(P(label) per label, label mass)`` from one answer's logprobs; ``(None, 0.0)`` when absent.

    ``prefilled`` says the answer's first token already is the label's first token.
    """
    if not logprobs:
        return None, 0.0
    index = 0 if prefilled else label_position(logprobs, field)
    if index is None or index >= len(logprobs):
        return None, 0.0
    entry = logprobs[index]
    tops = list(entry.get("top_logprobs") or ())
    if not tops:
        tops = [{"token": entry.get("token", ""), "logprob": entry.get("logprob", 0.0)}]
    mass = [0.0] * len(labels)
    for top in tops:
        token = str(top.get("token", ""))
        if not token.strip():
            continue  # "" (a partial UTF-8 piece) or whitespace leads to no label in particular
        p = math.exp(float(top.get("logprob", -math.inf)))
        leads = [
            i for i, label in enumerate(labels) if label.startswith(token) or token.startswith(label + '"')
        ]
        for i in leads:  # a token several labels start with ("b": billing, bug) tells them apart by nothing
            mass[i] += p / len(leads)
    label_mass = sum(mass)
    if label_mass <= 0.0:
        return None, 0.0
    floor = min(math.exp(float(t.get("logprob", -math.inf))) for t in tops)
    filled = [m if m > 0 else floor for m in mass]
    total = sum(filled)
    return [m / total for m in filled], min(1.0, label_mass)

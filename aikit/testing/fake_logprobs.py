"""Token log-probabilities for the fake provider: a tiny keyword "model" over the labels of a request.

When a Chat Completions request asks for ``logprobs: true`` the fake answers with
``choices[0].logprobs.content`` shaped like OpenAI's and llama.cpp's, so the label-scoring path of
``df.ai.classify`` (:mod:`aikit._batch.scoring`) is tested without the embedded model. The labels are
the enum of the answer's schema, or, for an assistant prefill (the last message is the assistant's
``{"label":"``, as sent to the embedded model), the ``- "label"`` lines of the system prompt.

Each label's score is 2 per word of the label (split on ``_`` and spaces, at least 3 letters, matched
by its first 4 letters) found in the last user message, plus a little deterministic noise from the
request digest; the probabilities are a softmax over the scores, scaled so 10 % of the mass goes to
two tokens that are no label at all (so "label mass" is below 1, as with real models). The answer
follows the most probable label, so text and probabilities agree. A message naming one label's words
is answered with that label, confidently; a message naming none gets a flat, doubtful distribution.

>>> lp = label_logprobs(["BILLING_ISSUE", "PRODUCT_ISSUE"], "My billing is wrong", "00ff")
>>> lp[0]["token"], round(sum(math.exp(t["logprob"]) for t in lp), 2)
('BILLING_ISSUE', 1.0)
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["answer_logprobs", "label_logprobs", "prefill_labels"]

_LABEL_LINE = re.compile(r'^- "([^"]+)"', re.MULTILINE)
_OTHER_TOKENS = ("The", "\n")
_OTHER_MASS = 0.10


def _words(label: str) -> list[str]:
    return [w[:4] for w in re.split(r"[_\s/-]+", label.lower()) if len(w) >= 3]


def label_logprobs(labels: Sequence[str], text: str, digest: str) -> list[dict[str, Any]]:
    """``top_logprobs`` of the label position, most probable first (labels plus two other tokens)."""
    lowered = text.lower()
    scores = []
    for i, label in enumerate(labels):
        hits = sum(1 for w in _words(label) if w in lowered)
        noise = int(digest[(2 * i) % 60 : (2 * i) % 60 + 2] or "0", 16) / 512
        scores.append(2.0 * hits + noise)
    top = max(scores)
    weights = [math.exp(s - top) for s in scores]
    total = sum(weights)
    probs = [(1 - _OTHER_MASS) * w / total for w in weights]
    entries: list[dict[str, Any]] = [
        {"token": label, "logprob": math.log(p)} for label, p in zip(labels, probs, strict=True)
    ]
    for token in _OTHER_TOKENS:
        entries.append({"token": token, "logprob": math.log(_OTHER_MASS / len(_OTHER_TOKENS))})
    entries.sort(key=lambda e: -float(e["logprob"]))
    return entries


def _enum_field(structured: Any) -> tuple[str, list[str]] | None:
    props = structured.get("properties") if isinstance(structured, Mapping) else None
    if not isinstance(props, Mapping) or len(props) != 1:
        return None
    ((name, prop),) = props.items()
    enum = prop.get("enum") if isinstance(prop, Mapping) else None
    if isinstance(enum, list) and len(enum) >= 2 and all(isinstance(v, str) for v in enum):
        return str(name), list(enum)
    return None


def prefill_labels(pairs: Sequence[tuple[str, str]]) -> list[str] | None:
    """The labels of a prefilled label request (last turn the assistant's ``{"...":"``), else None."""
    if not pairs or pairs[-1][0] != "assistant" or not pairs[-1][1].rstrip().endswith('"'):
        return None
    system = next((text for role, text in pairs if role == "system"), "")
    labels = _LABEL_LINE.findall(system)
    return labels if len(labels) >= 2 else None


def _last_user(pairs: Sequence[tuple[str, str]]) -> str:
    return next((text for role, text in reversed(pairs) if role == "user"), "")


def answer_logprobs(
    structured: Any, pairs: Sequence[tuple[str, str]], digest: str, text: str
) -> tuple[str, Any, list[dict[str, Any]]]:
    """``(text, parsed value, logprobs content)`` of an answer whose request asked for logprobs."""
    prefill = prefill_labels(pairs)
    user = _last_user(pairs)
    if prefill is not None:
        tops = label_logprobs(prefill, user, digest)
        return tops[0]["token"], None, [{**tops[0], "top_logprobs": tops}]
    enum = _enum_field(structured)
    if enum is None:
        whole = {"token": text, "logprob": 0.0}
        return text, None, [{**whole, "top_logprobs": [whole]}]
    name, labels = enum
    tops = [t for t in label_logprobs(labels, user, digest) if t["token"] in labels]
    chosen = tops[0]
    head = '{"' + name + '":"'
    value = {name: chosen["token"]}
    content = [
        {"token": head, "logprob": 0.0, "top_logprobs": [{"token": head, "logprob": 0.0}]},
        {**chosen, "top_logprobs": label_logprobs(labels, user, digest)},
        {"token": '"}', "logprob": 0.0, "top_logprobs": [{"token": '"}', "logprob": 0.0}]},
    ]
    return json.dumps(value, separators=(",", ":")), value, content

"""Masking secrets in text: a key quoted back in an error message, whole or cut short.

:class:`Scrubber` holds the secrets one client knows (its API key, the credentials of its URLs, a
server's token) and masks them in any text before it reaches an exception, a log line or the call log.

>>> scrub = Scrubber()
>>> scrub.add("sk-live-123456")
>>> scrub("bad key sk-live-123456")
'bad key ********'
"""

from __future__ import annotations

import re

__all__ = ["MASK", "MIN_FRAGMENT", "Scrubber"]

MASK = "********"
#: Shortest piece of a secret masked on its own; shorter secrets are masked only as whole words.
MIN_FRAGMENT = 8


class Scrubber:
    """Masks the secrets it holds wherever they appear in a text, whole or in part.

    A provider may quote a key back cut short ("Invalid key sk-...-0123456"), so any run of text that is
    a piece of a secret at least :data:`MIN_FRAGMENT` characters (or half the secret) long is masked,
    not only the whole secret. A secret shorter than :data:`MIN_FRAGMENT` is masked only where it stands
    as a whole word, so a short key such as ``kno`` leaves "Unknown path" alone.

    >>> scrub = Scrubber()
    >>> scrub.add("sk-live-0123456789abcdef")
    >>> scrub("no such key: sk-live-0123456789abc (truncated)")
    'no such key: ******** (truncated)'
    >>> scrub.add("kno")
    >>> scrub("Unknown path; key kno refused")
    'Unknown path; key ******** refused'
    """

    __slots__ = ("_secrets", "_words")

    def __init__(self) -> None:
        self._secrets: list[tuple[str, int, frozenset[str]]] = []
        self._words: re.Pattern[str] | None = None

    def add(self, secret: str | None) -> None:
        """Mask ``secret`` from now on (empty values are ignored)."""
        if not secret or any(s == secret for s, _, _ in self._secrets):
            return
        if len(secret) < MIN_FRAGMENT:
            short = [s for s, n, _ in self._secrets if n == 0] + [secret]
            alternatives = "|".join(re.escape(s) for s in sorted(short, key=len, reverse=True))
            self._words = re.compile(rf"(?<![A-Za-z0-9])(?:{alternatives})(?![A-Za-z0-9])")
            self._secrets.append((secret, 0, frozenset()))
            return
        size = max(MIN_FRAGMENT, len(secret) // 2)
        pieces = frozenset(secret[i : i + size] for i in range(len(secret) - size + 1))
        self._secrets.append((secret, size, pieces))

    def __call__(self, text: str) -> str:
        if not text:
            return text
        spans: list[tuple[int, int]] = []
        for secret, size, pieces in self._secrets:
            if size:
                spans.extend(_fragments(text, secret, size, pieces))
        if spans:
            text = _masked(text, spans)
        if self._words is not None:
            text = self._words.sub(MASK, text)
        return text


def _fragments(text: str, secret: str, size: int, pieces: frozenset[str]) -> list[tuple[int, int]]:
    """``(start, end)`` of every run of ``text`` that is a piece of ``secret`` of ``size`` chars or more."""
    spans: list[tuple[int, int]] = []
    i, last = 0, len(text) - size
    while i <= last:
        if text[i : i + size] in pieces:
            end = i + size
            while end < len(text) and text[i : end + 1] in secret:
                end += 1
            spans.append((i, end))
            i = end
        else:
            i += 1
    return spans


def _masked(text: str, spans: list[tuple[int, int]]) -> str:
    out: list[str] = []
    pos = 0
    for start, end in sorted(spans):
        if end <= pos:
            continue
        if start > pos:
            out.append(text[pos:start])
        if start >= pos:
            out.append(MASK)
        pos = max(pos, end)
    out.append(text[pos:])
    return "".join(out)

"""What both provider batch APIs share, sans I/O: the batch and result-line shapes, limits, splitting.

A provider batch API (OpenAI's Batch API: :mod:`~aikit.client.providers.openai_batch`; Anthropic's
Message Batches: :mod:`~aikit.client.providers.anthropic_batch`) never sends anything. It builds the
``httpx.Request`` of each step (upload, create, retrieve, cancel, download) and reads the answers into
the provider-neutral values below:

- :class:`RemoteBatch`: one provider batch as last seen, its own status word and counts kept, plus a
  normalised ``state`` (``validating``, ``running``, ``finishing``, ``cancelling``, ``ended``,
  ``failed``, ``expired``, ``cancelled``) and ``terminal``;
- :class:`LineResult`: one line of a result file: ``succeeded`` (with the chat answer's body),
  ``errored`` (with the provider's error line and whether retrying can help), ``expired``,
  ``canceled``, or ``unreadable`` (a broken line: its row counts as missing, the others still count).

:func:`split` cuts the request lines of a job into as few batches as the provider's limits allow.

>>> split([b"x" * 10] * 5, BatchLimits(max_requests=2, max_bytes=1_000))
[[0, 1], [2, 3], [4]]
>>> split([b"x" * 10] * 5, BatchLimits(max_requests=100, max_bytes=25))
[[0, 1], [2, 3], [4]]
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from aikit.exceptions import ConfigError

if TYPE_CHECKING:  # pragma: no cover
    import httpx

    from aikit.auth.secrets import Secret

__all__ = ["BatchAPI", "BatchLimits", "LineResult", "RemoteBatch", "parse_lines", "split"]

#: Normalised states a batch is over in (no status change will follow).
TERMINAL_STATES = frozenset({"ended", "failed", "expired", "cancelled"})


@dataclass(frozen=True, slots=True)
class BatchLimits:
    """The most requests and bytes one provider batch takes."""

    max_requests: int
    max_bytes: int


@dataclass(frozen=True, slots=True)
class RemoteBatch:
    """One provider batch as last seen.

    Attributes
    ----------
    id : str
        The provider's batch id (``batch_...``, ``msgbatch_...``).
    status : str
        The provider's own word (``in_progress``, ``canceling``, ``ended`` ...).
    state : str
        Normalised: ``validating``, ``running``, ``finishing``, ``cancelling``, ``ended``, ``failed``,
        ``expired`` or ``cancelled``.
    total, completed, failed : int
        The provider's own counts (Anthropic's stay at zero until the batch ends).
    output_file_id, error_file_id, results_url : str or None
        Where the results are once the batch is over.
    errors : tuple of str
        Why a batch failed validation, as the provider says.
    raw : dict
        The batch object as received.
    """

    id: str
    status: str
    state: str
    total: int = 0
    completed: int = 0
    failed: int = 0
    output_file_id: str | None = None
    error_file_id: str | None = None
    results_url: str | None = None
    errors: tuple[str, ...] = ()
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def terminal(self) -> bool:
        """True once no status change will follow."""
        return self.state in TERMINAL_STATES

    def counts(self) -> dict[str, int]:
        """``{"total", "completed", "failed"}`` as the provider reports them."""
        return {"total": self.total, "completed": self.completed, "failed": self.failed}


@dataclass(frozen=True, slots=True)
class LineResult:
    """One line of a batch's results.

    ``kind`` is ``succeeded`` (``body`` is the chat answer, as the live endpoint would have sent it),
    ``errored`` (``error`` is the provider's message, ``status`` its HTTP status when it has one,
    ``retryable`` whether sending it again can help), ``expired`` or ``canceled``.
    """

    custom_id: str
    kind: str
    body: Mapping[str, Any] | None = None
    error: str | None = None
    status: int | None = None
    retryable: bool = False


class BatchAPI(Protocol):
    """A provider's batch API, sans I/O (both implementations follow it)."""

    name: str
    limits: BatchLimits
    #: True when the requests travel in an uploaded file (OpenAI), False when inline (Anthropic).
    uploads: bool

    def line(self, custom_id: str, body: Mapping[str, Any]) -> bytes: ...

    def upload(self, lines: Sequence[bytes], api_key: Secret | None, filename: str) -> httpx.Request: ...

    def parse_upload(self, resp: httpx.Response) -> str: ...

    def create(
        self,
        lines: Sequence[bytes],
        input_file_id: str | None,
        metadata: Mapping[str, str],
        api_key: Secret | None,
    ) -> httpx.Request: ...

    def retrieve(self, batch_id: str, api_key: Secret | None) -> httpx.Request: ...

    def cancel(self, batch_id: str, api_key: Secret | None) -> httpx.Request: ...

    def parse_batch(self, resp: httpx.Response) -> RemoteBatch: ...

    def downloads(self, batch: RemoteBatch, api_key: Secret | None) -> list[httpx.Request]: ...

    def parse_results(self, content: bytes) -> Iterator[LineResult]: ...


def parse_lines(content: bytes, read: Callable[[Any], LineResult]) -> Iterator[LineResult]:
    """``read`` applied to each JSON line of ``content``; a broken line becomes an ``unreadable`` result.

    One bad line never hides the others (a reader that stops at it loses every row after it).

    >>> read = lambda data: LineResult(data["custom_id"], "succeeded")
    >>> [r.kind for r in parse_lines(b'{"custom_id": "a"}\\n\\nnot json\\n', read)]
    ['succeeded', 'unreadable']
    """
    for number, raw in enumerate(content.splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            yield read(json.loads(raw))
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            yield LineResult(
                "", "unreadable", error=f"result line {number} cannot be read ({type(exc).__name__})"
            )


def split(lines: Sequence[bytes], limits: BatchLimits, overhead: int = 0) -> list[list[int]]:
    """Positions of ``lines`` grouped into batches within ``limits`` (in order, as few as possible).

    ``overhead`` is the bytes a batch adds besides its lines (an inline request body's brackets).

    Raises
    ------
    ConfigError
        When one line alone is over the size limit.
    """
    parts: list[list[int]] = []
    current: list[int] = []
    size = overhead
    for i, line in enumerate(lines):
        n = len(line) + 1
        if n + overhead > limits.max_bytes:
            raise ConfigError(
                f"request {i} is {n:,} bytes, over the provider's {limits.max_bytes:,}-byte batch limit"
            )
        if current and (len(current) >= limits.max_requests or size + n > limits.max_bytes):
            parts.append(current)
            current, size = [], overhead
        current.append(i)
        size += n
    if current:
        parts.append(current)
    return parts

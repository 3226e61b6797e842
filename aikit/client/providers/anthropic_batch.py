"""Anthropic's Message Batches (``/v1/messages/batches``), sans I/O.

The requests travel inline: ``POST /messages/batches`` with ``{"requests": [{"custom_id", "params"}]}``
(``params`` is exactly the live Messages body). The batch is ``in_progress``, ``canceling`` (one L) or
``ended``; its ``request_counts`` stay all-``processing`` until it ends. Results are the JSONL at the
batch's absolute ``results_url``, one line per request in any order, each ``succeeded`` (with the
``message``), ``errored`` (the standard error shape: ``invalid_request_error`` needs the request fixed;
other types may be retried as they are), ``canceled`` or ``expired``. Anthropic sends no webhook for
batches: they are polled.

Limits: 100,000 requests and 256 MB per batch; ``custom_id`` matches ``^[a-zA-Z0-9_-]{1,64}$``.

>>> api = AnthropicBatchAPI("https://api.anthropic.com/v1")
>>> api.create([api.line("row-0", {"model": "m"})], None, {}, None).content
b'{"requests":[{"custom_id":"row-0","params":{"model":"m"}}]}'
>>> line = b'{"custom_id":"row-0","result":{"type":"errored","error":{"type":"error",' \\
...        b'"error":{"type":"overloaded_error","message":"Overloaded"}}}}'
>>> [(r.kind, r.error, r.retryable) for r in api.parse_results(line)]
[('errored', 'overloaded_error: Overloaded', True)]
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import httpx

from aikit.client.providers.anthropic import ANTHROPIC_VERSION
from aikit.client.providers.batches import BatchLimits, LineResult, RemoteBatch, parse_lines
from aikit.exceptions import ConfigError

if TYPE_CHECKING:  # pragma: no cover
    from aikit.auth.secrets import Secret

__all__ = ["AnthropicBatchAPI"]

_CUSTOM_ID = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
_STATES = {"in_progress": "running", "canceling": "cancelling", "ended": "ended"}
#: Error types that sending the same request again cannot fix.
_FINAL_ERRORS = frozenset(
    {"invalid_request_error", "authentication_error", "permission_error", "not_found_error", "billing_error"}
)
_STATUS = {
    "invalid_request_error": 400,
    "authentication_error": 401,
    "billing_error": 402,
    "permission_error": 403,
    "not_found_error": 404,
    "rate_limit_error": 429,
    "api_error": 500,
    "timeout_error": 504,
    "overloaded_error": 529,
}
#: Bytes of ``{"requests":[`` and ``]}`` around the lines of a create body.
OVERHEAD = len(b'{"requests":[]}')


def _headers(api_key: Secret | None, accept: str = "application/json") -> dict[str, str]:
    headers = {"accept": accept, "anthropic-version": ANTHROPIC_VERSION}
    if api_key:
        headers["x-api-key"] = api_key.reveal()
    return headers


class AnthropicBatchAPI:
    """The Message Batches wire format (see the module docstring).

    Parameters
    ----------
    base_url : str
        Up to and including ``/v1`` (as for :class:`~aikit.client.providers.anthropic.AnthropicProvider`).
    """

    name = "anthropic"
    limits = BatchLimits(max_requests=100_000, max_bytes=256 * 1024 * 1024)
    uploads = False
    overhead = OVERHEAD

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url.rstrip("/")
        self._url = self.base_url + "/messages/batches"

    def __repr__(self) -> str:
        return f"AnthropicBatchAPI({self.base_url!r})"

    def line(self, custom_id: str, body: Mapping[str, Any]) -> bytes:
        """One request of the create body (``{"custom_id", "params"}``)."""
        if not _CUSTOM_ID.match(custom_id):
            raise ConfigError(f"an Anthropic custom_id must match [a-zA-Z0-9_-]{{1,64}}, got {custom_id!r}")
        params = {k: v for k, v in body.items() if k != "stream"}
        return json.dumps(
            {"custom_id": custom_id, "params": params}, separators=(",", ":"), ensure_ascii=False
        ).encode()

    def upload(self, lines: Sequence[bytes], api_key: Secret | None, filename: str) -> httpx.Request:
        raise ValueError("Message Batches take their requests inline: there is no upload")

    def parse_upload(self, resp: httpx.Response) -> str:
        raise ValueError("Message Batches take their requests inline: there is no upload")

    def create(
        self,
        lines: Sequence[bytes],
        input_file_id: str | None,
        metadata: Mapping[str, str],
        api_key: Secret | None,
    ) -> httpx.Request:
        """``POST /messages/batches`` with the requests inline (Anthropic batches carry no metadata)."""
        content = b'{"requests":[' + b",".join(lines) + b"]}"
        headers = {**_headers(api_key), "content-type": "application/json"}
        return httpx.Request("POST", self._url, headers=headers, content=content)

    def retrieve(self, batch_id: str, api_key: Secret | None) -> httpx.Request:
        """``GET /messages/batches/{id}``."""
        return httpx.Request("GET", f"{self._url}/{batch_id}", headers=_headers(api_key))

    def cancel(self, batch_id: str, api_key: Secret | None) -> httpx.Request:
        """``POST /messages/batches/{id}/cancel``."""
        return httpx.Request("POST", f"{self._url}/{batch_id}/cancel", headers=_headers(api_key))

    def parse_batch(self, resp: httpx.Response) -> RemoteBatch:
        """A MessageBatch object (from create, retrieve or cancel)."""
        return batch_from(resp.json())

    def downloads(self, batch: RemoteBatch, api_key: Secret | None) -> list[httpx.Request]:
        """``GET <results_url>``, verbatim (an ended batch always has one)."""
        if not batch.results_url:
            return []
        return [httpx.Request("GET", batch.results_url, headers=_headers(api_key, "application/binary"))]

    def parse_results(self, content: bytes) -> Iterator[LineResult]:
        """Every line of a result file; a broken line is ``unreadable`` (the others still count)."""
        return parse_lines(content, result_line)


def batch_from(data: Mapping[str, Any]) -> RemoteBatch:
    """A :class:`RemoteBatch` from a MessageBatch object (failed = errored + expired + canceled)."""
    status = str(data.get("processing_status") or "")
    counts = data.get("request_counts") or {}
    n = {k: int(counts.get(k) or 0) for k in ("processing", "succeeded", "errored", "canceled", "expired")}
    state = _STATES.get(status, "running")
    if state == "ended" and data.get("cancel_initiated_at"):
        state = "cancelled"
    return RemoteBatch(
        id=str(data["id"]),
        status=status,
        state=state,
        total=sum(n.values()),
        completed=n["succeeded"],
        failed=n["errored"] + n["canceled"] + n["expired"],
        results_url=data.get("results_url") or None,
        raw=dict(data),
    )


def result_line(data: Mapping[str, Any]) -> LineResult:
    """One results line; only ``succeeded`` has a ``message``."""
    custom_id = str(data.get("custom_id"))
    result = data.get("result") or {}
    kind = str(result.get("type") or "")
    if kind == "succeeded" and isinstance(result.get("message"), Mapping):
        return LineResult(custom_id, "succeeded", body=result["message"], status=200)
    if kind in ("expired", "canceled"):
        return LineResult(custom_id, kind, error=f"the request {kind} before it was processed")
    err = result.get("error")
    err = err if isinstance(err, Mapping) else {}
    inner = err.get("error")
    inner = inner if isinstance(inner, Mapping) else err
    etype = str(inner.get("type") or "error")
    message = str(inner.get("message") or etype)
    return LineResult(
        custom_id,
        "errored",
        error=f"{etype}: {message}",
        status=_STATUS.get(etype),
        retryable=etype not in _FINAL_ERRORS,
    )

"""OpenAI's Batch API (``/v1/files`` + ``/v1/batches``), sans I/O; also what vLLM-style servers serve.

A job's requests become JSONL lines ``{"custom_id", "method": "POST", "url": "/v1/chat/completions",
"body"}`` (the body is exactly what the live endpoint would get), uploaded as one multipart file with
``purpose=batch``; the batch is created on it with a 24 h window and polled until it is over. Its
successes are in ``output_file_id`` and its failures in ``error_file_id``, in any order: a line is a
success only when ``response.status_code`` is 200 (a 4xx line has ``error: null``), an expired line has
``error.code == "batch_expired"``. Either file may be missing (``null``, or ``""`` on a clean batch).

Limits: 50,000 requests and 200 MB per file.

>>> api = OpenAIBatchAPI("openai", "https://api.openai.com/v1")
>>> api.line("row-0", {"model": "gpt-4o-mini", "messages": []})[:60]
b'{"custom_id":"row-0","method":"POST","url":"/v1/chat/complet'
>>> ok = b'{"custom_id":"row-0","response":{"status_code":200,"body":{"id":"c"}},"error":null}'
>>> bad = b'{"custom_id":"row-1","response":{"status_code":400,"body":{"error":{"message":"no"}}}}'
>>> [(r.custom_id, r.kind, r.error) for r in api.parse_results(ok + b"\\n" + bad + b"\\n")]
[('row-0', 'succeeded', None), ('row-1', 'errored', 'HTTP 400: no')]
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import httpx

from aikit.client.providers.batches import BatchLimits, LineResult, RemoteBatch, parse_lines
from aikit.client.retry import is_retryable_status

if TYPE_CHECKING:  # pragma: no cover
    from aikit.auth.secrets import Secret

__all__ = ["ENDPOINT", "OpenAIBatchAPI"]

#: The endpoint every line of a chat batch targets.
ENDPOINT = "/v1/chat/completions"
_STATES = {
    "validating": "validating",
    "in_progress": "running",
    "finalizing": "finishing",
    "cancelling": "cancelling",
    "completed": "ended",
    "failed": "failed",
    "expired": "expired",
    "cancelled": "cancelled",
}


def _headers(api_key: Secret | None, accept: str = "application/json") -> dict[str, str]:
    headers = {"accept": accept}
    if api_key:
        headers["authorization"] = "Bearer " + api_key.reveal()
    return headers


def _dumps(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


class OpenAIBatchAPI:
    """The OpenAI Batch API wire format (see the module docstring).

    Parameters
    ----------
    name : str
        ``openai`` or ``compat``.
    base_url : str
        Up to and including ``/v1``.
    """

    limits = BatchLimits(max_requests=50_000, max_bytes=200 * 1024 * 1024)
    uploads = True

    def __init__(self, name: str, base_url: str) -> None:
        self.name = name
        self.base_url = base_url.rstrip("/")

    def __repr__(self) -> str:
        return f"OpenAIBatchAPI({self.name!r}, {self.base_url!r})"

    def line(self, custom_id: str, body: Mapping[str, Any]) -> bytes:
        """One JSONL request line (no newline)."""
        return _dumps({"custom_id": custom_id, "method": "POST", "url": ENDPOINT, "body": body})

    def upload(self, lines: Sequence[bytes], api_key: Secret | None, filename: str) -> httpx.Request:
        """``POST /files`` (multipart: ``purpose=batch`` and the JSONL ``file``)."""
        content = b"\n".join(lines) + b"\n"
        files = {"file": (filename, content, "application/jsonl")}
        return httpx.Request(
            "POST",
            self.base_url + "/files",
            headers=_headers(api_key),
            data={"purpose": "batch"},
            files=files,
        )

    def parse_upload(self, resp: httpx.Response) -> str:
        """The uploaded file's id (a file the provider could not process raises ``ValueError``)."""
        data = resp.json()
        if data.get("status") == "error":
            raise ValueError(f"the provider could not process the file: {data.get('status_details')}")
        return str(data["id"])

    def create(
        self,
        lines: Sequence[bytes],
        input_file_id: str | None,
        metadata: Mapping[str, str],
        api_key: Secret | None,
    ) -> httpx.Request:
        """``POST /batches`` on an uploaded file (``lines`` travel in the file, not here)."""
        if input_file_id is None:
            raise ValueError("an OpenAI batch is created on an uploaded file: upload first")
        body = {
            "input_file_id": input_file_id,
            "endpoint": ENDPOINT,
            "completion_window": "24h",
            "metadata": dict(metadata),
        }
        headers = {**_headers(api_key), "content-type": "application/json"}
        return httpx.Request("POST", self.base_url + "/batches", headers=headers, content=_dumps(body))

    def retrieve(self, batch_id: str, api_key: Secret | None) -> httpx.Request:
        """``GET /batches/{id}``."""
        return httpx.Request("GET", f"{self.base_url}/batches/{batch_id}", headers=_headers(api_key))

    def cancel(self, batch_id: str, api_key: Secret | None) -> httpx.Request:
        """``POST /batches/{id}/cancel`` (empty JSON body, as the SDK sends it)."""
        headers = {**_headers(api_key), "content-type": "application/json"}
        return httpx.Request("POST", f"{self.base_url}/batches/{batch_id}/cancel", headers=headers)

    def list_batches(
        self, api_key: Secret | None, *, after: str | None = None, limit: int = 100
    ) -> httpx.Request:
        """``GET /batches`` (newest first, ``after`` the last id of the previous page)."""
        params: dict[str, Any] = {"limit": limit}
        if after:
            params["after"] = after
        return httpx.Request("GET", self.base_url + "/batches", headers=_headers(api_key), params=params)

    def parse_batch(self, resp: httpx.Response) -> RemoteBatch:
        """A batch object (from create, retrieve or cancel)."""
        return batch_from(resp.json())

    def parse_list(self, resp: httpx.Response) -> tuple[list[RemoteBatch], bool]:
        """The batches of one ``GET /batches`` page, and whether more pages follow."""
        data = resp.json()
        return [batch_from(b) for b in data.get("data") or ()], bool(data.get("has_more"))

    def downloads(self, batch: RemoteBatch, api_key: Secret | None) -> list[httpx.Request]:
        """``GET /files/{id}/content`` of the output and error files that exist."""
        ids = [f for f in (batch.output_file_id, batch.error_file_id) if f]
        headers = _headers(api_key, accept="application/binary")
        return [httpx.Request("GET", f"{self.base_url}/files/{f}/content", headers=headers) for f in ids]

    def parse_results(self, content: bytes) -> Iterator[LineResult]:
        """Every line of a result file; a broken line is ``unreadable`` (the others still count)."""
        return parse_lines(content, result_line)


def batch_from(data: Mapping[str, Any]) -> RemoteBatch:
    """A :class:`RemoteBatch` from an OpenAI batch object."""
    status = str(data.get("status") or "")
    counts = data.get("request_counts") or {}
    errors = ((data.get("errors") or {}).get("data")) or ()
    texts = tuple(
        f"{e.get('code') or 'error'}: {e.get('message') or ''}"
        + (f" (line {e['line']})" if e.get("line") is not None else "")
        for e in errors
        if isinstance(e, Mapping)
    )
    return RemoteBatch(
        id=str(data["id"]),
        status=status,
        state=_STATES.get(status, "running"),
        total=int(counts.get("total") or 0),
        completed=int(counts.get("completed") or 0),
        failed=int(counts.get("failed") or 0),
        output_file_id=data.get("output_file_id") or None,
        error_file_id=data.get("error_file_id") or None,
        errors=texts,
        raw=dict(data),
    )


def result_line(data: Mapping[str, Any]) -> LineResult:
    """One output/error line: success only for ``response.status_code == 200``."""
    custom_id = str(data.get("custom_id"))
    response = data.get("response")
    error = data.get("error")
    if isinstance(response, Mapping):
        status = int(response.get("status_code") or 0)
        body = response.get("body")
        if status == 200 and isinstance(body, Mapping):
            return LineResult(custom_id, "succeeded", body=body, status=200)
        message = _body_message(body) or f"status {status}"
        return LineResult(
            custom_id,
            "errored",
            error=f"HTTP {status}: {message}",
            status=status or None,
            retryable=status == 0 or is_retryable_status(status),
        )
    if isinstance(error, Mapping):
        code = str(error.get("code") or "error")
        message = str(error.get("message") or code)
        if code == "batch_expired":
            return LineResult(custom_id, "expired", error=message)
        if code in ("batch_cancelled", "batch_canceled"):
            return LineResult(custom_id, "canceled", error=message)
        return LineResult(custom_id, "errored", error=f"{code}: {message}", retryable=True)
    return LineResult(custom_id, "errored", error="the result line has neither a response nor an error")


def _body_message(body: Any) -> str | None:
    if isinstance(body, Mapping):
        err = body.get("error")
        if isinstance(err, Mapping):
            return str(err.get("message") or err.get("code") or err.get("type") or "") or None
        if isinstance(err, str):
            return err
    return None

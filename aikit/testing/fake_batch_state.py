"""The state of the fake provider's batches, without I/O: stored files, and each batch's timeline.

A :class:`FakeBatch` fixes its whole timeline when it is created (validating, processing, finalizing;
every line's completion time in a shuffled order; each line's fate), so its status, its provider
object (OpenAI's Batch or Anthropic's MessageBatch) and its results are functions of the clock:
nothing runs in the background. :mod:`aikit.testing.fake_batches` serves them over HTTP.
"""

from __future__ import annotations

import collections
import json
import random
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aikit.testing import fake_wire as wire
from aikit.testing.fake_batch_wire import BatchConfig, answer, anthropic_line, openai_line
from aikit.testing.fake_config import FakeConfig

__all__ = ["ENDPOINT", "FakeBatch", "StoredFile"]

#: The one endpoint the fake's OpenAI batches serve.
ENDPOINT = "/v1/chat/completions"
_EXPIRED = "This request could not be executed before the completion window expired."


def _iso(epoch: float | None) -> str | None:
    if epoch is None:
        return None
    import datetime as dt

    return dt.datetime.fromtimestamp(epoch, dt.UTC).isoformat().replace("+00:00", "Z")


@dataclass
class StoredFile:
    id: str
    filename: str
    purpose: str
    data: bytes
    created_at: int

    def obj(self) -> dict[str, Any]:
        return {
            "object": "file",
            "id": self.id,
            "purpose": self.purpose,
            "filename": self.filename,
            "bytes": len(self.data),
            "created_at": self.created_at,
            "expires_at": self.created_at + 2592000,
            "status": "processed",
            "status_details": None,
        }


@dataclass
class FakeBatch:
    id: str
    anthropic: bool
    created: float
    custom_ids: list[str]
    bodies: list[dict[str, Any]]
    plans: list[tuple[str, int | None, str | None]]
    offsets: list[float]  # when each line completes, seconds after in_progress starts
    cfg: BatchConfig
    input_file_id: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    errors: list[dict[str, Any]] = field(default_factory=list)
    cancel_at: float | None = None
    results: dict[str, Any] | None = None  # built once, when it ends

    @property
    def v_end(self) -> float:
        return self.created + self.cfg.validating_s

    @property
    def p_end(self) -> float:
        return self.v_end + self.cfg.processing_s

    @property
    def f_end(self) -> float:
        return self.p_end + self.cfg.finalizing_s

    def ended_at(self) -> float:
        """When the batch is (or will be) over."""
        if self.errors:
            return self.v_end
        if self.cancel_at is not None and self.cancel_at < self.f_end:
            return self.cancel_at + self.cfg.cancel_s
        return self.f_end

    def done_by(self, t: float) -> list[int]:
        """Lines that completed (answered, errored or dropped) by time ``t``."""
        if t < self.v_end:
            return []
        stop = t if self.cancel_at is None else min(t, self.cancel_at)
        return [
            i
            for i, off in enumerate(self.offsets)
            if self.plans[i][0] != "expire" and self.v_end + off <= stop
        ]

    def status(self, now: float) -> str:
        """The OpenAI status word at ``now``."""
        if self.errors:
            return "validating" if now < self.v_end else "failed"
        if self.cancel_at is not None and self.cancel_at < self.f_end:
            return "cancelling" if now < self.ended_at() else "cancelled"
        if now < self.v_end:
            return "validating"
        if now < self.p_end:
            return "in_progress"
        if now < self.f_end:
            return "finalizing"
        return "expired" if any(p[0] == "expire" for p in self.plans) else "completed"

    def openai_obj(self, now: float, results: dict[str, Any] | None) -> dict[str, Any]:
        """The OpenAI Batch object at ``now`` (``results``: the files, once it is over)."""
        status = self.status(now)
        over = status in ("completed", "expired", "cancelled", "failed")
        n = len(self.custom_ids)
        if status in ("validating", "failed"):
            completed = failed = 0
        else:
            done = self.done_by(now)
            failed = sum(1 for i in done if self.plans[i][0] == "error")
            completed = len(done) - failed
            if over:
                failed += sum(1 for p in self.plans if p[0] == "expire")
        t = self.ended_at()
        return {
            "id": self.id,
            "object": "batch",
            "endpoint": ENDPOINT,
            "model": self.bodies[0]["model"] if self.bodies else None,
            "errors": {"object": "list", "data": self.errors} if self.errors else None,
            "input_file_id": self.input_file_id,
            "completion_window": "24h",
            "status": status,
            "output_file_id": results.get("output") if results else None,
            "error_file_id": results.get("error") if results else None,
            "created_at": int(self.created),
            "in_progress_at": int(self.v_end) if now >= self.v_end and not self.errors else None,
            "expires_at": int(self.created) + 86400,
            "finalizing_at": int(self.p_end)
            if now >= self.p_end and self.cancel_at is None and not self.errors
            else None,
            "completed_at": int(t) if status == "completed" else None,
            "failed_at": int(self.v_end) if status == "failed" else None,
            "expired_at": int(t) if status == "expired" else None,
            "cancelling_at": int(self.cancel_at) if self.cancel_at is not None else None,
            "cancelled_at": int(t) if status == "cancelled" else None,
            "request_counts": {"total": n, "completed": completed, "failed": failed},
            "metadata": self.metadata or None,
            "usage": None,
        }

    def build_results(
        self, cfg: FakeConfig, rng: random.Random, new_file: Callable[[str, str, bytes], str]
    ) -> dict[str, Any]:
        """The results of an ended batch (built once; lines shuffled): OpenAI files or Anthropic JSONL."""
        if self.results is not None:
            return self.results
        done = set(self.done_by(self.ended_at()))
        out: list[bytes] = []
        err: list[bytes] = []
        created = int(self.ended_at())
        for i, cid in enumerate(self.custom_ids):
            outcome, status, message = self.plans[i]
            ident = uuid.uuid4().hex[:20]
            if outcome == "drop":
                continue
            if outcome == "expire":
                if self.anthropic:
                    out.append(anthropic_line(cid, {"type": "expired"}))
                else:
                    err.append(
                        openai_line(
                            cid,
                            ident,
                            None,
                            None,
                            {
                                "code": "batch_expired",
                                "message": _EXPIRED,
                            },
                        )
                    )
                continue
            if i not in done:
                if self.anthropic:
                    out.append(anthropic_line(cid, {"type": "canceled"}))
                continue
            if outcome == "error":
                code, body = int(status or 400), None
            else:
                invalid = outcome == "invalid"
                code, body = answer(self.bodies[i], self.anthropic, cfg, ident[:8], created, invalid=invalid)
            if self.anthropic:
                if code == 200:
                    out.append(anthropic_line(cid, {"type": "succeeded", "message": body}))
                else:
                    kind = _ANTHROPIC_KINDS.get(code, "api_error" if code >= 500 else "invalid_request_error")
                    text = message or (body or {}).get("error", {}).get("message") or "error"
                    error = {"type": "error", "error": {"type": kind, "message": text}}
                    out.append(anthropic_line(cid, {"type": "errored", "error": error}))
            elif code == 200:
                out.append(openai_line(cid, ident, 200, body))
            else:
                payload = (
                    body
                    if body is not None
                    else wire.openai_error(message or "error", "invalid_request_error")
                )
                err.append(openai_line(cid, ident, code, payload))
        rng.shuffle(out)
        rng.shuffle(err)
        if self.anthropic:
            counts = collections.Counter(json.loads(line)["result"]["type"] for line in out)
            counts["succeeded"] += sum(
                1 for p in self.plans if p[0] == "drop"
            )  # still counted, as users report
            self.results = {"jsonl": b"\n".join(out), "counts": dict(counts)}
        else:
            self.results = {
                "output": new_file(f"batch_{self.id}_output.jsonl", "batch_output", b"".join(out))
                if out
                else None,
                "error": new_file(f"batch_{self.id}_error.jsonl", "batch_output", b"".join(err))
                if err
                else None,
            }
        return self.results

    def anthropic_obj(
        self, now: float, host: str, counts_when_ended: Callable[[], dict[str, int]]
    ) -> dict[str, Any]:
        """The MessageBatch object at ``now`` (``results_url`` on ``host``)."""
        t = self.ended_at()
        ended = now >= t
        counts = dict.fromkeys(("processing", "succeeded", "errored", "canceled", "expired"), 0)
        if not ended:
            status = "canceling" if self.cancel_at is not None else "in_progress"
            counts["processing"] = len(self.custom_ids)
        else:
            status = "ended"
            counts.update(counts_when_ended())
        return {
            "id": self.id,
            "type": "message_batch",
            "processing_status": status,
            "request_counts": counts,
            "ended_at": _iso(t) if ended else None,
            "created_at": _iso(self.created),
            "expires_at": _iso(self.created + 86400),
            "archived_at": None,
            "cancel_initiated_at": _iso(self.cancel_at) if self.cancel_at is not None else None,
            "results_url": f"http://{host}/v1/messages/batches/{self.id}/results" if ended else None,
        }


_ANTHROPIC_KINDS = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    429: "rate_limit_error",
    500: "api_error",
    529: "overloaded_error",
    503: "overloaded_error",
}

"""What the fake provider's batch APIs say, without I/O: config, line checks, answers, result lines.

:class:`BatchConfig` is how the fake's OpenAI Batch API and Anthropic Message Batches behave (timing,
limits, failures, the webhook); ``POST /_admin/batches/config`` changes it at run time.
:func:`answer` gives a batch line the very answer the live endpoint gives the same request (same text,
same usage), so a batch run and a live run cost the same tokens. :func:`plan_line` draws a line's fate
(answered, errored, expired, dropped from the output) from the config and its ``[[fake:...]]``
directives: ``[[fake:batch=drop]]``, ``[[fake:batch=expire]]`` and ``[[fake:status=N]]`` (an error
line with that HTTP status; ``times=K`` only for its first K submissions).

>>> plan_line({"messages": [{"role": "user", "content": "hi [[fake:batch=drop]]"}]}, BatchConfig(), 0.5, {})
('drop', None, None)
>>> sign_webhook("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330,
...              b'{"test": 2432232314}')
'v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE='
"""

from __future__ import annotations

import base64
import collections
import dataclasses
import email.parser
import email.policy
import hashlib
import hmac
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from aikit.exceptions import ConfigError
from aikit.testing import fake_wire as wire
from aikit.testing.fake_config import FakeConfig
from aikit.testing.fake_request import answer_shape, directives, max_tokens, validate

__all__ = [
    "BatchConfig",
    "answer",
    "multipart_fields",
    "openai_line",
    "plan_line",
    "sign_webhook",
    "validate_openai_line",
]

_CUSTOM_ID = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")


@dataclass(frozen=True)
class BatchConfig:
    """Behaviour of the fake's batch APIs.

    Attributes
    ----------
    validating_s, processing_s, finalizing_s, cancel_s : float
        How long a batch validates, processes (its lines complete evenly over this time, in a shuffled
        order), finalizes, and takes to stop after a cancel.
    error_rate, error_status : float, int
        Share of lines answered with an HTTP error line of ``error_status`` (400: a final error).
    expire_rate : float
        Share of lines not run before the window closed (``batch_expired``; the batch ends ``expired``).
    drop_rate : float
        Share of lines silently missing from the output (the provider still counts them completed).
    fail_validation : int
        The next N batches fail validation as a whole.
    max_requests, max_bytes : int
        OpenAI's limits per input file (50,000 requests, 200 MB).
    anthropic_max_requests, anthropic_max_bytes : int
        Anthropic's limits per batch (100,000 requests, 256 MB).
    webhook_url, webhook_secret : str, optional
        Where OpenAI-style ``batch.*`` events go when a batch ends, signed the Standard Webhooks way
        with this ``whsec_`` secret (retried on a non-2xx answer).
    webhook_attempts : int
        Deliveries tried per event.
    seed : int
        Seed of the per-line draws and of the output order.
    """

    validating_s: float = 0.05
    processing_s: float = 0.3
    finalizing_s: float = 0.05
    cancel_s: float = 0.05
    error_rate: float = 0.0
    error_status: int = 400
    expire_rate: float = 0.0
    drop_rate: float = 0.0
    fail_validation: int = 0
    max_requests: int = 50_000
    max_bytes: int = 200 * 1024 * 1024
    anthropic_max_requests: int = 100_000
    anthropic_max_bytes: int = 256 * 1024 * 1024
    webhook_url: str | None = None
    webhook_secret: str | None = field(default=None, repr=False)
    webhook_attempts: int = 5
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("error_rate", "expire_rate", "drop_rate"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ConfigError(f"BatchConfig.{name} must be between 0 and 1, got {value!r}")
        if self.error_rate + self.expire_rate + self.drop_rate > 1.0:
            raise ConfigError("BatchConfig: error_rate + expire_rate + drop_rate must not exceed 1")
        for name in ("validating_s", "processing_s", "finalizing_s", "cancel_s"):
            if getattr(self, name) < 0:
                raise ConfigError(f"BatchConfig.{name} must be >= 0")
        if not 400 <= self.error_status <= 599:
            raise ConfigError(f"BatchConfig.error_status must be an HTTP error code, got {self.error_status}")
        if self.webhook_url is not None and not self.webhook_secret:
            raise ConfigError("BatchConfig.webhook_url needs webhook_secret (a whsec_ secret)")

    def replace(self, changes: Mapping[str, Any]) -> BatchConfig:
        """A copy with ``changes`` applied (unknown names raise ``ConfigError``)."""
        known = {f.name for f in dataclasses.fields(self)}
        unknown = sorted(set(changes) - known)
        if unknown:
            raise ConfigError(f"unknown BatchConfig fields {unknown}; valid: {sorted(known)}")
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able fields, the webhook secret shown as set/unset."""
        data = dataclasses.asdict(self)
        data["webhook_secret"] = None if self.webhook_secret is None else "***"
        return data


def sign_webhook(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """The ``webhook-signature`` header value (Standard Webhooks ``v1``, as OpenAI signs)."""
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = f"{msg_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()


def validate_openai_line(
    raw: bytes, number: int, seen: set[str], endpoint: str
) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """``(request, None)`` for a well-formed input line, or ``(None, BatchError)`` as OpenAI reports it."""

    def error(code: str, message: str) -> dict[str, Any]:
        return {"code": code, "message": message, "param": None, "line": number}

    try:
        line = json.loads(raw)
    except ValueError:
        return None, error("invalid_json_line", "This line is not parseable as valid JSON.")
    if not isinstance(line, dict):
        return None, error("invalid_json_line", "This line is not a JSON object.")
    cid = line.get("custom_id")
    if not isinstance(cid, str) or not cid:
        return None, error("missing_required_parameter", "Missing required parameter: 'custom_id'.")
    if cid in seen:
        return None, error("duplicate_custom_id", f"The custom_id '{cid}' is duplicated.")
    seen.add(cid)
    if line.get("method") != "POST":
        return None, error("invalid_method", "Only the POST method is supported.")
    if line.get("url") != endpoint:
        return None, error("url_mismatch", f"The url must match the batch endpoint {endpoint}.")
    if not isinstance(line.get("body"), dict) or not isinstance(line["body"].get("model"), str):
        return None, error("missing_required_parameter", "Missing required parameter: 'body.model'.")
    return line, None


def plan_line(
    body: Mapping[str, Any], cfg: BatchConfig, draw: float, seen: collections.Counter[str] | dict[str, int]
) -> tuple[str, int | None, str | None]:
    """A line's fate: ``(outcome, status, message)``: ``ok``, ``invalid``, ``error``, ``expire``, ``drop``."""
    pairs = wire.conversation(body.get("messages"), body.get("system"))
    found = directives(pairs)
    if found.get("times"):
        digest = wire.request_digest(str(body.get("model")), pairs)
        seen[digest] = seen.get(digest, 0) + 1
        if seen[digest] > int(found["times"]):
            found = {}
    fate = found.get("batch")
    if fate in ("drop", "expire"):
        return fate, None, None
    if found.get("invalid_json"):
        return "invalid", None, None
    if found.get("status"):
        status = int(found["status"])
        return "error", status, f"scripted {status} ([[fake:...]] directive)"
    if draw < cfg.error_rate:
        return "error", cfg.error_status, "The request was rejected (fake per-line error)."
    if draw < cfg.error_rate + cfg.expire_rate:
        return "expire", None, None
    if draw < cfg.error_rate + cfg.expire_rate + cfg.drop_rate:
        return "drop", None, None
    return "ok", None, None


def answer(
    body: dict[str, Any], anthropic: bool, cfg: FakeConfig, ident: str, created: int, *, invalid: bool = False
) -> tuple[int, dict[str, Any]]:
    """``(status, body)`` of one batch request: exactly what the live endpoint answers it."""
    headers = {"anthropic-version": "2023-06-01"}
    problem = validate(body, headers, anthropic, cfg)
    if problem:
        kind = "invalid_request_error"
        return 400, wire.anthropic_error(problem, kind) if anthropic else wire.openai_error(problem, kind)
    model = str(body["model"])
    pairs = wire.conversation(body["messages"], body.get("system") if anthropic else None)
    if cfg.fail_trigger and any(cfg.fail_trigger in text for role, text in pairs if role == "user"):
        message = f"Invalid request: the prompt contains {cfg.fail_trigger}."
        kind = "invalid_request_error"
        return 400, wire.anthropic_error(message, kind) if anthropic else wire.openai_error(message, kind)
    digest = wire.request_digest(model, pairs)
    structured, tool_name = answer_shape(body, anthropic)
    value: Any = None
    if structured is not None:
        value = wire.schema_instance(structured, digest)
        text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    else:
        text = wire.reply_text(pairs, digest, cfg.reply, cfg.reply_words)
    found = directives(pairs)
    if invalid:  # plan_line drew it (``[[fake:invalid_json]]``, which may say ``times=K``)
        text, value = '{"not valid": ', None
    out_tokens = wire.count_tokens(text)
    limit = max_tokens(body, anthropic)
    truncated = found.get("finish") == "length"
    if limit is not None and out_tokens > int(limit):
        text, out_tokens, truncated = text[: int(limit) * 4], int(limit), True
    usage = (wire.prompt_tokens(pairs), out_tokens)
    if anthropic:
        stop = "max_tokens" if truncated else ("tool_use" if tool_name else "end_turn")
        tool = None if tool_name is None else (tool_name, {} if truncated or value is None else value)
        return 200, wire.anthropic_message(f"msg_{digest[:12]}{ident}", model, text, usage, stop, tool)
    finish = "length" if truncated else "stop"
    return 200, wire.openai_completion(f"chatcmpl-{digest[:12]}{ident}", model, created, text, usage, finish)


def openai_line(custom_id: str, ident: str, status: int | None, body: Any, error: Any = None) -> bytes:
    """One output/error file line (``", "`` separators and a newline, as the real API writes them)."""
    response = None if status is None else {"status_code": status, "request_id": f"req_{ident}", "body": body}
    line = {"id": f"batch_req_{ident}", "custom_id": custom_id, "response": response, "error": error}
    return json.dumps(line, ensure_ascii=False).encode() + b"\n"


def anthropic_line(custom_id: str, result: dict[str, Any]) -> bytes:
    """One results line (compact JSON)."""
    return json.dumps(
        {"custom_id": custom_id, "result": result}, ensure_ascii=False, separators=(",", ":")
    ).encode()


def valid_custom_id(custom_id: Any) -> bool:
    """Anthropic's rule: 1-64 characters of ``[a-zA-Z0-9_-]``."""
    return isinstance(custom_id, str) and bool(_CUSTOM_ID.match(custom_id))


def multipart_fields(content_type: str, body: bytes) -> dict[str, tuple[str | None, bytes]]:
    """The fields of a ``multipart/form-data`` body: name -> (filename, bytes)."""
    if "multipart/form-data" not in content_type:
        raise ValueError("POST /v1/files wants multipart/form-data with 'purpose' and 'file'")
    parser = email.parser.BytesParser(policy=email.policy.HTTP)
    message = parser.parsebytes(b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + body)
    fields: dict[str, tuple[str | None, bytes]] = {}
    for part in message.iter_parts() if message.is_multipart() else ():
        name = part.get_param("name", header="content-disposition")
        if isinstance(name, str):
            payload = part.get_payload(decode=True)
            fields[name] = (part.get_filename(), payload if isinstance(payload, bytes) else b"")
    return fields

"""Helpers shared by the job tests: the fake's batch admin API, the keys, the webhook secret."""

from __future__ import annotations

import base64
from typing import Any

import httpx

#: The key the jobs tests' fake provider requires (a canary for leak scans too).
KEY = "sk-jobs-tests-0123456789"
#: The webhook signing secret, as OpenAI hands them out: whsec_ + padded base64 of random bytes.
SECRET = "whsec_" + base64.b64encode(b"aikit-jobs-tests-webhook-secret!").decode()
FAST = {"validating_s": 0.02, "processing_s": 0.2, "finalizing_s": 0.02, "cancel_s": 0.02}


def configure(fake: Any, **changes: Any) -> dict[str, Any]:
    """Change the batch APIs of a fake provider (thread or process form)."""
    r = httpx.post(fake.url + "/_admin/batches/config", json=changes, timeout=10)
    r.raise_for_status()
    return dict(r.json())


def fake_batches(fake: Any) -> dict[str, Any]:
    """The fake's batch counters and webhook deliveries."""
    return dict(httpx.get(fake.url + "/_admin/batches", timeout=10).json())

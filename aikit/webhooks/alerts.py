"""Dead-letter alerts: tell a person when a handler gives up on an event.

:class:`DeadAlert` posts one small JSON message per dead handler run, from the dispatcher's worker
thread, to a Slack incoming-webhook URL (``{"text": ...}``, which is what Slack accepts) or to any
other URL. A non-Slack URL gets a machine-readable body signed with the ``standard`` scheme
(Standard Webhooks: ``webhook-id``, ``webhook-timestamp``, ``webhook-signature``), so the receiver,
another aikit listener for instance, can check it came from here. The message names the event, the
source, the handler and the last line of the error (already scrubbed of secrets), never the body.

>>> DeadAlert("https://hooks.slack.com/services/T/B/X").slack
True
>>> DeadAlert("https://alerts.example.com/hooks/dead")  # doctest: +ELLIPSIS
Traceback (most recent call last):
aikit.exceptions.ConfigError: an alert URL other than Slack's is signed with the standard scheme: ...
"""

from __future__ import annotations

import json
import logging
import uuid
from urllib.parse import urlsplit

from aikit.exceptions import ConfigError
from aikit.webhooks.dispatcher import DeadLetter

__all__ = ["DeadAlert"]

log = logging.getLogger("aikit.webhooks")


class DeadAlert:
    """Post an alert to ``url`` for each :class:`~aikit.webhooks.dispatcher.DeadLetter`.

    Parameters
    ----------
    url : str
        A Slack incoming-webhook URL (``https://hooks.slack.com/...``) or any http(s) URL.
    secret : str, optional
        A ``whsec_...`` Standard Webhooks secret; required for a non-Slack URL.
    timeout : float
        Seconds per post; a failed post is logged, never raised (the event stays dead either way).
    """

    def __init__(self, url: str, secret: str | None = None, *, timeout: float = 5.0) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ConfigError(f"alert_url must be an http(s) URL, got {url!r}")
        self.url, self.timeout = url, timeout
        self.slack = parts.hostname == "hooks.slack.com"
        if not self.slack and not secret:
            raise ConfigError(
                "an alert URL other than Slack's is signed with the standard scheme: "
                "pass alert_secret='whsec_...'"
            )
        self._config = None
        if secret:
            from aikit.webhooks.verify import SourceConfig

            self._config = SourceConfig("alert", "standard", (secret,))
        self.sent = 0
        self.failed = 0

    def __repr__(self) -> str:
        return f"DeadAlert({urlsplit(self.url).hostname!r}, slack={self.slack})"

    def message(self, letter: DeadLetter) -> bytes:
        """The JSON body for ``letter``."""
        event = letter.event
        last = (letter.error.strip().splitlines() or [""])[-1][:300]
        summary = (
            f"aikit webhook handler {letter.handler} gave up on event {event.id} "
            f"({event.source}, {event.event_type}) after {letter.attempts} attempts: {last}"
        )
        if self.slack:
            return json.dumps({"text": summary}).encode()
        return json.dumps(
            {
                "type": "webhook.dead",
                "id": event.id,
                "event_id": event.event_id,
                "source": event.source,
                "event_type": event.event_type,
                "handler": letter.handler,
                "attempts": letter.attempts,
                "error": last,
                "text": summary,
            }
        ).encode()

    def __call__(self, letter: DeadLetter) -> None:
        import httpx

        body = self.message(letter)
        headers = {"content-type": "application/json"}
        if self._config is not None:
            from aikit.webhooks.sign import sign

            headers.update(
                sign(self._config, body, url=self.url, event_id=f"dead_{uuid.uuid4().hex}").headers
            )
        try:
            resp = httpx.post(self.url, content=body, headers=headers, timeout=self.timeout)
            resp.raise_for_status()
            self.sent += 1
        except httpx.HTTPError as exc:
            self.failed += 1
            log.warning("dead-letter alert to %s failed: %s", urlsplit(self.url).hostname, type(exc).__name__)

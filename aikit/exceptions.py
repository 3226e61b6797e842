"""The one exception tree of aikit.

Every error aikit raises derives from :class:`AIKitError`. Third-party errors (httpx, diskcache,
sqlite3, authlib, ...) are translated at the boundary with ``raise ... from exc`` so callers only
ever need to catch these classes::

    AIKitError
    ├── ConfigError                  bad argument, unknown provider, malformed model string
    │   └── MissingCredentialError   no key/token found; the message names the variable to set
    ├── ProviderError                an AI provider call failed (carries status, provider, attempts)
    │   ├── ProviderHTTPError        non-retryable 4xx (400/401/403/404/422): the provider's message
    │   ├── RetryExhaustedError      retryable failures (429/5xx/timeouts) until the deadline
    │   ├── ProviderTimeoutError     one request timed out (retried unless the deadline is spent)
    │   ├── ProviderConnectionError  connection refused/reset (retried unless the deadline is spent)
    │   └── InvalidOutputError       output failed schema validation after the retry
    ├── BudgetExceededError          a batch stopped scheduling rows at ``budget_usd``
    ├── CacheError                   the local response cache could not be read or written
    ├── LocalModelError              the embedded offline LLM is missing, or its server died
    ├── SharedStateError             the shared Redis cache/limiter of a scaled-out batch failed
    ├── CRMError                     a CRM call failed (status, category, correlation id)
    │   └── PushError                a push could not be completed
    ├── JobError                     a provider batch job or an AsyncJob failed, or its record is unusable
    │   └── JobPendingError          the job is not finished yet (``result()`` before ``wait()``)
    ├── WebhookError                 listener configuration or storage failure
    │   └── SignatureError           a webhook failed verification (never leaks which check)
    └── AuthError                    OAuth/JWT flow failure (denied, expired, revoked refresh token)
        └── OAuthError               the authorization server answered with an OAuth error code

Messages never contain secrets: keys and tokens are masked before they reach an exception.
"""

from __future__ import annotations

__all__ = [
    "AIKitError",
    "AuthError",
    "BudgetExceededError",
    "CRMError",
    "CacheError",
    "ConfigError",
    "InvalidOutputError",
    "JobError",
    "JobPendingError",
    "LocalModelError",
    "MissingCredentialError",
    "OAuthError",
    "ProviderConnectionError",
    "ProviderError",
    "ProviderHTTPError",
    "ProviderTimeoutError",
    "PushError",
    "RetryExhaustedError",
    "SharedStateError",
    "SignatureError",
    "WebhookError",
]


class AIKitError(Exception):
    """Base class of every aikit error."""


class ConfigError(AIKitError, ValueError):
    """A bad argument or configuration value."""


class MissingCredentialError(ConfigError):
    """No credential was found. The message says which variable to set and how."""

    def __init__(self, message: str, *, variable: str | None = None) -> None:
        super().__init__(message)
        self.variable = variable


class ProviderError(AIKitError):
    """An AI provider call failed."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        provider: str | None = None,
        attempts: int = 1,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.provider = provider
        self.attempts = attempts


class ProviderHTTPError(ProviderError):
    """A non-retryable HTTP error (400/401/403/404/422): fails fast with the provider's message."""


class RetryExhaustedError(ProviderError):
    """Retryable failures continued until the total deadline or the attempt limit."""


class ProviderTimeoutError(ProviderError):
    """A request took longer than its timeout."""


class ProviderConnectionError(ProviderError):
    """The provider could not be reached."""


class InvalidOutputError(ProviderError):
    """The model's output did not validate against the requested schema, even after one retry."""


class BudgetExceededError(AIKitError):
    """A batch stopped scheduling rows because the budget would be exceeded."""


class CacheError(AIKitError):
    """The response cache directory could not be read or written (the message names the directory)."""


class LocalModelError(AIKitError):
    """The embedded offline LLM runtime or model is missing, or its server failed."""


class SharedStateError(AIKitError):
    """The shared state of a scaled-out run (Redis cache or rate limiter) could not be reached or used."""


class CRMError(AIKitError):
    """A CRM API call failed."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        category: str | None = None,
        correlation_id: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.category = category
        self.correlation_id = correlation_id


class PushError(CRMError):
    """Writing values back to the CRM could not be completed."""


class JobError(AIKitError):
    """A provider batch job or an :class:`aikit.AsyncJob` failed, or its record cannot be used."""


class JobPendingError(JobError):
    """The job has not finished yet: ``wait()`` for it (its status is in the message)."""


class WebhookError(AIKitError):
    """Webhook listener configuration or storage failure."""


class SignatureError(WebhookError):
    """A webhook request failed verification."""


class AuthError(AIKitError):
    """An authentication flow failed."""


class OAuthError(AuthError):
    """The authorization server refused a request (``invalid_grant``, ``access_denied``, ...).

    ``error`` is the RFC 6749 error code and ``status`` the HTTP status; the message says what to do.
    """

    def __init__(self, message: str, *, error: str | None = None, status: int | None = None) -> None:
        super().__init__(message)
        self.error = error
        self.status = status

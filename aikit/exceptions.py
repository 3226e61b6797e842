"""The one exception tree of aikit.

Every error aikit raises derives from :class:`AIKitError`. Third-party errors (httpx, diskcache,
sqlite3, authlib, ...) are translated at the boundary with ``raise ... from exc`` so callers only
ever need to catch these classes::

    AIKitError
    ├── ConfigError                  bad argument, unknown provider, malformed model string
    │   ├── MissingCredentialError   no key/token found; the message names the variable to set
    │   ├── InvalidCell              a cell a push cannot write (``aikit.connectors.values``; per cell)
    │   └── SearchError              a search body the demo CRM refuses (``aikit.local.crm.search``)
    ├── ProviderError                an AI provider call failed (carries status, provider, attempts)
    │   ├── ProviderHTTPError        non-retryable 4xx (400/401/403/404/422): the provider's message
    │   │   └── ContextOverflowError the prompt is longer than the model's context (the provider's code)
    │   ├── RetryExhaustedError      retryable failures (429/5xx/timeouts) until the deadline
    │   ├── ProviderTimeoutError     one request timed out (retried unless the deadline is spent)
    │   ├── ProviderConnectionError  connection refused/reset (retried unless the deadline is spent)
    │   └── InvalidOutputError       output failed schema validation after the retry
    ├── SchemaMismatch               one output does not fit its schema (``aikit.client.schema``)
    ├── ToolLoopError                ``ai.run`` reached ``max_steps`` while the model still called tools
    ├── BudgetExceededError          a batch stopped scheduling rows at ``budget_usd``
    ├── CacheError                   the local response cache could not be read or written
    ├── CallLogError                 the call log under ``$AIKIT_HOME`` could not be read (damaged file)
    ├── LocalModelError              the embedded offline LLM is missing, or its server died
    ├── SharedStateError             the shared Redis cache/limiter of a scaled-out batch failed
    ├── CRMError                     a CRM call failed (status, category, correlation id)
    │   ├── PushError                a push could not be completed
    │   ├── CRMConnectionError       no answer from the CRM (``maybe_applied``: it may have acted on it)
    │   ├── StoreError               the demo CRM refused a request (``aikit.local.crm.wire``)
    │   ├── ApiError                 the demo Salesforce org refused a request (``local.salesforce.wire``)
    │   └── SyncError                an incremental sync could not run (state locked or unreadable)
    ├── JobError                     a provider batch job or an AsyncJob failed, or its record is unusable
    │   └── JobPendingError          the job is not finished yet (``result()`` before ``wait()``)
    ├── WebhookError                 listener configuration or storage failure
    │   └── SignatureError           a webhook failed verification (never leaks which check)
    ├── AuthError                    OAuth/JWT flow failure (denied, expired, revoked refresh token)
    │   └── OAuthError               the authorization server answered with an OAuth error code
    │       └── OAuthFailure         the demo Salesforce org's OAuth answer (``aikit.local.salesforce.oauth``)
    └── ReportError                  a report run failed (pre-flight check, notebook cell); says what to fix
        └── NotebookFailure          a cell raised: which cell and section (``aikit.report.notebook``)

The classes named with a module live next to the code that raises them.

Messages never contain secrets: keys and tokens are masked before they reach an exception.
"""

from __future__ import annotations

__all__ = [
    "AIKitError",
    "AuthError",
    "BudgetExceededError",
    "CRMConnectionError",
    "CRMError",
    "CacheError",
    "CallLogError",
    "ConfigError",
    "ContextOverflowError",
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
    "ReportError",
    "RetryExhaustedError",
    "SharedStateError",
    "SignatureError",
    "SyncError",
    "ToolLoopError",
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


class ContextOverflowError(ProviderHTTPError):
    """The prompt does not fit the model's context window (OpenAI ``context_length_exceeded``,
    Anthropic "prompt is too long"); a client with fallbacks moves to the next model."""


class RetryExhaustedError(ProviderError):
    """Retryable failures continued until the total deadline or the attempt limit."""


class ProviderTimeoutError(ProviderError):
    """A request took longer than its timeout."""


class ProviderConnectionError(ProviderError):
    """The provider could not be reached."""


class InvalidOutputError(ProviderError):
    """The model's output did not validate against the requested schema, even after one retry."""


class ToolLoopError(AIKitError):
    """``ai.run`` made ``max_steps`` model calls and the model still asked for tools."""


class BudgetExceededError(AIKitError):
    """A batch stopped scheduling rows because the budget would be exceeded."""


class CacheError(AIKitError):
    """The response cache directory could not be read or written (the message names the directory)."""


class CallLogError(AIKitError):
    """The call log (``$AIKIT_HOME/calls.sqlite``) could not be read; the message names the file."""


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


class CRMConnectionError(CRMError):
    """The CRM did not answer: unreachable, connection lost, or no reply in time, after the retries.

    ``maybe_applied`` is True when a request was sent and no answer came back, so the CRM may have
    acted on it (a push reports those rows as "unknown"); False when no attempt reached the CRM.
    """

    def __init__(self, message: str, *, maybe_applied: bool = False) -> None:
        super().__init__(message)
        self.maybe_applied = maybe_applied


class SyncError(CRMError):
    """An incremental sync could not run: its state is locked by another run, unreadable or unwritable."""


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


class ReportError(AIKitError):
    """A report could not be made: a pre-flight check failed, or a cell of its notebook raised.

    The message is one sentence saying what failed and how to fix it.
    """

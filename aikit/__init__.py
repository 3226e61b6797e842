"""aikit: connect AI models to the business applications you already run, from a notebook.

>>> import aikit
>>> ai = aikit.AI("compat:my-model", base_url="http://127.0.0.1:8000/v1", api_key="sk-test")  # doctest: +SKIP
>>> ai.chat("Classify: the invoice is wrong", schema={...}).data  # doctest: +SKIP

Importing aikit is cheap and has no side effects: no thread, no directory, no socket. The public
nouns are loaded on first attribute access. ``df.ai`` (the pandas accessor) is registered as soon as
pandas is imported, and ``ddf.ai`` as soon as ``dask.dataframe`` is, before or after aikit
(:mod:`aikit._hooks`).

This package is also where the layers are wired together: :func:`aikit.auth.secret` asks for a
missing credential in a live kernel through a registered prompter, and the default one registered
here is the password box of :mod:`aikit.widgets.auth`, imported only when a box is needed (aikit.auth
itself never imports widgets). Likewise ``hook.widget()`` opens the monitor registered with
:mod:`aikit.webhooks.monitor`: :class:`aikit.widgets.webhooks.WebhookMonitor`, imported only when
one is opened (aikit.webhooks never imports widgets either), and ``df.ai.review(...)`` shows
:class:`aikit.widgets.review.ReviewView`, registered with :mod:`aikit._review_view`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aikit import _hooks, _lazy
from aikit._review_view import set_review_view as _set_review_view
from aikit.auth.prompt import register_prompter as _register_prompter
from aikit.exceptions import (
    AIKitError,
    AuthError,
    BudgetExceededError,
    ConfigError,
    CRMError,
    InvalidOutputError,
    LocalModelError,
    MissingCredentialError,
    ProviderError,
    ProviderHTTPError,
    RetryExhaustedError,
    SignatureError,
    WebhookError,
)
from aikit.webhooks.monitor import set_monitor as _set_webhook_monitor

__version__ = "0.1.0"

# name -> module that defines it; imported on first access (PEP 562).
_LAZY: dict[str, str] = {
    "abatch": "aikit._batch.api",
    "AI": "aikit.client",
    "AsyncAI": "aikit.client",
    "auth": "aikit.auth",  # the subpackage itself
    "batch": "aikit._batch.api",
    "BatchOptions": "aikit._batch.options",
    "DemoCRM": "aikit.local.crm.server",
    "HubSpot": "aikit.connectors.hubspot",
    "PushReport": "aikit.connectors.report",
    "Response": "aikit.client.response",
    "RestSource": "aikit.connectors.rest",
    "SyncReport": "aikit.connectors.sync_report",
    "SyncState": "aikit.connectors.sync_state",
    "Usage": "aikit.client.response",
    "WebhookListener": "aikit.webhooks.listener",
    "Salesforce": "aikit.connectors.salesforce.client",
    "DemoSalesforce": "aikit.local.salesforce.server",
    "AsyncJob": "aikit._jobs.job",
    "jobs": "aikit._jobs",
}

if TYPE_CHECKING:  # pragma: no cover - what the lazy names resolve to, for type checkers
    from aikit import auth as auth
    from aikit._batch.api import abatch as abatch
    from aikit._batch.api import batch as batch
    from aikit._batch.options import BatchOptions as BatchOptions
    from aikit._jobs import jobs as jobs
    from aikit._jobs.job import AsyncJob as AsyncJob
    from aikit.auth.prompt import Check
    from aikit.client import AI as AI
    from aikit.client import AsyncAI as AsyncAI
    from aikit.client.response import Response as Response
    from aikit.client.response import Usage as Usage
    from aikit.connectors.hubspot import HubSpot as HubSpot
    from aikit.connectors.report import PushReport as PushReport
    from aikit.connectors.rest import RestSource as RestSource
    from aikit.connectors.salesforce.client import Salesforce as Salesforce
    from aikit.connectors.sync_report import SyncReport as SyncReport
    from aikit.connectors.sync_state import SyncState as SyncState
    from aikit.local.crm.server import DemoCRM as DemoCRM
    from aikit.local.salesforce.server import DemoSalesforce as DemoSalesforce
    from aikit.webhooks.listener import WebhookListener as WebhookListener

__all__ = [
    "AI",
    "AIKitError",
    "AsyncAI",
    "AsyncJob",
    "AuthError",
    "BatchOptions",
    "BudgetExceededError",
    "CRMError",
    "ConfigError",
    "DemoCRM",
    "DemoSalesforce",
    "HubSpot",
    "InvalidOutputError",
    "LocalModelError",
    "MissingCredentialError",
    "ProviderError",
    "ProviderHTTPError",
    "PushReport",
    "Response",
    "RestSource",
    "RetryExhaustedError",
    "Salesforce",
    "SignatureError",
    "SyncReport",
    "SyncState",
    "Usage",
    "WebhookError",
    "WebhookListener",
    "__version__",
    "abatch",
    "auth",
    "batch",
    "jobs",
]


__getattr__, __dir__ = _lazy.exports(__name__, _LAZY)


def _password_box(name: str, check: Check | None) -> object:
    """aikit.auth's default prompter: the widget side's password box, imported on first use."""
    from aikit.widgets.auth import show_secret_prompt

    return show_secret_prompt(name, check)


def _open_webhook_monitor(listener: Any, interval: float) -> Any:
    """The live panel behind ``hook.widget()``: the widget side, imported only when one is opened."""
    from aikit.widgets.webhooks import WebhookMonitor

    return WebhookMonitor(listener, interval)


def _open_review_view(review: Any) -> Any:
    """The widget behind ``df.ai.review(...)`` in a live kernel, imported only when one is shown."""
    from aikit.widgets.review import ReviewView

    return ReviewView(review)


_hooks.install()
_register_prompter(_password_box, replace=False)
_set_webhook_monitor(_open_webhook_monitor)
_set_review_view(_open_review_view)

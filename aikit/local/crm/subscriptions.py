"""Webhook settings endpoints of the demo CRM: an app's settings and its event subscriptions.

They follow HubSpot's app-level webhooks API (``/webhooks/v3/{appId}/settings`` and
``/subscriptions``), with two demo extensions on the settings body: ``clientSecret`` (the app secret
that signs deliveries) and ``signatureVersion`` (``"v3"``, or ``"v1"``/``"v2"`` to add the legacy
``X-HubSpot-Signature`` header as well). The settings live in
:class:`~aikit.local.crm.webhook_store.WebhookStore`; deliveries are
:mod:`aikit.local.crm.webhooks`'.
"""

from __future__ import annotations

from typing import Any

from aikit.local.crm.objects import Call
from aikit.local.crm.schema import EVENT_TYPES
from aikit.local.crm.wire import StoreError

__all__ = ["handlers"]


def _app_id(call: Call) -> int:
    raw = call.path["app"]
    if not raw.isdigit():
        raise StoreError(400, "VALIDATION_ERROR", f"appId must be numeric, got {raw!r}")
    return int(raw)


def get_settings(call: Call) -> tuple[int, Any]:
    app = call.store.webhooks.app(_app_id(call))
    if app is None:
        raise StoreError(404, "OBJECT_NOT_FOUND", "No webhook settings for this app; PUT them first")
    return 200, {"targetUrl": app[0], "throttling": {"maxConcurrentRequests": 10, "period": "SECONDLY"}}


def put_settings(call: Call) -> tuple[int, Any]:
    data = call.json_object()
    target = data.get("targetUrl")
    if not isinstance(target, str) or not target.startswith(("http://", "https://")):
        raise StoreError(400, "VALIDATION_ERROR", "targetUrl must be an http(s) URL")
    version = str(data.get("signatureVersion", "v3"))
    if version not in ("v1", "v2", "v3"):
        raise StoreError(400, "VALIDATION_ERROR", "signatureVersion must be v1, v2 or v3")
    app_id = _app_id(call)
    current = call.store.webhooks.app(app_id)
    secret = data.get("clientSecret") or (current[1] if current else None)
    if not secret:
        raise StoreError(400, "VALIDATION_ERROR", "clientSecret is required the first time (demo extension)")
    call.store.webhooks.set_app(app_id, target, str(secret), version)
    return 200, {
        "targetUrl": target,
        "throttling": data.get("throttling") or {"maxConcurrentRequests": 10, "period": "SECONDLY"},
    }


def list_subscriptions(call: Call) -> tuple[int, Any]:
    subs = call.store.webhooks.subscriptions(_app_id(call))
    return 200, {"results": [{k: v for k, v in s.items() if k != "appId"} for s in subs]}


def create_subscription(call: Call) -> tuple[int, Any]:
    data = call.json_object()
    event = data.get("eventType")
    if event not in EVENT_TYPES:
        raise StoreError(
            400, "VALIDATION_ERROR", f"eventType must be one of {', '.join(sorted(EVENT_TYPES))}"
        )
    prop = data.get("propertyName")
    return 201, call.store.webhooks.add_subscription(
        _app_id(call), event, prop, bool(data.get("active", True))
    )


def delete_subscription(call: Call) -> tuple[int, Any]:
    sub = call.path["sub"]
    if not sub.isdigit() or not call.store.webhooks.delete_subscription(_app_id(call), int(sub)):
        raise StoreError(404, "OBJECT_NOT_FOUND", f"No subscription {sub}")
    return 204, None


def handlers() -> dict[str, Any]:
    """Name -> handler, for the app's route table."""
    return {
        "webhooks.settings.get": get_settings,
        "webhooks.settings.put": put_settings,
        "webhooks.subs.list": list_subscriptions,
        "webhooks.subs.create": create_subscription,
        "webhooks.subs.delete": delete_subscription,
    }

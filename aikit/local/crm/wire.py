"""HubSpot's conventions on the wire, shared by the demo CRM's store and endpoints.

An API error is a :class:`StoreError` (status, category, message, errors) that the app renders in
HubSpot's error shape; timestamps are ISO 8601 in UTC with milliseconds (:func:`iso_now`); every
property value is stored and returned as a string (:func:`stringify`).

>>> stringify(True), stringify(3.0), stringify(2.5)
('true', '3', '2.5')
>>> StoreError(404, "OBJECT_NOT_FOUND", "No contacts object with id 7").status
404
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from aikit.exceptions import CRMError

__all__ = ["StoreError", "iso_now", "stringify"]


def iso_now() -> str:
    """Now as HubSpot writes it: ``2025-01-06T09:30:00.123Z``."""
    now = datetime.now(UTC)
    return now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z"


def stringify(value: Any) -> str:
    """A property value as HubSpot stores it: booleans ``true``/``false``, whole floats without ``.0``."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


class StoreError(CRMError):
    """A request the demo CRM answers with an error body (status, category, message, errors).

    The same error in-process (``server.store.update(...)``) as over HTTP, where the app renders it in
    HubSpot's error shape.
    """

    status: int
    category: str

    def __init__(
        self, status: int, category: str, message: str, errors: list[dict[str, Any]] | None = None
    ) -> None:
        super().__init__(message, status=status, category=category)
        self.message, self.errors = message, errors or []

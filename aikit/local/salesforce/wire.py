"""Salesforce's conventions on the wire: 18-character ids, timestamps, and the error shape.

An API error is an :class:`ApiError` (HTTP status, ``errorCode``, message, fields) that the app renders
as Salesforce does, a JSON array ``[{"message": ..., "errorCode": ..., "fields": [...]}]``. Ids are
15 case-sensitive characters (key prefix first) plus the 3-character checksum that makes them
case-insensitively unique, exactly as Salesforce computes it.

>>> make_id("500", 1)
'500Dm0000000001IAA'
>>> to_18("001Dm000000Ab3C")
'001Dm000000Ab3CIAS'
>>> ApiError(400, "MALFORMED_QUERY", "unexpected token: FORM").body()
[{'message': 'unexpected token: FORM', 'errorCode': 'MALFORMED_QUERY'}]
"""

from __future__ import annotations

import string
from datetime import UTC, date, datetime
from typing import Any

from aikit.exceptions import CRMError

__all__ = ["ApiError", "format_datetime", "is_id", "make_id", "now_iso", "parse_datetime", "to_18"]

_ALPHABET = string.digits + string.ascii_uppercase + string.ascii_lowercase
_SUFFIX = string.ascii_uppercase + "012345"


def to_18(id15: str) -> str:
    """The 18-character form of a 15-character id (the checksum Salesforce appends)."""
    suffix = ""
    for chunk in (id15[0:5], id15[5:10], id15[10:15]):
        bits = sum(1 << i for i, c in enumerate(chunk) if "A" <= c <= "Z")
        suffix += _SUFFIX[bits]
    return id15 + suffix


def make_id(prefix: str, n: int) -> str:
    """The ``n``-th id of an object with key ``prefix`` (``Dm`` marks the demo org's pod)."""
    digits = ""
    while n:
        n, r = divmod(n, 62)
        digits = _ALPHABET[r] + digits
    return to_18(f"{prefix}Dm{digits.rjust(10, '0')}")


def is_id(value: str) -> bool:
    """True for a well-formed 15- or 18-character id (checksum included)."""
    if len(value) not in (15, 18) or not value.isalnum() or not value.isascii():
        return False
    return len(value) == 15 or to_18(value[:15]).lower() == value.lower()


def format_datetime(moment: datetime) -> str:
    """``2025-01-06T08:00:00.000+0000``: how Salesforce writes a datetime."""
    moment = moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}+0000"


def now_iso() -> str:
    return format_datetime(datetime.now(UTC))


def parse_datetime(text: str) -> datetime | None:
    """A datetime from Salesforce's form, ISO 8601 with ``Z`` or an offset; None when it does not parse."""
    value = text.strip()
    if value.endswith("Z"):
        value = value[:-1] + "+00:00"
    if len(value) > 5 and value[-5] in "+-" and value[-4:].isdigit():
        value = value[:-2] + ":" + value[-2:]
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def parse_date(text: str) -> date | None:
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        return None


class ApiError(CRMError):
    """A request answered with Salesforce's error array (``status``, ``code``, ``message``, ``fields``)."""

    status: int

    def __init__(self, status: int, code: str, message: str, fields: list[str] | None = None) -> None:
        super().__init__(message, status=status, category=code)
        self.code, self.message, self.fields = code, message, fields

    def body(self) -> list[dict[str, Any]]:
        entry: dict[str, Any] = {"message": self.message, "errorCode": self.code}
        if self.fields is not None:
            entry["fields"] = self.fields
        return [entry]

    def entry(self) -> dict[str, Any]:
        """The per-record form used inside sObject Collections results (``statusCode``, not errorCode)."""
        return {"statusCode": self.code, "message": self.message, "fields": self.fields or []}

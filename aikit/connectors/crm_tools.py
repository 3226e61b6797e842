"""A CRM as tools for ``ai.run``: search records, get one, and (only when asked for) update one.

``crm.tools()`` returns Python functions with typed signatures and docstrings, so ``ai.run(prompt,
tools=crm.tools())`` can let a model look things up in the CRM. By default the toolset is read-only.
With ``read_only=False`` it adds ``update_record``, which never writes on the first call: it answers
the dry-run diff (``push(..., dry_run=True)``: property, old value, new value) and writes only when
called again with ``confirm=true`` and the same changes, so the model (and the call log) shows the
change before it happens. Every call goes through the connector: paced, retried, logged, with its
token never shown to the model.

>>> names = [t.__name__ for t in tools(object(), read_only=True)]
>>> names
['search_records', 'get_record']
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Literal

import pandas as pd

__all__ = ["DEFAULT_OBJECTS", "SALESFORCE_OBJECTS", "tools"]

#: The object types the tools offer unless told otherwise (HubSpot; Salesforce's below).
DEFAULT_OBJECTS = ("tickets", "contacts", "companies", "deals")
SALESFORCE_OBJECTS = ("Case", "Contact", "Account", "Opportunity")
#: Most records one search hands the model.
MAX_RESULTS = 50


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    out = []
    for row in frame.to_dict("records"):
        out.append(
            {str(k): (None if pd.isna(v) else str(v)) for k, v in row.items() if not isinstance(v, list)}
        )
    return out


def tools(
    crm: Any,
    *,
    read_only: bool = True,
    objects: Sequence[str] = DEFAULT_OBJECTS,
    id_field: str = "hs_object_id",
    id_column: str = "id",
    free_text: bool = True,
) -> list[Callable[..., Any]]:
    """The toolset of ``crm`` (a :class:`~aikit.connectors.HubSpot` or :class:`~aikit.Salesforce`:
    anything with their ``afetch`` and ``apush``); ``objects`` are the object types the model may
    name, ``id_field`` the field a record's id is filtered on, ``id_column`` the id column a push
    takes (Salesforce: ``"Id"`` for both) and ``free_text`` whether ``afetch`` takes ``query=``
    (Salesforce's takes exact field filters only)."""
    allowed = tuple(objects)

    def check(object_type: str) -> None:
        if object_type not in allowed:
            raise ValueError(f"object_type must be one of {list(allowed)}, got {object_type!r}")

    async def search_records(
        object_type: str, query: str = "", where: dict[str, str] | None = None, limit: int = 10
    ) -> list[dict[str, Any]]:
        """Search CRM records: free-text ``query`` and/or exact property filters ``where``
        (e.g. {"hs_ticket_priority": "HIGH"}); returns up to ``limit`` records with their id."""
        check(object_type)
        size = max(1, min(limit, MAX_RESULTS))
        if not free_text:
            if query:
                raise ValueError("this CRM's search takes exact field filters in where, not free text")
            frame = await crm.afetch(object_type, where=where or None, limit=size, typed=False)
        else:
            frame = await crm.afetch(
                object_type, where=where or None, query=query or None, limit=size, typed=False
            )
        return _records(frame)

    async def get_record(object_type: str, record_id: str) -> dict[str, Any] | str:
        """Get one CRM record by its id, with its properties."""
        check(object_type)
        frame = await crm.afetch(object_type, where={id_field: str(record_id)}, limit=1, typed=False)
        found = _records(frame)
        return found[0] if found else f"no {object_type} record with id {record_id}"

    async def update_record(
        object_type: str, record_id: str, properties: dict[str, str], confirm: bool = False
    ) -> dict[str, Any]:
        """Change properties of one CRM record. The first call only shows the changes (a dry run);
        call again with confirm=true and the same properties to write them."""
        check(object_type)
        frame = pd.DataFrame([{id_column: str(record_id), **{k: str(v) for k, v in properties.items()}}])
        report = await crm.apush(object_type, frame, id_column=id_column, dry_run=not confirm)
        changes = [
            {"property": r["property"], "old": r["old"], "new": r["new"]}
            for r in report.diff.to_dict("records")
        ]
        if not confirm:
            return {"dry_run": True, "changes": changes, "next": "call again with confirm=true to apply"}
        return {"dry_run": False, "applied": changes}

    out: list[Callable[..., Any]] = [search_records, get_record]
    if not read_only:
        out.append(update_record)
    kinds = Literal[allowed]  # type: ignore[valid-type]  # the schema's enum: the model names a real type
    for fn in out:
        fn.__annotations__["object_type"] = kinds
    return out

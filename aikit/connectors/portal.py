"""The portal's reference data as DataFrames: pipelines with their stages, and owners.

Reports need names, not ids: a ticket's ``hs_pipeline_stage`` is ``"3"`` and a deal's ``dealstage``
``"contractsent"``; :meth:`PortalMethods.pipelines` gives the labels (and each deal stage's win
probability) to join on, :meth:`PortalMethods.owners` the people behind ``hubspot_owner_id``.

>>> stage = {"id": "1", "label": "New", "displayOrder": 0, "metadata": {"ticketState": "OPEN"}}
>>> stages_frame([{"id": "0", "label": "Support Pipeline", "stages": [stage]}])[["stage", "label"]]
  stage label
0     1   New
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Protocol

import pandas as pd

from aikit import _runtime
from aikit._runtime import twin_of
from aikit.connectors.session import ApiSession, on_loop

__all__ = ["PortalMethods", "owners_frame", "stages_frame"]

STAGE_COLUMNS = ["pipeline", "pipeline_label", "stage", "label", "display_order", "probability", "is_closed",
                 "ticket_state"]  # fmt: skip
OWNER_COLUMNS = ["id", "name", "email", "type", "teams", "user_id", "archived"]


def stages_frame(pipelines: Iterable[Mapping[str, Any]]) -> pd.DataFrame:
    """One row per stage: pipeline id and label, stage id and label, order, probability, closed, state."""
    rows = []
    for p in pipelines:
        for s in p.get("stages", []):
            meta = s.get("metadata") or {}
            probability = meta.get("probability")
            state = meta.get("ticketState")
            closed = meta.get("isClosed", None if state is None else str(state == "CLOSED"))
            rows.append(
                {
                    "pipeline": str(p["id"]),
                    "pipeline_label": p.get("label"),
                    "stage": str(s["id"]),
                    "label": s.get("label"),
                    "display_order": s.get("displayOrder"),
                    "probability": None if probability is None else float(probability),
                    "is_closed": None if closed is None else str(closed).lower() == "true",
                    "ticket_state": meta.get("ticketState"),
                }
            )
    return pd.DataFrame(rows, columns=STAGE_COLUMNS)


def owners_frame(owners: Iterable[Mapping[str, Any]]) -> pd.DataFrame:
    """One row per owner: id (the ``hubspot_owner_id`` value), name, email, type, team names."""
    rows = [
        {
            "id": str(o["id"]),
            "name": f"{o.get('firstName') or ''} {o.get('lastName') or ''}".strip() or o.get("email"),
            "email": o.get("email"),
            "type": o.get("type"),
            "teams": [t.get("name") for t in o.get("teams") or []],
            "user_id": o.get("userId"),
            "archived": bool(o.get("archived", False)),
        }
        for o in owners
    ]
    return pd.DataFrame(rows, columns=OWNER_COLUMNS)


class _HasSession(Protocol):
    @property
    def session(self) -> ApiSession: ...


class PortalMethods:
    """The reference-data methods of :class:`aikit.HubSpot`."""

    @on_loop
    async def apipelines(self, object_type: str = "deals") -> pd.DataFrame:
        """The pipelines of ``object_type`` (``"deals"`` or ``"tickets"``) as one row per stage.

        Examples
        --------
        >>> stages = crm.pipelines("tickets")        # doctest: +SKIP
        >>> tickets.merge(stages, left_on="hs_pipeline_stage", right_on="stage")   # doctest: +SKIP
        """
        target: _HasSession = self  # type: ignore[assignment]
        resp = await target.session.request(
            "GET", f"/crm/v3/pipelines/{object_type}", what=f"list {object_type} pipelines"
        )
        return stages_frame(resp.json().get("results", []))

    @twin_of(apipelines)
    def pipelines(self, *args: Any, **kwargs: Any) -> pd.DataFrame:
        return _runtime.run_sync(self.apipelines(*args, **kwargs))

    @on_loop
    async def aowners(self, *, archived: bool = False) -> pd.DataFrame:
        """The portal's owners (``archived=True``: deactivated users), one row each.

        Examples
        --------
        >>> owners = crm.owners()                     # doctest: +SKIP
        >>> deals.merge(owners, left_on="hubspot_owner_id", right_on="id")   # doctest: +SKIP
        """
        target: _HasSession = self  # type: ignore[assignment]
        out: list[dict[str, Any]] = []
        after: str | None = None
        while True:
            params = [("limit", "500"), ("archived", str(archived).lower())] + (
                [("after", after)] if after else []
            )
            resp = await target.session.request("GET", "/crm/v3/owners/", what="list owners", params=params)
            body = resp.json()
            out += body.get("results", [])
            after = ((body.get("paging") or {}).get("next") or {}).get("after")
            if not after:
                return owners_frame(out)

    @twin_of(aowners)
    def owners(self, *args: Any, **kwargs: Any) -> pd.DataFrame:
        return _runtime.run_sync(self.aowners(*args, **kwargs))

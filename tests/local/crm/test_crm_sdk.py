"""The official hubspot-api-client (test-only dependency) pointed at the demo CRM with ``host=``."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime

import pytest

from aikit.local.crm import DemoCRM

hubspot = pytest.importorskip("hubspot")
from hubspot import HubSpot  # noqa: E402
from hubspot.crm.contacts import ApiException as ContactsApiException  # noqa: E402
from hubspot.crm.objects.notes import SimplePublicObjectInputForCreate as NoteCreate  # noqa: E402
from hubspot.crm.properties import PropertyCreate, PropertyGroupCreate  # noqa: E402
from hubspot.crm.tickets import (  # noqa: E402
    ApiException,
    BatchInputSimplePublicObjectBatchInput,
    PublicObjectSearchRequest,
    SimplePublicObjectInputForCreate,
)


@pytest.fixture
def server(crm_token: str) -> Iterator[DemoCRM]:
    with DemoCRM(token=crm_token, rate_limit=None, search_per_second=None) as crm:
        yield crm


@pytest.fixture
def sdk(server: DemoCRM, crm_token: str) -> HubSpot:
    return HubSpot(access_token=crm_token, host=server.url, base_url=server.url)


def test_get_all_pages_to_the_end(sdk: HubSpot) -> None:
    tickets = sdk.crm.tickets.get_all(properties=["subject", "hs_ticket_priority"])
    assert len(tickets) >= 600 and len({t.id for t in tickets}) == len(tickets)
    first = tickets[0]
    assert isinstance(first.created_at, datetime) and first.created_at.tzinfo is not None
    assert all(isinstance(v, str) for v in first.properties.values() if v is not None)
    contacts = sdk.crm.contacts.get_all(properties=["email"])
    assert len(contacts) >= 200 and all(c.properties["email"].endswith(".example") for c in contacts)


def test_get_create_and_notes(sdk: HubSpot) -> None:
    page = sdk.crm.contacts.basic_api.get_page(
        limit=5, properties=["email", "lifecyclestage"], archived=False
    )
    assert len(page.results) == 5 and page.paging.next.after
    one = sdk.crm.tickets.basic_api.get_by_id("1271", properties=["subject"])
    assert one.id == "1271" and one.properties["subject"]
    made = sdk.crm.tickets.basic_api.create(
        SimplePublicObjectInputForCreate(
            properties={"subject": "SDK ticket", "hs_pipeline": "0", "hs_pipeline_stage": "1"}
        )
    )
    assert made is not None and made.id.isdigit() and made.properties["subject"] == "SDK ticket"
    note = sdk.crm.objects.notes.basic_api.create(
        NoteCreate(properties={"hs_note_body": "<p>hi</p>", "hs_timestamp": "2025-05-01T00:00:00.000Z"})
    )
    assert note is not None and note.properties["hs_note_body"] == "<p>hi</p>"
    links = sdk.crm.associations.v4.basic_api.get_page("tickets", "1271", "contacts")
    assert links.results and links.results[0].association_types[0].type_id == 16


def test_batch_update_partial_failure_is_207_with_errors(sdk: HubSpot) -> None:
    batch = BatchInputSimplePublicObjectBatchInput(
        inputs=[
            {"id": "1271", "properties": {"hs_ticket_priority": "LOW"}},
            {"id": "42", "properties": {"hs_ticket_priority": "LOW"}},
        ]
    )
    result = sdk.crm.tickets.batch_api.update(batch)
    assert type(result).__name__ == "BatchResponseSimplePublicObjectWithErrors"
    assert result.num_errors == 1 and result.errors[0].context["ids"] == ["42"]
    assert [r.id for r in result.results] == ["1271"] and result.status == "COMPLETE"
    again = sdk.crm.tickets.basic_api.get_by_id("1271", properties=["hs_ticket_priority"])
    assert again.properties["hs_ticket_priority"] == "LOW"


def test_search(sdk: HubSpot) -> None:
    request = PublicObjectSearchRequest(
        filter_groups=[
            {"filters": [{"propertyName": "hs_ticket_priority", "operator": "IN", "values": ["URGENT"]}]}
        ],
        sorts=[{"propertyName": "createdate", "direction": "DESCENDING"}],
        properties=["subject", "hs_ticket_priority"],
        limit=50,
    )
    found = sdk.crm.tickets.search_api.do_search(request)
    assert found.total > 0 and all(r.properties["hs_ticket_priority"] == "URGENT" for r in found.results)
    dates = [r.created_at for r in found.results]
    assert dates == sorted(dates, reverse=True)


def test_property_creation_and_errors(sdk: HubSpot) -> None:
    spec = PropertyCreate(
        name="ai_sentiment",
        label="AI sentiment",
        type="enumeration",
        field_type="select",
        group_name="aikit",
        options=[{"label": "Negative", "value": "negative", "hidden": False, "displayOrder": 0}],
    )
    group = sdk.crm.properties.groups_api.create(
        "tickets", PropertyGroupCreate(name="aikit", label="AI insights")
    )
    assert group is not None and group.name == "aikit"
    created = sdk.crm.properties.core_api.create("tickets", spec)
    assert created is not None and created.name == "ai_sentiment" and created.type == "enumeration"
    with pytest.raises(Exception) as dup:
        sdk.crm.properties.core_api.create("tickets", spec)
    assert getattr(dup.value, "status", None) == 409
    with pytest.raises(ApiException) as missing:
        sdk.crm.tickets.basic_api.get_by_id("999999")
    body = json.loads(missing.value.body)
    assert missing.value.status == 404 and body["category"] == "OBJECT_NOT_FOUND" and body["correlationId"]


def test_bad_token_is_401(server: DemoCRM) -> None:
    bad = HubSpot(access_token="wrong", host=server.url)
    with pytest.raises(ContactsApiException) as exc:
        bad.crm.contacts.basic_api.get_page(limit=1)
    assert exc.value.status == 401 and json.loads(exc.value.body)["category"] == "INVALID_AUTHENTICATION"

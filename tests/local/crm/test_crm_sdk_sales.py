"""The official hubspot-api-client against the demo CRM's newer endpoints: its own models must parse them.

Every client is built with ``client_side_validation=True`` so the SDK checks required fields and enum
values of each response model (off by default in the SDK); a wrong status code would make it return
None, so every call's result is checked for its model type.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from aikit.local.crm import DemoCRM

hubspot = pytest.importorskip("hubspot")
from hubspot import HubSpot  # noqa: E402
from hubspot.crm import associations as assoc3  # noqa: E402
from hubspot.crm import contacts as ct  # noqa: E402
from hubspot.crm import deals as dl  # noqa: E402
from hubspot.crm import pipelines as pl  # noqa: E402
from hubspot.crm import properties as pr  # noqa: E402
from hubspot.crm import tickets as tk  # noqa: E402
from hubspot.crm.associations import v4 as a4  # noqa: E402
from hubspot.crm.associations.v4 import schema as a4schema  # noqa: E402


@pytest.fixture(scope="module")
def server_ro(crm_token: str) -> Iterator[DemoCRM]:
    with DemoCRM(token=crm_token, rate_limit=None, search_per_second=None) as crm:
        yield crm


@pytest.fixture
def server(crm_token: str) -> Iterator[DemoCRM]:
    with DemoCRM(token=crm_token, rate_limit=None, search_per_second=None) as crm:
        yield crm


def client(server: DemoCRM, token: str) -> HubSpot:
    return HubSpot(access_token=token, host=server.url, base_url=server.url, client_side_validation=True)


def test_deals_read_create_and_the_object_type_id_alias(server: DemoCRM, crm_token: str) -> None:
    sdk = client(server, crm_token)
    deals = sdk.crm.deals.get_all(properties=["dealname", "amount", "dealstage", "pipeline", "closedate"])
    assert len(deals) >= 50 and all(d.properties["pipeline"] == "default" for d in deals)
    assert all(d.properties["amount"].isdigit() for d in deals)
    made = sdk.crm.deals.basic_api.create(
        dl.SimplePublicObjectInputForCreate(
            properties={"dealname": "Acme renewal", "dealstage": "contractsent", "amount": "12000"}
        )
    )
    assert isinstance(made, dl.SimplePublicObject) and made.properties["dealname"] == "Acme renewal"
    again = sdk.crm.objects.basic_api.get_by_id(
        "0-3", made.id, properties=["pipeline", "hs_deal_stage_probability", "hs_is_closed"]
    )
    assert again.properties["pipeline"] == "default"  # defaulted, as HubSpot does
    assert (
        again.properties["hs_deal_stage_probability"] == "0.9" and again.properties["hs_is_closed"] == "false"
    )
    with pytest.raises(dl.ApiException) as missing:
        sdk.crm.deals.basic_api.create(
            dl.SimplePublicObjectInputForCreate(properties={"dealname": "no stage"})
        )
    body = json.loads(missing.value.body)
    assert (
        missing.value.status == 400
        and body["category"] == "VALIDATION_ERROR"
        and "dealstage" in body["message"]
    )
    with pytest.raises(dl.ApiException) as wrong_stage:
        sdk.crm.deals.basic_api.create(
            dl.SimplePublicObjectInputForCreate(properties={"dealname": "x", "dealstage": "4"})
        )
    assert wrong_stage.value.status == 400 and "dealstage" in json.loads(wrong_stage.value.body)["message"]


def test_tickets_need_a_stage_of_their_pipeline(server: DemoCRM, crm_token: str) -> None:
    sdk = client(server, crm_token)
    with pytest.raises(tk.ApiException) as exc:
        sdk.crm.tickets.basic_api.create(
            tk.SimplePublicObjectInputForCreate(properties={"subject": "No stage"})
        )
    assert exc.value.status == 400 and "hs_pipeline_stage" in json.loads(exc.value.body)["message"]
    made = sdk.crm.tickets.basic_api.create(
        tk.SimplePublicObjectInputForCreate(properties={"subject": "Staged", "hs_pipeline_stage": "2"})
    )
    assert isinstance(made, tk.SimplePublicObject)
    got = sdk.crm.tickets.basic_api.get_by_id(made.id, properties=["hs_pipeline", "hs_pipeline_stage"])
    assert got.properties["hs_pipeline"] == "0" and got.properties["hs_pipeline_stage"] == "2"


def test_pipelines_and_stages_with_their_labels(server: DemoCRM, crm_token: str) -> None:
    sdk = client(server, crm_token)
    deal_pipes = sdk.crm.pipelines.pipelines_api.get_all("deals").results
    assert [p.id for p in deal_pipes] == ["default"] and deal_pipes[0].label == "Sales Pipeline"
    stages = deal_pipes[0].stages
    assert [s.id for s in stages][:2] == ["appointmentscheduled", "qualifiedtobuy"]
    assert stages[-2].metadata == {"isClosed": "true", "probability": "1.0"}
    assert deal_pipes[0].created_at.year == 1970  # built-in pipelines report epoch 0
    tickets = sdk.crm.pipelines.pipelines_api.get_by_id("tickets", "0")
    assert [s.label for s in tickets.stages] == ["New", "Waiting on contact", "Waiting on us", "Closed"]
    assert tickets.stages[3].metadata["ticketState"] == "CLOSED"
    # the stage property's options carry the same labels, so reports can show stage names
    prop = sdk.crm.properties.core_api.get_by_name("tickets", "hs_pipeline_stage")
    assert {o.value: o.label for o in prop.options}["3"] == "Waiting on us"
    created = sdk.crm.pipelines.pipelines_api.create(
        "deals",
        pl.PipelineInput(
            label="Partner deals",
            display_order=1,
            stages=[
                pl.PipelineStageInput(label="Referred", display_order=0, metadata={"probability": "0.1"}),
                pl.PipelineStageInput(label="Signed", display_order=1, metadata={"probability": "1.0"}),
            ],
        ),
    )
    assert isinstance(created, pl.Pipeline) and created.id.isdigit() and len(created.stages) == 2
    stage = sdk.crm.pipelines.pipeline_stages_api.create(
        "deals",
        created.id,
        pl.PipelineStageInput(label="Negotiation", display_order=1, metadata={"probability": "0.5"}),
    )
    assert isinstance(stage, pl.PipelineStage) and stage.metadata["probability"] == "0.5"
    listed = sdk.crm.pipelines.pipeline_stages_api.get_all("deals", created.id).results
    assert {s.label for s in listed} == {"Referred", "Signed", "Negotiation"}
    patched = sdk.crm.pipelines.pipelines_api.update(
        "deals", created.id, pl.PipelinePatchInput(label="Partners")
    )
    assert patched.label == "Partners"
    deal = sdk.crm.deals.basic_api.create(
        dl.SimplePublicObjectInputForCreate(
            properties={"dealname": "Via partner", "pipeline": created.id, "dealstage": stage.id}
        )
    )
    assert deal.properties["dealstage"] == stage.id
    with pytest.raises(dl.ApiException) as elsewhere:  # a stage of another pipeline
        sdk.crm.deals.basic_api.create(
            dl.SimplePublicObjectInputForCreate(
                properties={"dealname": "Mixed", "pipeline": created.id, "dealstage": "closedwon"}
            )
        )
    assert elsewhere.value.status == 400 and "not a valid stage of pipeline" in elsewhere.value.body
    with pytest.raises(pl.ApiException) as bad:
        sdk.crm.pipelines.pipeline_stages_api.create(
            "deals", created.id, pl.PipelineStageInput(label="No probability", display_order=2, metadata={})
        )
    assert bad.value.status == 400
    assert sdk.crm.pipelines.pipelines_api.archive("deals", created.id) is None
    assert [p.id for p in sdk.crm.pipelines.pipelines_api.get_all("deals").results] == ["default"]


def test_owners_and_record_owners(server_ro: DemoCRM, crm_token: str) -> None:
    sdk = client(server_ro, crm_token)
    page = sdk.crm.owners.owners_api.get_page(limit=3)  # the SDK calls /crm/v3/owners/ (trailing slash)
    assert len(page.results) == 3 and page.paging.next.after
    everyone = sdk.crm.owners.owners_api.get_page(limit=500).results
    assert {o.type for o in everyone} == {"PERSON", "QUEUE"} and all(
        isinstance(o.user_id, int) for o in everyone
    )
    first = everyone[0]
    assert sdk.crm.owners.owners_api.get_by_id(first.id).email == first.email
    assert sdk.crm.owners.owners_api.get_by_id(str(first.user_id), id_property="userId").id == first.id
    assert [o.id for o in sdk.crm.owners.owners_api.get_page(email=first.email).results] == [first.id]
    gone = sdk.crm.owners.owners_api.get_page(archived=True).results
    assert len(gone) == 1 and gone[0].archived is True
    ids = {o.id for o in everyone}
    tickets = sdk.crm.tickets.get_all(properties=["hubspot_owner_id"])
    assert {t.properties["hubspot_owner_id"] for t in tickets} <= ids
    with pytest.raises(tk.ApiException) as exc:
        sdk.crm.tickets.basic_api.update(
            tickets[0].id, tk.SimplePublicObjectInput(properties={"hubspot_owner_id": "999"})
        )
    assert exc.value.status == 400


def test_batch_upsert_creates_and_updates_in_one_call(server: DemoCRM, crm_token: str) -> None:
    sdk = client(server, crm_token)
    known = sdk.crm.contacts.basic_api.get_page(limit=1, properties=["email"]).results[0]
    batch = ct.BatchInputSimplePublicObjectBatchInputUpsert(
        inputs=[
            ct.SimplePublicObjectBatchInputUpsert(
                id_property="email", id=known.properties["email"].upper(), properties={"jobtitle": "CFO"}
            ),
            ct.SimplePublicObjectBatchInputUpsert(
                id_property="email", id="new.person@upsert.example", properties={"firstname": "New"}
            ),
        ]
    )
    result = sdk.crm.contacts.batch_api.upsert(batch)
    assert type(result).__name__ == "BatchResponseSimplePublicUpsertObject" and result.status == "COMPLETE"
    by_new = {r.new: r for r in result.results}
    assert by_new[False].id == known.id and by_new[False].properties["jobtitle"] == "CFO"
    assert by_new[True].properties["email"] == "new.person@upsert.example"
    again = sdk.crm.contacts.batch_api.upsert(batch)
    assert [r.new for r in again.results] == [False, False]
    with pytest.raises(ct.ApiException) as exc:  # only unique properties can be the idProperty
        sdk.crm.contacts.batch_api.upsert(
            ct.BatchInputSimplePublicObjectBatchInputUpsert(
                inputs=[
                    ct.SimplePublicObjectBatchInputUpsert(id_property="firstname", id="Ada", properties={})
                ]
            )
        )
    assert exc.value.status == 400 and "unique" in json.loads(exc.value.body)["message"]


def test_merge_keeps_the_primary_and_redirects_the_merged_id(server: DemoCRM, crm_token: str) -> None:
    sdk = client(server, crm_token)
    a, b = sdk.crm.contacts.basic_api.get_page(limit=2, properties=["email", "phone"]).results
    merged = sdk.crm.contacts.basic_api.merge(
        ct.PublicMergeInput(primary_object_id=a.id, object_id_to_merge=b.id)
    )
    assert isinstance(merged, ct.SimplePublicObject) and merged.id == a.id
    read = sdk.crm.contacts.basic_api.get_by_id(b.id, properties=["email", "hs_merged_object_ids"])
    assert read.id == a.id and read.properties["hs_merged_object_ids"] == b.id
    gone = sdk.crm.contacts.basic_api.get_page(archived=True, limit=100).results
    assert b.id in {c.id for c in gone}
    with pytest.raises(ct.ApiException) as exc:
        sdk.crm.contacts.basic_api.merge(ct.PublicMergeInput(primary_object_id=a.id, object_id_to_merge=b.id))
    assert exc.value.status == 400


def test_property_archive_and_batch_read(server: DemoCRM, crm_token: str) -> None:
    sdk = client(server, crm_token)
    sdk.crm.properties.groups_api.create("deals", pr.PropertyGroupCreate(name="aikit", label="AI"))
    sdk.crm.properties.core_api.create(
        "deals",
        pr.PropertyCreate(
            name="ai_risk", label="AI risk", type="string", field_type="text", group_name="aikit"
        ),
    )
    read = sdk.crm.properties.batch_api.read(
        "deals",
        pr.BatchReadInputPropertyName(
            archived=False, inputs=[pr.PropertyName(name="dealname"), pr.PropertyName(name="ai_risk")]
        ),
    )
    assert type(read).__name__ == "BatchResponseProperty" and [p.name for p in read.results] == [
        "dealname",
        "ai_risk",
    ]
    partial = sdk.crm.properties.batch_api.read(
        "deals", pr.BatchReadInputPropertyName(archived=False, inputs=[pr.PropertyName(name="nope")])
    )
    assert type(partial).__name__ == "BatchResponsePropertyWithErrors" and partial.num_errors == 1
    assert sdk.crm.properties.core_api.archive("deals", "ai_risk") is None
    names = {p.name for p in sdk.crm.properties.core_api.get_all("deals").results}
    assert "ai_risk" not in names and "dealname" in names
    assert [p.name for p in sdk.crm.properties.core_api.get_all("deals", archived=True).results] == [
        "ai_risk"
    ]
    with pytest.raises(pr.ApiException) as builtin:
        sdk.crm.properties.core_api.archive("deals", "dealname")
    assert builtin.value.status == 400


def test_properties_with_history(server: DemoCRM, crm_token: str) -> None:
    sdk = client(server, crm_token)
    deal = sdk.crm.deals.basic_api.get_page(limit=100, properties=["dealstage"]).results
    moved = next(d for d in deal if d.properties["dealstage"] != "appointmentscheduled")
    one = sdk.crm.deals.basic_api.get_by_id(moved.id, properties_with_history=["dealstage"])
    history = one.properties_with_history["dealstage"]
    assert history[0].value == moved.properties["dealstage"] and history[-1].value == "appointmentscheduled"
    assert [h.timestamp for h in history] == sorted((h.timestamp for h in history), reverse=True)
    sdk.crm.deals.basic_api.update(
        moved.id, dl.SimplePublicObjectInput(properties={"dealstage": "closedlost"})
    )
    latest = sdk.crm.deals.basic_api.get_by_id(moved.id, properties_with_history=["dealstage"])
    top = latest.properties_with_history["dealstage"][0]
    assert top.value == "closedlost" and top.source_type == "API"
    page = sdk.crm.deals.basic_api.get_page(limit=100, properties_with_history=["amount"])
    assert len(page.results) == 50 and page.paging.next.link.startswith(server.url)  # history pages hold 50
    batch = sdk.crm.deals.batch_api.read(
        dl.BatchReadInputSimplePublicObjectId(
            inputs=[dl.SimplePublicObjectId(id=moved.id)],
            properties=["dealname"],
            properties_with_history=["dealstage"],
        )
    )
    assert batch.results[0].properties_with_history["dealstage"][0].value == "closedlost"


def test_labelled_associations_v4(server: DemoCRM, crm_token: str) -> None:
    sdk = client(server, crm_token)
    defs = sdk.crm.associations.v4.schema.definitions_api
    created = defs.create(
        "contacts",
        "companies",
        a4schema.PublicAssociationDefinitionCreateRequest(
            name="decision_maker", label="Decision maker", inverse_label="Decided by"
        ),
    )
    label_id = next(r.type_id for r in created.results if r.label == "Decision maker")
    listed = defs.get_all("contacts", "companies").results
    assert {(r.category, r.label) for r in listed} >= {
        ("HUBSPOT_DEFINED", None),
        ("HUBSPOT_DEFINED", "Primary"),
        ("USER_DEFINED", "Decision maker"),
    }
    contact = sdk.crm.contacts.basic_api.get_page(limit=1).results[0]
    company = sdk.crm.companies.basic_api.get_page(limit=3).results[2]
    pair = sdk.crm.associations.v4.basic_api.create(
        "contacts",
        contact.id,
        "companies",
        company.id,
        [a4.AssociationSpec(association_category="USER_DEFINED", association_type_id=label_id)],
    )
    assert type(pair).__name__ == "LabelsBetweenObjectPair" and pair.labels == ["Decision maker"]
    assert pair.from_object_type_id == "0-1" and pair.to_object_id == company.id
    back = sdk.crm.associations.v4.basic_api.get_page("companies", company.id, "contacts")
    seen = {str(r.to_object_id): {t.label for t in r.association_types} for r in back.results}
    assert "Decided by" in seen[contact.id]
    assert sdk.crm.associations.v4.basic_api.archive("contacts", contact.id, "companies", company.id) is None
    after = sdk.crm.associations.v4.basic_api.get_page("contacts", contact.id, "companies")
    assert company.id not in {str(r.to_object_id) for r in after.results}


def test_associations_v4_batch_create_default_archive_and_read(server: DemoCRM, crm_token: str) -> None:
    sdk = client(server, crm_token)
    tickets = sdk.crm.tickets.basic_api.get_page(limit=2).results
    deals = sdk.crm.deals.basic_api.get_page(limit=2).results
    made = sdk.crm.associations.v4.batch_api.create(
        "tickets",
        "deals",
        a4.BatchInputPublicAssociationMultiPost(
            inputs=[
                a4.PublicAssociationMultiPost(
                    _from=a4.PublicObjectId(id=tickets[0].id),
                    to=a4.PublicObjectId(id=deals[0].id),
                    types=[
                        a4.AssociationSpec(association_category="HUBSPOT_DEFINED", association_type_id=28)
                    ],
                ),
                a4.PublicAssociationMultiPost(
                    _from=a4.PublicObjectId(id=tickets[0].id),
                    to=a4.PublicObjectId(id="999999"),
                    types=[
                        a4.AssociationSpec(association_category="HUBSPOT_DEFINED", association_type_id=28)
                    ],
                ),
            ]
        ),
    )
    assert type(made).__name__ == "BatchResponseLabelsBetweenObjectPairWithErrors" and made.num_errors == 1
    default = sdk.crm.associations.v4.batch_api.create_default(
        "tickets",
        "deals",
        a4.BatchInputPublicDefaultAssociationMultiPost(
            inputs=[
                a4.PublicDefaultAssociationMultiPost(
                    _from=a4.PublicObjectId(id=tickets[1].id), to=a4.PublicObjectId(id=deals[1].id)
                )
            ]
        ),
    )
    assert type(default).__name__ == "BatchResponsePublicDefaultAssociation" and len(default.results) == 2
    read = sdk.crm.associations.v4.batch_api.get_page(
        "tickets",
        "deals",
        a4.BatchInputPublicFetchAssociationsBatchRequest(
            inputs=[a4.PublicFetchAssociationsBatchRequest(id=t.id) for t in tickets]
        ),
    )
    linked = {r._from.id: [str(x.to_object_id) for x in r.to] for r in read.results}
    assert linked == {tickets[0].id: [deals[0].id], tickets[1].id: [deals[1].id]}
    assert (
        sdk.crm.associations.v4.batch_api.archive_labels(
            "tickets",
            "deals",
            a4.BatchInputPublicAssociationMultiPost(
                inputs=[
                    a4.PublicAssociationMultiPost(
                        _from=a4.PublicObjectId(id=tickets[0].id),
                        to=a4.PublicObjectId(id=deals[0].id),
                        types=[
                            a4.AssociationSpec(association_category="HUBSPOT_DEFINED", association_type_id=28)
                        ],
                    )
                ]
            ),
        )
        is None
    )
    assert (
        sdk.crm.associations.v4.batch_api.archive(
            "tickets",
            "deals",
            a4.BatchInputPublicAssociationMultiArchive(
                inputs=[
                    a4.PublicAssociationMultiArchive(
                        _from=a4.PublicObjectId(id=tickets[1].id), to=[a4.PublicObjectId(id=deals[1].id)]
                    )
                ]
            ),
        )
        is None
    )
    empty = sdk.crm.associations.v4.batch_api.get_page(
        "tickets",
        "deals",
        a4.BatchInputPublicFetchAssociationsBatchRequest(
            inputs=[a4.PublicFetchAssociationsBatchRequest(id=t.id) for t in tickets]
        ),
    )
    assert empty.results == []


def test_associations_v3_batch_read(server_ro: DemoCRM, crm_token: str) -> None:
    sdk = client(server_ro, crm_token)
    contacts = sdk.crm.contacts.basic_api.get_page(limit=3).results
    read = sdk.crm.associations.batch_api.read(
        "contacts",
        "companies",
        assoc3.BatchInputPublicObjectId(inputs=[assoc3.PublicObjectId(id=c.id) for c in contacts]),
    )
    assert type(read).__name__ == "BatchResponsePublicAssociationMulti"
    assert {r._from.id for r in read.results} == {c.id for c in contacts}
    assert all(t.type == "contact_to_company_unlabeled" for r in read.results for t in r.to)
    partial = sdk.crm.associations.batch_api.read(
        "contacts", "deals", assoc3.BatchInputPublicObjectId(inputs=[assoc3.PublicObjectId(id="999999")])
    )
    assert (
        type(partial).__name__ == "BatchResponsePublicAssociationMultiWithErrors" and partial.num_errors == 1
    )


def test_search_by_association_and_unknown_properties(server_ro: DemoCRM, crm_token: str) -> None:
    sdk = client(server_ro, crm_token)
    ticket = sdk.crm.tickets.basic_api.get_by_id("1271", associations=["contacts"])
    contact_id = ticket.associations["contacts"].results[0].id
    found = sdk.crm.tickets.search_api.do_search(
        tk.PublicObjectSearchRequest(
            filter_groups=[
                {"filters": [{"propertyName": "associations.contact", "operator": "EQ", "value": contact_id}]}
            ],
            limit=100,
        )
    )
    assert "1271" in {r.id for r in found.results} and found.total == len(found.results)
    truth = sdk.crm.associations.v4.basic_api.get_page("contacts", contact_id, "tickets")
    assert {r.id for r in found.results} == {str(r.to_object_id) for r in truth.results}
    with pytest.raises(tk.ApiException) as exc:
        sdk.crm.tickets.search_api.do_search(
            tk.PublicObjectSearchRequest(
                filter_groups=[
                    {"filters": [{"propertyName": "no_such_prop", "operator": "EQ", "value": "x"}]}
                ]
            )
        )
    body = json.loads(exc.value.body)
    assert exc.value.status == 400 and body["errors"][0]["code"] == "INVALID_PROPERTY"


def test_search_cap_is_configurable(crm_token: str) -> None:
    with DemoCRM(token=crm_token, rate_limit=None, search_per_second=None, search_cap=50) as server:
        sdk = client(server, crm_token)
        page = sdk.crm.tickets.search_api.do_search(tk.PublicObjectSearchRequest(limit=30, after="30"))
        assert page.total >= 600 and len(page.results) == 20 and page.paging is None  # stops at the cap
        with pytest.raises(tk.ApiException) as exc:
            sdk.crm.tickets.search_api.do_search(tk.PublicObjectSearchRequest(limit=10, after="50"))
        assert exc.value.status == 400 and "capped at 50" in json.loads(exc.value.body)["message"]

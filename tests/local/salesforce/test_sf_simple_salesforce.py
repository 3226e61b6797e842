"""simple-salesforce, unmodified, drives the demo org: queries, sObjects, Bulk 2.0, restful, exceptions."""

from __future__ import annotations

import csv
import io
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest
import requests
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import (
    SalesforceAuthenticationFailed,
    SalesforceExpiredSession,
    SalesforceMalformedRequest,
    SalesforceRefusedRequest,
    SalesforceResourceNotFound,
)

from aikit.local.salesforce import DemoSalesforce


def test_query_pages_with_next_records_url(org_ro: DemoSalesforce, simple_sf: Any) -> None:
    sf = simple_sf(org_ro)
    first = sf.query("SELECT Id, Subject, Account.Name FROM Case")
    assert first["totalSize"] == 640 and first["done"] is False and len(first["records"]) == 250
    assert first["nextRecordsUrl"].startswith("/services/data/v59.0/query/01g")
    second = sf.query_more(first["nextRecordsUrl"], identifier_is_url=True)
    assert len(second["records"]) == 250 and second["records"][0]["Id"] != first["records"][0]["Id"]
    everything = sf.query_all("SELECT Id FROM Case")
    assert everything["totalSize"] == 640 and len({r["Id"] for r in everything["records"]}) == 640
    names = [r["Name"] for r in sf.query_all_iter("SELECT Name FROM Account ORDER BY Name")]
    assert len(names) == 50 and names == sorted(names)
    assert first["records"][0]["Account"]["attributes"]["type"] == "Account"


def test_sobject_crud_upsert_and_describe(org: DemoSalesforce, simple_sf: Any) -> None:
    sf = simple_sf(org)
    created = sf.Case.create({"Subject": "Printer on fire", "Priority": "High"})
    assert created["success"] is True and created["id"].startswith("500") and len(created["id"]) == 18
    case = sf.Case.get(created["id"])
    assert case["Subject"] == "Printer on fire" and case["Status"] == "New" and case["CaseNumber"]
    assert sf.Case.update(created["id"], {"Status": "Closed"}) == 204
    assert sf.Case.get(created["id"])["IsClosed"] is True
    assert sf.Case.upsert("Ticket_Id__c/EXT-9", {"Subject": "from upsert"}) == 201
    assert sf.Case.upsert("Ticket_Id__c/EXT-9", {"Subject": "updated by upsert"}) == 200
    assert sf.Case.get_by_custom_id("Ticket_Id__c", "EXT-9")["Subject"] == "updated by upsert"
    assert sf.Case.delete(created["id"]) == 204
    with pytest.raises(SalesforceResourceNotFound):
        sf.Case.get(created["id"])
    deleted = sf.query_all("SELECT Id FROM Case WHERE IsDeleted = true", include_deleted=True)
    assert [r["Id"] for r in deleted["records"]] == [created["id"]]
    describe = sf.Case.describe()
    sentiment = next(f for f in describe["fields"] if f["name"] == "AI_Sentiment__c")
    assert sentiment["restrictedPicklist"] and [p["value"] for p in sentiment["picklistValues"]] == [
        "Positive",
        "Neutral",
        "Negative",
    ]
    assert sf.Case.metadata()["objectDescribe"]["keyPrefix"] == "500"
    assert {"Account", "Contact", "Case", "Opportunity"} <= {o["name"] for o in sf.describe()["sobjects"]}


def test_bulk2_query_pages_csv(org_ro: DemoSalesforce, simple_sf: Any) -> None:
    sf = simple_sf(org_ro)
    pages = list(
        sf.bulk2.Case.query("SELECT Id, Subject, Account.Name FROM Case", max_records=300, wait=0.01)
    )
    assert len(pages) == 3
    rows = [r for page in pages for r in csv.DictReader(io.StringIO(page))]
    assert len(rows) == 640 and list(rows[0]) == ["Id", "Subject", "Account.Name"]
    assert len({r["Id"] for r in rows}) == 640


def test_restful_collections_and_limits(org: DemoSalesforce, simple_sf: Any) -> None:
    sf = simple_sf(org)
    ids = [r["Id"] for r in sf.query("SELECT Id FROM Case LIMIT 2")["records"]]
    body = {
        "allOrNone": False,
        "records": [
            {"attributes": {"type": "Case"}, "id": ids[0], "AI_Sentiment__c": "Negative"},
            {"attributes": {"type": "Case"}, "id": ids[1], "AI_Sentiment__c": "Furious"},
        ],
    }
    results = sf.restful("composite/sobjects", method="PATCH", json=body)
    assert results[0]["success"] is True
    assert results[1]["errors"][0]["statusCode"] == "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST"
    assert sf.Case.get(ids[0])["AI_Sentiment__c"] == "Negative"
    limits = sf.limits()
    assert limits["DailyApiRequests"]["Max"] == 15000
    assert sf.api_usage["api-usage"].total == 15000 and sf.api_usage["api-usage"].used > 0


def test_exceptions_match_salesforce(org: DemoSalesforce, simple_sf: Any) -> None:
    sf = simple_sf(org)
    with pytest.raises(SalesforceMalformedRequest) as bad:
        sf.query("SELECT Id FORM Case")
    assert bad.value.content[0]["errorCode"] == "MALFORMED_QUERY"
    assert "unexpected token: FORM" in bad.value.content[0]["message"]
    with pytest.raises(SalesforceMalformedRequest) as field:
        sf.query("SELECT Foo FROM Account")
    assert field.value.content[0]["errorCode"] == "INVALID_FIELD"
    with pytest.raises(SalesforceResourceNotFound):
        sf.Nope__c.describe()
    org.expire_sessions()
    with pytest.raises(SalesforceExpiredSession) as expired:
        sf.query("SELECT Id FROM Case")
    assert expired.value.content[0]["errorCode"] == "INVALID_SESSION_ID"


def test_request_limit_exceeded_is_refused(simple_sf: Any) -> None:
    with DemoSalesforce(seed=None, api_budget=3, budget_window_s=60) as org:
        sf = simple_sf(org)
        for _ in range(3):
            sf.query("SELECT Id FROM Account")
        with pytest.raises(SalesforceRefusedRequest) as refused:
            sf.query("SELECT Id FROM Account")
        assert refused.value.content[0]["errorCode"] == "REQUEST_LIMIT_EXCEEDED"


class _LoginHostAdapter(requests.adapters.HTTPAdapter):
    """Sends simple-salesforce's fixed ``https://login.salesforce.com`` calls to the demo org (still TLS)."""

    def __init__(self, target: str) -> None:
        super().__init__()
        self.target = urlsplit(target)

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        parts = urlsplit(str(request.url))
        request.url = urlunsplit((parts.scheme, self.target.netloc, parts.path, parts.query, parts.fragment))
        return super().send(request, **kwargs)


def test_jwt_and_client_credentials_logins(org: DemoSalesforce, trusted: Any) -> None:
    session = trusted(org)
    session.mount("https://login.salesforce.com", _LoginHostAdapter(org.url))
    session.mount("https://demo.my.salesforce.com", _LoginHostAdapter(org.url))
    key = org.jwt_private_key().read_text()
    sf = Salesforce(username=org.username, consumer_key=org.consumer_key, privatekey=key, session=session)
    assert sf.sf_instance == org.url.removeprefix("https://")
    assert sf.query("SELECT COUNT() FROM Account")["totalSize"] == 50
    org.expire_sessions()  # simple-salesforce logs in again by itself in JWT mode
    assert sf.query("SELECT COUNT() FROM Account")["totalSize"] == 50
    assert org.stats["token_jwt-bearer"] == 2
    cc = Salesforce(
        consumer_key=org.consumer_key, consumer_secret=org.consumer_secret, domain="demo.my", session=session
    )
    assert cc.query("SELECT COUNT() FROM Case")["totalSize"] == 640
    with pytest.raises(SalesforceAuthenticationFailed) as failed:
        Salesforce(consumer_key=org.consumer_key, consumer_secret="wrong", domain="demo.my", session=session)
    assert "invalid_client" in str(failed.value) and "wrong" not in str(failed.value)
    session.close()

"""aikit.Salesforce.fetch against the demo org: pages, Bulk API 2.0, types from describe, clear errors."""

from __future__ import annotations

import logging
from typing import Any

import pandas as pd
import pytest

import aikit
from aikit.local.salesforce import DemoSalesforce

CASES = (
    "SELECT Id, CaseNumber, Subject, Priority, CreatedDate, IsClosed, Account.Name, Account.AnnualRevenue "
    "FROM Case"
)


def test_rest_fetch_follows_pages_and_types_columns(org_ro: DemoSalesforce, client: Any) -> None:
    sf = client(org_ro)
    before = org_ro.stats.get("requests", 0)
    cases = sf.fetch(CASES)
    assert len(cases) == 640 and cases["Id"].is_unique
    assert list(cases.columns) == ["Id", "CaseNumber", "Subject", "Priority", "CreatedDate", "IsClosed",
                                   "Account.Name", "Account.AnnualRevenue"]  # fmt: skip
    assert "attributes" not in cases.columns
    assert isinstance(cases["Priority"].dtype, pd.CategoricalDtype)
    assert list(cases["Priority"].cat.categories) == ["High", "Medium", "Low"]
    assert str(cases["CreatedDate"].dtype) == "datetime64[ns, UTC]"
    assert str(cases["IsClosed"].dtype) == "boolean" and cases["IsClosed"].any()
    assert cases["Account.AnnualRevenue"].dtype == "float64"
    assert cases["Account.Name"].notna().all()
    queries = org_ro.stats["requests"] - before
    assert queries == 3 + 2  # ceil(640 / 250) pages + describe Case + describe Account


def test_object_form_with_escaped_where(org_ro: DemoSalesforce, client: Any) -> None:
    sf = client(org_ro)
    open_high = sf.fetch("Case", ["Id", "Subject", "Priority"], {"Priority": ["High"], "IsClosed": False})
    assert len(open_high) > 0 and set(open_high["Priority"].astype(str)) == {"High"}
    injected = sf.fetch("Account", ["Id", "Name"], {"Name": "x' OR Name != 'y"})
    assert len(injected) == 0  # the quote is escaped, not a way out of the literal
    everything = sf.fetch("Opportunity", limit=5, order_by="-Amount")
    assert len(everything) == 5 and everything["Amount"].is_monotonic_decreasing
    assert str(everything["CloseDate"].dtype).startswith("datetime64")


def test_lookups_subqueries_and_aggregates(org_ro: DemoSalesforce, client: Any) -> None:
    sf = client(org_ro)
    accounts = sf.fetch(
        "SELECT Id, Name, (SELECT Subject, Priority FROM Cases) FROM Account ORDER BY Name LIMIT 3"
    )
    assert all(isinstance(v, list) for v in accounts["Cases"])
    assert accounts["Cases"].map(len).sum() > 0 and "Subject" in accounts["Cases"].iloc[0][0]
    counts = sf.fetch("SELECT Priority, COUNT(Id) n FROM Case GROUP BY Priority")
    assert counts["n"].sum() == 640
    nested = sf.fetch("SELECT Id, Contact.Account.Name FROM Case LIMIT 3")
    assert nested["Contact.Account.Name"].notna().all()


def test_bulk_above_the_threshold_matches_rest(org_ro: DemoSalesforce, client: Any) -> None:
    rest = client(org_ro).fetch("SELECT Id, Subject, Priority, Account.Name FROM Case", bulk=False)
    auto = client(org_ro, bulk_threshold=300)
    bulked = auto.fetch("SELECT Id, Subject, Priority, Account.Name FROM Case")
    assert auto.stats["bulk_jobs"] == 1
    pd.testing.assert_frame_equal(
        bulked.sort_values("Id").reset_index(drop=True), rest.sort_values("Id").reset_index(drop=True)
    )
    forced = client(org_ro).fetch("SELECT Id, IsClosed, CreatedDate FROM Case", bulk=True)
    assert len(forced) == 640 and str(forced["IsClosed"].dtype) == "boolean"
    with pytest.raises(aikit.ConfigError, match=r"Bulk API 2\.0 cannot run"):
        client(org_ro).fetch("SELECT Id, (SELECT Id FROM Cases) FROM Account", bulk=True)


def test_query_all_includes_deleted(org: DemoSalesforce, client: Any) -> None:
    sf = client(org)
    victim = sf.fetch("SELECT Id FROM Case LIMIT 1")["Id"].iloc[0]
    org.store.delete("Case", victim)
    assert victim not in set(sf.fetch("SELECT Id FROM Case")["Id"])
    with_bin = sf.fetch("SELECT Id, IsDeleted FROM Case", include_deleted=True)
    assert with_bin.set_index("Id").loc[victim, "IsDeleted"]
    assert victim in set(sf.fetch("SELECT Id FROM Case", include_deleted=True, bulk=True)["Id"])


def test_soql_errors_are_clear_crm_errors(org_ro: DemoSalesforce, client: Any) -> None:
    sf = client(org_ro)
    with pytest.raises(aikit.CRMError) as bad:
        sf.fetch("SELECT Id FORM Case")
    assert bad.value.category == "MALFORMED_QUERY" and bad.value.status == 400
    assert "unexpected token: FORM" in str(bad.value) and "Row:1:Column:11" in str(bad.value)
    with pytest.raises(aikit.CRMError) as field:
        sf.fetch("SELECT Sentiment FROM Case")
    assert field.value.category == "INVALID_FIELD" and "__c" in str(field.value)
    with pytest.raises(aikit.CRMError) as obj:
        sf.fetch("SELECT Id FROM Cases")
    assert obj.value.category == "INVALID_TYPE"


def test_a_wrong_token_never_appears(org_ro: DemoSalesforce, caplog: pytest.LogCaptureFixture) -> None:
    canary = "00DDm000CANARY!" + "9f8e7d6c5b4a"
    caplog.set_level(logging.DEBUG)
    sf = aikit.Salesforce(instance_url=org_ro.url, auth=canary, ca_file=org_ro.ca_file)
    with pytest.raises(aikit.CRMError) as err:
        sf.fetch("SELECT Id FROM Case")
    assert err.value.status == 401 and err.value.category == "INVALID_SESSION_ID"
    assert "cannot renew itself" in str(err.value)
    texts = [str(err.value), repr(err.value), repr(sf), caplog.text, str(sf.stats)]
    assert all(canary not in t for t in texts)
    sf.close()


def test_missing_configuration_is_explained(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SALESFORCE_INSTANCE_URL", raising=False)
    monkeypatch.delenv("SALESFORCE_ACCESS_TOKEN", raising=False)
    with pytest.raises(aikit.ConfigError, match="instance_url"):
        aikit.Salesforce()
    with pytest.raises(aikit.MissingCredentialError, match="SALESFORCE_ACCESS_TOKEN"):
        aikit.Salesforce(instance_url="https://acme.my.salesforce.com")

"""The demo org itself: TLS from a private CA (never unverified), private durable state, the same data."""

from __future__ import annotations

import ssl
import stat
from pathlib import Path

import httpx
import pytest

from aikit.cli import main as cli_main
from aikit.local.crm import DemoCRM
from aikit.local.salesforce import DemoSalesforce
from aikit.local.salesforce.soql import parse
from aikit.local.salesforce.wire import ApiError


def test_tls_files_are_private_and_reused(aikit_home: Path) -> None:
    with DemoSalesforce(seed=None) as org:
        first = org.ca_file.read_bytes()
        directory = org.ca_file.parent
        assert stat.S_IMODE(directory.stat().st_mode) == 0o700
        for path in directory.glob("*.pem"):
            assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
        assert directory.is_relative_to(aikit_home)
        trusted = httpx.get(
            org.url + "/services/data/", verify=ssl.create_default_context(cafile=str(org.ca_file))
        )
        assert trusted.status_code == 200 and trusted.json()[0]["version"] == "59.0"
        with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
            httpx.get(org.url + "/services/data/", verify=ssl.create_default_context())  # public roots only
    with DemoSalesforce(seed=None) as again:
        assert again.ca_file.read_bytes() == first  # made once, then reused


def test_durable_private_database(tmp_path: Path) -> None:
    db = tmp_path / "org.sqlite"
    org = DemoSalesforce(db, seed=0)
    org.add_field("Case", "AI_Urgency__c", "picklist", values=["Now", "Later"], restricted=True)
    rid = org.store.insert("Case", {"Subject": "kept", "AI_Urgency__c": "Now"})
    org.close()
    assert stat.S_IMODE(db.stat().st_mode) == 0o600
    reopened = DemoSalesforce(db, seed=0)
    try:
        assert reopened.store.get("Case", rid)["AI_Urgency__c"] == "Now"
        assert reopened.store.count("Case") == 641  # not seeded twice
        assert reopened.store.objects["Case"].field("ai_urgency__c") is not None
    finally:
        reopened.close()


def test_same_companies_as_the_demo_crm() -> None:
    crm = DemoCRM(seed=0)
    org = DemoSalesforce(seed=0)
    try:
        companies = {r.props["name"] for r in crm.store.scan("companies")}
        accounts = {r["Name"] for r in org.store.scan("Account")}
        assert accounts == companies and len(accounts) == 50
        again = DemoSalesforce(seed=0)
        assert [r["Subject"] for r in again.store.scan("Case")] == [
            r["Subject"] for r in org.store.scan("Case")
        ]
        again.close()
        assert DemoSalesforce(seed=None, cases=5000).store.count("Case") == 0
        assert DemoSalesforce(seed=0, cases=5000).store.count("Case") == 5000
    finally:
        crm.store.close()
        org.close()


@pytest.mark.parametrize(
    ("soql", "code", "text"),
    [
        ("SELECT Id FORM Case", "MALFORMED_QUERY", "ERROR at Row:1:Column:11\nunexpected token: FORM"),
        ("SELECT Id FROM", "MALFORMED_QUERY", "unexpected token: <EOF>"),
        ("SELECT Id FROM Case WHERE Subject = 'open", "MALFORMED_QUERY", "unexpected token"),
    ],
)
def test_soql_syntax_errors_have_salesforce_text(soql: str, code: str, text: str) -> None:
    with pytest.raises(ApiError) as err:
        parse(soql)
    assert err.value.code == code and text in err.value.message


def test_cli_serves_and_prints_the_ca_file(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from aikit.local.salesforce import server

    monkeypatch.setattr(server, "wait_until_interrupted", lambda alive: None)  # serve, announce, stop
    assert cli_main(["serve", "salesforce", "--port", "0", "--empty"]) == 0
    out = capsys.readouterr().out
    assert "https://127.0.0.1:" in out and "ca.pem" in out and "consumer key: 3MVG9" in out

"""Limits and logins: 503 and REQUEST_LIMIT_EXCEEDED retried, pacing to the budget, one refresh per expiry."""

from __future__ import annotations

import concurrent.futures
import time
from typing import Any

import httpx
import pandas as pd
import pytest

import aikit
from aikit.auth.services import salesforce_service
from aikit.client.retry import RetryPolicy
from aikit.connectors.salesforce import (
    salesforce_client_credentials_auth,
    salesforce_jwt_auth,
    salesforce_web_auth,
)
from aikit.local.salesforce import DemoSalesforce


def test_503_is_retried(org_ro: DemoSalesforce, client: Any) -> None:
    sf = client(org_ro, retry=RetryPolicy(max_attempts=5, deadline_s=30))
    org_ro.fail_next(2, 503)
    assert len(sf.fetch("SELECT Id FROM Account")) == 50
    assert sf.stats["retries"] == 2


def test_request_limit_exceeded_is_retried_with_backoff(client: Any) -> None:
    with DemoSalesforce(seed=0, api_budget=6, budget_window_s=1.5) as org:
        sf = client(org, retry=RetryPolicy(max_attempts=10, deadline_s=30), budget_window_s=1.5)
        org.spend_api(6)  # another integration used the whole budget just now
        assert len(sf.fetch("SELECT Id FROM Account")) == 50
        assert sf.stats["retries"] >= 1 and org.stats["403_limit"] >= 1


def test_paces_to_the_budget_without_refusals(client: Any) -> None:
    with DemoSalesforce(seed=0, api_budget=8, budget_window_s=1.0) as org:
        sf = client(org, budget_window_s=1.0)
        t0 = time.monotonic()
        for _ in range(20):
            sf.query("SELECT Id FROM Account LIMIT 1")
        elapsed = time.monotonic() - t0
        assert org.stats.get("403_limit", 0) == 0  # it waited instead of being refused
        assert elapsed >= 1.0 and sf.budget.waited_s > 0
        assert sf.stats["api_max"] == 8


def test_a_spent_daily_budget_fails_fast(client: Any) -> None:
    with DemoSalesforce(seed=0, api_budget=5) as org:  # 24-hour window
        sf = client(org)
        org.spend_api(4)
        sf.query("SELECT Id FROM Account LIMIT 1")  # learns api-usage=5/5
        sent = org.stats["requests"]
        t0 = time.monotonic()
        with pytest.raises(aikit.CRMError) as err:
            sf.query("SELECT Id FROM Account LIMIT 1")
        assert time.monotonic() - t0 < 5 and org.stats["requests"] == sent  # nothing was sent
        assert err.value.category == "REQUEST_LIMIT_EXCEEDED" and "5/5" in str(err.value)


def test_jwt_login_refreshes_once_for_concurrent_requests(org: DemoSalesforce, client: Any) -> None:
    auth = salesforce_jwt_auth(
        org.consumer_key, org.username, org.jwt_private_key(), login_url=org.url, ca_file=org.ca_file
    )
    sf = client(org, auth=auth)
    assert len(sf.fetch("SELECT Id FROM Account")) == 50
    assert org.stats["token_jwt-bearer"] == 1
    org.expire_sessions()
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        sizes = list(pool.map(lambda _: len(sf.query("SELECT Id FROM Contact")), range(8)))
    assert sizes == [220] * 8
    assert org.stats["token_jwt-bearer"] == 2  # exactly one new login for eight requests
    assert "BEGIN" not in repr(auth) and org.stats.get("token_failed", 0) == 0


def test_client_credentials_and_bad_secret(org: DemoSalesforce, client: Any) -> None:
    good = salesforce_client_credentials_auth(
        org.consumer_key, org.consumer_secret, my_domain_url=org.url, ca_file=org.ca_file
    )
    assert len(client(org, auth=good).fetch("SELECT Id FROM Account")) == 50
    canary = "cc-secret-" + "CANARY-55"
    bad = salesforce_client_credentials_auth(
        org.consumer_key, canary, my_domain_url=org.url, ca_file=org.ca_file
    )
    with pytest.raises(aikit.AuthError) as err:
        client(org, auth=bad).fetch("SELECT Id FROM Account")
    assert "invalid_client" in str(err.value) and canary not in str(err.value) and canary not in repr(bad)


def test_web_server_flow_with_pkce_and_refresh(org: DemoSalesforce, client: Any) -> None:
    auth = salesforce_web_auth(org.consumer_key, login_url=org.url, ca_file=org.ca_file)  # public: PKCE only

    def approve(url: str) -> None:  # the browser: the demo org signs the analyst in and redirects
        with httpx.Client(verify=str(org.ca_file), trust_env=False) as browser:
            answer = browser.get(url)
            assert answer.status_code == 302
            httpx.get(answer.headers["location"], trust_env=False)

    token = auth.login_pkce(on_url=lambda url: concurrent.futures.ThreadPoolExecutor(1).submit(approve, url))
    assert token.refresh_token and org.stats["token_authorization_code"] == 1
    sf = client(org, auth=auth)
    assert len(sf.fetch("SELECT Id FROM Case LIMIT 5")) == 5
    org.expire_sessions()
    assert len(sf.fetch("SELECT Id FROM Case LIMIT 5")) == 5
    assert org.stats["token_refresh_token"] == 1 and auth.refresh_count == 1


def test_login_panel_offers_salesforce(org: DemoSalesforce) -> None:
    service = salesforce_service(org.consumer_key, login_url=org.url, ca_file=str(org.ca_file))
    assert service.label == "Salesforce" and service.flows == ("pkce",)
    assert service.status().state == "not connected"
    assert service.auth.client.authorize_url == f"{org.url}/services/oauth2/authorize"


def test_push_stops_cleanly_when_the_budget_runs_out(client: Any) -> None:
    with DemoSalesforce(seed=0, api_budget=6) as org:
        sf = client(org, retry=RetryPolicy(max_attempts=2, deadline_s=2))
        ids = sf.fetch("SELECT Id FROM Case LIMIT 400")["Id"]  # 2 pages + 1 describe
        frame = pd.DataFrame({"Id": ids, "AI_Sentiment__c": "Neutral"})
        report = sf.push("Case", frame, batch_size=100)  # describe + read + one batch fit the budget
        assert report.updated >= 100 and report.updated + len(report.failed_ids) == 400  # none dropped
        categories = report.failed["category"].value_counts().to_dict()
        assert categories["REQUEST_LIMIT_EXCEEDED"] == 100 and set(categories) <= {
            "NOT_SENT",
            "REQUEST_LIMIT_EXCEEDED",
        }
        assert org.stats.get("403_limit", 0) == 0  # the client stopped; the org refused nothing

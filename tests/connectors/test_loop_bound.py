"""One policy for loop-bound HTTP clients: HubSpot, RestSource and the OAuth clients keep working after
aikit's loop thread restarts and in a forked child, as ``aikit.AI`` does.

Every client and lock lives in :class:`aikit._runtime.LoopLocal` (one per event loop); these tests
restart the runtime between calls, contend for the locks on both sides of a restart, and use the same
client objects from a ``fork()`` child, all against the real demo CRM and OAuth server.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable

import httpx
import pytest

import aikit
from aikit import _runtime
from aikit.auth.oauth import OAuth2Client
from aikit.auth.session import OAuth2Auth
from aikit.local.crm import DemoCRM
from aikit.local.oauth.server import OAuthServer

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")


def in_forked_child(work: Callable[[], bool], timeout_s: float = 60.0) -> int:
    """Run ``work`` in a forked child; its exit code (0: it returned True)."""
    pid = os.fork()
    if pid == 0:  # the child: never return into pytest
        code = 1
        try:
            code = 0 if work() else 3
        except BaseException:
            code = 2
        finally:
            os._exit(code)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        time.sleep(0.05)
    os.kill(pid, 9)
    os.waitpid(pid, 0)
    return -9


def test_hubspot_works_after_the_loop_thread_restarts_and_under_contention(
    crm: DemoCRM, crm_token: str
) -> None:
    hs = aikit.HubSpot(token=crm_token, base_url=crm.url)

    async def two_at_once() -> list[int]:  # two fetches contend for the pacer's lock
        frames = await asyncio.gather(
            hs.afetch("contacts", ["email"], limit=5), hs.afetch("companies", limit=5)
        )
        return [len(f) for f in frames]

    assert asyncio.run(two_at_once()) == [5, 5]
    _runtime.shutdown()  # closes the clients made on the old loop; the thread restarts on next use
    assert len(hs.fetch("contacts", ["email"], limit=3)) == 3
    assert asyncio.run(two_at_once()) == [5, 5]
    hs.close()
    assert len(hs.fetch("tickets", limit=2)) == 2  # closed: a new client on next use


def test_hubspot_and_rest_source_work_in_a_forked_child(crm: DemoCRM, crm_token: str) -> None:
    hs = aikit.HubSpot(token=crm_token, base_url=crm.url)
    rest = aikit.RestSource(crm.url, records="results", pagination=None, token=crm_token, page_size=10)
    assert len(hs.fetch("contacts", limit=2)) == 2 and len(rest.fetch("/crm/v3/objects/contacts")) == 10

    def child() -> bool:
        return len(hs.fetch("contacts", limit=2)) == 2 and len(rest.fetch("/crm/v3/objects/companies")) == 10

    assert in_forked_child(child) == 0
    assert len(hs.fetch("companies", limit=1)) == 1  # the parent's client is untouched


def test_oauth_refresh_lock_survives_a_loop_restart(oauth_server: OAuthServer) -> None:
    client = OAuth2Client(**oauth_server.client_config("aikit-service"))
    auth = OAuth2Auth.client_credentials(client)

    async def burst() -> list[int]:
        async with httpx.AsyncClient(auth=auth) as http:
            replies = await asyncio.gather(*(http.get(f"{oauth_server.url}/userinfo") for _ in range(10)))
        return [r.status_code for r in replies]

    assert asyncio.run(burst()) == [200] * 10  # ten callers, one token fetch, one contended lock
    _runtime.shutdown()
    assert auth.token is not None
    oauth_server.expire_access_token(auth.token.access_token)  # every caller sees a 401 and renews
    assert asyncio.run(burst()) == [200] * 10
    assert oauth_server.stats["client_credentials"] == 2

    def child() -> bool:
        return auth.login_client_credentials().access_token != ""

    assert in_forked_child(child) == 0

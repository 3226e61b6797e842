"""aikit.AsyncJob over a real job API on 127.0.0.1: submit, poll or webhook, fetch; recorded, attached."""

from __future__ import annotations

import base64
import itertools
import json
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from standardwebhooks import Webhook
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

import aikit
from aikit._serving import AppThread
from aikit.exceptions import JobError, JobPendingError

CRM_SECRET = "whsec_" + base64.b64encode(b"the export api's signing secret").decode()


class ExportAPI:
    """An export service: POST /exports, GET /exports/{id}, GET /exports/{id}/rows, POST .../cancel."""

    def __init__(self, seconds: float = 0.4) -> None:
        self.seconds, self.submits, self.polls = seconds, 0, 0
        self.jobs: dict[str, dict[str, Any]] = {}
        self._ids = itertools.count(1)
        self.app = Starlette(
            routes=[
                Route("/exports", self.create, methods=["POST"]),
                Route("/exports/{id}", self.status, methods=["GET"]),
                Route("/exports/{id}/rows", self.rows, methods=["GET"]),
                Route("/exports/{id}/cancel", self.cancel, methods=["POST"]),
            ]
        )

    async def create(self, request: Request) -> JSONResponse:
        body = await request.json()
        self.submits += 1
        job_id = f"exp_{next(self._ids)}"
        self.jobs[job_id] = {"at": time.monotonic(), "object": body.get("object"), "state": None}
        return JSONResponse({"id": job_id, "status": "queued"}, status_code=201)

    def state(self, job_id: str) -> str:
        job = self.jobs[job_id]
        if job["state"]:
            return str(job["state"])
        if job["object"] == "broken":
            return "failed"
        return "done" if time.monotonic() - job["at"] >= self.seconds else "running"

    async def status(self, request: Request) -> JSONResponse:
        self.polls += 1
        job_id = request.path_params["id"]
        return JSONResponse({"id": job_id, "status": self.state(job_id), "rows": 3})

    async def rows(self, request: Request) -> JSONResponse:
        job_id = request.path_params["id"]
        return JSONResponse({"data": [{"deal": i, "export": job_id} for i in range(3)]})

    async def cancel(self, request: Request) -> JSONResponse:
        self.jobs[request.path_params["id"]]["state"] = "cancelled"
        return JSONResponse({"ok": True})


@pytest.fixture
def api() -> Iterator[tuple[ExportAPI, str]]:
    service = ExportAPI()
    server = AppThread(service.app, name="export-api").start()
    yield service, server.url
    server.stop()


def test_three_lines_over_a_connector(api: tuple[ExportAPI, str]) -> None:
    service, url = api
    crm = aikit.RestSource(url, token="canary-token-123")
    job = aikit.AsyncJob(
        submit="POST /exports",
        status="GET /exports/{id}",
        result="GET /exports/{id}/rows",
        session=crm,
        json={"object": "deals"},
        key="deals-export",
        wait=0.05,
    )
    rows = job.wait()
    assert rows["data"][0] == {"deal": 0, "export": "exp_1"} and service.submits == 1 and service.polls >= 2
    assert "canary" not in repr(job) and job.status().state == "done"
    listing = aikit.jobs()
    assert listing.iloc[0]["kind"] == "rest" and listing.iloc[0]["remote_ids"] == ["exp_1"]
    # the same cell again, or a new kernel: attached, not submitted again
    again = aikit.AsyncJob(
        submit="POST /exports",
        status="GET /exports/{id}",
        result="GET /exports/{id}/rows",
        session=crm,
        json={"object": "deals"},
        key="deals-export",
        wait=0.05,
    )
    assert again.wait() == rows and service.submits == 1


def test_functions_sync_or_async_and_a_pending_result(api: tuple[ExportAPI, str]) -> None:
    service, url = api
    service.seconds = 1.0

    def submit() -> str:
        return str(httpx.post(url + "/exports", json={"object": "tickets"}).json()["id"])

    async def status(job_id: str) -> dict[str, Any]:
        async with httpx.AsyncClient() as client:
            return dict((await client.get(f"{url}/exports/{job_id}")).json())

    job = aikit.AsyncJob(
        submit=submit,
        status=status,
        result=lambda j: httpx.get(f"{url}/exports/{j}/rows"),
        name="tickets",
        wait=0.05,
    )
    job.start()
    with pytest.raises(JobPendingError, match="still 'running'"):
        job.result()
    assert len(job.wait()["data"]) == 3 and job.result()["data"][2]["export"] == job.remote_id


def test_a_failed_job_and_cancel(api: tuple[ExportAPI, str]) -> None:
    service, url = api
    crm = aikit.RestSource(url)
    broken = aikit.AsyncJob(
        submit="POST /exports",
        status="GET /exports/{id}",
        result="GET /exports/{id}/rows",
        session=crm,
        json={"object": "broken"},
        wait=0.05,
    )
    with pytest.raises(JobError, match="ended 'failed'"):
        broken.wait()
    assert aikit.jobs().iloc[0]["status"] == "failed"
    service.seconds = 60
    slow = aikit.AsyncJob(
        submit="POST /exports",
        status="GET /exports/{id}",
        result="GET /exports/{id}/rows",
        cancel="POST /exports/{id}/cancel",
        session=crm,
        json={"object": "x"},
        wait=0.05,
    )
    assert slow.cancel().status == "cancelled"
    assert aikit.jobs().iloc[0]["status"] == "cancelled"


def test_woken_by_the_apis_webhook(api: tuple[ExportAPI, str], tmp_path: Path) -> None:
    service, url = api
    service.seconds = 1.0
    hook = aikit.WebhookListener(port=0, store=tmp_path / "hooks.sqlite")
    hook.add_source("exports", scheme="standard", secret=CRM_SECRET).start()
    try:
        crm = aikit.RestSource(url)
        job = aikit.AsyncJob(
            submit="POST /exports",
            status="GET /exports/{id}",
            result="GET /exports/{id}/rows",
            session=crm,
            json={"object": "deals"},
            wait=aikit.jobs.Wait(listener=hook, source="exports", poll=aikit.jobs.Poll(safety_s=60)),
            match=lambda payload: payload.get("export_id"),
        )
        job.start()

        def announce() -> None:
            time.sleep(1.1)
            body = json.dumps({"type": "export.finished", "export_id": job.remote_id})
            msg_id, now = f"msg_{uuid.uuid4().hex[:10]}", time.time()
            import datetime as dt

            sig = Webhook(CRM_SECRET).sign(msg_id, dt.datetime.fromtimestamp(now, dt.UTC), body)
            httpx.post(
                hook.url_for("exports"),
                content=body,
                headers={"webhook-id": msg_id, "webhook-timestamp": str(int(now)), "webhook-signature": sig},
            )

        threading.Thread(target=announce, daemon=True).start()
        t0 = time.monotonic()
        assert len(job.wait()["data"]) == 3 and time.monotonic() - t0 < 5
    finally:
        hook.stop()


def test_bad_steps_are_refused() -> None:
    with pytest.raises(aikit.ConfigError, match="METHOD /path"):
        aikit.AsyncJob(submit="exports", status="GET /x/{id}", result="GET /y", session=object())
    with pytest.raises(aikit.ConfigError, match="session="):
        aikit.AsyncJob(submit="POST /exports", status="GET /x/{id}", result="GET /y")
    job = aikit.AsyncJob(submit=lambda: None, status=lambda j: "done", result=lambda j: j)
    with pytest.raises(JobError, match="must return the job id"):
        job.start()

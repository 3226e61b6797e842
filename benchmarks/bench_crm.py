"""Benchmark: the CRM connector against the demo CRM (HubSpot CRM v3 subset) on 127.0.0.1.

Targets (issue 5): fetch 600 tickets + 200 contacts in under 2 s; push 600 updates as 6 batch calls
with zero 429s under the default limit of 100 requests per 10 s.

Baselines, measured in the same run with plain ``httpx``, one request per record:
- fetch: list the ids, then ``GET /crm/v3/objects/{type}/{id}`` per record, against a server with the
  rate limit switched off (the most favourable case for the naive loop);
- push: ``PATCH /crm/v3/objects/tickets/{id}`` per record against the real limit (100 per 10 s),
  sleeping ``Retry-After`` on each 429 and retrying (a careful naive loop; it still runs into 429s).

Run: ``.venv/bin/python benchmarks/bench_crm.py`` (about 1.5 minutes; ``--quick`` skips the
rate-limited push baseline and reports its lower bound instead).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

import httpx
import pandas as pd

import aikit
from aikit.local.crm import DemoCRM

TOKEN = "bench-token"
HEADERS = {"Authorization": f"Bearer {TOKEN}"}


def aikit_fetch(url: str) -> tuple[float, int, int]:
    crm = aikit.HubSpot(token=TOKEN, base_url=url)
    t0 = time.perf_counter()
    tickets = crm.fetch("tickets", ["subject", "content", "hs_ticket_priority"], associations=["contacts"])
    contacts = crm.fetch("contacts", ["email", "firstname", "lastname", "company"])
    elapsed = time.perf_counter() - t0
    crm.close()
    return elapsed, len(tickets), len(contacts)


def naive_fetch(url: str) -> tuple[float, int]:
    t0 = time.perf_counter()
    rows = 0
    with httpx.Client(base_url=url, headers=HEADERS, timeout=30.0) as c:
        for t, props in (("tickets", "subject,content,hs_ticket_priority"), ("contacts", "email,firstname")):
            ids, after = [], None
            while True:
                body = c.get(
                    f"/crm/v3/objects/{t}", params={"limit": 100, **({"after": after} if after else {})}
                ).json()
                ids += [o["id"] for o in body["results"]]
                if "paging" not in body:
                    break
                after = body["paging"]["next"]["after"]
            for i in ids:
                c.get(f"/crm/v3/objects/{t}/{i}", params={"properties": props}).raise_for_status()
                rows += 1
    return time.perf_counter() - t0, rows


def aikit_push(server: DemoCRM, n: int) -> dict[str, float]:
    crm = aikit.HubSpot(token=TOKEN, base_url=server.url)
    ids = crm.fetch("tickets", ["subject"], typed=False)["id"].head(n)
    frame = pd.DataFrame(
        {"id": ids, "ai_sentiment": ["negative", "neutral", "positive"] * (n // 3) + ["neutral"] * (n % 3)}
    )
    crm.create_property(
        "tickets", "ai_sentiment", type="enumeration", options=["negative", "neutral", "positive"]
    )
    before = server.stats
    t0 = time.perf_counter()
    report = crm.push("tickets", frame)
    elapsed = time.perf_counter() - t0
    after = server.stats
    again = crm.push("tickets", frame)
    crm.close()
    return {
        "seconds": elapsed,
        "updated": report.updated,
        "write_calls": report.batches,
        "requests": after["requests"] - before["requests"],
        "server_429": after["429"] - before["429"],
        "client_429": crm.stats["429"],
        "failed": report.counts["failed"],
        "repush_sent": again.sent,
    }


def naive_push(server: DemoCRM, n: int) -> dict[str, float]:
    with httpx.Client(base_url=server.url, headers=HEADERS, timeout=30.0) as c:
        ids = [o["id"] for o in c.get("/crm/v3/objects/tickets", params={"limit": 100}).json()["results"]]
        after = str(int(ids[-1]) + 1)
        while len(ids) < n:
            body = c.get("/crm/v3/objects/tickets", params={"limit": 100, "after": after}).json()
            ids += [o["id"] for o in body["results"]]
            after = body["paging"]["next"]["after"]
        c.post(
            "/crm/v3/properties/tickets",
            json={
                "name": "ai_sentiment",
                "label": "AI sentiment",
                "type": "string",
                "fieldType": "text",
                "groupName": "ticketinformation",
            },
        ).raise_for_status()
        t0 = time.perf_counter()
        requests = limited = 0
        for i in ids[:n]:
            while True:
                requests += 1
                r = c.patch(f"/crm/v3/objects/tickets/{i}", json={"properties": {"ai_sentiment": "neutral"}})
                if r.status_code != 429:
                    r.raise_for_status()
                    break
                limited += 1
                time.sleep(float(r.headers.get("retry-after", "1")))
        return {"seconds": time.perf_counter() - t0, "requests": requests, "server_429": limited}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="skip the rate-limited naive push baseline")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    print("== fetch: 640 tickets (+ contacts associations) and 220 contacts")
    with DemoCRM(token=TOKEN) as server:  # HubSpot's default limits: 100 / 10 s, search 5 / s
        runs = [aikit_fetch(server.url) for _ in range(args.repeat)]
        server_429 = server.stats["429"]
    times = [r[0] for r in runs]
    print(
        f"aikit.HubSpot.fetch   best {min(times):.3f} s  median {statistics.median(times):.3f} s  "
        f"rows {runs[0][1]} tickets + {runs[0][2]} contacts  429s {server_429}  target < 2 s: "
        f"{'PASS' if max(times) < 2.0 else 'FAIL'}"
    )
    with DemoCRM(token=TOKEN, rate_limit=None, search_per_second=None) as server:
        naive_s, naive_rows = naive_fetch(server.url)
    print(
        f"naive httpx per-record GET (no rate limit)  {naive_s:.3f} s for {naive_rows} rows "
        f"({naive_rows + 9} requests)"
    )
    print(f"ratio naive / aikit (median): {naive_s / statistics.median(times):.1f}x")
    print(
        f"  under the real 100/10 s limit the naive loop's {naive_rows + 9} requests need >= "
        f"{(naive_rows + 9 - 100) / 10:.0f} s"
    )

    print("\n== push: 600 ticket updates, limit 100 requests / 10 s")
    with DemoCRM(token=TOKEN) as server:
        pushed = aikit_push(server, 600)
    print(
        f"aikit.HubSpot.push    {pushed['seconds']:.3f} s  updated {pushed['updated']:.0f}  write calls "
        f"{pushed['write_calls']:.0f}  requests {pushed['requests']:.0f} (reads+writes)  429s server/client "
        f"{pushed['server_429']:.0f}/{pushed['client_429']:.0f}  failed {pushed['failed']:.0f}  "
        f"idempotent re-push sent {pushed['repush_sent']:.0f}"
    )
    ok = pushed["write_calls"] == 6 and pushed["server_429"] == 0 and pushed["updated"] == 600
    print(f"target 6 batch calls, zero 429s: {'PASS' if ok else 'FAIL'}")
    if args.quick:
        print("naive per-record PATCH baseline skipped (--quick); its lower bound is (600 - 100) / 10 = 50 s")
        return 0 if ok else 1
    with DemoCRM(token=TOKEN) as server:
        naive = naive_push(server, 600)
    print(
        f"naive httpx per-record PATCH  {naive['seconds']:.1f} s  requests {naive['requests']:.0f}  "
        f"429s {naive['server_429']:.0f}"
    )
    print(
        f"ratio naive / aikit: {naive['seconds'] / pushed['seconds']:.0f}x time, "
        f"{naive['requests'] / pushed['requests']:.0f}x requests"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

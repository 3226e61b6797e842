"""Benchmark: the CRM connector against the demo CRM (HubSpot CRM v3 subset) on 127.0.0.1.

Targets (issue 5): fetch 600 tickets + 200 contacts in under 2 s; push 600 updates as 6 batch calls
with zero 429s under the default limit of 100 requests per 10 s.

Targets (issue 18, ``sync_*`` functions): ``crm.sync`` of 25,000 tickets with a 10,000 search cap
(``--sync-n 2500 --sync-cap 1000`` for the small variant): 0 missing, 0 duplicated, zero 429s at the
search API's 5 requests/s, and an incremental re-run after 1% of the records change fetching only
those (fetched / changed <= 1.05). Baselines in the same run: one search paged by offset (what the
connectors in the issue do: it stops at the cap) and a full re-fetch of the list API for the
incremental run (dlt's HubSpot source).

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
from aikit.local.crm.bulk import add_tickets

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


def sync_naive_offset_search(url: str, cap: int) -> tuple[int, int]:
    """One search for everything, paged by offset until the API stops: (records reached, requests)."""
    ids: set[str] = set()
    requests = 0
    with httpx.Client(base_url=url, headers=HEADERS, timeout=60.0) as c:
        after = 0
        while True:
            t0 = time.perf_counter()
            body = {"filterGroups": [{"filters": [{"propertyName": "hs_lastmodifieddate", "operator": "GTE",
                                                   "value": "0"}]}],
                    "sorts": [{"propertyName": "hs_object_id", "direction": "ASCENDING"}],
                    "limit": 200, "after": str(after), "properties": ["subject"]}  # fmt: skip
            resp = c.post("/crm/v3/objects/tickets/search", json=body)
            requests += 1
            if resp.status_code == 429:  # a careful client: wait and ask again
                time.sleep(float(resp.headers.get("retry-after", "1")))
                continue
            if resp.status_code != 200:  # 400 past the cap
                break
            data = resp.json()
            ids |= {r["id"] for r in data["results"]}
            nxt = ((data.get("paging") or {}).get("next") or {}).get("after")
            if not nxt:
                break
            after = int(nxt)
            time.sleep(max(0.0, 0.2 - (time.perf_counter() - t0)))  # 5 per second, as the API allows
    return len(ids), requests


def sync_bench(n: int, cap: int) -> dict[str, float]:
    """aikit sync of ``n`` tickets past a ``cap`` search cap, then an incremental run after 1% change."""
    with DemoCRM(token=TOKEN, seed=None, search_cap=cap) as server:  # 100 / 10 s, search 5 / s
        t0 = time.perf_counter()
        add_tickets(server.store, n, same_ms=cap // 4)  # two years of changes plus one import burst
        setup_s = time.perf_counter() - t0
        truth = {str(r.id) for r in server.store.scan("tickets")}
        crm = aikit.HubSpot(token=TOKEN, base_url=server.url, search_cap=cap)
        before = server.stats
        t0 = time.perf_counter()
        frame, full = crm.sync("tickets", ["subject", "hs_ticket_priority"])
        full_s = time.perf_counter() - t0
        after_full = server.stats
        got = list(frame["id"])
        changed = sorted(truth)[:: max(1, n // (n // 100))][: n // 100]  # 1% of the records
        priorities = ["LOW", "MEDIUM", "HIGH", "URGENT"]
        current = frame.set_index("id")["hs_ticket_priority"].astype(str)
        update = pd.DataFrame(
            {
                "id": changed,
                "hs_ticket_priority": [priorities[(priorities.index(current[i]) + 1) % 4] for i in changed],
            }
        )
        pushed = crm.push("tickets", update)
        t0 = time.perf_counter()
        changes, incremental = crm.sync("tickets")
        incremental_s = time.perf_counter() - t0
        naive_reached, naive_requests = sync_naive_offset_search(server.url, cap)
        t0 = time.perf_counter()
        refetched = len(crm.fetch("tickets", ["subject", "hs_ticket_priority"], typed=False))
        refetch_s = time.perf_counter() - t0
        after_all = server.stats
        crm.close()
    return {
        "n": n,
        "cap": cap,
        "setup_s": setup_s,
        "full_s": full_s,
        "missing": len(truth - set(got)),
        "duplicated": len(got) - len(set(got)),
        "full_requests": full.requests,
        "full_slices": full.slices,
        "full_splits": full.splits,
        "full_probed": full.probed,
        "search_429": after_full["429"] - before["429"],
        "search_per_s": full.requests / full_s,
        "changed": len(changed),
        "updated": pushed.updated,
        "incremental_fetched": incremental.fetched,
        "incremental_delivered": incremental.delivered,
        "incremental_requests": incremental.requests,
        "incremental_s": incremental_s,
        "incremental_exact": float(sorted(changes["id"]) == sorted(changed)),
        "naive_reached": naive_reached,
        "naive_requests": naive_requests,
        "refetched": refetched,
        "refetch_s": refetch_s,
        "all_429": after_all["429"],
    }


def sync_print(r: dict[str, float]) -> bool:
    """Print the sync rows and return whether every target is met."""
    n, cap = int(r["n"]), int(r["cap"])
    print(f"\n== sync: {n:,} tickets, search cap {cap:,}, search limit 5/s (setup {r['setup_s']:.1f} s)")
    print(
        f"aikit.HubSpot.sync (full)   {r['full_s']:.1f} s  missing {r['missing']:.0f}  "
        f"duplicated {r['duplicated']:.0f}  search requests {r['full_requests']:.0f} "
        f"(average {r['search_per_s']:.2f}/s)  slices {r['full_slices']:.0f}  splits {r['full_splits']:.0f}  "
        f"probe records {r['full_probed']:.0f}  search 429s {r['search_429']:.0f} "
        f"(the server refuses a 6th search within any rolling second)"
    )
    print(
        f"naive offset search (same run)  reached {r['naive_reached']:,.0f} of {n:,} in "
        f"{r['naive_requests']:.0f} requests: {n - r['naive_reached']:,.0f} missing, no error"
    )
    ratio = r["incremental_fetched"] / max(1.0, r["changed"])
    print(
        f"incremental after {r['changed']:.0f} changes (1%)  fetched {r['incremental_fetched']:.0f}  "
        f"delivered {r['incremental_delivered']:.0f}  exactly the changed ids: "
        f"{bool(r['incremental_exact'])}  {r['incremental_requests']:.0f} search requests  "
        f"{r['incremental_s']:.2f} s  fetched/changed {ratio:.2f}"
    )
    print(
        f"naive full re-fetch (list API, same run)  fetched {r['refetched']:,.0f} in {r['refetch_s']:.1f} s: "
        f"fetched/changed {r['refetched'] / max(1.0, r['changed']):.0f}  "
        f"(ratio naive / aikit {r['refetched'] / max(1.0, r['incremental_fetched']):.0f}x records, "
        f"{r['refetch_s'] / max(1e-9, r['incremental_s']):.0f}x time)"
    )
    ok = r["missing"] == 0 and r["duplicated"] == 0 and r["search_429"] == 0 and ratio <= 1.05
    ok = ok and bool(r["incremental_exact"])
    print(
        f"targets 0 missing, 0 duplicated, 0 search 429s, fetched/changed <= 1.05: {'PASS' if ok else 'FAIL'}"
    )
    return ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="skip the rate-limited naive push baseline")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--sync-n", type=int, default=25_000, help="tickets for the sync rows (0 skips them)")
    parser.add_argument("--sync-cap", type=int, default=10_000, help="search cap of the sync rows")
    parser.add_argument("--sync-only", action="store_true", help="run only the sync rows")
    args = parser.parse_args()
    if args.sync_only:
        return 0 if sync_print(sync_bench(args.sync_n, args.sync_cap)) else 1

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
    if args.sync_n:
        ok = sync_print(sync_bench(args.sync_n, args.sync_cap)) and ok
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


def _sf_session(org: object) -> object:
    import requests

    session = requests.Session()
    session.verify = str(org.ca_file)  # type: ignore[attr-defined]
    session.trust_env = False  # REQUESTS_CA_BUNDLE would otherwise replace the demo CA
    return session


def salesforce_fetch_rows(n_cases: int = 5000) -> dict[str, float]:
    """Fetch every Case: aikit over REST pages and over Bulk API 2.0, against a per-record loop."""
    from simple_salesforce import Salesforce as SimpleSalesforce

    from aikit.local.salesforce import DemoSalesforce

    soql = (
        "SELECT Id, CaseNumber, Subject, Description, Status, Priority, CreatedDate, Account.Name FROM Case"
    )
    out: dict[str, float] = {}
    with DemoSalesforce(cases=n_cases, api_budget=None) as org:
        for mode, bulk in (("rest", False), ("bulk", True)):
            sf = aikit.Salesforce(instance_url=org.url, auth=org.token, ca_file=org.ca_file)
            sf.describe("Case")
            sf.describe("Account")  # describes cached: time the data, not the metadata
            before = org.stats.get("requests", 0)
            t0 = time.perf_counter()
            frame = sf.fetch(soql, bulk=bulk)
            out[f"{mode}_s"] = time.perf_counter() - t0
            out[f"{mode}_rows"] = len(frame)
            out[f"{mode}_requests"] = org.stats.get("requests", 0) - before
            sf.close()
        sf_simple = SimpleSalesforce(instance_url=org.url, session_id=org.token, session=_sf_session(org))
        t0 = time.perf_counter()
        ids = [r["Id"] for r in sf_simple.query_all_iter("SELECT Id FROM Case")]
        rows = [sf_simple.Case.get(i) for i in ids]
        out["naive_s"] = time.perf_counter() - t0
        out["naive_rows"] = len(rows)
        out["naive_requests"] = len(ids) + -(-len(ids) // 2000)
    return out


def salesforce_push_rows(n_updates: int = 2000) -> dict[str, float]:
    """Push one AI field to ``n_updates`` Cases: aikit's collections against a per-record update loop."""
    from simple_salesforce import Salesforce as SimpleSalesforce

    from aikit.local.salesforce import DemoSalesforce

    labels = ["Negative", "Neutral", "Positive"]
    out: dict[str, float] = {}
    with DemoSalesforce(cases=5000, api_budget=None) as org:
        sf = aikit.Salesforce(instance_url=org.url, auth=org.token, ca_file=org.ca_file)
        ids = sf.fetch("SELECT Id FROM Case ORDER BY CaseNumber", typed=False)["Id"].head(n_updates)
        frame = pd.DataFrame({"Id": ids, "AI_Sentiment__c": [labels[i % 3] for i in range(len(ids))]})
        before = org.stats.get("requests", 0)
        t0 = time.perf_counter()
        report = sf.push("Case", frame)
        out["seconds"] = time.perf_counter() - t0
        out["requests"] = org.stats.get("requests", 0) - before
        out["collection_calls"] = report.batches
        out["updated"] = report.updated
        out["failed"] = len(report.failed_ids)
        out["repush_sent"] = sf.push("Case", frame).sent
        sf.close()
        sf_simple = SimpleSalesforce(instance_url=org.url, session_id=org.token, session=_sf_session(org))
        t0 = time.perf_counter()
        for i, rid in enumerate(ids):
            sf_simple.Case.update(rid, {"AI_Summary__c": f"summary {i}"})
        out["naive_s"] = time.perf_counter() - t0
        out["naive_requests"] = len(ids)
    return out


def salesforce_main() -> int:
    print("\n== Salesforce (demo org over HTTPS): fetch 5,000 Cases")
    f = salesforce_fetch_rows()
    for mode, label in (("rest", "REST pages     "), ("bulk", "Bulk API 2.0   ")):
        print(
            f"aikit.Salesforce.fetch {label} {f[mode + '_s']:.3f} s  rows {f[mode + '_rows']:.0f}  "
            f"requests {f[mode + '_requests']:.0f}"
        )
    print(
        f"simple-salesforce per-record loop     {f['naive_s']:.3f} s  rows {f['naive_rows']:.0f}  "
        f"requests {f['naive_requests']:.0f}"
    )
    print(
        f"ratio per-record / REST: {f['naive_s'] / f['rest_s']:.0f}x   "
        f"per-record / Bulk: {f['naive_s'] / f['bulk_s']:.0f}x"
    )
    print("\n== Salesforce: push 2,000 Case updates")
    p = salesforce_push_rows()
    print(
        f"aikit.Salesforce.push  {p['seconds']:.3f} s  updated {p['updated']:.0f}  collection calls "
        f"{p['collection_calls']:.0f}  requests {p['requests']:.0f} (describe + read + writes)  failed "
        f"{p['failed']:.0f}  idempotent re-push sent {p['repush_sent']:.0f}"
    )
    print(
        f"simple-salesforce per-record update loop  {p['naive_s']:.3f} s  requests {p['naive_requests']:.0f}"
    )
    print(
        f"ratio per-record / aikit: {p['naive_s'] / p['seconds']:.0f}x time, "
        f"{p['naive_requests'] / p['requests']:.0f}x requests"
    )
    ok = p["collection_calls"] <= 10 and p["updated"] == 2000 and f["rest_rows"] == f["bulk_rows"] == 5000
    print(f"target: 5,000 rows both ways, push in <= 10 collection calls: {'PASS' if ok else 'FAIL'}")
    return 0 if ok else 1


if __name__ == "__main__":
    if "--salesforce" in sys.argv:  # only the Salesforce rows
        sys.exit(salesforce_main())
    sys.exit(main() or salesforce_main())

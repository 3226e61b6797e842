"""``aikit serve salesforce``: run the demo Salesforce org in the foreground on https://127.0.0.1.

    aikit serve salesforce --port 8443 --db org.sqlite --seed 0

It prints the instance URL, the CA file clients must trust, the connected app's consumer key and a
session id, then serves until Ctrl-C. For example, with simple-salesforce::

    session = requests.Session(); session.verify = "<the CA file>"
    sf = simple_salesforce.Salesforce(instance_url="https://127.0.0.1:8443", session_id="<session id>",
                                      session=session)
"""

from __future__ import annotations

import argparse

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--port", type=int, default=8443, help="TCP port on 127.0.0.1 (default 8443; 0 = any)"
    )
    parser.add_argument("--db", default=None, help="SQLite file to keep the org in (default: in memory)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the demo dataset (default 0)")
    parser.add_argument("--empty", action="store_true", help="start without the demo dataset")
    parser.add_argument("--cases", type=int, default=None, help="how many Cases to seed (default 640)")
    parser.add_argument(
        "--api-budget", type=int, default=15000, help="API requests per budget window (0 = unlimited)"
    )
    parser.add_argument(
        "--budget-window", type=float, default=86400.0, help="the budget's rolling window in seconds (24 h)"
    )
    parser.add_argument(
        "--session-ttl", type=float, default=7200.0, help="session lifetime in seconds (default 2 h)"
    )


def run(args: argparse.Namespace) -> int:
    from aikit.local.salesforce.server import DemoSalesforce

    org = DemoSalesforce(
        args.db,
        seed=None if args.empty else args.seed,
        cases=args.cases,
        port=args.port,
        api_budget=args.api_budget or None,
        budget_window_s=args.budget_window,
        session_ttl_s=args.session_ttl,
    )

    def announce(server: DemoSalesforce) -> None:
        print(f"aikit demo Salesforce org on {server.url} (Ctrl-C stops)", flush=True)
        print(f"  CA file (trust it in clients): {server.ca_file}", flush=True)
        print(f"  consumer key: {server.consumer_key}", flush=True)
        print(f"  session id (valid {args.session_ttl:.0f} s): {server.token}", flush=True)

    org.serve_forever(announce)
    return 0

"""``aikit serve crm``: run the demo CRM (HubSpot CRM v3 subset) in the foreground on 127.0.0.1.

    aikit serve crm --port 8765 --token demo-token --db crm.sqlite --seed 0

Then point any HubSpot client at it, for example
``aikit.HubSpot(token="demo-token", base_url="http://127.0.0.1:8765")``.
"""

from __future__ import annotations

import argparse
import os

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--port", type=int, default=8765, help="TCP port on 127.0.0.1 (default 8765; 0 = any)"
    )
    parser.add_argument(
        "--token",
        default=os.environ.get("AIKIT_DEMO_CRM_TOKEN"),
        help="Bearer token clients must send (default $AIKIT_DEMO_CRM_TOKEN, else a random one, printed)",
    )
    parser.add_argument("--db", default=None, help="SQLite file to keep the data in (default: in memory)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the demo dataset (default 0)")
    parser.add_argument("--empty", action="store_true", help="start without the demo dataset")
    parser.add_argument("--rate-limit", type=int, default=100, help="requests per window per token (0 = off)")
    parser.add_argument(
        "--window", type=float, default=10.0, help="rate-limit window in seconds (default 10)"
    )


def run(args: argparse.Namespace) -> int:
    from aikit.local.crm.server import DemoCRM

    server = DemoCRM(
        token=args.token,
        db=args.db,
        seed=None if args.empty else args.seed,
        port=args.port,
        rate_limit=args.rate_limit or None,
        window_s=args.window,
    )
    token_note = "the token you passed" if args.token else f"token {server.token}"

    def announce(url: str) -> None:
        print(f"aikit demo CRM (HubSpot CRM v3 subset) on {url} with {token_note}; Ctrl-C stops", flush=True)

    server.serve_forever(announce)
    return 0

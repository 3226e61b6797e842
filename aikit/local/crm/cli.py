"""``aikit serve crm``: run the demo CRM (HubSpot CRM v3 subset) in the foreground on 127.0.0.1.

    AIKIT_DEMO_CRM_TOKEN=demo-token aikit serve crm --port 8765 --db crm.sqlite --seed 0

Then point any HubSpot client at it, for example
``aikit.HubSpot(token="demo-token", base_url="http://127.0.0.1:8765")``. The token clients must send
comes from ``$AIKIT_DEMO_CRM_TOKEN``, ``--token-env VAR`` or ``--token-file PATH`` (never from the
command line, where ``ps`` shows it); without one a random token is made and printed. The URL is
printed once the server accepts connections.
"""

from __future__ import annotations

import argparse
import sys

from aikit._serving import add_secret_arguments

__all__ = ["TOKEN_VARIABLE", "add_arguments", "run"]

#: The environment variable the demo CRM's token is read from when no flag names another.
TOKEN_VARIABLE = "AIKIT_DEMO_CRM_TOKEN"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--port", type=int, default=8765, help="TCP port on 127.0.0.1 (default 8765; 0 = any)"
    )
    add_secret_arguments(
        parser,
        "--token",
        f"the Bearer token clients must send (default ${TOKEN_VARIABLE}, else a random one)",
    )
    parser.add_argument("--db", default=None, help="SQLite file to keep the data in (default: in memory)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the demo dataset (default 0)")
    parser.add_argument("--empty", action="store_true", help="start without the demo dataset")
    parser.add_argument("--rate-limit", type=int, default=100, help="requests per window per token (0 = off)")
    parser.add_argument(
        "--window", type=float, default=10.0, help="rate-limit window in seconds (default 10)"
    )


def run(args: argparse.Namespace) -> int:
    import os

    from aikit._serving import secret_argument
    from aikit.exceptions import AIKitError
    from aikit.local.crm.server import DemoCRM

    try:
        token = secret_argument(args, "--token") or os.environ.get(TOKEN_VARIABLE) or None
        server = DemoCRM(
            token=token,
            db=args.db,
            seed=None if args.empty else args.seed,
            port=args.port,
            rate_limit=args.rate_limit or None,
            window_s=args.window,
        )
    except AIKitError as exc:
        print(f"aikit serve crm: {exc}", file=sys.stderr)
        return 2
    token_note = "the token you gave" if token else f"the new token {server.token}"

    def announce(url: str) -> None:
        print(f"aikit demo CRM (HubSpot CRM v3 subset) on {url} with {token_note}; Ctrl-C stops", flush=True)

    try:
        server.serve_forever(announce)
    except AIKitError as exc:  # the port is taken, the server did not start
        print(f"aikit serve crm: {exc}", file=sys.stderr)
        return 2
    return 0

"""``aikit serve oauth``: run the local OAuth 2.0 authorization server in the foreground.

>>> import argparse
>>> parser = argparse.ArgumentParser()
>>> add_arguments(parser)
>>> parser.parse_args(["--port", "8788"]).port
8788
"""

from __future__ import annotations

import argparse

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--port", type=int, default=8788, help="port on 127.0.0.1 (0 = any free port)")
    parser.add_argument("--access-token-ttl", type=int, default=3600, help="access token lifetime, seconds")
    parser.add_argument(
        "--device-interval", type=float, default=1.0, help="device-code polling interval, seconds"
    )
    parser.add_argument(
        "--auto-approve", action="store_true", help="grant authorization requests without a consent page"
    )


def run(args: argparse.Namespace) -> int:
    """Start the server, print its endpoints and demo clients, serve until Ctrl+C."""
    from aikit._serving import wait_until_interrupted
    from aikit.local.oauth.server import OAuthServer

    server = OAuthServer(
        args.port,
        access_token_ttl=args.access_token_ttl,
        device_interval=args.device_interval,
        auto_approve=args.auto_approve,
    ).start()
    print(f"aikit demo OAuth server on {server.url} (loopback only, demo credentials)")
    print(f"  metadata: {server.url}/.well-known/oauth-authorization-server")
    for client in server.store.clients():
        kind = "public" if client.is_public else f"confidential, demo secret {client.client_secret}"
        print(f"  client {client.client_id} ({kind}): {', '.join(client.grant_types)}")
    login = server.demo_login
    print(f"  demo user: {login['username']}, password {login['password']} (device approvals)")
    print(f"  approve a device code: open {server.url}/device   (Ctrl+C stops)", flush=True)
    try:
        wait_until_interrupted(lambda: server.running)
    finally:
        server.stop()
    return 0

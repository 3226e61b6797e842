"""``aikit listen``: run the webhook listener standalone, e.g. on a server next to scheduled reports.

    aikit listen --port 8787 --store /var/lib/aikit/webhooks.sqlite \\
        --source stripe:stripe:STRIPE_WEBHOOK_SECRET \\
        --source crm:hubspot:HUBSPOT_CLIENT_SECRET --public-url crm=https://hooks.example.com/hooks/crm

Secrets are read from the named environment variables, or from files (``NAME:SCHEME:@/run/secrets/hs``,
the first line of the file), never from the command line (which other users can see in ``ps``).
``NAME:SCHEME:VAR1,VAR2`` gives several secrets for a rotation. The process
prints one ``listening`` line per source, then runs until SIGINT or SIGTERM and stops cleanly. With
``AIKIT_LISTEN_STATS=1`` it prints the writer's group-commit statistics to stderr when it stops.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
import time
from typing import Any

from aikit.exceptions import ConfigError, MissingCredentialError

__all__ = ["add_arguments", "parse_source", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare the ``aikit listen`` options."""
    from aikit.webhooks.config import SCHEMES

    parser.description = (
        "Run the webhook listener: every request is verified on its raw bytes, stored durably in "
        "SQLite and acknowledged; duplicates are stored and handled once. It prints one line per "
        "source, then a status line every minute in which events arrived, until Ctrl-C or SIGTERM."
    )
    parser.epilog = (
        f"Schemes: {', '.join(SCHEMES)}. Example: aikit listen --source "
        "crm:hubspot:HUBSPOT_CLIENT_SECRET --public-url crm=https://hooks.example.com/hooks/crm "
        "(the secret is read from the named environment variable, never from the command line)."
    )
    parser.add_argument("--port", type=int, default=8787, help="TCP port (default 8787; 0 = any free port)")
    parser.add_argument("--host", default="127.0.0.1", help="bind address (default 127.0.0.1)")
    parser.add_argument(
        "--source",
        action="append",
        default=[],
        metavar="NAME:SCHEME:SECRET_ENV_VAR",
        help="a source (repeatable); SCHEME is one of: "
        + ", ".join(SCHEMES)
        + "; the secret is read from the environment variable, or from a file written @PATH "
        "(VAR1,VAR2 for a rotation)",
    )
    parser.add_argument(
        "--public-url", action="append", default=[], metavar="NAME=URL", help="public URL of a source"
    )
    parser.add_argument(
        "--rate-limit", action="append", default=[], metavar="NAME=PER_SECOND", help="per-source limit"
    )
    parser.add_argument("--max-body", type=int, default=1024 * 1024, help="largest body in bytes")
    parser.add_argument("--store", default=None, help="SQLite file (None: $AIKIT_HOME/webhooks.sqlite)")


def parse_source(spec: str, environ: dict[str, str] | None = None) -> tuple[str, str, list[str]]:
    """``NAME:SCHEME:VAR[,VAR]`` -> (name, scheme, secrets read from the environment, or ``@file``).

    >>> parse_source("gh:github:GH_SECRET", {"GH_SECRET": "s"})
    ('gh', 'github', ['s'])
    """
    env = os.environ if environ is None else environ
    parts = spec.split(":", 2)
    if len(parts) != 3 or not all(parts):
        raise ConfigError(f"--source {spec!r}: expected NAME:SCHEME:SECRET_ENV_VAR (or NAME:SCHEME:@FILE)")
    name, scheme, variables = parts
    secrets = []
    for var in variables.split(","):
        if var.startswith("@"):
            secrets.append(_secret_file(name, var[1:]))
            continue
        value = env.get(var)
        if not value:
            raise MissingCredentialError(
                f"--source {name}: the environment variable {var} is not set; "
                "export it with the signing secret",
                variable=var,
            )
        secrets.append(value)
    return name, scheme, secrets


def _secret_file(name: str, path: str) -> str:
    from pathlib import Path

    try:
        lines = Path(path).expanduser().read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(
            f"--source {name}: cannot read the secret file {path} ({type(exc).__name__})"
        ) from exc
    if not lines or not lines[0].strip():
        raise ConfigError(f"--source {name}: the secret file {path} is empty")
    return lines[0].strip()


def _pairs(values: list[str], flag: str) -> dict[str, str]:
    out = {}
    for item in values:
        name, sep, value = item.partition("=")
        if not sep or not name or not value:
            raise ConfigError(f"{flag} {item!r}: expected NAME=VALUE")
        out[name] = value
    return out


#: Seconds between the status lines of a listener that is receiving events.
STATUS_EVERY_S = 60.0


def _received(listener: Any) -> int:
    try:
        return sum(int(sum(c.values())) for c in listener.stats()["sources"].values())
    except Exception:  # a status line must never stop the listener
        return 0


def _status_line(listener: Any) -> str:
    stats = listener.stats()
    per_source = "; ".join(
        f"{name}: " + ", ".join(f"{v} {k}" for k, v in sorted(counts.items()))
        for name, counts in stats["sources"].items()
    )
    rejected = sum(stats["rejected"].values())
    return f"status {per_source or 'no events'}; {rejected} rejected before storage"


def run(args: Any) -> int:
    """Start the listener, print where it listens, serve until SIGINT/SIGTERM."""
    from aikit.webhooks.listener import WebhookListener

    if not args.source:
        print("aikit listen: give at least one --source NAME:SCHEME:SECRET_ENV_VAR", file=sys.stderr)
        return 2
    try:
        urls = _pairs(args.public_url, "--public-url")
        limits = {k: float(v) for k, v in _pairs(args.rate_limit, "--rate-limit").items()}
        listener = WebhookListener(port=args.port, store=args.store, host=args.host)
        for spec in args.source:
            name, scheme, secrets = parse_source(spec)
            listener.add_source(
                name,
                scheme,
                secrets=secrets,
                public_url=urls.get(name),
                max_body=args.max_body,
                rate_limit=limits.get(name),
            )
        listener.start()
    except (ConfigError, ValueError) as exc:
        print(f"aikit listen: {exc}", file=sys.stderr)
        return 2
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    print(f"store {listener.store.path}", flush=True)
    for name in listener.sources:
        print(f"listening {name} {listener.url_for(name)}", flush=True)
    last_report, last_seen = time.monotonic(), _received(listener)
    try:
        while not stop.wait(0.5):
            if time.monotonic() - last_report >= STATUS_EVERY_S:
                last_report = time.monotonic()
                seen = _received(listener)
                if seen != last_seen:  # a quiet listener stays quiet; a busy one says how it is doing
                    last_seen = seen
                    print(_status_line(listener), flush=True)
    finally:
        listener.stop()
        store = listener.store
        if os.environ.get("AIKIT_LISTEN_STATS"):
            per = store.commit_seconds * 1000 / max(1, store.commits)
            print(
                f"commits {store.commits} ops {store.batched} ms per batch (gather + commit) {per:.2f}",
                file=sys.stderr,
            )
    return 0

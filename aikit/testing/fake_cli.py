"""``aikit serve fake``: run the fake OpenAI/Anthropic provider in the foreground.

    aikit serve fake --port 8089 --rpm 3000 --latency-median 0.3 --error-rate 0.01

It prints one line, ``aikit fake provider listening on http://127.0.0.1:PORT/v1``, once it is ready,
then serves (a :class:`~aikit.testing.FakeProvider` thread) until Ctrl-C or SIGTERM, or, with
``--parent-pid``, until that parent process is gone. ``--config-stdin`` reads a JSON object of
:class:`FakeConfig` fields from stdin (how :meth:`FakeProvider.start_process` passes its config,
keeping API keys out of the command line); flags given explicitly override it. A key to require comes
from ``--api-key-env VAR`` or ``--api-key-file PATH``, never from the command line itself.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

from aikit._serving import add_secret_arguments
from aikit.testing.fake_config import FakeConfig

__all__ = ["add_arguments", "run"]

# flag -> (FakeConfig field, type, help)
_FLAGS: dict[str, tuple[str, Any, str]] = {
    "--rpm": ("rpm", float, "requests per minute (token bucket; default unlimited)"),
    "--tpm": ("tpm", float, "tokens per minute (token bucket; default unlimited)"),
    "--burst-s": ("burst_s", float, "bucket depth in seconds of rate (default 1)"),
    "--latency-median": ("latency_median_s", float, "median latency in seconds (lognormal; default 0)"),
    "--latency-sigma": ("latency_sigma", float, "lognormal shape (default 0.5)"),
    "--seed": ("seed", int, "seed of latency and fault draws (default 0)"),
    "--error-rate": ("error_rate", float, "share of requests answered 5xx"),
    "--slow-rate": ("slow_rate", float, "share of requests delayed by --slow-s"),
    "--slow-s": ("slow_s", float, "extra delay of slow requests (default 5)"),
    "--hang-rate": ("hang_rate", float, "share of requests never answered"),
    "--retry-after": ("retry_after", str, "429 hints: both|seconds|ms|none (default both)"),
    "--reply": ("reply", str, "hash (default) or echo"),
    "--reply-words": ("reply_words", int, "filler words appended to replies"),
    "--stream-delay": ("stream_delay_s", float, "pause between streamed chunks in seconds"),
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags of ``aikit serve fake``."""
    parser.add_argument("--host", default="127.0.0.1", help="a loopback address (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8089, help="port (default 8089; 0 picks a free one)")
    for flag, (field, kind, help_text) in _FLAGS.items():
        metavar = flag[2:].upper().replace("-", "_")
        parser.add_argument(
            flag, dest=f"fake_{field}", type=kind, default=None, metavar=metavar, help=help_text
        )
    add_secret_arguments(parser, "--api-key", "the API key to require")
    parser.add_argument(
        "--config-stdin", action="store_true", help="read FakeConfig fields as JSON from stdin"
    )
    parser.add_argument("--parent-pid", type=int, metavar="PID", help="stop when this parent process is gone")


def config_from_args(args: argparse.Namespace) -> FakeConfig:
    """The :class:`FakeConfig` described by parsed arguments (and stdin with ``--config-stdin``)."""
    from aikit._serving import secret_argument

    data: dict[str, Any] = {}
    if args.config_stdin:
        data.update(json.loads(sys.stdin.read() or "{}"))
    for field, _, _ in _FLAGS.values():
        value = getattr(args, f"fake_{field}")
        if value is not None:
            data[field] = value
    key = secret_argument(args, "--api-key")
    if key:
        data["api_key"] = key
    return FakeConfig.from_mapping(data)


def run(args: argparse.Namespace) -> int:
    """Serve until Ctrl-C, SIGTERM or (with ``--parent-pid``) the parent's exit; exit code 0."""
    from aikit._serving import wait_until_interrupted
    from aikit.exceptions import AIKitError
    from aikit.testing.fake_provider import _READY_PREFIX, FakeProvider

    try:
        fake = FakeProvider(config_from_args(args), host=args.host, port=args.port).start()
    except AIKitError as exc:
        print(f"aikit serve fake: {exc}", file=sys.stderr)
        return 2
    print(f"{_READY_PREFIX}{fake.base_url}", flush=True)  # start() returned: it accepts connections
    parent = args.parent_pid

    def alive() -> bool:
        return fake.running and (not parent or os.getppid() == parent)

    try:
        wait_until_interrupted(alive)
    finally:
        fake.stop()
    return 0


def main(argv: list[str] | None = None) -> int:
    """``python -m aikit.testing.fake_cli``: the same as ``aikit serve fake`` without the other commands."""
    parser = argparse.ArgumentParser(prog="aikit serve fake", description=__doc__.splitlines()[0])
    add_arguments(parser)
    try:
        return run(parser.parse_args(argv))
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

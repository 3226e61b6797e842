"""The ``aikit`` command line: a thin argparse front over the library.

Each command lives with the code it drives; this module only maps names to ``module:prefix`` where the
module provides ``add_arguments(parser)`` and ``run(args) -> int``. Modules are imported only when
their command is built, so ``aikit --help`` stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

__all__ = ["main"]

# command path -> (module, one-line help). "serve x" nests under "serve".
#: The one-line help of a command group ("serve ai|crm|fake|oauth").
GROUPS: dict[str, str] = {
    "serve": "run a local service on 127.0.0.1: the offline LLM (ai), the demo CRM (crm), a fake AI "
    "provider (fake) or an OAuth server (oauth)",
}
COMMANDS: dict[str, tuple[str, str]] = {
    "demo": ("aikit.demo", "fetch CRM tickets, analyse them with AI, push back, write a report (offline)"),
    "listen": ("aikit.webhooks.cli", "run the webhook listener: verify, store durably, acknowledge"),
    "models": ("aikit.local.llm.models_cli", "list or pull the offline LLM's model files"),
    "report": ("aikit.report.cli", "run a report notebook headless and write its HTML report"),
    "serve ai": ("aikit.local.llm.cli", "serve the offline LLM as an OpenAI-compatible endpoint"),
    "serve crm": ("aikit.local.crm.cli", "run the demo CRM (HubSpot CRM v3 subset) on 127.0.0.1"),
    "serve fake": ("aikit.testing.fake_cli", "run a fake OpenAI/Anthropic provider (latency, 429s, faults)"),
    "serve oauth": ("aikit.local.oauth.cli", "run the local OAuth 2.0 authorization server (demo logins)"),
    "serve salesforce": ("aikit.local.salesforce.cli", "run the demo Salesforce org (HTTPS, REST subset)"),
}


def _build() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="aikit",
        description="aikit: AI over your business apps. Each command has --help.",
        epilog="Start with `aikit demo` (offline, a few minutes): it writes reports/crm-insights-DATE.html.",
    )
    parser.add_argument("--version", action="store_true", help="print the version and exit")
    top = parser.add_subparsers(dest="command", metavar="COMMAND")
    groups: dict[str, argparse._SubParsersAction[argparse.ArgumentParser]] = {}
    for path, (module, help_text) in sorted(COMMANDS.items()):
        parts = path.split()
        subs = top
        if len(parts) == 2:
            if parts[0] not in groups:
                text = GROUPS.get(parts[0], parts[0])
                group = top.add_parser(parts[0], help=text, description=text)
                groups[parts[0]] = group.add_subparsers(dest="subcommand", metavar="WHAT", required=True)
            subs = groups[parts[0]]
        sub = subs.add_parser(parts[-1], help=help_text, description=help_text)
        sub.set_defaults(_module=module)
        importlib.import_module(module).add_arguments(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``aikit`` console script and ``python -m aikit``."""
    parser = _build()
    args = parser.parse_args(argv)
    if args.version:
        from aikit import __version__

        print(__version__)
        return 0
    module = getattr(args, "_module", None)
    if module is None:
        parser.print_help()
        return 0
    try:
        return int(importlib.import_module(module).run(args) or 0)
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

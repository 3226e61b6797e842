"""Public names that load on first access (PEP 562), written once for every package that offers them.

A package lists ``name -> defining module`` and gets its module ``__getattr__`` and ``__dir__``:

    __getattr__, __dir__ = exports(__name__, {"HubSpot": "aikit.connectors.hubspot"})

A name whose module is the package's own subpackage of that name (``"auth": "aikit.auth"``) resolves
to the subpackage itself. Importing the package therefore imports nothing else.

>>> import types, sys
>>> pkg = types.ModuleType("demo_pkg")
>>> sys.modules["demo_pkg"] = pkg
>>> pkg.__getattr__, pkg.__dir__ = exports("demo_pkg", {"dumps": "json"})
>>> pkg.dumps([1])
'[1]'
>>> "dumps" in dir(pkg)
True
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["exports"]


def exports(package: str, table: Mapping[str, str]) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """``(__getattr__, __dir__)`` for ``package`` whose names in ``table`` load on first access."""
    namespace = sys.modules[package].__dict__

    def __getattr__(name: str) -> Any:
        module = table.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        loaded = importlib.import_module(module)
        value = loaded if module == f"{package}.{name}" else getattr(loaded, name)
        namespace[name] = value
        return value

    def __dir__() -> list[str]:
        return sorted(set(namespace) | set(table))

    return __getattr__, __dir__

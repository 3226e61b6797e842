"""Register the ``df.ai`` accessor when pandas is imported, without importing pandas ourselves.

Importing pandas costs more than aikit's whole import budget, so ``import aikit`` must not do it.
If pandas is already imported, the accessor is registered at once; otherwise a tiny meta-path finder
waits for ``import pandas`` to finish and registers it then. No thread, file or socket is involved.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import importlib.util
import sys
from collections.abc import Sequence
from types import ModuleType

__all__ = ["install"]

_ACCESSOR_MODULE = "aikit._batch.accessor"


def _register() -> None:
    if importlib.util.find_spec(_ACCESSOR_MODULE) is None:  # pragma: no cover - partial installs
        return
    importlib.import_module(_ACCESSOR_MODULE)  # registers the accessors at import


class _PandasFinder(importlib.abc.MetaPathFinder):
    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname != "pandas":
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec("pandas")
        if spec is None or spec.loader is None:
            return spec
        loader = spec.loader
        original = loader.exec_module

        def exec_module(module: ModuleType) -> None:
            original(module)
            _register()

        loader.exec_module = exec_module  # type: ignore[method-assign]
        return spec


def install() -> None:
    """Register now if pandas is loaded, else once it is."""
    pandas = sys.modules.get("pandas")
    if pandas is not None and hasattr(pandas, "DataFrame"):
        _register()
    elif not any(isinstance(f, _PandasFinder) for f in sys.meta_path):
        sys.meta_path.insert(0, _PandasFinder())

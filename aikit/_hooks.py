"""Register ``df.ai`` and ``ddf.ai`` when pandas or Dask DataFrames are imported, without importing them.

Importing pandas costs more than aikit's whole import budget (and dask more still), so ``import aikit``
must not do it. For each library below, if it is already imported its accessor is registered at once;
otherwise one tiny meta-path finder waits for the library's import to finish and registers it then:

- ``pandas`` -> :mod:`aikit._batch.accessor` (``df.ai``);
- ``dask.dataframe`` -> :mod:`aikit.scale.dask` (``ddf.ai``; needs ``aikit[scale]``).

No thread, file or socket is involved, and the finder removes itself once every hook has run. A hook
that cannot be imported (a partial install) is skipped: the user's own import never fails because of it.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import logging
import sys
from collections.abc import Sequence
from types import ModuleType

__all__ = ["HOOKS", "install"]

#: library module -> the aikit module whose import registers its accessor.
HOOKS: dict[str, str] = {
    "pandas": "aikit._batch.accessor",
    "dask.dataframe": "aikit.scale.dask",
}

logger = logging.getLogger(__name__)


def _register(library: str) -> None:
    try:
        importlib.import_module(HOOKS[library])  # registers the accessor at import
    except ImportError as exc:  # pragma: no cover - partial installs (no aikit[scale] extra, say)
        logger.debug("no .ai accessor for %s: %s", library, exc)


class _AccessorFinder(importlib.abc.MetaPathFinder):
    """Finds nothing itself: wraps the real loader of a hooked library so its accessor follows it."""

    def __init__(self, libraries: Sequence[str]) -> None:
        self.waiting = set(libraries)

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname not in self.waiting:
            return None
        self.waiting.discard(fullname)
        if not self.waiting:
            sys.meta_path.remove(self)
        spec = None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(fullname, path, target)
            if spec is not None:
                break
        if spec is None or spec.loader is None:
            return spec
        loader = spec.loader
        original = loader.exec_module

        def exec_module(module: ModuleType) -> None:
            original(module)
            _register(fullname)

        loader.exec_module = exec_module  # type: ignore[method-assign]
        return spec


def install() -> None:
    """Register the accessors of the libraries already imported, and wait for the others."""
    waiting = []
    for library in HOOKS:
        module = sys.modules.get(library)
        if module is not None and hasattr(module, "DataFrame"):  # imported (not half-way through)
            _register(library)
        elif module is None:
            waiting.append(library)
    if waiting and not any(isinstance(f, _AccessorFinder) for f in sys.meta_path):
        sys.meta_path.insert(0, _AccessorFinder(waiting))

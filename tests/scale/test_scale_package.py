"""``aikit.scale`` is cheap to import and exposes its nouns lazily."""

from __future__ import annotations

import subprocess
import sys

import aikit.scale


def test_importing_aikit_scale_loads_neither_dask_nor_redis() -> None:
    code = (
        "import sys, aikit.scale\n"
        "assert 'redis' not in sys.modules and 'dask' not in sys.modules, sorted(sys.modules)\n"
        "from aikit.scale import RedisCache\n"
        "assert 'redis' in sys.modules and 'dask' not in sys.modules\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr


def test_public_names_resolve_and_are_sorted() -> None:
    assert aikit.scale.__all__ == sorted(aikit.scale.__all__)
    for name in aikit.scale.__all__:
        assert getattr(aikit.scale, name) is not None
    assert set(aikit.scale.__all__) <= set(dir(aikit.scale))

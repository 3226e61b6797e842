"""The package promises: a cheap, side-effect-free import and an honest public API."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import aikit


def _run(code: str, env_home: Path) -> dict[str, object]:
    out = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        check=True,
        env={"AIKIT_HOME": str(env_home), "PATH": "/usr/bin:/bin"},
    )
    return json.loads(out.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def test_import_has_no_side_effects(tmp_path: Path) -> None:
    home = tmp_path / "home"
    result = _run(
        """
        import json, os, socket, sys, threading
        opened = []
        real_socket = socket.socket.__init__
        def spy(self, *a, **k):
            opened.append(a)
            return real_socket(self, *a, **k)
        socket.socket.__init__ = spy
        before = threading.active_count()
        import aikit
        print(json.dumps({
            "threads": threading.active_count() - before,
            "sockets": len(opened),
            "home_exists": os.path.exists(os.environ["AIKIT_HOME"]),
            "heavy": sorted(m for m in ("pandas", "httpx", "ipywidgets", "numpy") if m in sys.modules),
            "nest_asyncio": "nest_asyncio" in sys.modules,
        }))
        """,
        home,
    )
    assert result == {"threads": 0, "sockets": 0, "home_exists": False, "heavy": [], "nest_asyncio": False}


def test_import_is_fast(tmp_path: Path) -> None:
    # The budget is 0.3 s; measured in-process, after interpreter start-up, best of three.
    code = """
        import json, time
        t = time.perf_counter()
        import aikit
        print(json.dumps({"s": time.perf_counter() - t}))
    """
    best = min(float(_run(code, tmp_path)["s"]) for _ in range(3))  # type: ignore[arg-type]
    assert best < 0.3, f"import aikit took {best:.3f} s"


def test_all_is_sorted_and_resolves() -> None:
    assert list(aikit.__all__) == sorted(aikit.__all__)
    for name in aikit.__all__:
        assert getattr(aikit, name) is not None, name
    # every lazy name is public, and every public name resolves
    assert set(aikit._LAZY) <= set(aikit.__all__)


def test_unknown_attribute_is_a_clear_error() -> None:
    try:
        aikit.NoSuchThing  # noqa: B018
    except AttributeError as exc:
        assert "NoSuchThing" in str(exc)
    else:  # pragma: no cover
        raise AssertionError("expected AttributeError")


def test_pandas_accessor_registers_after_late_pandas_import(tmp_path: Path) -> None:
    result = _run(
        """
        import json, importlib.util
        import aikit
        import pandas as pd
        has = hasattr(pd.DataFrame, "ai")
        expected = importlib.util.find_spec("aikit._batch.accessor") is not None
        print(json.dumps({"ok": has == expected}))
        """,
        tmp_path,
    )
    assert result == {"ok": True}


def test_cli_version() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "aikit", "--version"], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == aikit.__version__

"""The README's running example runs as written (offline: demo CRM and the local model)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

README = Path(__file__).resolve().parent.parent / "README.md"


def _first_python_block() -> str:
    match = re.search(r"```python\n(.*?)```", README.read_text(), re.S)
    assert match, "the README has no python example"
    return match.group(1)


def test_the_example_is_within_the_first_30_lines() -> None:
    head = "\n".join(README.read_text().splitlines()[:30])
    assert "```python" in head and "make demo" in head and "make test" in head


@pytest.mark.slow
@pytest.mark.local_llm
def test_the_running_example_runs(tmp_path: Path) -> None:
    out = subprocess.run(
        [sys.executable, "-c", _first_python_block()],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=tmp_path,
        env={"AIKIT_HOME": str(tmp_path / "home"), "PATH": "/usr/bin:/bin", "AIKIT_HEADLESS": "1"},
    )
    assert out.returncode == 0, out.stderr[-3000:]
    assert "ai_category" in out.stdout and "'updated': 20" in out.stdout, out.stdout

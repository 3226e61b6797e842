"""``aikit serve ai`` refuses a key on the command line before it loads any model (no model needed)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def test_a_key_on_the_command_line_is_refused(tmp_path: Path) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "aikit", "serve", "ai", "--port", "0", "--api-key", "argv-key-3b7e9"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 2 and "--api-key-env" in out.stderr and "--api-key-file" in out.stderr
    assert "argv-key-3b7e9" not in out.stderr + out.stdout and "Traceback" not in out.stderr
    empty = tmp_path / "key"
    empty.write_text("\n")
    out = subprocess.run(
        [sys.executable, "-m", "aikit", "serve", "ai", "--port", "0", "--api-key-file", str(empty)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 2 and "is empty" in out.stderr

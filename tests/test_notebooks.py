"""Every notebook is committed clean and runs top to bottom headless on the embedded defaults."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

NOTEBOOKS = sorted((Path(__file__).parent.parent / "notebooks").glob("*.ipynb"))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_committed_without_outputs_or_widget_state(path: Path) -> None:
    nb = json.loads(path.read_text())
    assert "widgets" not in nb.get("metadata", {}), "widget state is saved in the notebook"
    for cell in nb["cells"]:
        if cell["cell_type"] == "code":
            assert cell.get("outputs") == [], f"outputs committed in {path.name}"
            assert cell.get("execution_count") is None, f"execution count committed in {path.name}"
    assert nb["metadata"].get("kernelspec", {}).get("name", "python3") == "python3"


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_runs_top_to_bottom_headless(path: Path, tmp_path: Path) -> None:
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(
        nb,
        timeout=600,
        kernel_name="python3",
        resources={"metadata": {"path": str(path.parent)}},
    )
    env = {**os.environ, "AIKIT_HOME": str(tmp_path / "home"), "AIKIT_HEADLESS": "1"}
    client.execute(env=env)
    errors = [
        out
        for cell in nb.cells
        if cell.cell_type == "code"
        for out in cell.get("outputs", [])
        if out.get("output_type") == "error"
    ]
    assert errors == []

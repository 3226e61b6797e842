"""aikit.auth.secret() in a real kernel: headless raises, a Jupyter-started kernel shows the password box.

The "user" is simulated inside the kernel by setting the Password widget's value (what the frontend
does over the comm) and clicking Save; nbclient then stores the widget state, which must not hold it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

CANARY = "sk-CANARY-" + "kernel-5d2"  # built at runtime: the literal never sits in one string


def _run(cells: list[str], env_extra: dict[str, str], tmp_path: Path) -> dict[str, object]:
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(src) for src in cells])
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("AIKIT_HEADLESS", "JPY_SESSION_NAME", "AIKIT_INTERACTIVE")
    }
    env |= {"AIKIT_HOME": str(tmp_path / "home"), **env_extra}
    env.pop("AIKIT_KERNEL_TEST_KEY", None)
    NotebookClient(nb, timeout=60, kernel_name="python3", allow_errors=True, store_widget_state=True).execute(
        env=env
    )
    return nb  # type: ignore[no-any-return]


@pytest.mark.slow
def test_headless_kernel_raises_naming_the_variable(tmp_path: Path) -> None:
    nb = _run(["import aikit.auth\naikit.auth.secret('AIKIT_KERNEL_TEST_KEY')"], {}, tmp_path)
    out = nb["cells"][0]["outputs"][0]  # type: ignore[index]
    assert out["output_type"] == "error" and out["ename"] == "MissingCredentialError"
    assert "AIKIT_KERNEL_TEST_KEY" in out["evalue"]


@pytest.mark.slow
def test_live_kernel_shows_password_box_and_keeps_the_key_out_of_widget_state(tmp_path: Path) -> None:
    cells = [
        "import aikit.auth\n"
        "key = aikit.auth.secret('AIKIT_KERNEL_TEST_KEY')\n"
        "print(aikit.auth.interaction_mode(), bool(key))",
        # The frontend types into the box and presses Save.
        "import ipywidgets as w\nfrom ipywidgets.widgets.widget import _instances\n"
        "boxes = [x for x in _instances.values() if isinstance(x, w.Password)]\n"
        "buttons = [x for x in _instances.values() if isinstance(x, w.Button) and x.description == 'Save']\n"
        f"boxes[0].value = {CANARY!r}[:-1] + {CANARY[-1]!r}\n"
        "buttons[0].click()\n"
        "print(len(boxes), repr(boxes[0].value), bool(key), key.reveal() == 'sk-CANARY-' + 'kernel-5d2')",
        "key",
    ]
    nb = _run(cells, {"JPY_SESSION_NAME": "demo.ipynb"}, tmp_path)
    first, second, third = (c["outputs"] for c in nb["cells"])  # type: ignore[index]
    assert any("application/vnd.jupyter.widget-view+json" in o.get("data", {}) for o in first)
    assert any(o.get("text") == "widget False\n" for o in first)
    assert second[0]["text"] == "1 '' True True\n"
    assert "source='pending'" in third[0]["data"]["text/plain"]
    state = nb["metadata"]["widgets"]["application/vnd.jupyter.widget-state+json"]  # type: ignore[index]
    assert any(m["model_name"] == "PasswordModel" for m in state["state"].values())
    assert CANARY not in json.dumps(nb["metadata"])
    outputs = json.dumps([c["outputs"] for c in nb["cells"]])  # type: ignore[index]
    assert CANARY not in outputs

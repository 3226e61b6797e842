"""Shared test setup: every test gets its own AIKIT_HOME so no state leaks between tests or to ~/.cache."""

from __future__ import annotations

import logging
import traceback
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from aikit.testing import FakeConfig, FakeProvider

if TYPE_CHECKING:
    from aikit.local.oauth.server import OAuthServer


@pytest.fixture(autouse=True)
def _aikit_home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path_factory.mktemp("aikit-home")
    monkeypatch.setenv("AIKIT_HOME", str(home))
    for var in ("AIKIT_CACHE_DIR", "AIKIT_CALLLOG", "AIKIT_WEBHOOK_STORE"):
        monkeypatch.delenv(var, raising=False)
    return home


@pytest.fixture
def aikit_home(_aikit_home: Path) -> Path:
    """The AIKIT_HOME directory of this test."""
    return _aikit_home


#: The API key the shared fake provider requires (``fake_config`` below); a canary for leak scans too.
FAKE_KEY = "sk-fake-provider-0123456789"


@pytest.fixture(scope="module")
def fake_config() -> FakeConfig:
    """The shared fake provider's configuration; a module (or a conftest) overrides this fixture."""
    return FakeConfig(api_key=FAKE_KEY)


@pytest.fixture(scope="module")
def fake_server(fake_config: FakeConfig) -> Iterator[FakeProvider]:
    """One fake provider (OpenAI and Anthropic wire formats) on 127.0.0.1 per test module."""
    with FakeProvider(fake_config) as server:
        yield server


@pytest.fixture
def fake(fake_server: FakeProvider) -> FakeProvider:
    """The module's fake provider with its counters and buckets reset for this test."""
    fake_server.reset()
    return fake_server


@pytest.fixture
def clean_credentials(
    monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[None]:
    """An empty session store, no headless/interactive overrides, a cwd without a ``.env``.

    The auth, widget and connector suites use it for every test (an autouse fixture in their conftest).
    """
    from aikit.auth import secrets

    for var in ("AIKIT_HEADLESS", "AIKIT_INTERACTIVE", "JPY_SESSION_NAME", "AIKIT_REMOTE_KERNEL"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.chdir(tmp_path_factory.mktemp("cwd"))
    secrets._SESSION.clear()
    yield
    secrets._SESSION.clear()


@pytest.fixture
def oauth_server() -> Iterator[OAuthServer]:
    """The demo authorization server on 127.0.0.1 (fast device polling for tests)."""
    from aikit.local.oauth.server import OAuthServer

    with OAuthServer(device_interval=0.05, access_token_ttl=3600) as server:
        yield server


@pytest.fixture
def auto_server() -> Iterator[OAuthServer]:
    """Like ``oauth_server`` but ``/authorize`` grants at once (no consent page)."""
    from aikit.local.oauth.server import OAuthServer

    with OAuthServer(device_interval=0.05, auto_approve=True) as server:
        yield server


class LeakScan:
    """Everything a secret could leak into during a test, searched for canaries at the end.

    It covers every file under ``$AIKIT_HOME`` (caches, the call log, token and state files, SQLite WAL
    files included), every log record at DEBUG (httpx's and httpcore's too: their INFO/DEBUG lines
    print URLs and headers), and what the test hands to :meth:`add`: the ``repr``/``str`` of objects
    and, for exceptions, the whole chain (``__cause__``/``__context__``, ``args``, the formatted
    traceback).
    """

    def __init__(self, home: Path, caplog: pytest.LogCaptureFixture) -> None:
        self.home, self.caplog = home, caplog
        self.texts: list[tuple[str, str]] = []

    def add(self, *objects: Any) -> None:
        """Keep the reprs (and exception chains) of ``objects`` for the scan."""
        for obj in objects:
            seen: set[int] = set()
            while obj is not None and id(obj) not in seen:
                seen.add(id(obj))
                self.texts.append((f"repr of {type(obj).__name__}", repr(obj)))
                self.texts.append((f"str of {type(obj).__name__}", str(obj)))
                if not isinstance(obj, BaseException):
                    break
                self.texts.append(("args", repr(obj.args)))
                self.texts.append(("traceback", "".join(traceback.format_exception_only(obj))))
                obj = obj.__cause__ or obj.__context__

    def places(self) -> Iterator[tuple[str, str]]:
        from aikit.client import calllog

        calllog._flush_all()  # rows queued for the call log's writer thread are on disk now
        yield from self.texts
        for record in self.caplog.records:
            yield f"log record of {record.name}", record.getMessage() + (record.exc_text or "")
        for path in sorted(self.home.rglob("*")):
            if path.is_file():
                yield f"file {path.relative_to(self.home)}", path.read_bytes().decode("utf-8", "replace")

    def assert_clean(self, *canaries: str) -> None:
        """No canary in any place; the message names the place and shows the surrounding text."""
        assert all(len(c) >= 6 for c in canaries), "canaries this short would match by chance"
        for where, text in self.places():
            for canary in canaries:
                at = text.find(canary)
                assert at < 0, f"{canary!r} leaked into {where}: ...{text[max(0, at - 60) : at + 80]}..."


@pytest.fixture
def leak_scan(aikit_home: Path, caplog: pytest.LogCaptureFixture) -> LeakScan:
    """A :class:`LeakScan` of this test, with every logger (httpx and httpcore included) at DEBUG."""
    caplog.set_level(logging.DEBUG)
    for name in ("httpx", "httpcore"):
        caplog.set_level(logging.DEBUG, logger=name)
    return LeakScan(aikit_home, caplog)

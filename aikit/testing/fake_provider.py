"""Run the fake AI provider on 127.0.0.1: in a background thread, or in a child process.

Both forms give the same handle: ``base_url`` (``http://127.0.0.1:PORT/v1``, good for OpenAI-style and
Anthropic clients alike), ``stats()``, ``reset()``, ``configure(**changes)`` and ``stop()``, and both are
context managers. There is one start-up path: :class:`FakeProvider` serves :class:`FakeApp` through
:class:`aikit._serving.AppThread` (start, wait until ready, stop, join; uvloop and httptools when
installed), and the child process of :class:`FakeProviderProcess` (``python -m aikit.testing.fake_cli``)
runs a :class:`FakeProvider` too, until it is told to stop. The process form keeps the server off the
client's GIL, which is what benchmarks want.

>>> with FakeProvider(FakeConfig(api_key="sk-test")) as fake:  # doctest: +SKIP
...     r = httpx.post(fake.base_url + "/chat/completions", headers={"authorization": "Bearer sk-test"},
...                    json={"model": "m", "messages": [{"role": "user", "content": "hi"}]})
...     fake.stats()["requests"]
1
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import json
import os
import selectors
import subprocess
import sys
import weakref
from pathlib import Path
from typing import Any

from aikit._serving import LOOPBACK, AppThread
from aikit.exceptions import ConfigError
from aikit.testing.fake_app import FakeApp
from aikit.testing.fake_config import FakeConfig

__all__ = ["FakeProvider", "FakeProviderProcess"]

_READY_PREFIX = "aikit fake provider listening on "
_START_TIMEOUT_S = 20.0


def _app_thread(app: FakeApp, host: str, port: int) -> AppThread:
    """The server of a fake provider: as fast as uvicorn goes (uvloop, httptools), quiet, quick to stop."""
    fast_loop = importlib.util.find_spec("uvloop") is not None and sys.platform != "win32"
    options = {
        "http": "httptools" if importlib.util.find_spec("httptools") else "h11",
        "log_level": "error",
        "timeout_graceful_shutdown": 1,
        "timeout_keep_alive": 30,
        "backlog": 4096,
    }
    return AppThread(
        app,
        port,
        host=host,
        name="aikit-fake-provider",
        loop="uvloop" if fast_loop else "asyncio",
        options=options,
        start_timeout_s=_START_TIMEOUT_S,
    )


def _config_of(config: FakeConfig | None, changes: dict[str, Any]) -> FakeConfig:
    base = config or FakeConfig()
    return base.replace(changes) if changes else base


class FakeProvider:
    """A fake OpenAI/Anthropic provider served from a background thread of this process.

    Parameters
    ----------
    config : FakeConfig, optional
        Behaviour; keyword arguments are shorthand for fields (``FakeProvider(rpm=60)``).
    host, port : str, int
        Where to listen; port 0 picks a free one.

    Examples
    --------
    >>> import httpx
    >>> with FakeProvider(latency_median_s=0) as fake:
    ...     r = httpx.post(fake.base_url + "/chat/completions",
    ...                    json={"model": "m", "messages": [{"role": "user", "content": "hi"}]})
    ...     r.json()["choices"][0]["message"]["content"].startswith("fake-"), fake.stats()["requests"]
    (True, 1)
    """

    def __init__(
        self, config: FakeConfig | None = None, *, host: str = LOOPBACK, port: int = 0, **changes: Any
    ) -> None:
        self.config = _config_of(config, changes)
        self.host = host
        self._port = port
        self.app = FakeApp(self.config)
        self._thread: AppThread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def __repr__(self) -> str:
        state = self.base_url if self.running else "not started"
        return f"FakeProvider({state})"

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT`` (admin endpoints live under ``/_admin``)."""
        return f"http://{self.host}:{self._port}"

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT/v1``: the base URL for OpenAI-compatible and Anthropic clients."""
        return self.url + "/v1"

    @property
    def port(self) -> int:
        return self._port

    @property
    def running(self) -> bool:
        """True while the server thread serves."""
        return self._thread is not None and self._thread.running

    def start(self) -> FakeProvider:
        """Start serving in a daemon thread and return once the socket accepts connections.

        Raises ``ConfigError`` when the port is taken or ``host`` is not a loopback address.
        """
        if self.running:
            return self
        thread = _app_thread(self.app, self.host, self._port).start()
        self._thread, self._port, self._loop = thread, thread.port, self.app.loop
        return self

    def _on_loop(self, fn: Any, *args: Any) -> Any:
        loop = self._loop
        if loop is None or not self.running:
            return fn(*args)  # not running: plain call is safe

        async def call() -> Any:
            return fn(*args)

        return asyncio.run_coroutine_threadsafe(call(), loop).result(10)

    def stats(self, arrivals: bool = False) -> dict[str, Any]:
        """Counters since the last reset: requests, by_status, timeline, max_in_flight, tokens ..."""
        return dict(self._on_loop(self.app.stats, arrivals))

    def reset(self) -> None:
        """Zero the counters, refill the buckets, reseed the generator."""
        self._on_loop(self.app.reset)

    def configure(self, **changes: Any) -> FakeConfig:
        """Change config fields while running (``fake.configure(rpm=120, error_rate=0.1)``)."""
        self.config = self._on_loop(self.app.apply, changes)
        return self.config

    def configure_batches(self, **changes: Any) -> dict[str, Any]:
        """Change the batch APIs (``BatchConfig`` fields of ``aikit.testing.fake_batch_wire``)."""
        return dict(self._on_loop(lambda: self.app.batches.configure(changes).to_dict()))

    def batch_stats(self) -> dict[str, Any]:
        """The batch APIs' config, counters, webhook deliveries and batch timeline."""
        return dict(self._on_loop(self.app.batches.snapshot))

    def reset_batches(self) -> None:
        """Forget every file and batch and zero the batch counters (the config stays)."""
        self._on_loop(self.app.batches.reset)

    def stop(self) -> None:
        """Release hanging requests, stop the server and join its thread. Idempotent."""
        thread, loop = self._thread, self._loop
        self._thread = self._loop = None
        if thread is None:
            return
        if loop is not None and thread.running:
            with contextlib.suppress(RuntimeError):  # the loop may already be closed
                loop.call_soon_threadsafe(self.app.release_hangs)
        thread.stop(10)

    def __enter__(self) -> FakeProvider:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @classmethod
    def start_process(
        cls, config: FakeConfig | None = None, *, host: str = LOOPBACK, port: int = 0, **changes: Any
    ) -> FakeProviderProcess:
        """Start the fake provider in a child process (``python -m aikit serve fake``); return its handle."""
        return FakeProviderProcess(_config_of(config, changes), host=host, port=port).start()


def _terminate(proc: subprocess.Popen[str]) -> None:
    """Last resort when a handle is collected or the interpreter exits without ``stop()``."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()


class FakeProviderProcess:
    """Handle of a fake provider running in a child process; admin calls go over HTTP."""

    def __init__(self, config: FakeConfig, *, host: str = LOOPBACK, port: int = 0) -> None:
        self.config = config
        self.host = host
        self._port = port
        self._proc: subprocess.Popen[str] | None = None
        self._finalizer: weakref.finalize[Any, Any] | None = None

    def __repr__(self) -> str:
        return f"FakeProviderProcess({self.base_url if self._proc else 'not started'})"

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self._port}"

    @property
    def base_url(self) -> str:
        return self.url + "/v1"

    @property
    def port(self) -> int:
        return self._port

    @property
    def pid(self) -> int | None:
        return None if self._proc is None else self._proc.pid

    def start(self) -> FakeProviderProcess:
        """Spawn the child, hand it the config on stdin (keys stay out of argv), wait for its URL."""
        if self._proc is not None:
            return self
        import aikit

        root = str(Path(aikit.__file__).resolve().parents[1])
        env = dict(os.environ)
        env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
        cmd = [sys.executable, "-m", "aikit.testing.fake_cli", "--host", self.host, "--port", str(self._port)]
        cmd += ["--config-stdin", "--parent-pid", str(os.getpid())]
        proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env, text=True)
        self._proc = proc
        self._finalizer = weakref.finalize(self, _terminate, proc)
        assert proc.stdin is not None and proc.stdout is not None
        proc.stdin.write(json.dumps(self.config.to_dict(include_secrets=True)))
        proc.stdin.close()
        line = ""
        with selectors.DefaultSelector() as sel:
            sel.register(proc.stdout, selectors.EVENT_READ)
            if sel.select(_START_TIMEOUT_S):
                line = proc.stdout.readline()
        if not line.startswith(_READY_PREFIX):
            self.stop()
            raise RuntimeError(f"the fake provider process did not start: {line.strip()!r}")
        self._port = int(line.strip().rsplit(":", 1)[1].split("/", 1)[0])
        return self

    def _admin(self, method: str, what: str, payload: Any = None) -> Any:
        import httpx

        response = httpx.request(
            method, f"{self.url}/_admin/{what}", json=payload, headers=self._admin_headers(), timeout=10
        )
        if 400 <= response.status_code < 500:
            error = (
                response.json().get("error", {}) if "json" in response.headers.get("content-type", "") else {}
            )
            raise ConfigError(
                f"the fake provider refused {method} /_admin/{what}: {error.get('message', response.text)}"
            )
        response.raise_for_status()
        return response.json()

    def stats(self, arrivals: bool = False) -> dict[str, Any]:
        """Counters since the last reset (``GET /_admin/stats``)."""
        return dict(self._admin("GET", "stats?arrivals=1" if arrivals else "stats"))

    def reset(self) -> None:
        self._admin("POST", "reset")

    def configure(self, **changes: Any) -> FakeConfig:
        self.config = self.config.replace(changes)
        self._admin("POST", "config", changes)
        return self.config

    def configure_batches(self, **changes: Any) -> dict[str, Any]:
        return dict(self._admin("POST", "batches/config", changes))

    def batch_stats(self) -> dict[str, Any]:
        return dict(self._admin("GET", "batches"))

    def reset_batches(self) -> None:
        self._admin("POST", "batches/reset")

    def stop(self) -> None:
        """Release hanging requests, terminate the child and wait for it. Idempotent."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if self._finalizer is not None:
            self._finalizer.detach()
        if proc.poll() is None:
            self._admin_release()
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
        if proc.stdout is not None:
            proc.stdout.close()

    def _admin_release(self) -> None:
        import httpx

        with contextlib.suppress(httpx.HTTPError):  # best effort: the process is terminated next
            httpx.post(f"{self.url}/_admin/release", headers=self._admin_headers(), timeout=2)

    def _admin_headers(self) -> dict[str, str]:
        """The admin endpoints want the server's key when it has one."""
        key = self.config.api_key
        return {"authorization": f"Bearer {key}"} if key else {}

    def __enter__(self) -> FakeProviderProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

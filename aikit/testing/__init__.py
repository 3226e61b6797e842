"""Test helpers shipped with aikit: a real fake AI provider server on 127.0.0.1.

>>> from aikit.testing import FakeConfig, FakeProvider
>>> with FakeProvider(FakeConfig(rpm=600, latency_median_s=0.05)) as fake:  # doctest: +SKIP
...     ai = aikit.AI("compat:fake-model", base_url=fake.base_url, api_key="x")
...     ai.chat("hi").text

``FakeProvider(...).start()`` serves from a background thread; ``FakeProvider.start_process(...)``
from a child process (for benchmarks). Both expose ``base_url``, ``stats()``, ``reset()``,
``configure(**changes)`` and ``stop()``. ``aikit serve fake`` runs it from the command line.

Modules: ``fake_config`` (:class:`FakeConfig`, the behaviour), ``fake_app`` (the ASGI app),
``fake_request`` and ``fake_wire`` (reading requests, writing replies: pure), ``fake_limits`` (token
buckets, 429 headers), ``fake_provider`` (the thread and process forms), ``fake_cli``.
"""

from __future__ import annotations

from aikit.testing.fake_config import FakeConfig
from aikit.testing.fake_provider import FakeProvider, FakeProviderProcess
from aikit.testing.fake_wire import fake_reply

__all__ = ["FakeConfig", "FakeProvider", "FakeProviderProcess", "fake_reply"]

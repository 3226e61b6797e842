"""The OpenMP wait policy the embedded model's server starts with follows the machine's state now."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from aikit.local.llm import serve

linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/stat")


@linux_only
def test_busy_cpus_sees_a_process_spinning_now() -> None:
    spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(0.3)  # let it get going
        busy = serve.busy_cpus(0.5)
    finally:
        spinner.kill()
        spinner.wait()
    assert busy is not None
    assert busy >= 0.5  # at least most of one CPU, whatever else the machine runs


@linux_only
def test_busy_cpus_is_a_count_of_cpus() -> None:
    busy = serve.busy_cpus(0.1)
    assert busy is not None
    assert 0.0 <= busy <= (serve.os.cpu_count() or 1) + 0.01


def test_the_policy_follows_busy_cpus_not_the_load_average(monkeypatch: pytest.MonkeyPatch) -> None:
    # A server that just stopped leaves the 1-minute load average high for a minute: the policy must
    # come from what the CPUs do now when that can be measured.
    monkeypatch.setattr(serve.os, "getloadavg", lambda: (3.5, 3.0, 2.0))
    monkeypatch.setattr(serve, "busy_cpus", lambda window_s=0.25: 0.1)
    assert serve.choose_omp_wait(cpus=2) is None
    monkeypatch.setattr(serve, "busy_cpus", lambda window_s=0.25: 1.6)
    assert serve.choose_omp_wait(cpus=2) == "PASSIVE"


def test_without_proc_stat_the_load_average_decides(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(serve, "busy_cpus", lambda window_s=0.25: None)
    monkeypatch.setattr(serve.os, "getloadavg", lambda: (0.1, 0.1, 0.1))
    assert serve.choose_omp_wait(cpus=2) is None
    monkeypatch.setattr(serve.os, "getloadavg", lambda: (3.5, 3.0, 2.0))
    assert serve.choose_omp_wait(cpus=2) == "PASSIVE"


def test_the_environment_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OMP_WAIT_POLICY", "ACTIVE")
    monkeypatch.setattr(serve, "busy_cpus", lambda window_s=0.25: 0.0)
    serve._set_omp_wait()
    assert serve.os.environ["OMP_WAIT_POLICY"] == "ACTIVE"

"""Throughput of the fake provider (child-process form) under 64 concurrent httpx clients.

Not a test. Run: ``.venv/bin/python benchmarks/bench_fake_provider.py [--seconds 5] [--concurrency 64]``.

Measures, against one ``FakeProvider.start_process()`` server at zero latency and no limits:

* ``httpx``: 64 ``httpx.AsyncClient`` (one connection each, so httpcore's pool scan stays cheap)
  posting Chat Completions in a loop; the baseline ``httpx + raw`` is the same loop against a
  minimal raw-ASGI app that answers a constant JSON body (the cost of the server stack itself);
* ``wrk`` (if installed): the server's own ceiling with a C load generator, and the share of the ideal
  rate (connections / mean latency) reached with 1,000 connections and lognormal 300 ms latency.

The load generator shares the machine's cores with the server, so the httpx numbers are a lower bound
on the server's capacity. Target (issue 2): well over 1,000 requests/s.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

BODY = {
    "model": "gpt-4o-mini",
    "messages": [{"role": "user", "content": "Classify: great service"}],
    "max_tokens": 20,
}

_CONSTANT_APP = """
import sys, socket, uvicorn
BODY = b'{"choices":[{"message":{"content":"x"}}]}'
async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    while (await receive()).get("more_body"):
        pass
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(BODY)).encode())]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": BODY})
sock = socket.socket(); sock.bind(("127.0.0.1", 0))
print(f"http://127.0.0.1:{sock.getsockname()[1]}/v1", flush=True)
uvicorn.Server(uvicorn.Config(app, loop="uvloop", http="httptools", log_level="error", access_log=False,
               lifespan="off")).run(sockets=[sock])
"""


async def hammer(base_url: str, seconds: float, concurrency: int) -> tuple[int, int, float]:
    import ssl

    import httpx

    done = errors = 0
    payload = json.dumps(BODY).encode()
    headers = {"content-type": "application/json"}
    tls = ssl.create_default_context()  # one context for all clients (each would load the CA bundle)
    clients = [
        httpx.AsyncClient(base_url=base_url, limits=httpx.Limits(max_connections=1), timeout=30, verify=tls)
        for _ in range(concurrency)
    ]
    began = time.monotonic()
    stop_at = began + seconds

    async def worker(client: httpx.AsyncClient) -> None:
        nonlocal done, errors
        while time.monotonic() < stop_at:
            r = await client.post("/chat/completions", content=payload, headers=headers)
            if r.status_code == 200 and r.json()["choices"]:
                done += 1
            else:
                errors += 1

    await asyncio.gather(*(worker(c) for c in clients))
    active = time.monotonic() - began
    for c in clients:
        await c.aclose()
    return done, errors, active


def _load_process(base_url: str, seconds: float, concurrency: int) -> tuple[int, int, float]:
    return asyncio.run(hammer(base_url, seconds, concurrency))


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process (Linux /proc), in seconds."""
    import os

    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_httpx(base_url: str, seconds: float, concurrency: int, procs: int, pid: int) -> tuple[float, float]:
    """(requests/s, server CPU ms/request) with ``concurrency`` clients spread over ``procs`` processes."""
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(procs) as pool:
        list(pool.map(_load_process, [base_url] * procs, [0.2] * procs, [1] * procs))  # warm up workers
        cpu0 = cpu_seconds(pid)
        results = list(
            pool.map(_load_process, [base_url] * procs, [seconds] * procs, [concurrency // procs] * procs)
        )
        cpu = cpu_seconds(pid) - cpu0
    done = sum(r[0] for r in results)
    errors = sum(r[1] for r in results)
    elapsed = max(r[2] for r in results)  # time spent sending, after the clients were built
    assert errors == 0, f"{errors} failed requests"
    return done / elapsed, 1000 * cpu / max(1, done)


def wait_until_listening(base_url: str, timeout: float = 20.0) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    while True:
        try:
            httpx.get(base_url + "/models", timeout=2)
            return
        except httpx.TransportError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def run_wrk(base_url: str, seconds: float, concurrency: int) -> float | None:
    wrk = shutil.which("wrk")
    if wrk is None:
        return None
    script = (
        'wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\n'
        f"wrk.body = {json.dumps(json.dumps(BODY))}\n"
    )
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as fh:
        fh.write(script)
    out = subprocess.run(
        [wrk, "-t1", f"-c{concurrency}", f"-d{int(seconds)}s", "-s", fh.name, base_url + "/chat/completions"],
        capture_output=True,
        text=True,
        timeout=seconds + 30,
        check=True,
    ).stdout
    Path(fh.name).unlink()
    for line in out.splitlines():
        if line.startswith("Requests/sec:"):
            return float(line.split(":")[1])
    return None


def main() -> None:
    from aikit.testing import FakeProvider

    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--procs", type=int, default=2, help="load-generator processes sharing the clients")
    args = parser.parse_args()
    conc, procs = args.concurrency, args.procs

    constant = subprocess.Popen([sys.executable, "-c", _CONSTANT_APP], stdout=subprocess.PIPE, text=True)
    try:
        assert constant.stdout is not None
        constant_url = constant.stdout.readline().strip()
        wait_until_listening(constant_url)
        baseline, baseline_cpu = run_httpx(constant_url, args.seconds, conc, procs, constant.pid)
    finally:
        constant.terminate()
        constant.wait(10)

    fake = FakeProvider.start_process()
    try:
        assert fake.pid is not None
        fake.reset()
        rate, server_cpu = run_httpx(fake.base_url, args.seconds, conc, procs, fake.pid)
        stats = fake.stats()
        fake.reset()
        cpu0 = cpu_seconds(fake.pid)
        wrk_rate = run_wrk(fake.base_url, args.seconds, conc)
        wrk_cpu = cpu_seconds(fake.pid) - cpu0
        wrk_requests = fake.stats()["requests"]
        fake.configure(latency_median_s=0.3, latency_sigma=0.5)
        fake.reset()
        wrk_latency_rate = run_wrk(fake.base_url, args.seconds * 2, 1000)
        ideal = 1000 / (0.3 * math.exp(0.5**2 / 2))  # connections / E[latency]
    finally:
        fake.stop()
    print(f"{conc} httpx clients in {procs} processes, {args.seconds:.0f} s each, latency 0, no limits")
    print(
        f"httpx -> constant raw-ASGI app: {baseline:7.0f} req/s, "
        f"server CPU {baseline_cpu:.3f} ms/req (baseline)"
    )
    print(
        f"httpx -> fake provider:         {rate:7.0f} req/s, server CPU {server_cpu:.3f} ms/req "
        f"({rate / max(baseline, 1e-9):.2f}x the baseline rate)"
    )
    print(f"  server counted {stats['requests']} requests, max in flight {stats['max_in_flight']}")
    print(f"  server capacity implied by its CPU: {1000 / server_cpu:7.0f} req/s per core")
    if wrk_rate is not None:
        print(
            f"wrk   -> fake provider:         {wrk_rate:7.0f} req/s, server CPU "
            f"{1000 * wrk_cpu / max(1, wrk_requests):.3f} ms/req (C load generator: the server's ceiling)"
        )
    if wrk_latency_rate is not None:
        print(
            f"wrk   -> fake provider, 1,000 connections, lognormal 300 ms: {wrk_latency_rate:.0f} req/s "
            f"= {wrk_latency_rate / ideal:.1%} of the ideal {ideal:.0f} (connections / E[latency])"
        )
    print("target: well over 1,000 req/s (the httpx figure is bounded by the Python clients' CPU)")


if __name__ == "__main__":
    main()

"""Durable webhook ingestion: aikit's listener against a uvicorn + Starlette group-commit receiver and
the seed tutorial's Flask receiver.

Both receivers verify a Stripe signature (HMAC-SHA256 over ``t.body``, constant-time compare,
timestamp window), store the event in SQLite in WAL mode with ``synchronous=FULL`` and answer 200
only after the commit. They run as separate processes: aikit through ``aikit listen`` (the same code
as the in-kernel listener), Flask as the tutorial wrote it (dev server, ``threaded=True``, one
connection behind a lock, one commit per request). The load comes from this process: 16 keep-alive
connections on loopback, each request a distinct pre-signed event, sent either by ``wrk`` (C, the
default when installed, as in the research baseline) or by a raw HTTP/1.1 asyncio/uvloop client
(``--client python``), which records every acknowledged event id and checks each one is stored.

The Starlette receiver is the hand-tuned reference (issue 21): uvicorn with uvloop and httptools, the
same Stripe check, one writer thread that commits whatever is queued in one ``synchronous=FULL``
transaction and answers each request after its commit (group commit), and nothing else.

After each run the receiver is stopped and its store is opened: every acknowledged event must be
there. Targets (issues 6, 15, 21): aikit >= 4,000 events/s, >= 1.0x Starlette group commit and >= 6x
Flask in the same run, p99 <= 15 ms. Two attack scenarios run on aikit (issue 15): with 300 idle or
slow sockets held open against a listener under ``ulimit -n 256`` genuine senders keep >= 90% of
their unloaded throughput, and one unauthenticated request with a 200 MiB header costs < 20 MB of
listener peak RSS.

    .venv/bin/python benchmarks/bench_webhooks.py [--seconds 5] [--connections 16] [--runs 3]   (medians)
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import hmac
import json
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

SECRET = "whsec_bench_secret_not_real"
ROOT = Path(__file__).resolve().parents[1]
PY = sys.executable

FLASK_RECEIVER = textwrap.dedent(
    """
    # The seed tutorial's receiver: Flask dev server, verify, INSERT + COMMIT per request.
    import hashlib, hmac, json, sqlite3, sys, threading, time
    from flask import Flask, request

    SECRET, DB, PORT = sys.argv[1], sys.argv[2], int(sys.argv[3])
    app = Flask(__name__)
    conn = sqlite3.connect(DB, check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("CREATE TABLE IF NOT EXISTS events (event_id TEXT PRIMARY KEY, type TEXT, body BLOB)")
    conn.commit()
    lock = threading.Lock()

    @app.post("/hooks/stripe")
    def hook():
        body = request.get_data()
        header = request.headers.get("Stripe-Signature", "")
        try:
            items = dict(p.split("=", 1) for p in header.split(","))
            ts = int(items["t"])
        except Exception:
            return {"error": "unauthorized"}, 401
        expected = hmac.new(SECRET.encode(), f"{ts}.".encode() + body, hashlib.sha256).hexdigest()
        if abs(time.time() - ts) > 300 or not hmac.compare_digest(expected, items.get("v1", "")):
            return {"error": "unauthorized"}, 401
        event = json.loads(body)
        with lock:
            conn.execute("INSERT OR IGNORE INTO events VALUES (?, ?, ?)", (event["id"], event["type"], body))
            conn.commit()
        return {"ok": True}

    print("ready", flush=True)
    app.run(host="127.0.0.1", port=PORT, threaded=True)
    """
)


STARLETTE_RECEIVER = textwrap.dedent(
    """
    # The hand-tuned reference: uvicorn + Starlette, verify, queue to one writer thread that commits
    # every queued event in one synchronous=FULL transaction, answer after the commit.
    import asyncio, hashlib, hmac, json, queue, sqlite3, sys, threading, time
    import uvicorn
    from starlette.applications import Starlette
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    SECRET, DB, PORT = sys.argv[1], sys.argv[2], int(sys.argv[3])
    jobs = queue.SimpleQueue()

    def writer():
        conn = sqlite3.connect(DB, isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute("CREATE TABLE IF NOT EXISTS events (event_id TEXT PRIMARY KEY, type TEXT, body BLOB)")
        while True:
            batch = [jobs.get()]
            while True:
                try:
                    batch.append(jobs.get_nowait())
                except queue.Empty:
                    break
            conn.execute("BEGIN")
            for row, loop, fut in batch:
                conn.execute("INSERT OR IGNORE INTO events VALUES (?, ?, ?)", row)
            conn.execute("COMMIT")
            for row, loop, fut in batch:
                loop.call_soon_threadsafe(fut.set_result, True)

    threading.Thread(target=writer, daemon=True).start()

    async def hook(request):
        body = await request.body()
        header = request.headers.get("stripe-signature", "")
        try:
            items = dict(p.split("=", 1) for p in header.split(","))
            ts = int(items["t"])
        except Exception:
            return JSONResponse({"error": "unauthorized"}, 401)
        expected = hmac.new(SECRET.encode(), f"{ts}.".encode() + body, hashlib.sha256).hexdigest()
        if abs(time.time() - ts) > 300 or not hmac.compare_digest(expected, items.get("v1", "")):
            return JSONResponse({"error": "unauthorized"}, 401)
        event = json.loads(body)
        loop = asyncio.get_running_loop()
        fut = loop.create_future()
        jobs.put(((event["id"], event["type"], body), loop, fut))
        await fut
        return JSONResponse({"ok": True})

    app = Starlette(routes=[Route("/hooks/stripe", hook, methods=["POST"])])
    print("ready", flush=True)
    uvicorn.run(app, host="127.0.0.1", port=PORT, loop="uvloop", http="httptools", log_level="error",
                access_log=False)
    """
)


def make_requests(n: int, port: int, tag: str) -> list[tuple[str, bytes]]:
    """``n`` distinct, signed, ready-to-send HTTP/1.1 requests (event id, raw bytes)."""
    out = []
    ts = int(time.time())
    for i in range(n):
        eid = f"evt_{tag}_{i:07d}"
        body = json.dumps(
            {
                "id": eid,
                "object": "event",
                "type": "invoice.paid",
                "created": ts,
                "data": {"object": {"id": f"in_{i}", "amount_paid": 1000 + i % 997, "currency": "usd"}},
            }
        ).encode()
        sig = hmac.new(SECRET.encode(), f"{ts}.".encode() + body, hashlib.sha256).hexdigest()
        head = (
            f"POST /hooks/stripe HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n"
            f"Stripe-Signature: t={ts},v1={sig}\r\nContent-Length: {len(body)}\r\n\r\n"
        )
        out.append((eid, head.encode() + body))
    return out


async def _conn_worker(
    port: int,
    reqs: list[tuple[str, bytes]],
    cursor: list[int],
    t_end: float,
    results: list[tuple[str, int, float]],
) -> None:
    reader = writer = None
    while time.perf_counter() < t_end:
        i = cursor[0]
        if i >= len(reqs):
            break
        cursor[0] = i + 1
        eid, raw = reqs[i]
        if writer is None:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
        assert reader is not None
        t0 = time.perf_counter()
        try:
            writer.write(raw)
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head[9:12])
            low = head.lower()
            length = 0
            pos = low.find(b"content-length:")
            if pos >= 0:
                length = int(low[pos + 15 : low.find(b"\r\n", pos)])
                await reader.readexactly(length)
            else:
                await reader.read()
            if pos < 0 or b"connection: close" in low or head.startswith(b"HTTP/1.0"):
                writer.close()
                writer = None
        except (ConnectionError, asyncio.IncompleteReadError):
            status = 0
            if writer is not None:
                writer.close()
            writer = None
        results.append((eid, status, time.perf_counter() - t0))
    if writer is not None:
        writer.close()


async def drive(
    port: int, reqs: list[tuple[str, bytes]], connections: int, seconds: float
) -> dict[str, object]:
    warm: list[tuple[str, int, float]] = []
    cursor = [0]
    t_warm = time.perf_counter() + 1.0
    await asyncio.gather(*(_conn_worker(port, reqs, cursor, t_warm, warm) for _ in range(connections)))
    results: list[tuple[str, int, float]] = []
    t0 = time.perf_counter()
    await asyncio.gather(
        *(_conn_worker(port, reqs, cursor, t0 + seconds, results) for _ in range(connections))
    )
    elapsed = time.perf_counter() - t0
    ok = [r for r in results if 200 <= r[1] < 300]
    lat = sorted(r[2] for r in ok) or [0.0]
    return {
        "events_per_s": len(ok) / elapsed,
        "ok": len(ok),
        "errors": len(results) - len(ok),
        "exhausted": cursor[0] >= len(reqs),
        "p50_ms": lat[len(lat) // 2] * 1000,
        "p99_ms": lat[min(len(lat) - 1, int(len(lat) * 0.99))] * 1000,
        "acked": [r[0] for r in warm + results if 200 <= r[1] < 300],
    }


WRK_SCRIPT = """
-- Cycle through pre-signed, distinct Stripe events (one per line: signature TAB body).
local reqs = {}
local i = 0
init = function(args)
  for line in io.lines(args[1]) do
    local tab = string.find(line, "\t", 1, true)
    reqs[#reqs + 1] = wrk.format("POST", "/hooks/stripe", {
      ["Content-Type"] = "application/json",
      ["Stripe-Signature"] = string.sub(line, 1, tab - 1),
    }, string.sub(line, tab + 1))
  end
end
request = function()
  i = i + 1
  return reqs[(i - 1) % #reqs + 1]
end
"""


def drive_wrk(port: int, n: int, tag: str, connections: int, seconds: float, tmp: Path) -> dict[str, object]:
    """Run wrk (C, one thread) against the receiver; distinct events, no reuse within ``n``."""
    import re
    import shutil

    ts = int(time.time())
    lines = []
    for i in range(n):
        body = json.dumps(
            {"id": f"evt_{tag}_{i:07d}", "object": "event", "type": "invoice.paid", "created": ts}
        )
        sig = hmac.new(SECRET.encode(), f"{ts}.{body}".encode(), hashlib.sha256).hexdigest()
        lines.append(f"t={ts},v1={sig}\t{body}")
    (tmp / "events.txt").write_text("\n".join(lines) + "\n")
    (tmp / "events.lua").write_text(WRK_SCRIPT)
    wrk = shutil.which("wrk")
    assert wrk is not None
    cmd = [wrk, "-t1", f"-c{connections}", f"-d{int(seconds)}s", "--latency", "-s", str(tmp / "events.lua")]
    out = subprocess.run(
        [*cmd, f"http://127.0.0.1:{port}/", "--", str(tmp / "events.txt")],
        capture_output=True,
        text=True,
        timeout=seconds + 30,
    ).stdout

    def ms(label: str) -> float:
        m = re.search(rf"{label}\s+([\d.]+)(us|ms|s)\b", out)
        if not m:
            return float("nan")
        return float(m.group(1)) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[m.group(2)]

    total = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = int(bad.group(1)) if bad else 0
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    return {
        "events_per_s": rate * (total - errors) / max(1, total),
        "ok": total - errors,
        "errors": errors,
        "exhausted": total >= n,
        "p50_ms": ms("50%"),
        "p99_ms": ms("99%"),
    }


def _run_loop(coro: object) -> dict[str, object]:
    try:
        import uvloop

        return uvloop.run(coro)  # type: ignore[arg-type,no-any-return]
    except ImportError:
        return asyncio.run(coro)  # type: ignore[arg-type,no-any-return]


def _limit_fds() -> None:
    import resource

    resource.setrlimit(resource.RLIMIT_NOFILE, (256, 256))


def start_aikit(tmp: Path, fd_limit: bool = False) -> tuple[subprocess.Popen[str], int, Path]:
    store = tmp / "aikit.sqlite"
    env = {**os.environ, "BENCH_SECRET": SECRET, "AIKIT_HOME": str(tmp)}
    cmd = [
        PY,
        "-m",
        "aikit",
        "listen",
        "--port",
        "0",
        "--store",
        str(store),
        "--source",
        "stripe:stripe:BENCH_SECRET",
    ]
    proc = subprocess.Popen(
        cmd, env=env, stdout=subprocess.PIPE, text=True, cwd=ROOT, preexec_fn=_limit_fds if fd_limit else None
    )
    assert proc.stdout is not None
    for line in proc.stdout:
        if line.startswith("listening stripe"):
            return proc, int(line.rsplit(":", 1)[1].split("/")[0]), store
    raise RuntimeError("aikit listen did not start")


def start_flask(tmp: Path, kind: str = "flask") -> tuple[subprocess.Popen[str], int, Path]:
    import socket

    script = tmp / f"{kind}_receiver.py"
    script.write_text(FLASK_RECEIVER if kind == "flask" else STARLETTE_RECEIVER)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    store = tmp / f"{kind}.sqlite"
    cmd = [PY, str(script), SECRET, str(store), str(port)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    assert proc.stdout is not None
    proc.stdout.readline()
    deadline = time.time() + 15
    while time.time() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return proc, port, store
        time.sleep(0.05)
    raise RuntimeError("flask receiver did not start")


def _cpu(pid: int) -> float:
    """CPU seconds (user + system) used so far by process ``pid`` and its threads."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def stop(proc: subprocess.Popen[str]) -> None:
    proc.terminate()
    try:
        proc.wait(15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def missing(store: Path, acked: list[str], table_sql: str) -> int:
    conn = sqlite3.connect(store)
    try:
        have = {r[0] for r in conn.execute(table_sql)}
    finally:
        conn.close()
    return sum(1 for eid in acked if eid not in have)


class Pests:
    """``count`` sockets held open against ``port``: half idle (connected, silent), half slow (a
    request head trickled a few bytes at a time, as a slowloris would). Reconnects what is closed."""

    def __init__(self, port: int, count: int) -> None:
        import socket
        import threading

        self.port, self.count, self.closed = port, count, 0
        self._socket = socket
        self._stop = threading.Event()
        self._socks: list[tuple[object, bool]] = []
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _open(self, slow: bool) -> tuple[object, bool]:
        sock = self._socket.create_connection(("127.0.0.1", self.port), timeout=5)
        if slow:
            sock.sendall(b"POST /hooks/stripe HTTP/1.1\r\nhost: x\r\n")
        return sock, slow

    def __enter__(self) -> Pests:
        self._socks = [self._open(i % 2 == 1) for i in range(self.count)]
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(0.5):
            for i, (sock, slow) in enumerate(self._socks):
                try:
                    if slow:
                        sock.sendall(b"x-slow: 1\r\n")  # type: ignore[attr-defined]
                    else:
                        sock.setblocking(False)  # type: ignore[attr-defined]
                        if sock.recv(1) == b"":  # type: ignore[attr-defined]
                            raise ConnectionError
                except BlockingIOError:
                    continue
                except OSError:
                    self.closed += 1
                    sock.close()  # type: ignore[attr-defined]
                    with contextlib.suppress(OSError):
                        self._socks[i] = self._open(slow)

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)
        for sock, _ in self._socks:
            sock.close()  # type: ignore[attr-defined]


def _peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def header_bomb(mib: int = 200) -> dict[str, object]:
    """One unauthenticated request with a ``mib`` MiB header against ``aikit listen``: peak RSS cost."""
    import socket

    with tempfile.TemporaryDirectory() as d:
        proc, port, _ = start_aikit(Path(d))
        try:
            time.sleep(0.5)
            before, peak0 = _rss_mb(proc.pid), _peak_rss_mb(proc.pid)
            sent, status = 0, b""
            with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
                sock.sendall(b"POST /hooks/stripe HTTP/1.1\r\nhost: x\r\nx-bomb: ")
                chunk = b"a" * (1 << 20)
                try:
                    while sent < mib << 20:
                        sock.sendall(chunk)
                        sent += len(chunk)
                    sock.sendall(b"\r\n\r\n")
                except OSError:  # the listener answered and closed: the rest was never read
                    pass
                try:
                    status = sock.recv(64).split(b"\r\n", 1)[0]
                except OSError:
                    status = b"(reset)"
            time.sleep(0.3)
            peak = _peak_rss_mb(proc.pid)
        finally:
            stop(proc)
    return {
        "sent_mib": sent / (1 << 20),
        "status": status.decode("latin-1"),
        "rss_before_mb": before,
        "peak_delta_mb": peak - max(peak0, before),
    }


def one_run(
    kind: str, seconds: float, connections: int, n: int, client: str, pests: int = 0
) -> dict[str, object]:
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        if kind == "aikit":
            proc, port, store = start_aikit(tmp, fd_limit=bool(pests))
        else:
            proc, port, store = start_flask(tmp, kind)
        try:
            with Pests(port, pests) if pests else contextlib.nullcontext():  # type: ignore[attr-defined]
                reqs = make_requests(n, port, kind) if client == "python" else []
                cpu0, own0, t0 = _cpu(proc.pid), time.process_time(), time.perf_counter()
                if client == "wrk":
                    res = drive_wrk(port, n, kind, connections, seconds, tmp)
                else:
                    res = _run_loop(drive(port, reqs, connections, seconds))
                total = res["ok"] + res["errors"]  # type: ignore[operator]
                res["server_cpu_ms"] = (_cpu(proc.pid) - cpu0) * 1000 / max(1, total)  # type: ignore[operator]
                own = (time.process_time() - own0) * 1000 / max(1, total)  # type: ignore[operator]
                res["client_cpu_ms"] = own if client == "python" else float("nan")  # wrk: another process
                res["wall"] = time.perf_counter() - t0
        finally:
            stop(proc)
        if client == "wrk":  # wrk cannot say which events were acknowledged: compare counts
            conn = sqlite3.connect(store)
            rows = conn.execute("SELECT count(*) FROM events").fetchone()[0]
            conn.close()
            res["missing"] = max(0, int(res["ok"]) - rows)  # type: ignore[call-overload]
        else:
            res["missing"] = missing(store, res.pop("acked"), "SELECT event_id FROM events")  # type: ignore[arg-type]
        return res


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument(
        "--client",
        choices=["auto", "python", "wrk"],
        default="auto",
        help="load generator: wrk (C; durability checked by row count; the default when installed) or "
        "python (asyncio/uvloop raw HTTP; checks every acknowledged event id, but costs client CPU)",
    )
    parser.add_argument("--pests", type=int, default=300, help="idle/slow sockets in the attack scenario")
    args = parser.parse_args()
    if args.client == "auto":
        import shutil

        args.client = "wrk" if shutil.which("wrk") else "python"
    print(
        f"load generator: {args.client}, {args.connections} connections, "
        f"{args.seconds:g} s x {args.runs} runs"
    )
    parser_pests = args.pests
    kinds = (
        ("flask", 3000, 0),
        ("starlette", 12000, 0),
        ("aikit", 12000, 0),
        ("aikit+pests", 12000, parser_pests),
    )
    rows: dict[str, list[dict[str, object]]] = {kind: [] for kind, _, _ in kinds}
    for _ in range(args.runs):
        for kind, cap, pests in kinds:
            receiver = "aikit" if kind.startswith("aikit") else kind
            res = one_run(
                receiver, args.seconds, args.connections, int(cap * (args.seconds + 1.5)), args.client, pests
            )
            rows[kind].append(res)
            print(
                f"{kind:11s} {res['events_per_s']:8.0f} events/s  p50 {res['p50_ms']:6.2f} ms  "
                f"p99 {res['p99_ms']:6.2f} ms  ok {res['ok']}  errors {res['errors']}  "
                f"acked-but-missing {res['missing']}  CPU/event: server {res['server_cpu_ms']:.3f} ms, "
                f"client {res['client_cpu_ms']:.3f} ms"
                + ("  (requests exhausted)" if res["exhausted"] else ""),
                flush=True,
            )

    def med(kind: str, key: str) -> float:
        return float(statistics.median(float(r[key]) for r in rows[kind]))  # type: ignore[arg-type]

    rate, base, p99 = med("aikit", "events_per_s"), med("flask", "events_per_s"), med("aikit", "p99_ms")
    ref, pested = med("starlette", "events_per_s"), med("aikit+pests", "events_per_s")
    ratio = rate / base if base else float("inf")
    ref_ratio = rate / ref if ref else float("inf")
    kept = pested / rate if rate else 0.0
    lost = sum(int(r["missing"]) for k in rows for r in rows[k])  # type: ignore[call-overload]
    bomb = header_bomb()
    print(
        f"\naikit durable: {rate:.0f} events/s, {ref_ratio:.2f}x Starlette group commit ({ref:.0f}/s), "
        f"{ratio:.1f}x Flask ({base:.0f}/s), p99 {p99:.2f} ms (Starlette {med('starlette', 'p99_ms'):.2f} ms)"
    )
    print(
        f"with {parser_pests} idle/slow sockets under ulimit -n 256: {pested:.0f} events/s, "
        f"{kept:.0%} of unloaded"
    )
    print(
        f"200 MiB header: sent {bomb['sent_mib']:.0f} MiB, answer {bomb['status']!r}, "
        f"peak RSS +{bomb['peak_delta_mb']:.1f} MB over {bomb['rss_before_mb']:.0f} MB"
    )
    for name, good in (
        ("events/s >= 4000", rate >= 4000),
        (">= 1.0x Starlette group commit", ref_ratio >= 1.0),
        ("ratio >= 6x Flask", ratio >= 6),
        ("p99 <= 15 ms", p99 <= 15),
        ("every acknowledged event stored", lost == 0),
        (f">= 90% throughput with {parser_pests} idle/slow sockets", kept >= 0.9),
        ("200 MiB header costs < 20 MB RSS", float(bomb["peak_delta_mb"]) < 20),  # type: ignore[arg-type]
    ):
        print(f"  [{'PASS' if good else 'MISS'}] {name}")
    print(
        f"  load1 {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs "
        "(other work on the machine skews events/s)"
    )
    return 1 if lost else 0


if __name__ == "__main__":
    sys.exit(main())

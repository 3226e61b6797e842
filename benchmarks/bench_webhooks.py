"""Durable webhook ingestion: aikit's listener against the seed tutorial's Flask receiver.

Both receivers verify a Stripe signature (HMAC-SHA256 over ``t.body``, constant-time compare,
timestamp window), store the event in SQLite in WAL mode with ``synchronous=FULL`` and answer 200
only after the commit. They run as separate processes: aikit through ``aikit listen`` (the same code
as the in-kernel listener), Flask as the tutorial wrote it (dev server, ``threaded=True``, one
connection behind a lock, one commit per request). The load comes from this process: 16 keep-alive
connections on loopback, each request a distinct pre-signed event, sent either by ``wrk`` (C, the
default when installed, as in the research baseline) or by a raw HTTP/1.1 asyncio/uvloop client
(``--client python``), which records every acknowledged event id and checks each one is stored.

After each run the receiver is stopped and its store is opened: every acknowledged event must be
there. Targets (issue 6): aikit >= 4,000 events/s, >= 6x Flask in the same run, p99 <= 15 ms.

    .venv/bin/python benchmarks/bench_webhooks.py [--seconds 5] [--connections 16] [--runs 3]   (medians)
"""

from __future__ import annotations

import argparse
import asyncio
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


def start_aikit(tmp: Path) -> tuple[subprocess.Popen[str], int, Path]:
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
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, text=True, cwd=ROOT)
    assert proc.stdout is not None
    for line in proc.stdout:
        if line.startswith("listening stripe"):
            return proc, int(line.rsplit(":", 1)[1].split("/")[0]), store
    raise RuntimeError("aikit listen did not start")


def start_flask(tmp: Path) -> tuple[subprocess.Popen[str], int, Path]:
    import socket

    script = tmp / "flask_receiver.py"
    script.write_text(FLASK_RECEIVER)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    store = tmp / "flask.sqlite"
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


def one_run(kind: str, seconds: float, connections: int, n: int, client: str) -> dict[str, object]:
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        proc, port, store = (start_aikit if kind == "aikit" else start_flask)(tmp)
        try:
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
    args = parser.parse_args()
    if args.client == "auto":
        import shutil

        args.client = "wrk" if shutil.which("wrk") else "python"
    print(
        f"load generator: {args.client}, {args.connections} connections, "
        f"{args.seconds:g} s x {args.runs} runs"
    )
    rows: dict[str, list[dict[str, object]]] = {"flask": [], "aikit": []}
    for _ in range(args.runs):
        for kind, cap in (("flask", 3000), ("aikit", 12000)):
            res = one_run(kind, args.seconds, args.connections, int(cap * (args.seconds + 1.5)), args.client)
            rows[kind].append(res)
            print(
                f"{kind:6s} {res['events_per_s']:8.0f} events/s  p50 {res['p50_ms']:6.2f} ms  "
                f"p99 {res['p99_ms']:6.2f} ms  ok {res['ok']}  errors {res['errors']}  "
                f"acked-but-missing {res['missing']}  CPU/event: server {res['server_cpu_ms']:.3f} ms, "
                f"client {res['client_cpu_ms']:.3f} ms"
                + ("  (requests exhausted)" if res["exhausted"] else ""),
                flush=True,
            )

    def med(kind: str, key: str) -> float:
        return float(statistics.median(float(r[key]) for r in rows[kind]))  # type: ignore[arg-type]

    rate, base, p99 = med("aikit", "events_per_s"), med("flask", "events_per_s"), med("aikit", "p99_ms")
    ratio = rate / base if base else float("inf")
    lost = sum(int(r["missing"]) for k in rows for r in rows[k])  # type: ignore[call-overload]
    print(f"\naikit durable: {rate:.0f} events/s, {ratio:.1f}x Flask ({base:.0f}/s), p99 {p99:.2f} ms")
    for name, good in (
        ("events/s >= 4000", rate >= 4000),
        ("ratio >= 6x Flask", ratio >= 6),
        ("p99 <= 15 ms", p99 <= 15),
        ("every acknowledged event stored", lost == 0),
    ):
        print(f"  [{'PASS' if good else 'MISS'}] {name}")
    print(
        f"  load1 {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs "
        "(other work on the machine skews events/s)"
    )
    return 1 if lost else 0


if __name__ == "__main__":
    sys.exit(main())

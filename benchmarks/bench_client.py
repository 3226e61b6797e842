"""aikit's AI client overhead: per-call CPU against raw httpx, import time, cached re-runs.

Not a test. Run: ``.venv/bin/python benchmarks/bench_client.py [--calls 1500] [--reps 3]``.

1. **Per-call client CPU at zero latency** (target: aikit <= 1.5 x raw ``httpx.AsyncClient`` at the same
   concurrency). The fake provider runs in a child process with no latency and no limits, so the
   client process's CPU (``getrusage``: user + sys, every thread: aikit's loop, call-log writer, cache
   writer) is all client work. Variants, interleaved, median of ``--reps``:

   * ``httpx``: ``httpx.AsyncClient`` + ``asyncio.Semaphore(c)``, POST, ``raise_for_status``, ``json()``;
   * ``aikit nocache``: ``AsyncAI(cache=False).achat`` (keys, pacing, retries, call log, parsing);
   * ``aikit cached``: the default ``AsyncAI`` with the disk cache (every prompt new: lookup + store).

2. **import aikit** in a fresh process (target <= 0.3 s), with ``httpx`` and ``openai`` as references.

3. **Cached re-run through the client**: N prompts already in the cache, a fresh process, time after
   imports for ``AsyncAI.cached(keys)`` (one bulk read) + ``achat`` per prompt, and ``achat`` alone.

4. **Embeddings** (target: >= 20x fewer requests than one text per request; a cached re-run sends
   none): ``--embed`` short texts through ``AI.embed`` against the fake provider at its input limit
   (2048 per request), against the same client with ``batch_size=1`` (the loop), each with a fresh
   cache; then the batched run again on its warm cache. Requests are counted by the server.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

KEY = "sk-bench"
PROMPT = (
    "Classify the sentiment of this review: the delivery was late but support was kind. Row {i} of {tag}."
)


def cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


async def run_httpx(base_url: str, n: int, conc: int, tag: str) -> None:
    import httpx

    sem = asyncio.Semaphore(conc)
    headers = {"authorization": f"Bearer {KEY}"}
    # keep-alive for every connection (httpx keeps 20 by default; fewer would churn connections at c=50)
    limits = httpx.Limits(max_connections=conc, max_keepalive_connections=conc)
    async with httpx.AsyncClient(timeout=60, limits=limits) as client:

        async def one(i: int) -> str:
            body = {
                "model": "gpt-4o-mini",
                "messages": [{"role": "user", "content": PROMPT.format(i=i, tag=tag)}],
                "max_tokens": 20,
            }
            async with sem:
                r = await client.post(base_url + "/chat/completions", json=body, headers=headers)
            r.raise_for_status()
            return str(r.json()["choices"][0]["message"]["content"])

        await asyncio.gather(*(one(i) for i in range(n)))


async def run_aikit(base_url: str, n: int, conc: int, tag: str, cache: bool) -> None:
    from aikit.client import AsyncAI

    ai = AsyncAI("openai:gpt-4o-mini", base_url=base_url, api_key=KEY, max_concurrency=conc, cache=cache)
    rs = await asyncio.gather(*(ai.achat(PROMPT.format(i=i, tag=tag), max_tokens=20) for i in range(n)))
    assert all(not r.cached for r in rs)
    await ai.aclose()  # flushes the call log: its writes are part of the cost


def overhead(calls: int, reps: int, concurrencies: list[int]) -> None:
    from aikit.testing import FakeProvider

    fake = FakeProvider.start_process(api_key=KEY, latency_median_s=0.0)
    variants = {
        "httpx": lambda c, tag: run_httpx(fake.base_url, calls, c, tag),
        "aikit nocache": lambda c, tag: run_aikit(fake.base_url, calls, c, tag, False),
        "aikit cached": lambda c, tag: run_aikit(fake.base_url, calls, c, tag, True),
    }
    try:
        for name, make in variants.items():  # warm up imports, pools, SQLite files
            asyncio.run(make(8, f"warm-{name}"))
        print(f"\n1. per-call client CPU at zero latency ({calls} calls, median of {reps}, ms/call)")
        for conc in concurrencies:
            samples: dict[str, list[float]] = {name: [] for name in variants}
            walls: dict[str, list[float]] = {name: [] for name in variants}
            for rep in range(reps):
                for name, make in variants.items():
                    c0, w0 = cpu(), time.perf_counter()
                    asyncio.run(make(conc, f"{name}-{conc}-{rep}"))
                    samples[name].append((cpu() - c0) / calls * 1000)
                    walls[name].append(time.perf_counter() - w0)
            base = statistics.median(samples["httpx"])
            for name in variants:
                ms = statistics.median(samples[name])
                wall = statistics.median(walls[name])
                print(
                    f"   c={conc:<3} {name:<14} {ms:6.2f} ms/call  ratio {ms / base:4.2f}x   "
                    f"wall {wall:5.2f} s  ({calls / wall:5.0f} calls/s)"
                )
        stats = fake.stats()
        print(f"   server: {stats['requests']} requests, {stats['by_status']}")
    finally:
        fake.stop()


def import_times(reps: int) -> None:
    print(f"\n2. import time in a fresh process (median of {reps})")
    for module in ("aikit", "httpx", "openai"):
        code = f"import time; t = time.perf_counter(); import {module}; print(time.perf_counter() - t)"
        values = []
        for _ in range(reps):
            out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
            if out.returncode != 0:
                break
            values.append(float(out.stdout))
        if values:
            target = "  (target <= 0.3 s)" if module == "aikit" else ""
            print(f"   import {module:<7} {statistics.median(values):.3f} s{target}")


_RERUN = """
import asyncio, json, sys, time
t0 = time.perf_counter()
from aikit.client import AsyncAI
prompts = [PROMPT.format(i=i, tag="rerun") for i in range(N)]
t1 = time.perf_counter()
async def main():
    ai = AsyncAI("openai:gpt-4o-mini", base_url="http://127.0.0.1:9/v1", api_key="sk-bench")
    if PREFETCH:
        await ai.cached([ai.cache_key(p, max_tokens=20) for p in prompts])
    for p in prompts:  # one worker's loop; no task per row
        r = await ai.achat(p, max_tokens=20)
        assert r.cached, "a row missed the cache"
    await ai.aclose()
asyncio.run(main())
print(json.dumps({"imports": t1 - t0, "run": time.perf_counter() - t1}))
"""


def cached_rerun(rows: int, reps: int) -> None:
    from aikit.client import AsyncAI
    from aikit.client.cache import open_cache
    from aikit.client.response import Response, Usage

    with tempfile.TemporaryDirectory() as home:
        os.environ["AIKIT_HOME"] = home
        ai = AsyncAI("openai:gpt-4o-mini", base_url="http://127.0.0.1:9/v1", api_key=KEY)
        cache = open_cache(True)
        text = "neutral " * 100  # ~1 KB answers
        for i in range(rows):
            key = ai.cache_key(PROMPT.format(i=i, tag="rerun"), max_tokens=20)
            cache.set(key, Response(text=text, model="gpt-4o-mini", usage=Usage(40, 20)).to_cache())  # type: ignore[attr-defined]
        cache.close()
        env = {**os.environ, "AIKIT_HOME": home}
        print(f"\n3. re-running {rows} cached prompts through AsyncAI in a fresh process (median of {reps})")
        for prefetch in (True, False):
            code = f"PROMPT = {PROMPT!r}\nN = {rows}\nPREFETCH = {prefetch}\n" + _RERUN
            results: list[dict[str, Any]] = []
            for _ in range(reps):
                out = subprocess.run(
                    [sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=ROOT
                )
                if out.returncode != 0:
                    print("   failed:", out.stderr[-500:])
                    return
                results.append(json.loads(out.stdout))
            run = statistics.median(r["run"] for r in results)
            label = "cached(keys) then achat" if prefetch else "achat only            "
            print(f"   {label}  {run:.3f} s after imports ({run / rows * 1e6:.0f} us/row)")


def embeddings(n: int) -> None:
    from aikit import AI
    from aikit.testing import FakeConfig, FakeProvider

    print(f"\n4. embedding {n:,} short texts through the fake provider (input limit 2048 per request)")
    texts = [f"ticket {i}: the invoice for order {i % 97} is wrong" for i in range(n)]
    with FakeProvider(FakeConfig(api_key=KEY)) as fake, tempfile.TemporaryDirectory() as home:
        rows = []
        for label, size, cache in (("one per request", 1, "loop"), ("batched", None, "batched"),
                                   ("batched, cached re-run", None, "batched")):  # fmt: skip
            ai = AI("compat:text-embedding-3-small", base_url=fake.base_url, api_key=KEY,
                    cache=os.path.join(home, cache))  # fmt: skip
            before = fake.stats()["by_path"].get("/embeddings", 0)
            t = time.perf_counter()
            vectors = ai.embed(texts, batch_size=size)
            elapsed = time.perf_counter() - t
            sent = fake.stats()["by_path"].get("/embeddings", 0) - before
            ai.close()
            rows.append((label, sent, elapsed, vectors.shape))
            print(f"   {label:<24} {sent:>6,} requests  {elapsed:6.2f} s  {vectors.shape}")
        loop, batched = rows[0][1], rows[1][1]
        print(f"   requests: {loop / max(batched, 1):,.0f}x fewer batched (target >= 20x); "
              f"cached re-run: {rows[2][1]} requests (target 0)")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=1500)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[8, 50])
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--embed", type=int, default=10_000)
    parser.add_argument("--skip", nargs="*", default=[], choices=["overhead", "import", "rerun", "embed"])
    args = parser.parse_args()
    t0 = time.perf_counter()
    if "overhead" not in args.skip:
        with tempfile.TemporaryDirectory() as home:
            os.environ["AIKIT_HOME"] = home
            overhead(args.calls, args.reps, args.concurrency)
    if "import" not in args.skip:
        import_times(5)
    if "rerun" not in args.skip:
        cached_rerun(args.rows, args.reps)
    if "embed" not in args.skip:
        embeddings(args.embed)
    load = os.getloadavg()[0]
    print(f"\n(total {time.perf_counter() - t0:.0f} s; load1 {load:.1f} on {os.cpu_count()} cores)")


if __name__ == "__main__":
    main()

"""Batch benchmark: aikit's batch engine at a provider's rate limit, against the common recipe.

Scenarios (fake provider in a child process on 127.0.0.1, every client in a fresh child process):

- ``clean``: N=2,000 prompts of ~660 characters (``max_tokens=20``), 3,000 RPM enforced as a 1-s
  token bucket, lognormal latency (median 300 ms, sigma 0.5), 429s with ``retry-after`` and
  ``retry-after-ms``. Targets: wall <= 1.05 x T_opt (median of the repetitions), 0 lost rows,
  429s <= 1% of requests, client CPU <= 4 ms per row.
- ``faults``: the same plus 1% 5xx, 0.5% answers delayed 5 s, 0.1% hanging past the client's 10-s
  timeout. Targets: 0 lost, wall <= 1.25 x T_opt.
- ``tpm``: N=1,000, 390k TPM (about 2,000 RPM effective, so TPM binds). Target <= 1.05 x T_opt, 0 lost.
- ``baseline``: ``openai.AsyncOpenAI`` + ``asyncio.Semaphore(50)`` (the SDK's default 2 retries, 10-s
  timeout) on the clean scenario: its lost rows and 429 count.
- ``cached``: a fully cached re-run of 10,000 rows through ``df.ai.map`` in a fresh process, timed
  from after the imports to the exit of the process (the call-log rows written at exit included),
  against a bare loop over the same keys in a fresh process (render, sha256 of the canonical JSON,
  ``diskcache.get``, ``json.loads``, a column of a copy). Target: at most 1.0x the bare loop.

T_opt is computed here: a perfect client starts request k at max(0, (k - B)/r) (and, for TPM, when
the token bucket has refilled the cumulative tokens) and waits one latency, with the same seeded
latency draws the server makes. Ratios are printed; nothing is asserted.

Run ``python benchmarks/bench_batch.py`` (3 repetitions of clean and tpm, 1 of faults: about 6-9
minutes on 2 busy cores) or ``--quick`` (one repetition per scenario, about 3 minutes). Diagnostics:
``--limiter-floor 64`` keeps the client's adaptive concurrency from dropping, ``--no-cache-writes``
runs the client with ``cache=False`` (no cache write on the request path).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import random
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

MODEL = "fake-model"
MAX_TOKENS = 20
TIMEOUT_S = 10.0
WORDS = [
    "delivery",
    "late",
    "refund",
    "support",
    "friendly",
    "broken",
    "invoice",
    "great",
    "slow",
    "app",
    "crash",
    "quality",
    "price",
    "excellent",
    "terrible",
    "package",
    "helpful",
    "manager",
    "waited",
    "order",
    "missing",
    "replaced",
    "thanks",
    "account",
]

SCENARIOS: dict[str, dict[str, Any]] = {
    "clean": {"n": 2000, "server": {"rpm": 3000, "tpm": None}, "client": {"rpm": 3000}},
    "faults": {
        "n": 2000,
        "server": {
            "rpm": 3000,
            "tpm": None,
            "error_rate": 0.01,
            "slow_rate": 0.005,
            "slow_s": 5.0,
            "hang_rate": 0.001,
            "hang_s": 30.0,
        },
        "client": {"rpm": 3000},
    },
    "tpm": {"n": 1000, "server": {"rpm": 3000, "tpm": 390_000}, "client": {"rpm": 3000, "tpm": 390_000}},
}
BASE_SERVER = {
    "latency_median_s": 0.3,
    "latency_sigma": 0.5,
    "seed": 7,
    "burst_s": 1.0,
    "retry_after": "both",
    "error_rate": 0.0,
    "slow_rate": 0.0,
    "hang_rate": 0.0,
}
TARGETS = {"clean": 1.05, "faults": 1.25, "tpm": 1.05}


def make_prompts(n: int, offset: int = 0) -> list[str]:
    """Deterministic ~660-character sentiment prompts, all different."""
    out = []
    for i in range(offset, offset + n):
        rng = random.Random(i)
        review = " ".join(rng.choice(WORDS) for _ in range(80))[:560]
        out.append(
            f"Classify the sentiment of this customer review as positive, negative or neutral. "
            f"Review #{i}: {review}"
        )
    return out


# --------------------------------------------------------------------------------------------------
# The theoretical optimum
# --------------------------------------------------------------------------------------------------


def t_opt(prompts: list[str], server: dict[str, Any], seed: int | None = None) -> float:
    """Finish time of a perfect client, with the server's latency draws (seeded like the server)."""
    from aikit.testing.fake_wire import prompt_tokens

    cfg = {**BASE_SERVER, **server}
    rng = random.Random(cfg["seed"] if seed is None else seed)
    rate = cfg["rpm"] / 60.0
    bucket = rate * cfg["burst_s"]
    tpm = cfg.get("tpm")
    faults = cfg["error_rate"] or cfg["slow_rate"] or cfg["hang_rate"]
    t_rate = tpm / 60.0 if tpm else None
    t_bucket = t_rate * cfg["burst_s"] if t_rate else 0.0
    mu, sigma = math.log(cfg["latency_median_s"]), cfg["latency_sigma"]
    cumulative = 0.0
    finish = 0.0
    for k, prompt in enumerate(prompts):
        start = max(0.0, (k - bucket) / rate)
        if t_rate:
            cumulative += prompt_tokens([("user", prompt)]) + MAX_TOKENS
            start = max(start, (cumulative - t_bucket) / t_rate)
        latency = min(20.0, rng.lognormvariate(mu, sigma))
        if faults:
            rng.random()  # the server draws its fault after the latency
        finish = max(finish, start + latency)
    return finish


# --------------------------------------------------------------------------------------------------
# Client workers (each runs in its own process; prints one JSON line)
# --------------------------------------------------------------------------------------------------


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def _expected(prompts: list[str]) -> list[str]:
    from aikit.testing.fake_wire import fake_reply

    return [fake_reply(MODEL, [{"role": "user", "content": p}]) for p in prompts]


def worker_aikit(args: argparse.Namespace) -> dict[str, Any]:
    os.environ["AIKIT_HOME"] = tempfile.mkdtemp(prefix="bench-batch-")
    from aikit._batch.api import batch
    from aikit.client import AI

    scenario = SCENARIOS[args.scenario]
    prompts = make_prompts(args.n)
    options: dict[str, Any] = dict(scenario["client"])
    if args.limiter_floor:  # diagnostic: keep the adaptive concurrency from dropping below this
        from aikit.client.ratelimit import RateLimiter

        options = {"limiter": RateLimiter(**options, min_concurrency=args.limiter_floor)}
    if args.no_cache_writes:  # diagnostic: no response cache, so no cache write on the request path
        options["cache"] = False
    run_options: dict[str, Any] = {}
    if args.hedge:
        run_options["hedge"] = args.hedge not in ("off", "false", "0")
    ai = AI(f"compat:{MODEL}", base_url=args.base_url, api_key="sk-bench", timeout=TIMEOUT_S, **options)
    writes = _trace_cache_writes()
    cpu0, t0 = _cpu(), time.perf_counter()
    result = batch(prompts, ai=ai, max_tokens=MAX_TOKENS, progress=False, **run_options)
    wall, cpu = time.perf_counter() - t0, _cpu() - cpu0
    expected = _expected(prompts)
    wrong = sum(1 for r, e in zip(result, expected, strict=True) if r.ok and r.text != e)
    failed = [r.error for r in result if not r.ok]
    return {
        "wall_s": wall,
        "cpu_s": cpu,
        "rows": len(prompts),
        "ok": sum(1 for r in result if r.ok) - wrong,
        "lost": len(failed) + wrong,
        "errors": failed[:3],
        "client": ai.stats(),
        "cache_write_ms": _percentiles(writes),
    }


def _trace_cache_writes() -> list[float]:
    """Measure how long each cache write on the request path takes (the client awaits it)."""
    from aikit.client.cache import DiskResponseCache

    seen: list[float] = []
    original = DiskResponseCache.aset

    async def aset(self: Any, key: str, value: dict[str, Any]) -> None:
        start = time.perf_counter()
        try:
            await original(self, key, value)
        finally:
            seen.append(time.perf_counter() - start)

    DiskResponseCache.aset = aset  # type: ignore[method-assign]
    return seen


def _percentiles(values: list[float]) -> dict[str, float]:
    if not values:
        return {}
    ordered = sorted(values)

    def pick(q: float) -> float:
        return round(1000 * ordered[min(len(ordered) - 1, int(q * len(ordered)))], 2)

    return {"p50": pick(0.5), "p90": pick(0.9), "p99": pick(0.99), "max": pick(1.0)}


def worker_openai(args: argparse.Namespace) -> dict[str, Any]:
    import openai

    prompts = make_prompts(args.n)

    async def main() -> list[Any]:
        client = openai.AsyncOpenAI(
            base_url=args.base_url, api_key="sk-bench", timeout=TIMEOUT_S, max_retries=2
        )
        sem = asyncio.Semaphore(50)

        async def one(prompt: str) -> Any:
            async with sem:
                try:
                    r = await client.chat.completions.create(
                        model=MODEL, messages=[{"role": "user", "content": prompt}], max_tokens=MAX_TOKENS
                    )
                    return r.choices[0].message.content
                except Exception as exc:  # the recipe loses the row
                    return exc

        try:
            return await asyncio.gather(*(one(p) for p in prompts))
        finally:
            await client.close()

    cpu0, t0 = _cpu(), time.perf_counter()
    answers = asyncio.run(main())
    wall, cpu = time.perf_counter() - t0, _cpu() - cpu0
    expected = _expected(prompts)
    ok = sum(1 for a, e in zip(answers, expected, strict=True) if a == e)
    kinds: dict[str, int] = {}
    for a in answers:
        if isinstance(a, Exception):
            kinds[type(a).__name__] = kinds.get(type(a).__name__, 0) + 1
    return {"wall_s": wall, "cpu_s": cpu, "rows": len(prompts), "ok": ok, "lost": len(prompts) - ok,
            "errors": kinds}  # fmt: skip


class _Bucket:
    """A leaky bucket like ``aiolimiter.AsyncLimiter``: ``capacity`` drains at ``rate`` per second."""

    def __init__(self, rate: float, capacity: float) -> None:
        self.rate, self.capacity = rate, capacity
        self.level, self.last = 0.0, time.monotonic()

    async def acquire(self, amount: float) -> None:
        while True:
            now = time.monotonic()
            self.level = max(0.0, self.level - (now - self.last) * self.rate)
            self.last = now
            if self.level + amount <= self.capacity:
                self.level += amount
                return
            await asyncio.sleep((self.level + amount - self.capacity) / self.rate)


def worker_httpx(args: argparse.Namespace) -> dict[str, Any]:
    """The hand-written reference (performance.md, client d): paced httpx, retry until success.

    ``httpx.AsyncClient`` with a semaphore of 50, leaky buckets for RPM and TPM (1-s deep, chars/4
    token estimate) acquired before every attempt, up to 30 attempts: a 429 waits ``retry-after-ms``
    plus up to 50 ms of jitter, a 5xx, timeout or transport error backs off 0.5 s doubling to 8 s,
    with full jitter.
    """
    import httpx

    scenario = SCENARIOS[args.scenario]
    prompts = make_prompts(args.n)
    rpm, tpm = scenario["client"].get("rpm"), scenario["client"].get("tpm")
    url = args.base_url.rstrip("/") + "/chat/completions"

    async def main() -> list[Any]:
        requests = _Bucket(rpm / 60.0, rpm / 60.0) if rpm else None
        tokens = _Bucket(tpm / 60.0, tpm / 60.0) if tpm else None
        sem = asyncio.Semaphore(50)
        limits = httpx.Limits(max_connections=50, max_keepalive_connections=50)
        async with httpx.AsyncClient(timeout=TIMEOUT_S, limits=limits) as client:
            headers = {"authorization": "Bearer sk-bench"}

            async def one(prompt: str) -> Any:
                body = {"model": MODEL, "messages": [{"role": "user", "content": prompt}],
                        "max_tokens": MAX_TOKENS}  # fmt: skip
                estimate = len(prompt) // 4 + 4 + MAX_TOKENS
                async with sem:
                    for attempt in range(30):
                        if requests is not None:
                            await requests.acquire(1)
                        if tokens is not None:
                            await tokens.acquire(estimate)
                        try:
                            r = await client.post(url, json=body, headers=headers)
                        except httpx.HTTPError:
                            await asyncio.sleep(random.uniform(0, min(8.0, 0.5 * 2**attempt)))
                            continue
                        if r.status_code == 200:
                            return r.json()["choices"][0]["message"]["content"]
                        if r.status_code == 429:
                            wait = float(r.headers.get("retry-after-ms", 1000)) / 1000
                            await asyncio.sleep(wait + random.uniform(0, 0.05))
                        else:
                            await asyncio.sleep(random.uniform(0, min(8.0, 0.5 * 2**attempt)))
                    return RuntimeError("gave up after 30 attempts")

            return await asyncio.gather(*(one(p) for p in prompts))

    cpu0, t0 = _cpu(), time.perf_counter()
    answers = asyncio.run(main())
    wall, cpu = time.perf_counter() - t0, _cpu() - cpu0
    expected = _expected(prompts)
    ok = sum(1 for a, e in zip(answers, expected, strict=True) if a == e)
    return {"wall_s": wall, "cpu_s": cpu, "rows": len(prompts), "ok": ok, "lost": len(prompts) - ok}


CACHED_TEMPLATE = (
    "Classify the sentiment of this customer review as positive, negative or neutral. Review #{review}"
)


def _cached_frame(n: int) -> Any:
    import pandas as pd

    return pd.DataFrame({"review": [p.split(": ", 1)[1] for p in make_prompts(n)]})


def worker_cached(args: argparse.Namespace) -> dict[str, Any]:
    """Fresh process: one df.ai.map over rows whose answers are all cached, then the process exits.

    The clock starts after the imports and the DataFrame (``t0``, epoch seconds); the parent stops it
    when the process has exited, so the call-log rows flushed at exit are paid for.
    """
    os.environ["AIKIT_HOME"] = tempfile.mkdtemp(prefix="bench-batch-")  # a fresh call log
    import aikit  # noqa: F401 - registers df.ai
    from aikit.client import AI

    df = _cached_frame(args.n)
    t0, w0 = time.time(), time.perf_counter()
    ai = AI(
        f"compat:{MODEL}", base_url=args.base_url, api_key="sk-bench", cache=args.cache_dir, timeout=TIMEOUT_S
    )
    out = df.ai.map(CACHED_TEMPLATE, ai=ai, max_tokens=MAX_TOKENS, progress=False)
    return {
        "t0": t0,
        "call_s": time.perf_counter() - w0,
        "rows": len(df),
        "errors": int(out["ai_error"].notna().sum()),
        "cached": out.attrs["aikit"]["counts"]["cached"],
    }


def worker_bare_cached(args: argparse.Namespace) -> dict[str, Any]:
    """The simplest hand-written alternative: per row, render, key, ``diskcache.get``, ``json.loads``.

    The key is the one aikit uses (sha256 of the canonical request JSON with the stdlib encoder), so
    both loops read the same entries; the answers become a column of a copy of the DataFrame.
    """
    import hashlib

    import diskcache

    from aikit.client.cache import normalize_base_url

    df = _cached_frame(args.n)
    t0, w0 = time.time(), time.perf_counter()
    disk = diskcache.Cache(args.cache_dir)
    base = normalize_base_url(args.base_url)
    texts = []
    for review in df["review"].tolist():
        fields = {
            "provider": "compat", "base_url": base, "model": MODEL,
            "messages": [{"role": "user", "content": CACHED_TEMPLATE.format(review=review)}],
            "params": {"max_tokens": MAX_TOKENS}, "schema": None,
        }  # fmt: skip
        text = json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        blob = disk.get("aikit1:" + hashlib.sha256(text.encode()).hexdigest())
        texts.append(None if blob is None else json.loads(blob)["text"])
    out = df.copy()
    out["ai_output"] = texts
    disk.close()
    return {
        "t0": t0,
        "call_s": time.perf_counter() - w0,
        "rows": len(df),
        "errors": int(out["ai_output"].isna().sum()),
        "cached": int(out["ai_output"].notna().sum()),
    }


def run_cached(base_url: str, n: int, reps: int) -> dict[str, list[dict[str, Any]]]:
    """Interleaved fresh processes of aikit and the bare loop over one populated cache directory."""
    cache_dir = tempfile.mkdtemp(prefix="bench-batch-cache-")
    populate_cache(cache_dir, n, base_url)
    out: dict[str, list[dict[str, Any]]] = {"cached": [], "bare_cached": []}
    for _ in range(reps):
        for kind in ("bare_cached", "cached"):
            result = run_worker(kind, n=n, base_url=base_url, cache_dir=cache_dir, end_to_end=True)
            out[kind].append(result)
    return out


def populate_cache(cache_dir: str, n: int, base_url: str) -> None:
    """Write the answers of the cached scenario straight into a cache directory."""
    from aikit.client import AI
    from aikit.client.cache import open_cache
    from aikit.client.response import Response, Usage

    ai = AI(f"compat:{MODEL}", base_url=base_url, api_key="sk-bench", cache=cache_dir)
    prompts = [
        "Classify the sentiment of this customer review as positive, negative or neutral. Review #"
        + p.split(": ", 1)[1]
        for p in make_prompts(n)
    ]
    store = open_cache(cache_dir)
    for prompt, text in zip(prompts, _expected(prompts), strict=True):
        key = ai.cache_key(prompt, max_tokens=MAX_TOKENS)
        store.set(key, Response(text=text, model=MODEL, usage=Usage(170, 5)).to_cache())  # type: ignore[attr-defined]
    store.close()


# --------------------------------------------------------------------------------------------------
# Orchestration
# --------------------------------------------------------------------------------------------------


def run_worker(kind: str, *, end_to_end: bool = False, **options: Any) -> dict[str, Any]:
    """Run one worker in a fresh process; ``end_to_end``: ``total_s`` from the worker's ``t0`` to its exit."""
    cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", kind]
    for name, value in options.items():
        flag = f"--{name.replace('_', '-')}"
        cmd += [flag] if value is True else [flag, str(value)]
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=900, env=env)
    exited = time.time()
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    if proc.returncode != 0 or not lines:
        raise RuntimeError(f"worker {kind} failed ({proc.returncode}): {proc.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(lines[-1])
    if end_to_end:
        result["total_s"] = exited - result["t0"]
    return result


def timeline_text(stats: dict[str, Any]) -> str:
    pairs = stats.get("timeline") or []
    return " ".join(f"{s}:{c}" for s, c in pairs)


def run_scenario(
    fake: Any, name: str, client: str, reps: int, rows_n: int = 0, seed: int | None = None, **extra: Any
) -> list[dict[str, Any]]:
    scenario = SCENARIOS[name if name in SCENARIOS else "clean"]
    n = rows_n or scenario["n"]
    prompts = make_prompts(n)
    server = {**BASE_SERVER, **scenario["server"], **({"seed": seed} if seed is not None else {})}
    topt = t_opt(prompts, server)
    rows = []
    for rep in range(reps):
        fake.configure(**server)
        fake.reset()
        result = run_worker(
            client,
            scenario=name if name in SCENARIOS else "clean",
            n=n,
            base_url=fake.base_url,
            **{k: v for k, v in extra.items() if v},
        )
        stats = fake.stats()
        result.update(
            scenario=name,
            rep=rep,
            seed=server["seed"],
            t_opt=topt,
            ratio=result["wall_s"] / topt,
            requests=stats["requests"],
            rate_limited=stats["rate_limited"],
            server_errors=stats["server_errors"],
            hangs=stats["hangs"],
            slow=stats["slow"],
            max_in_flight=stats["max_in_flight"],
            timeline=timeline_text(stats),
        )
        rows.append(result)
        print(
            f"  {name:9s} {client:6s} rep {rep}: wall {result['wall_s']:6.2f} s  T_opt {topt:5.2f} s  "
            f"ratio {result['ratio']:.3f}  ok {result['ok']}/{result['rows']}  lost {result['lost']}  "
            f"requests {stats['requests']}  429s {stats['rate_limited']} "
            f"({100 * stats['rate_limited'] / max(1, stats['requests']):.2f}%)  "
            f"5xx {stats['server_errors']}  "
            f"hangs {stats['hangs']}  CPU {1000 * result['cpu_s'] / result['rows']:.2f} ms/row"
            + (f"  cache writes ms {result['cache_write_ms']}" if result.get("cache_write_ms") else ""),
            flush=True,
        )
    return rows


def summarise(
    name: str, rows: list[dict[str, Any]], target: float | None, ref: list[dict[str, Any]] | None = None
) -> None:
    ratio = statistics.median(r["ratio"] for r in rows)
    lost = max(r["lost"] for r in rows)
    r429 = statistics.median(100 * r["rate_limited"] / max(1, r["requests"]) for r in rows)
    cpu = statistics.median(1000 * r["cpu_s"] / r["rows"] for r in rows)
    extra = statistics.median(100 * (r["requests"] - r["rows"]) / r["rows"] for r in rows)
    verdict = []
    if target is not None:
        verdict.append(f"ratio {'OK' if ratio <= target else 'MISSED'} (<= {target})")
        verdict.append(f"lost {'OK' if lost == 0 else 'MISSED'}")
    if name == "clean":
        verdict.append(f"429s {'OK' if r429 <= 1.0 else 'MISSED'} (<= 1%)")
    print(
        f"{name:9s} aikit median ratio {ratio:.3f} x T_opt ({rows[0]['t_opt']:.2f} s), max lost {lost}, "
        f"median 429s {r429:.2f}%, requests beyond N {extra:.2f}% of N, CPU {cpu:.2f} ms/row  "
        f"{'; '.join(verdict)}"
    )
    hedged = [r["client"].get("hedges") for r in rows if r.get("client", {}).get("hedges") is not None]
    if hedged:
        share = 100 * max(hedged) / rows[0]["rows"]
        print(f"          hedged requests per rep: {hedged} ({share:.2f}% of N at most)")
    if ref:
        ref_ratio = statistics.median(r["ratio"] for r in ref)
        ref_cpu = statistics.median(1000 * r["cpu_s"] / r["rows"] for r in ref)
        ref_429 = statistics.median(100 * r["rate_limited"] / max(1, r["requests"]) for r in ref)
        print(
            f"          paced-httpx reference: ratio {ref_ratio:.3f}, "
            f"max lost {max(r['lost'] for r in ref)}, "
            f"429s {ref_429:.2f}%, CPU {ref_cpu:.2f} ms/row; aikit/reference CPU {cpu / ref_cpu:.2f}x "
            f"({'OK' if cpu <= ref_cpu else 'MISSED'}, <= 1.0x), wall {ratio / ref_ratio:.3f}x"
        )
    missed = target is not None and (ratio > target or lost > 0)
    if missed:
        for r in rows:
            print(f"    rep {r['rep']} requests per second at the server: {r['timeline']}")
            if r.get("errors"):
                print(f"    rep {r['rep']} errors: {r['errors']}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--quick", action="store_true", help="one repetition per scenario")
    parser.add_argument("--reps", type=int, default=3, help="repetitions of clean and tpm (median taken)")
    parser.add_argument(
        "--fault-reps", type=int, default=1, help="repetitions of faults (seeded: faults hit the same rows)"
    )
    parser.add_argument("--only", default="clean,faults,tpm,baseline,cached")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--scenario", default="clean", help=argparse.SUPPRESS)
    parser.add_argument("--n", type=int, default=2000, help=argparse.SUPPRESS)
    parser.add_argument("--base-url", help=argparse.SUPPRESS)
    parser.add_argument("--cache-dir", help=argparse.SUPPRESS)
    parser.add_argument(
        "--limiter-floor", type=int, default=0, help="diagnostic: min_concurrency of the client's limiter"
    )
    parser.add_argument(
        "--no-cache-writes", action="store_true", help="diagnostic: run the aikit client with cache=False"
    )
    parser.add_argument("--rows", type=int, default=0, help="rows per scenario (default: the scenario's N)")
    parser.add_argument("--no-reference", action="store_true", help="skip the paced-httpx reference client")
    parser.add_argument(
        "--compare-hedge", action="store_true", help="also run aikit with hedge=False in every repetition"
    )
    parser.add_argument("--hedge", default="", help="aikit's hedge= option (default: the option's default)")
    args = parser.parse_args()
    if args.worker:
        worker = {
            "aikit": worker_aikit, "openai": worker_openai, "httpx": worker_httpx, "cached": worker_cached,
            "bare_cached": worker_bare_cached,
        }[args.worker]  # fmt: skip
        print(json.dumps(worker(args), default=str), flush=True)
        return 0

    from aikit.testing import FakeConfig, FakeProvider

    reps = 1 if args.quick else args.reps
    only = set(args.only.split(","))
    started = time.perf_counter()
    fake = FakeProvider.start_process(FakeConfig(**{**BASE_SERVER, **SCENARIOS["clean"]["server"]}))
    results: dict[str, list[dict[str, Any]]] = {}
    try:
        print(f"fake provider at {fake.base_url}; {reps} repetition(s); load {os.getloadavg()[0]:.1f}")
        for name in ("clean", "faults", "tpm"):
            if name in only:
                n_reps = min(reps, args.fault_reps) if name == "faults" else reps
                results[name], results[f"{name}-ref"] = [], []
                results[f"{name}-nohedge"] = []
                for rep in range(n_reps):  # interleaved: aikit, then the reference, rep by rep
                    # faults: each repetition draws its faults from another seed, so the tail differs
                    seed = BASE_SERVER["seed"] + rep if name == "faults" else None
                    results[name] += run_scenario(
                        fake, name, "aikit", 1, args.rows, seed, limiter_floor=args.limiter_floor,
                        no_cache_writes=args.no_cache_writes, hedge=args.hedge,
                    )  # fmt: skip
                    if args.compare_hedge:
                        results[f"{name}-nohedge"] += run_scenario(
                            fake, name, "aikit", 1, args.rows, seed, hedge="off"
                        )
                    if not args.no_reference:
                        results[f"{name}-ref"] += run_scenario(fake, name, "httpx", 1, args.rows, seed)
        if "baseline" in only:
            results["baseline"] = run_scenario(fake, "baseline", "openai", 1)
        cached = None
        if "cached" in only:
            cached = run_cached(fake.base_url, 10_000, max(3, reps))
    finally:
        fake.stop()

    print("\n== summary (ratios to T_opt; medians over repetitions) ==")
    for name in ("clean", "faults", "tpm"):
        if name in results:
            summarise(name, results[name], TARGETS[name], results.get(f"{name}-ref") or None)
            off = results.get(f"{name}-nohedge")
            if off:
                pairs = zip(results[name], off, strict=True)
                ratios = ", ".join(
                    f"{a['ratio']:.3f} vs {b['ratio']:.3f} (seed {a['seed']})" for a, b in pairs
                )
                print(f"          hedge on vs off, per repetition: {ratios}")
    if "baseline" in results:
        b = results["baseline"][0]
        ours = results.get("clean")
        print(
            f"baseline  openai.AsyncOpenAI + Semaphore(50): lost {b['lost']}/{b['rows']} rows "
            f"({100 * b['lost'] / b['rows']:.1f}%), {b['rate_limited']} x 429 "
            f"({100 * b['rate_limited'] / max(1, b['requests']):.1f}% of {b['requests']} requests), "
            f"wall {b['wall_s']:.1f} s, CPU {1000 * b['cpu_s'] / b['rows']:.2f} ms/row, errors {b['errors']}"
        )
        if ours:
            cpu_ours = statistics.median(r["cpu_s"] for r in ours)
            print(
                f"          aikit vs baseline in the same run: "
                f"lost {max(r['lost'] for r in ours)} vs {b['lost']}, "
                f"429s {statistics.median(r['rate_limited'] for r in ours):.0f} vs {b['rate_limited']}, "
                f"CPU ratio {cpu_ours / max(1e-9, b['cpu_s']):.2f}"
            )
    if cached is not None:
        ours, bare = cached["cached"], cached["bare_cached"]
        t_ours = statistics.median(r["total_s"] for r in ours)
        t_bare = statistics.median(r["total_s"] for r in bare)
        ratios = [a["total_s"] / b["total_s"] for a, b in zip(ours, bare, strict=True)]
        print(
            f"cached    10,000 rows, fresh process, after imports to process exit: df.ai.map {t_ours:.3f} s "
            f"(call {statistics.median(r['call_s'] for r in ours):.3f} s) vs bare diskcache loop "
            f"{t_bare:.3f} s (loop {statistics.median(r['call_s'] for r in bare):.3f} s): "
            f"{t_ours / t_bare:.2f}x (per rep {', '.join(f'{x:.2f}' for x in ratios)}; "
            f"{'OK' if t_ours <= t_bare else 'MISSED'}, <= 1.0x), "
            f"{min(r['cached'] for r in ours)} cached, {max(r['errors'] for r in ours)} errors"
        )
    print(f"total benchmark time {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

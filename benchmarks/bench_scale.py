"""Scale-out benchmark: ddf.ai.map on 4 Dask worker processes sharing a Redis limiter and cache.

Scenario (issue 9): the fake provider in its own process, limited to 1,200 RPM (a 1-s token bucket,
429 with retry-after beyond it), lognormal latency (median 300 ms, sigma 0.5); a LocalCluster of 4
worker processes (1 thread each); 4,000 rows in 16 partitions; every worker builds its own aikit
client from the driver's description, all pacing through one :class:`RedisLimiter` and caching in
one :class:`RedisCache`. Measured in the same run and printed as ratios:

- wall time against the optimum T_opt: a perfect client starts request k at
  max(0, (k - bucket) / rate) and waits one median latency;
- the combined request rate at the provider in every 10-second window, against the limit;
- lost rows (no answer) and the share of 429 responses;
- a second run of the same batch: provider calls (shared cache) and speed-up over the first run;
- baseline, same cluster: each worker paces with its own in-process limiter at the full RPM
  (what you get without a shared limiter), on ``--baseline-rows`` rows: its 429s and overshoot.

Run ``python benchmarks/bench_scale.py`` (about 4 minutes: 4,000 rows at 20/s take 200 s);
``--rows 1000`` for a ~1 minute run. Needs ``redis-server`` (or ``REDIS_URL``). Workers import the
aikit stack before the clock starts, as a long-running cluster would have.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import uuid
from typing import Any

TONE = {
    "type": "object",
    "properties": {"tone": {"type": "string", "enum": ["positive", "neutral", "negative"]}},
    "required": ["tone"],
}
KEY = "sk-bench-scale"


def _warm_up() -> None:
    import importlib

    for name in ("aikit.scale.dask", "aikit.client", "aikit._batch.accessor", "jsonschema"):
        importlib.import_module(name)


def _worst_window(arrivals: list[float], window_s: float) -> int:
    """Most arrivals in any window of ``window_s`` seconds (two pointers over sorted times)."""
    times = sorted(arrivals)
    best, j = 0, 0
    for i in range(len(times)):
        while j < len(times) and times[j] - times[i] < window_s:
            j += 1
        best = max(best, j - i)
    return best


def _flush_call_log() -> None:
    from aikit.client.calllog import calllog

    calllog().flush()


def _client_sends(home: str, since: float, until: float) -> list[float]:
    """Send times (wall clock) of the HTTP attempts the workers logged in ``[since, until]``."""
    import sqlite3
    from pathlib import Path

    path = Path(home) / "calls.sqlite"
    if not path.exists():
        return []
    with sqlite3.connect(str(path)) as con:
        rows = con.execute(
            "SELECT ts - COALESCE(latency_s, 0) FROM calls WHERE cache_hit = 0 AND ts BETWEEN ? AND ?",
            (since, until),
        ).fetchall()
    return [float(r[0]) for r in rows]


def _run(out: Any) -> tuple[Any, float]:
    start = time.perf_counter()
    res = out.ai.compute(progress="log")
    return res, time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=4000)
    parser.add_argument("--rpm", type=float, default=1200)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--partitions", type=int, default=16)
    parser.add_argument("--latency", type=float, default=0.3, help="median latency (s)")
    parser.add_argument("--baseline-rows", type=int, default=400)
    args = parser.parse_args()

    os.environ["AIKIT_HOME"] = tempfile.mkdtemp(prefix="aikit-bench-scale-")
    os.environ["AIKIT_API_KEY"] = KEY
    import dask
    import dask.dataframe as dd
    import distributed
    import pandas as pd

    from aikit.client import AI  # importing aikit after dask.dataframe registers ddf.ai
    from aikit.scale.redis_cache import RedisCache
    from aikit.scale.redis_limiter import RedisLimiter, limiter_key
    from aikit.scale.redis_server import LocalRedis, redis_url_from_env
    from aikit.testing import FakeConfig, FakeProvider

    rate = args.rpm / 60
    bucket = rate * 1.0
    t_opt = max(0.0, args.rows - bucket) / rate + args.latency
    local_redis = None if redis_url_from_env() else LocalRedis.start()
    url = redis_url_from_env() or (local_redis.url if local_redis else "")
    config = FakeConfig(api_key=KEY, rpm=args.rpm, latency_median_s=args.latency, latency_sigma=0.5, seed=1)
    fake = FakeProvider.start_process(config)
    with dask.config.set({"distributed.scheduler.worker-saturation": 1.0}):
        cluster = distributed.LocalCluster(
            n_workers=args.workers,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address=None,
            silence_logs=50,
            env={"AIKIT_HOME": os.environ["AIKIT_HOME"], "AIKIT_API_KEY": KEY},
        )
    client = distributed.Client(cluster)
    try:
        client.run(_warm_up)
        run = uuid.uuid4().hex[:8]
        df = pd.DataFrame(
            {"content": [f"ticket {i}: the invoice total looks wrong" for i in range(args.rows)]}
        )
        key = limiter_key("compat", fake.base_url, KEY, "fake-model")
        limiter = RedisLimiter(url, key=f"{key}:{run}", rpm=args.rpm)
        cache = RedisCache(url, namespace=f"bench:{run}:")
        ai = AI("compat:fake-model", base_url=fake.base_url, cache=cache, limiter=limiter)
        ddf = dd.from_pandas(df, npartitions=args.partitions)

        print(
            f"== {args.rows} rows, {args.workers} workers, {args.partitions} partitions, {args.rpm:g} RPM, "
            f"latency median {args.latency} s; T_opt = {t_opt:.1f} s",
            flush=True,
        )
        fake.reset()
        since = time.time()
        res1, wall1 = _run(ddf.ai.map("Tone of: {content}", ai=ai, schema=TONE))
        s1 = fake.stats(arrivals=True)
        client.run(_flush_call_log)
        sends = _client_sends(os.environ["AIKIT_HOME"], since, time.time())
        worst10_sent = _worst_window(sends, 10.0)
        if os.environ.get("BENCH_TIMELINE"):
            print("timeline", s1["timeline"], flush=True)
        lost = int(res1["ai_error"].notna().sum()) + (args.rows - len(res1))
        worst10 = _worst_window(s1["arrivals"], 10.0)
        share429 = s1["rate_limited"] / max(1, s1["requests"])

        fake.reset()
        res2, wall2 = _run(ddf.ai.map("Tone of: {content}", ai=ai, schema=TONE))
        s2 = fake.stats()
        same = bool((res1["tone"].astype(str) == res2["tone"].astype(str)).all())

        base: dict[str, Any] = {}
        if args.baseline_rows > 0:
            ai_local = AI(
                "compat:fake-model",
                base_url=fake.base_url,
                cache=RedisCache(url, namespace=f"bench:{run}:local:"),
                rpm=args.rpm,
                calllog=False,
            )
            bdf = dd.from_pandas(df.iloc[: args.baseline_rows], npartitions=args.workers)
            fake.reset()
            time.sleep(1.5)  # let the provider's bucket refill
            resb, wallb = _run(bdf.ai.map("Baseline tone of: {content}", ai=ai_local, schema=TONE))
            sb = fake.stats(arrivals=True)
            base = {
                "wall": wallb,
                "lost": int(resb["ai_error"].notna().sum()),
                "requests": sb["requests"],
                "429": sb["rate_limited"],
                "worst10": _worst_window(sb["arrivals"], 10.0),
                "t_opt": max(0.0, args.baseline_rows - bucket) / rate + args.latency,
            }
    finally:
        client.close()
        cluster.close()
        fake.stop()
        if local_redis is not None:
            local_redis.stop()

    limit10 = rate * 10
    print()
    print(f"shared limiter: wall {wall1:.1f} s = {wall1 / t_opt:.3f} x T_opt (target <= 1.10)")
    print(
        f"  requests at provider {s1['requests']}, 429s {s1['rate_limited']} = {share429:.2%} (target <= 1%)"
    )
    print(f"  lost rows {lost} of {args.rows} (target 0)")
    print(
        f"  worst 10-s window at the provider {worst10} requests = {worst10 / limit10:.3f} x limit of "
        f"{limit10:.0f} (target <= 1.05)"
    )
    print(
        f"  worst 10-s window of sends (workers' call logs, {len(sends)} attempts) {worst10_sent} = "
        f"{worst10_sent / limit10:.3f} x limit"
    )
    print(
        f"second run (shared cache): {s2['requests']} provider calls (target 0), wall {wall2:.2f} s, "
        f"{wall1 / wall2:.1f}x faster (target >= 20x), same answers: {same}"
    )
    if base:
        print(
            f"baseline, a local limiter per worker at the full RPM, {args.baseline_rows} rows: "
            f"{base['429']} 429s of {base['requests']} requests "
            f"= {base['429'] / max(1, base['requests']):.1%}, "
            f"worst 10-s window {base['worst10'] / limit10:.2f} x limit, lost {base['lost']}, "
            f"wall {base['wall'] / base['t_opt']:.2f} x its T_opt"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())

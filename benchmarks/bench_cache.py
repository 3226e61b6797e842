"""Re-running 10,000 cached prompts in a fresh process: aikit's bulk path against a bare diskcache loop.

Not a test. Run: ``.venv/bin/python benchmarks/bench_cache.py [--rows 10000] [--reps 3]``.

The parent fills a cache directory with N answers of about 1 KB (the aikit value format), then runs,
interleaved, REPS fresh subprocesses of each kind and prints medians. Time starts after imports:

* ``bare``: for each row, build the request dict, key = sha256(json.dumps(sort_keys, compact)),
  ``diskcache.Cache.get`` and ``json.loads`` (the loop from performance.md section 4);
* ``aikit``: for each row, build the request dict and ``aikit.client.cache.cache_key``; then one
  ``open_cache(path).get_many(keys)`` (chunked ``SELECT ... IN``) and a dict lookup per row.

Target (issue 2): aikit total <= 0.6 s where bare measures about 0.7 s, i.e. a ratio <= 0.86.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def request(i: int) -> dict[str, object]:
    prompt = f"Classify the sentiment of review #{i}: " + "the delivery was late but support was kind. " * 3
    return {
        "provider": "openai",
        "base_url": "https://api.openai.com/v1",
        "model": "gpt-4o-mini",
        "messages": [
            {"role": "system", "content": "Answer in one word."},
            {"role": "user", "content": prompt},
        ],
        "temperature": 0,
        "max_tokens": 20,
    }


def answer(i: int) -> dict[str, object]:
    filler = " ".join(f"w{i}x{j}" for j in range(120))[:900]
    return {
        "text": f"positive {i} {filler}",
        "model": "gpt-4o-mini-2024-07-18",
        "usage": {"input_tokens": 60, "output_tokens": 2},
        "finish_reason": "stop",
    }


def fill(directory: str, rows: int) -> None:
    import diskcache

    from aikit.client.cache import cache_key, encode_value

    disk = diskcache.Cache(directory)
    with disk.transact():
        for i in range(rows):
            disk.set(cache_key(request(i)), encode_value(answer(i)))
    size = len(encode_value(answer(0)))
    disk.close()
    print(f"filled {rows} entries of {size} bytes in {directory}")


def child_bare(directory: str, rows: int) -> dict[str, float]:
    import hashlib

    import diskcache

    t0 = time.perf_counter()
    disk = diskcache.Cache(directory)
    t_open = time.perf_counter()
    hits = 0
    for i in range(rows):
        text = json.dumps(request(i), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        key = "aikit1:" + hashlib.sha256(text.encode()).hexdigest()
        blob = disk.get(key)
        if blob is not None:
            hits += len(json.loads(blob)["text"]) > 0
    t_end = time.perf_counter()
    assert hits == rows, f"bare loop hit {hits}/{rows}"
    return {"open": t_open - t0, "loop": t_end - t_open, "total": t_end - t0}


def child_aikit(directory: str, rows: int) -> dict[str, float]:
    from aikit.client.cache import cache_key, open_cache

    t0 = time.perf_counter()
    keys = [cache_key(request(i)) for i in range(rows)]
    t_keys = time.perf_counter()
    cache = open_cache(directory)
    values = cache.get_many(keys)
    t_fetch = time.perf_counter()
    hits = sum(len(values[k]["text"]) > 0 for k in keys if k in values)
    t_end = time.perf_counter()
    cache.close()
    assert hits == rows, f"aikit hit {hits}/{rows}"
    return {"keys": t_keys - t0, "fetch": t_fetch - t_keys, "total": t_end - t0}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--child", choices=["bare", "aikit"])
    parser.add_argument("--dir")
    args = parser.parse_args()
    if args.child:
        fn = child_bare if args.child == "bare" else child_aikit
        print(json.dumps(fn(args.dir, args.rows)))
        return
    with tempfile.TemporaryDirectory() as directory:
        fill(directory, args.rows)
        results: dict[str, list[dict[str, float]]] = {"bare": [], "aikit": []}
        for _ in range(args.reps):
            for kind in ("bare", "aikit"):
                out = subprocess.run(
                    [sys.executable, __file__, "--child", kind, "--dir", directory, "--rows", str(args.rows)],
                    check=True,
                    capture_output=True,
                    text=True,
                    timeout=120,
                )
                results[kind].append(json.loads(out.stdout.strip().splitlines()[-1]))
    med = {
        kind: {k: statistics.median(r[k] for r in runs) for k in runs[0]} for kind, runs in results.items()
    }
    print(f"rows={args.rows} reps={args.reps} (medians, seconds after imports)")
    for kind, parts in med.items():
        print(f"  {kind:6s} " + "  ".join(f"{k}={v:.3f}" for k, v in parts.items()))
    ratio = med["aikit"]["total"] / med["bare"]["total"]
    print(f"aikit/bare total ratio: {ratio:.2f}x (target <= 0.86x; absolute target <= 0.6 s)")
    print(f"aikit fetch-only vs bare loop: {med['aikit']['fetch'] / med['bare']['total']:.2f}x")


if __name__ == "__main__":
    main()

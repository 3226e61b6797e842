"""Benchmark the embedded offline LLM (xllamacpp + SmolLM2-135M) against the issue-4 targets.

Measures, in one run on this machine:

* ready time: from the first ``ensure_server()`` call (cold, no server) to a healthy endpoint
  (median of 3 cold starts);
* seconds per row and accuracy for sentiment (``benchmarks/data/feedback.jsonl``) and ticket
  categories (``benchmarks/data/tickets.jsonl``), with aikit's few-shot prompt and, as the same-run
  baseline, the zero-shot prompt (same schema, no example turns);
* 1 vs 2 request slots (``n_parallel``) with 2 concurrent clients;
* OpenMP's wait policies (``PASSIVE``, libgomp's default, ``ACTIVE``) and the one aikit chooses from
  how busy the CPUs are at start (:func:`aikit.local.llm.serve.choose_omp_wait`), with the load;
* peak RSS of the server process (VmHWM, Linux).

Targets: ready <= 2 s, <= 0.4 s/row, peak < 500 MB, sentiment accuracy >= 75 %.
Requests go over HTTP with httpx, temperature 0, ``response_format: json_schema``, sequentially.

Run: ``.venv/bin/python benchmarks/bench_local_llm.py`` (about a minute on 2 cores).
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import tempfile
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx

from aikit._batch.labels import classification_messages, classification_schema
from aikit.local.llm.serve import busy_cpus, choose_omp_wait
from aikit.local.llm.servers import LocalEndpoint, ensure_server, stop_servers

DATA = Path(__file__).parent / "data"
SENTIMENT = ["positive", "negative", "neutral"]
TICKETS = ["billing", "bug", "feature request", "account"]
SPIN_ROWS = 8
READY_STARTS = 3
TASKS = {
    "sentiment": ("feedback.jsonl", SENTIMENT, "the customer's sentiment"),
    "tickets": ("tickets.jsonl", TICKETS, "the support ticket's category"),
}


def load(name: str) -> list[dict[str, str]]:
    return [json.loads(line) for line in (DATA / name).read_text().splitlines() if line.strip()]


def peak_rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


def classify(
    client: httpx.Client, ep: LocalEndpoint, text: str, labels: list[str], task: str, few_shot: bool
) -> str:
    body: dict[str, Any] = {
        "model": ep.model,
        "messages": classification_messages(text, labels, task=task, few_shot=few_shot),
        "temperature": 0,
        "max_tokens": 32,
        "response_format": {
            "type": "json_schema",
            "json_schema": {"name": "label", "schema": classification_schema(labels), "strict": True},
        },
    }
    r = client.post(f"{ep.base_url}/chat/completions", json=body, headers=ep.headers, timeout=60)
    r.raise_for_status()
    return str(json.loads(r.json()["choices"][0]["message"]["content"])["label"])


def run_set(ep: LocalEndpoint, task_name: str, few_shot: bool) -> dict[str, Any]:
    filename, labels, task = TASKS[task_name]
    rows = load(filename)
    wrong: list[tuple[str, str, str]] = []
    predicted: Counter[str] = Counter()
    with httpx.Client() as client:
        classify(client, ep, "warm-up message", labels, task, few_shot)  # fill the prompt cache
        t0 = time.perf_counter()
        for row in rows:
            got = classify(client, ep, row["text"], labels, task, few_shot)
            predicted[got] += 1
            if got != row["label"]:
                wrong.append((row["text"], row["label"], got))
        elapsed = time.perf_counter() - t0
    return {
        "n": len(rows),
        "correct": len(rows) - len(wrong),
        "s_per_row": elapsed / len(rows),
        "predicted": dict(predicted),
        "wrong": wrong,
    }


def run_concurrent(ep: LocalEndpoint, workers: int, limit: int | None = None) -> float:
    """Seconds per row for the sentiment set with ``workers`` concurrent clients."""
    _, labels, task = TASKS["sentiment"]
    rows = load("feedback.jsonl")[:limit]
    with httpx.Client() as client:
        classify(client, ep, "warm-up message", labels, task, True)
        t0 = time.perf_counter()
        with ThreadPoolExecutor(workers) as pool:
            list(pool.map(lambda row: classify(client, ep, row["text"], labels, task, True), rows))
        return (time.perf_counter() - t0) / len(rows)


def main() -> int:
    os.environ.setdefault("AIKIT_HOME", tempfile.mkdtemp(prefix="aikit-bench-"))
    starts = []
    for _ in range(READY_STARTS):
        stop_servers()
        t0 = time.perf_counter()
        ep = ensure_server()
        starts.append(time.perf_counter() - t0)
    ready_s = statistics.median(starts)
    print(
        f"server ready in {ready_s:.2f} s (median of {READY_STARTS} cold starts, max {max(starts):.2f} s) "
        f"from the first call (target <= 2 s); pid {ep.pid}"
    )
    print(f"threads: {len(os.sched_getaffinity(0)) if hasattr(os, 'sched_getaffinity') else os.cpu_count()}")

    results: dict[tuple[str, bool], dict[str, Any]] = {}
    for task_name in TASKS:
        for few_shot in (False, True):
            res = run_set(ep, task_name, few_shot)
            results[task_name, few_shot] = res
            kind = "few-shot " if few_shot else "zero-shot"
            print(
                f"{task_name:<9} {kind}: {res['correct']}/{res['n']} = {res['correct'] / res['n']:.0%}  "
                f"{res['s_per_row']:.3f} s/row  predicted {res['predicted']}"
            )
    seq_s = run_concurrent(ep, 1)
    peak1 = peak_rss_mb(ep.pid)
    stop_servers()

    ep2 = ensure_server(n_parallel=2)
    par_s = run_concurrent(ep2, 2)
    peak2 = peak_rss_mb(ep2.pid)
    stop_servers()

    # OpenMP's wait policies, each in a fresh server: sleep at once, libgomp's default (spin briefly,
    # then sleep; an empty value is invalid to libgomp, which then keeps its default) and spin.
    load, busy = os.getloadavg()[0], busy_cpus(1.0)
    chosen = choose_omp_wait(busy) or "default"
    per_policy: dict[str, float] = {}
    for policy, value in (("PASSIVE", "PASSIVE"), ("default", ""), ("ACTIVE", "ACTIVE")):
        os.environ["OMP_WAIT_POLICY"] = value
        try:
            ep3 = ensure_server()
            per_policy[policy] = run_concurrent(ep3, 1, limit=SPIN_ROWS)
        finally:
            del os.environ["OMP_WAIT_POLICY"]
            stop_servers()
    ep4 = ensure_server()  # aikit's own choice at start
    auto_s = run_concurrent(ep4, 1, limit=SPIN_ROWS)
    stop_servers()
    passive_s, spin_s = per_policy["PASSIVE"], per_policy["ACTIVE"]

    base, best = results["sentiment", False], results["sentiment", True]
    acc = best["correct"] / best["n"]
    print()
    print(f"n_parallel=1, 1 client : {seq_s:.3f} s/row; peak RSS {peak1:.0f} MB")
    print(f"n_parallel=2, 2 clients: {par_s:.3f} s/row; peak RSS {peak2:.0f} MB (ratio {par_s / seq_s:.2f})")
    print(
        f"OMP_WAIT_POLICY PASSIVE vs ACTIVE ({SPIN_ROWS} rows): {passive_s:.3f} vs {spin_s:.3f} s/row "
        f"(ratio {passive_s / spin_s:.2f}; load average {os.getloadavg()[0]:.1f})"
    )
    best_policy = min(per_policy, key=per_policy.__getitem__)
    print(
        f"OMP policy chosen at start ({busy:.2f} CPUs busy, load average {load:.1f}, "
        f"{len(os.sched_getaffinity(0))} CPUs): {chosen}, "
        f"{auto_s:.3f} s/row; "
        + ", ".join(f"{k} {v:.3f}" for k, v in per_policy.items())
        + f"; chosen / best ({best_policy}) {auto_s / per_policy[best_policy]:.2f}x (target <= 1.2x), "
        f"chosen / PASSIVE (before) {auto_s / passive_s:.2f}x"
    )
    print(
        f"few-shot vs zero-shot sentiment: accuracy {acc:.0%} vs {base['correct'] / base['n']:.0%}, "
        f"time ratio {best['s_per_row'] / base['s_per_row']:.2f}"
    )
    print("sentiment few-shot mistakes:")
    for text, gold, got in best["wrong"]:
        print(f"  gold={gold:<8} got={got:<8} {text}")
    print("tickets few-shot mistakes:")
    for text, gold, got in results["tickets", True]["wrong"]:
        print(f"  gold={gold:<15} got={got:<15} {text}")
    checks = {
        "ready <= 2 s": ready_s <= 2.0,
        "<= 0.4 s/row": best["s_per_row"] <= 0.4,
        "peak < 500 MB": peak1 < 500,
        "sentiment >= 75%": acc >= 0.75,
    }
    print()
    for name, ok in checks.items():
        print(f"{'PASS' if ok else 'MISS'}  {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

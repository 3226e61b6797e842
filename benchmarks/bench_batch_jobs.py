"""Provider batch jobs benchmark: df.ai.map(mode="batch") against live mode and against Curator.

The fake provider runs in a child process on 127.0.0.1 with its OpenAI Batch API set to a fixed
processing time per batch (``--processing``, default 40 s), 1% of lines answered with an HTTP 400
error line and 0.5% of lines silently dropped from the output (the provider still counts them).
Every client runs in a fresh child process (its own ``$AIKIT_HOME`` and cache), so CPU is the
client's own (``getrusage``, from just before the call to just after it).

Runs, all on the same N rows (default 10,000), model ``openai:gpt-4o-mini`` (same price table):

- ``live``: ``df.ai.map`` live: the baseline for cost and CPU per row;
- ``webhook`` and ``poll30`` side by side (one after the other, same rows): batch mode woken by
  the fake's signed ``batch.completed`` webhook through an ``aikit.WebhookListener`` in the client
  process, and batch mode polling every 30 s. Wall is compared with the provider's own processing
  time (from each of its batches' creation to its end, summed over the resubmission rounds);
- ``kill``: batch mode SIGKILLed while waiting, then a new process re-running the same cell;
- ``curator``: Bespoke Curator's batch mode (``curator.LLM(batch=True)``, its default 60 s
  ``batch_check_interval``) on the same prompts, when an interpreter with ``bespokelabs-curator`` is
  given (``--curator-python``; it is not a dependency of aikit: install it in a separate venv).

Ratios are printed against the live baseline measured in the same run; nothing is asserted.
``python benchmarks/bench_batch_jobs.py`` takes about 8-10 minutes on two cores (the live baseline
alone takes 1-4 minutes); ``--quick`` (2,000 rows, 15 s processing) about 3 minutes.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import resource
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

KEY = "sk-bench-batch-jobs-0123456789"
SECRET = "whsec_" + base64.b64encode(b"bench-batch-jobs-webhook-secret!").decode()
MODEL = "openai:gpt-4o-mini"
TEMPLATE = "Summarise this support ticket in five words: {text}"


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def _frame(n: int) -> Any:
    import pandas as pd

    words = ["refund", "late", "broken", "invoice", "great", "slow", "crash", "thanks", "missing", "login"]
    texts = [
        f"ticket {i}: the {words[i % 10]} {words[(i * 7) % 10]} issue, order {i * 31 % 997}" for i in range(n)
    ]
    return pd.DataFrame({"text": texts})


def _admin(base_url: str, path: str, payload: Any = None) -> Any:
    import httpx

    url = base_url.removesuffix("/v1") + "/_admin/" + path
    r = httpx.post(url, json=payload, timeout=30) if payload is not None else httpx.get(url, timeout=30)
    r.raise_for_status()
    return r.json()


def worker(args: argparse.Namespace) -> dict[str, Any]:
    """One client run in this (fresh) process; prints a JSON line."""
    import aikit

    ai = aikit.AI(MODEL, base_url=args.base_url, api_key=KEY, cache=args.cache_dir, timeout=60)
    df = _frame(args.n)
    hook = None
    options: dict[str, Any] = {"progress": False, "with_meta": True}
    if args.worker == "live":
        options["concurrency"] = 64
    else:
        options["mode"] = "batch"
        if args.worker == "webhook":
            hook = aikit.WebhookListener(port=0, store=Path(args.cache_dir) / "hooks.sqlite")
            hook.add_source("openai", scheme="openai", secret=SECRET).start()
            _admin(
                args.base_url,
                "batches/config",
                {"webhook_url": hook.url_for("openai"), "webhook_secret": SECRET},
            )
            options["wait"] = aikit.jobs.Wait(listener=hook)  # the poll becomes a 10-minute safety net
        elif args.worker == "poll30":
            options["wait"] = 30
        else:  # kill / resume: a 1-s poll, so the resume is quick once the batch is over
            options["wait"] = 1
    started_cpu, t0 = _cpu(), time.perf_counter()
    out = df.ai.map(TEMPLATE, ai=ai, **options)
    wall, cpu = time.perf_counter() - t0, _cpu() - started_cpu
    if hook is not None:
        hook.stop()
    lost = int((out["ai_output"].isna() & out["ai_error"].isna()).sum())
    info = out.attrs["aikit"]
    return {
        "worker": args.worker,
        "n": args.n,
        "wall_s": wall,
        "cpu_s": cpu,
        "lost": lost,
        "answered": int(out["ai_output"].notna().sum()),
        "errored": int(out["ai_error"].notna().sum()),
        "cost_usd": info["cost_usd"],
        "counts": info["counts"],
        "costs": [None if c != c else c for c in out["ai_cost_usd"].tolist()],
        "http_calls": ai.stats()["http_calls"],
    }


CURATOR = textwrap.dedent(
    """
    import json, os, resource, sys, time
    from bespokelabs import curator

    class Summary(curator.LLM):
        def prompt(self, row):
            return row["prompt"]

        def parse(self, row, response):
            return {"prompt": row["prompt"], "answer": response}

    prompts = json.loads(open(sys.argv[2]).read())
    llm = Summary(model_name="gpt-4o-mini", backend="openai", batch=True,
                  backend_params={"base_url": sys.argv[1], "api_key": os.environ["OPENAI_API_KEY"],
                                  "require_all_responses": False})
    cpu = lambda: sum(resource.getrusage(resource.RUSAGE_SELF)[:2])
    c0, t0 = cpu(), time.perf_counter()
    result = llm([{"prompt": p} for p in prompts])
    wall, used = time.perf_counter() - t0, cpu() - c0
    rows = result.dataset.to_list() if hasattr(result, "dataset") else list(result)
    answered = {r["prompt"] for r in rows if r.get("answer")}
    print(json.dumps({"wall_s": wall, "cpu_s": used, "rows": len(rows), "answered": len(answered),
                      "lost": len(set(prompts)) - len(answered)}))
    """
)


def _spawn(
    kind: str, base_url: str, n: int, home: Path, python: str = sys.executable
) -> subprocess.Popen[str]:
    home.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "AIKIT_HOME": str(home), "PYTHONPATH": str(ROOT), "AIKIT_PROGRESS": "off"}
    cmd = [
        python,
        __file__,
        "--worker",
        kind,
        "--base-url",
        base_url,
        "--n",
        str(n),
        "--cache-dir",
        str(home / "cache"),
    ]
    return subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _result(proc: subprocess.Popen[str], timeout: float = 1800) -> dict[str, Any]:
    out, err = proc.communicate(timeout=timeout)
    lines = [line for line in out.splitlines() if line.startswith("{")]
    if proc.returncode != 0 or not lines:
        raise RuntimeError(f"worker failed ({proc.returncode}): {err[-2000:]}")
    return dict(json.loads(lines[-1]))


def _processing(timeline: list[dict[str, Any]], since: float, until: float) -> tuple[float, int]:
    """The provider's processing time of the batches created in [since, until]: rounds are sequential."""
    mine = sorted((b for b in timeline if since <= b["created"] <= until), key=lambda b: b["created"])
    total, rounds, end = 0.0, 0, -1.0
    for b in mine:
        if b["created"] > end:  # a new round starts after the previous one ended
            total += b["ended"] - b["created"]
            rounds += 1
            end = b["ended"]
        else:
            end = max(end, b["ended"])
    return total, rounds


def _cost_ratio(batch: dict[str, Any], live: dict[str, Any]) -> float:
    pairs = [
        (b, v) for b, v in zip(batch["costs"], live["costs"], strict=True) if b is not None and v is not None
    ]
    return sum(b for b, _ in pairs) / sum(v for _, v in pairs)


def _kill_and_resume(base_url: str, n: int, home: Path) -> dict[str, Any]:
    def lines() -> int:
        return int(_admin(base_url, "batches")["stats"].get("lines", 0))

    def batches() -> int:
        return int(_admin(base_url, "batches")["stats"].get("batches", 0))

    before, before_lines = batches(), lines()
    first = _spawn("kill", base_url, n, home)
    store = home / "jobs.sqlite"
    import sqlite3

    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if store.exists():
            with sqlite3.connect(store) as con:
                if con.execute("SELECT COUNT(*) FROM parts WHERE remote_id IS NOT NULL").fetchone()[0]:
                    break
        time.sleep(0.2)
    time.sleep(1.0)
    os.kill(first.pid, signal.SIGKILL)
    first.wait(30)
    submitted, submitted_lines = batches() - before, lines() - before_lines
    t0 = time.perf_counter()
    resumed = _result(_spawn("resume", base_url, n, home))
    resumed.update(
        killed_returncode=first.returncode,
        first_batches=submitted,
        first_lines=submitted_lines,
        resume_wall_s=time.perf_counter() - t0,
        resume_batches=batches() - before - submitted,
        resume_lines=lines() - before_lines - submitted_lines,
    )
    return resumed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--quick", action="store_true", help="2,000 rows, 15 s processing")
    parser.add_argument("--rows", type=int, default=None)
    parser.add_argument("--processing", type=float, default=None, help="seconds the fake takes per batch")
    parser.add_argument(
        "--curator-python",
        default=os.environ.get("AIKIT_CURATOR_PYTHON"),
        help="an interpreter with bespokelabs-curator installed",
    )
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--base-url", help=argparse.SUPPRESS)
    parser.add_argument("--n", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--cache-dir", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(args), default=str), flush=True)
        return 0
    n = args.rows or (2_000 if args.quick else 10_000)
    processing = args.processing or (15.0 if args.quick else 40.0)
    from aikit.testing import FakeConfig, FakeProvider

    fake = FakeProvider.start_process(FakeConfig(api_key=KEY))
    tmp = Path(tempfile.mkdtemp(prefix="bench-batch-jobs-"))
    try:
        base = fake.base_url
        _admin(
            base,
            "batches/config",
            {
                "processing_s": processing,
                "validating_s": 1.0,
                "finalizing_s": 1.0,
                "error_rate": 0.01,
                "drop_rate": 0.005,
                "seed": 17,
            },
        )
        print(
            f"{n:,} rows, fake provider at {base} (batch processing {processing:g} s, 1% error lines, "
            f"0.5% dropped lines); load {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores"
        )
        live = _result(_spawn("live", base, n, tmp / "live"))
        print(
            f"live:    {live['wall_s']:7.1f} s wall, {live['cpu_s'] / n * 1e3:.3f} ms CPU/row, "
            f"cost ${live['cost_usd']:.4f}, lost {live['lost']}"
        )
        # One after the other: the fake provider answers every line of a batch on its one thread, so two
        # 10,000-row batches finishing together would slow each other's downloads.
        t_start = time.time()
        hooked = _result(_spawn("webhook", base, n, tmp / "webhook"))
        _admin(base, "batches/config", {"webhook_url": None})
        t_poll = time.time()
        polled = _result(_spawn("poll30", base, n, tmp / "poll30"))
        timeline = _admin(base, "batches")["timeline"]
        for name, run, start in (("webhook", hooked, t_start), ("poll30", polled, t_poll)):
            proc_s, rounds = _processing(timeline, start, start + run["wall_s"])
            cpu_row = run["cpu_s"] / n * 1e3
            print(
                f"{name:8s} {run['wall_s']:7.1f} s wall = provider processing {proc_s:.1f} s "
                f"({rounds} rounds) + {run['wall_s'] - proc_s:.1f} s; CPU/row {cpu_row:.3f} ms = "
                f"{run['cpu_s'] / live['cpu_s']:.2f}x live; cost {_cost_ratio(run, live):.3f}x live on the "
                f"same rows (${run['cost_usd']:.4f}); "
                f"answered {run['answered']:,}, errors {run['errored']:,}, lost {run['lost']}; "
                f"{run['counts']['batch']}"
            )
        _admin(base, "batches/config", {"webhook_url": None})
        killed = _kill_and_resume(base, min(n, 2_000), tmp / "kill")
        resent = killed["resume_lines"] - killed["counts"]["batch"].get("resubmitted", 0)
        print(
            f"kill:    {min(n, 2_000):,} rows; SIGKILL while waiting (exit {killed['killed_returncode']}) "
            f"after {killed['first_batches']} batch ({killed['first_lines']:,} lines) was submitted; the new "
            f"process attached and sent {killed['resume_lines']} lines in {killed['resume_batches']} "
            f"batch(es), all resubmissions of rows missing from the output ({resent} requests sent "
            "twice); answered "
            f"{killed['answered']:,}, errors {killed['errored']}, lost {killed['lost']}, "
            f"{killed['resume_wall_s']:.1f} s; {killed['counts']['batch']}"
        )
        if args.curator_python:
            prompts = tmp / "prompts.json"
            prompts.write_text(json.dumps([TEMPLATE.format(text=t) for t in _frame(n)["text"]]))
            script = tmp / "curator_run.py"
            script.write_text(CURATOR)
            env = {
                **os.environ,
                "OPENAI_API_KEY": KEY,
                "TELEMETRY_ENABLED": "false",
                "POSTHOG_HOST": "http://127.0.0.1:9",
                "LITELLM_LOCAL_MODEL_COST_MAP": "True",
                "HF_HUB_OFFLINE": "1",
                "HF_DATASETS_OFFLINE": "1",
                "CURATOR_CACHE_DIR": str(tmp / "curator"),
                "PYTHONPATH": "",
            }
            t0 = time.time()
            proc = subprocess.run(
                [args.curator_python, str(script), base, str(prompts)],
                env=env,
                capture_output=True,
                text=True,
                timeout=3600,
            )
            lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
            if proc.returncode == 0 and lines:
                cur = json.loads(lines[-1])
                proc_s, rounds = _processing(_admin(base, "batches")["timeline"], t0, t0 + cur["wall_s"] + 5)
                print(
                    f"curator: {cur['wall_s']:7.1f} s wall = provider processing {proc_s:.1f} s ({rounds} "
                    f"rounds) + {cur['wall_s'] - proc_s:.1f} s; CPU/row {cur['cpu_s'] / n * 1e3:.3f} ms; "
                    f"{cur['rows']:,} rows back, {cur['answered']:,} answered, {cur['lost']} prompts without "
                    "an answer or an error"
                )
            else:
                print(f"curator: failed ({proc.returncode}): {proc.stderr[-1500:]}")
        else:
            print(
                "curator: not run: no interpreter with bespokelabs-curator (pass --curator-python; it pulls "
                "litellm, datasets and pyarrow, so it lives in its own venv, not in aikit's)"
            )
        print(f"load at the end {os.getloadavg()[0]:.2f}")
    finally:
        fake.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Jobs that outlive the call that started them: provider batches and any REST job API, recorded.

- :mod:`~aikit._jobs.store`: the records (``$AIKIT_HOME/jobs.sqlite``, 0600): jobs, their provider
  parts, their requests and each request's outcome;
- :mod:`~aikit._jobs.wait`: polling with backoff, webhook wake-ups (:class:`Wait`, :class:`Poll`);
- :mod:`~aikit._jobs.job`: :class:`AsyncJob`, the submit / poll-or-webhook / fetch pattern;
- :func:`jobs`: every recorded job as a DataFrame.

A DataFrame run with ``mode="batch"`` (``df.ai.map(..., mode="batch")``) records its provider batches
here; it lives in :mod:`aikit._batch.batchmode`. This package sits on the client side of nothing: it
never imports the client, the batch engine or any extension.

>>> import aikit
>>> aikit.jobs().columns[:4].tolist()
['id', 'kind', 'name', 'status']
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aikit._jobs.job import AsyncJob, JobStatus
from aikit._jobs.store import JobStore, job_store
from aikit._jobs.wait import Poll, Wait

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

__all__ = ["AsyncJob", "JobStatus", "JobStore", "Poll", "Wait", "job_store", "jobs"]

_COLUMNS = [
    "id",
    "kind",
    "name",
    "status",
    "provider",
    "model",
    "rows",
    "parts",
    "remote_ids",
    "counts",
    "created_at",
    "updated_at",
    "finished_at",
    "error",
]


def jobs(*, limit: int | None = None, store: JobStore | None = None) -> pd.DataFrame:
    """Every recorded job, newest first, as a DataFrame.

    Columns: ``id``, ``kind`` (``provider_batch`` for a DataFrame run in batch mode, ``rest`` for an
    :class:`AsyncJob`), ``name``, ``status`` (``submitting``, ``running``, ``collecting``, ``done``,
    ``failed``, ``cancelled``), ``provider``, ``model``, ``rows``, ``parts`` (provider jobs), their
    ``remote_ids``, ``counts`` (requests per outcome), ``created_at``, ``updated_at``,
    ``finished_at`` (UTC) and ``error``.

    Examples
    --------
    >>> aikit.jobs(limit=5)  # doctest: +SKIP
    >>> wait = aikit.jobs.Wait(listener=hook, poll=aikit.jobs.Poll.every(300))  # doctest: +SKIP
    """
    import pandas as pd

    store = store or job_store()
    rows: list[dict[str, Any]] = []
    for job in store.jobs(limit=limit):
        parts = store.parts(job.id)
        rows.append(
            {
                "id": job.id,
                "kind": job.kind,
                "name": job.name,
                "status": job.status,
                "provider": job.provider,
                "model": job.model,
                "rows": job.rows,
                "parts": len(parts),
                "remote_ids": [p.remote_id for p in parts if p.remote_id],
                "counts": store.item_counts(job.id) if job.kind != "rest" else {},
                "created_at": job.created_at,
                "updated_at": job.updated_at,
                "finished_at": job.finished_at,
                "error": job.error,
            }
        )
    df = pd.DataFrame(rows, columns=_COLUMNS)
    for col in ("created_at", "updated_at", "finished_at"):
        df[col] = pd.to_datetime(df[col].astype("float64"), unit="s", utc=True)
    df["rows"] = df["rows"].astype("Int64")
    return df


#: The ways to wait, reachable from the public function: ``aikit.jobs.Wait``, ``aikit.jobs.Poll``.
jobs.Wait = Wait  # type: ignore[attr-defined]
jobs.Poll = Poll  # type: ignore[attr-defined]

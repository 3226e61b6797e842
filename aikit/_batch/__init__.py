"""Many calls: one AI call per prompt (or per DataFrame row), at the rate limit, with no row lost.

Private: the public names are ``aikit.batch``, ``aikit.abatch``, ``aikit.BatchOptions`` and the
``df.ai`` accessor (``ddf.ai`` lives in :mod:`aikit.scale.dask` and runs the same operations). From
the top down:

- :mod:`~aikit._batch.api`: ``batch``/``abatch`` and ``estimate``/``aestimate``;
- :mod:`~aikit._batch.accessor`: ``df.ai.map``, ``classify``, ``extract``, ``estimate`` and their
  async twins, each written once; :mod:`~aikit._batch.frame` turns a result into the DataFrame;
  :mod:`~aikit._batch.template` renders ``{column}`` prompts; :mod:`~aikit._batch.labels` builds the
  classification prompts;
- :mod:`~aikit._batch.operation`: an entry point written once as a job builder, and its generated
  signature, docstring and sync/async forms; :mod:`~aikit._batch.options`: ``BatchOptions``;
- :mod:`~aikit._batch.job`: the jobs (plan on the loop, view on the caller's thread, execute on the
  loop) and the default client; :mod:`~aikit._batch.plan` (keys, duplicates, bulk cache lookup),
  :mod:`~aikit._batch.run` (the bounded worker pool), :mod:`~aikit._batch.result` and
  :mod:`~aikit._batch.progress` (counters and their widget or log view);
- :mod:`~aikit._batch.batchmode`: ``mode="batch"``, the misses through the provider's batch API
  (recorded in :mod:`aikit._jobs`, every row reconciled); :mod:`~aikit._batch.handle`: what
  ``wait=False`` returns.

It sits on :mod:`aikit.client` (one call) and never imports the extensions (``scale``, ``local``,
``widgets``, ``webhooks``, ``connectors``); ``aikit.batch(..., client=dask_client)`` reaches Dask
through :mod:`aikit.client.backends`.
"""

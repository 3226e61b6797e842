"""Webhooks in the notebook kernel: verified, durable, deduplicated, handled off the request path.

::

    hook = aikit.WebhookListener(port=0)
    hook.add_source("stripe", scheme="stripe", secret=os.environ["STRIPE_WEBHOOK_SECRET"]).start()
    hook.url_for("stripe")                       # http://127.0.0.1:PORT/hooks/stripe

Modules, one idea each (arrows point down: each imports only modules listed below it):

- :mod:`~aikit.webhooks.cli`: ``aikit listen``;
- :mod:`~aikit.webhooks.listener`: :class:`WebhookListener`, the notebook facade composing the parts;
- :mod:`~aikit.webhooks.display`: the HTML summary (no widget library needed);
- :mod:`~aikit.webhooks.server`: uvicorn on its own loop in a daemon thread (start, ready, stop, join);
- :mod:`~aikit.webhooks.live`: the listeners running in this process (a re-run cell replaces; exit stops);
- :mod:`~aikit.webhooks.simulate`: provider-signed test events posted over loopback;
- :mod:`~aikit.webhooks.app`: the ASGI app (405/404/429/413/401/503, handshakes, 2xx after commit);
- :mod:`~aikit.webhooks.frame`: stored events as a pandas DataFrame;
- :mod:`~aikit.webhooks.handlers`: worker-thread dispatch with retries, dead letters, replay and
  ``event.memo``;
- :mod:`~aikit.webhooks.sources`: what ``add_source`` builds (config, verifier, limits, counters);
- :mod:`~aikit.webhooks.store`: the schema and every SQL query, as methods of :class:`Store`;
- :mod:`~aikit.webhooks.writer`: the single writer thread: WAL + ``synchronous=FULL``, group commit;
- :mod:`~aikit.webhooks.sign`: the signers matching the verifiers (``simulate``, benchmarks);
- :mod:`~aikit.webhooks.verify`: pure signature checks for every scheme (standard/svix, stripe,
  github, slack, hubspot, shopify, twilio, zoom, linear, intercom, generic hmac);
- :mod:`~aikit.webhooks.config`: the frozen value objects verification takes and returns;
- :mod:`~aikit.webhooks.view`: pure HTML rendering of the summary;
- :mod:`~aikit.webhooks.monitor`: the slot the live monitor of ``hook.widget()`` plugs into (the
  ipywidgets one lives in :mod:`aikit.widgets.webhooks`; nothing here imports it);
- :mod:`~aikit.webhooks.hosting`: tunnels, and why JupyterHub/Binder ``/proxy/<port>/`` URLs (which
  need your Jupyter token) must never be given to a provider.

Nothing is imported until used: ``import aikit.webhooks`` starts no thread and opens no file.
"""

from __future__ import annotations

__all__: list[str] = []

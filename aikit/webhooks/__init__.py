"""Webhooks in the notebook kernel: verified, durable, deduplicated, handled off the request path.

::

    hook = aikit.WebhookListener(port=0)
    hook.add_source("stripe", scheme="stripe", secret=os.environ["STRIPE_WEBHOOK_SECRET"]).start()
    hook.url_for("stripe")                       # http://127.0.0.1:PORT/hooks/stripe

Modules, one idea each:

- :mod:`~aikit.webhooks.verify`: pure signature checks for every scheme (standard/svix, stripe,
  github, slack, hubspot, shopify, twilio, zoom, linear, intercom, generic hmac);
- :mod:`~aikit.webhooks.sign`: the matching signers (``simulate``, benchmarks);
- :mod:`~aikit.webhooks.store`: SQLite WAL + ``synchronous=FULL`` with group commit;
- :mod:`~aikit.webhooks.app`: the ASGI app (405/404/429/413/401/503, handshakes, 2xx after commit);
- :mod:`~aikit.webhooks.handlers`: worker-thread dispatch with retries, dead letters and ``event.memo``;
- :mod:`~aikit.webhooks.listener`: :class:`WebhookListener`, the uvicorn thread and the notebook API;
- :mod:`~aikit.webhooks.hosting`: tunnels, and why JupyterHub/Binder ``/proxy/<port>/`` URLs (which
  need your Jupyter token) must never be given to a provider;
- :mod:`~aikit.webhooks.cli`: ``aikit listen``.

Nothing is imported until used: ``import aikit.webhooks`` starts no thread and opens no file.
"""

from __future__ import annotations

__all__: list[str] = []

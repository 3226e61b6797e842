"""Connectors to business apps: the HubSpot-style CRM client and a generic paginated REST source.

>>> import aikit
>>> crm = aikit.HubSpot(token="...", base_url="http://127.0.0.1:8765")      # doctest: +SKIP
>>> tickets = crm.fetch("tickets", properties=["subject", "content"])       # doctest: +SKIP
>>> report = crm.push("tickets", tickets[["id", "ai_sentiment"]], create_properties=True)  # doctest: +SKIP
>>> changes, report = crm.sync("tickets", ["subject", "content"])   # only what changed  # doctest: +SKIP
>>> zendesk = aikit.RestSource("https://acme.zendesk.example/api/v2", pagination="cursor")  # doctest: +SKIP

Modules: ``hubspot`` (the client), ``push`` (diff and batch/update), ``upsert`` (push by a unique
property), ``associate`` (associations in a push), ``report`` (PushReport), ``sync`` (incremental
sync; ``sync_plan``: its pure decisions, ``sync_state``: its saved position, ``sync_report``:
SyncReport), ``portal`` (pipelines and owners as frames), ``credentials`` (token re-read on 401,
login-panel auth), ``frames`` (records <-> DataFrames), ``where`` (filter shorthands), ``pacing``
(rolling-window pacing), ``session`` (the shared HTTP core: loop-thread client, retries, error
translation), ``rest`` (RestSource). Nothing is imported here.
"""

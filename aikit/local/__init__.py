"""Embedded local services, one package each; nothing is imported or started here.

* :mod:`aikit.local.llm`: the offline LLM behind ``aikit.AI("local")``: llama.cpp servers in child
  processes, their model files, ``aikit serve ai`` and ``aikit models``.
* :mod:`aikit.local.crm`: the demo CRM (:class:`~aikit.local.crm.DemoCRM`, also ``aikit.DemoCRM``), a
  SQLite-backed subset of HubSpot's CRM v3 API; ``aikit serve crm``.
* :mod:`aikit.local.oauth`: the OAuth 2.0 demo authorization server
  (:class:`~aikit.local.oauth.OAuthServer`); ``aikit serve oauth``.

The demo CRM and the OAuth server run in a thread of the caller (:class:`aikit._serving.AppThread`);
the LLM runs in a child process, so a crash of native code cannot take a notebook kernel down.
"""

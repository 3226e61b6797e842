"""The local OAuth 2.0 authorization server the auth notebook and tests log in against.

Modules: ``server`` (:class:`~aikit.local.oauth.server.OAuthServer`, the thread), ``app`` (the ASGI
app), ``grants`` (authlib grant types), ``store`` (SQLite clients, codes and tokens), ``cli``.
"""

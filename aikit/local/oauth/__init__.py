"""The local OAuth 2.0 authorization server the auth notebook and tests log in against.

>>> from aikit.local.oauth import OAuthServer
>>> with OAuthServer() as server:                      # doctest: +SKIP
...     server.client_config("aikit-cli")["token_url"]
'http://127.0.0.1:41235/token'

Modules: ``server`` (:class:`OAuthServer`: the Python API, served in a thread), ``endpoints`` (the
HTTP endpoints, framework-free), ``app`` (their Starlette routes), ``grants`` (authlib's grant types
wired to the store), ``store`` (in-memory clients, codes and tokens) and ``cli`` (``aikit serve
oauth``). ``OAuthServer`` is imported on first use (it needs ``aikit[serve,auth]``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from aikit import _lazy

if TYPE_CHECKING:
    from aikit.local.oauth.server import OAuthServer

__all__ = ["OAuthServer"]


__getattr__, __dir__ = _lazy.exports(__name__, {"OAuthServer": "aikit.local.oauth.server"})

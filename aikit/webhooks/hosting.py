"""Where is this kernel running, and how can a provider reach the listener?

The listener binds 127.0.0.1: nothing outside this machine can reach it until you expose it. Options,
from the research notes (``webhooks.md`` section 4):

- **A tunnel** to ``http://127.0.0.1:PORT``: the ngrok Python SDK
  (``ngrok.forward(port, authtoken_from_env=True).url()``), ``cloudflared tunnel --url
  http://127.0.0.1:PORT`` (no account, new URL each time), or ``npx localtunnel --port PORT``.
- **A provider CLI** that forwards and re-signs: ``stripe listen --forward-to
  127.0.0.1:PORT/hooks/stripe``, ``gh webhook forward --url ...``, ``hookdeck listen PORT``.
- Then give the provider ``<tunnel URL>/hooks/<source>`` and pass the same URL as the source's
  ``public_url`` when the scheme signs the URL (HubSpot v3, Twilio).

**JupyterHub and Binder.** A URL such as ``https://hub.example.org/user/me/proxy/PORT/hooks/x`` (served
by jupyter-server-proxy) does *not* work for a third party: every request there must carry the
Jupyter token (an unauthenticated POST gets 403). Putting the token in the webhook URL would hand the
provider, its dashboards and its logs full code execution in your server: never do that. Use a
tunnel from inside the kernel instead, and expect Binder pods (and their tunnel URLs) to disappear
when they are culled.

>>> detect_hosting({}).kind
'local'
>>> detect_hosting({"BINDER_REPO_URL": "https://github.com/x/y"}).kind
'binder'
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

__all__ = ["PROXY_WARNING", "TUNNEL_HELP", "Hosting", "detect_hosting"]

PROXY_WARNING = (
    "This kernel runs under {kind}. Its /proxy/<port>/ URLs need your Jupyter token, which must never "
    "be given to a webhook provider (it grants code execution in your server). Expose the listener "
    "with a tunnel instead (ngrok, cloudflared, a provider CLI) and set public_url on sources that "
    "sign the URL."
)
TUNNEL_HELP = (
    "The listener binds 127.0.0.1. To receive real webhooks, run a tunnel to http://127.0.0.1:{port} "
    "(ngrok.forward({port}), `cloudflared tunnel --url http://127.0.0.1:{port}`, or "
    "`stripe listen --forward-to 127.0.0.1:{port}/hooks/<source>`)."
)


@dataclass(frozen=True)
class Hosting:
    """What :func:`detect_hosting` found: ``kind`` is ``local``, ``jupyterhub`` or ``binder``."""

    kind: str
    user: str | None = None
    prefix: str | None = None

    @property
    def warning(self) -> str | None:
        """The explanation to show next to the listener URL, or None on a plain local machine."""
        if self.kind == "local":
            return None
        return PROXY_WARNING.format(kind="Binder" if self.kind == "binder" else "JupyterHub")


def detect_hosting(environ: Mapping[str, str] | None = None) -> Hosting:
    """Detect Binder or JupyterHub from the environment (never reads token values).

    Parameters
    ----------
    environ : mapping, optional
        Defaults to ``os.environ``.

    Examples
    --------
    >>> h = detect_hosting({"JUPYTERHUB_SERVICE_PREFIX": "/user/ann/", "JUPYTERHUB_USER": "ann"})
    >>> h.kind, h.prefix, "token" in h.warning
    ('jupyterhub', '/user/ann/', True)
    """
    env = os.environ if environ is None else environ
    prefix = env.get("JUPYTERHUB_SERVICE_PREFIX")
    user = env.get("JUPYTERHUB_USER")
    if any(k.startswith("BINDER_") for k in env) or "mybinder" in env.get("JUPYTERHUB_API_URL", ""):
        return Hosting("binder", user, prefix)
    if prefix or user or "JUPYTERHUB_API_URL" in env:
        return Hosting("jupyterhub", user, prefix)
    return Hosting("local")

"""Auth benchmark: the cost of OAuth2Auth per request, and the refresh stampede it prevents.

Everything runs against the local authorization server on 127.0.0.1 (``/userinfo`` is the protected
resource). Measured in one run, printed as ratios against a baseline from the same run:

- ``per-request``: N sequential requests with a static ``BearerAuth`` (baseline) vs ``OAuth2Auth``
  holding a valid token (its single-flight machinery is idle): the overhead ratio.
- ``burst``: C concurrent requests whose token has just expired (one refresh expected) vs the same
  burst with a fresh token: refresh calls seen by the server, and the wall-time ratio.
- ``naive``: the same expired burst where every request refreshes on its own (what a client without
  single-flight does): refresh calls and how many requests fail once rotation revokes the old pair.

Run ``python benchmarks/bench_auth.py`` (about 10-20 s); ``--n`` and ``--concurrency`` scale it.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time

import httpx

from aikit.auth import BearerAuth, OAuth2Auth, OAuth2Client, Token
from aikit.local.oauth.server import OAuthServer


def _login(server: OAuthServer) -> OAuth2Auth:
    auth = OAuth2Auth(OAuth2Client(**server.client_config("aikit-cli")))
    device = auth.start_device_login()
    server.approve_device(device.user_code)
    auth.finish_device_login(device, timeout=10)
    return auth


async def _sequential(url: str, auth: httpx.Auth, n: int) -> float:
    async with httpx.AsyncClient(auth=auth) as client:
        start = time.perf_counter()
        for _ in range(n):
            (await client.get(url)).raise_for_status()
        return time.perf_counter() - start


async def _burst(url: str, auth: httpx.Auth, c: int) -> tuple[float, list[int]]:
    async with httpx.AsyncClient(auth=auth, limits=httpx.Limits(max_connections=c)) as client:
        start = time.perf_counter()
        responses = await asyncio.gather(*(client.get(url) for _ in range(c)))
        return time.perf_counter() - start, [r.status_code for r in responses]


async def _naive_burst(server: OAuthServer, token: Token, c: int) -> list[int]:
    """Every request refreshes by itself before calling: no lock, no reuse."""
    client = OAuth2Client(**server.client_config("aikit-cli"))

    async def one(http: httpx.AsyncClient) -> int:
        try:
            fresh = await client.refresh(token)
        except Exception:
            return 0
        r = await http.get(
            f"{server.url}/userinfo", headers={"Authorization": f"Bearer {fresh.access_token}"}
        )
        return r.status_code

    async with httpx.AsyncClient() as http:
        return list(await asyncio.gather(*(one(http) for _ in range(c))))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=300, help="sequential requests per variant")
    parser.add_argument("--concurrency", type=int, default=50, help="requests per burst")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    with OAuthServer(device_interval=0.05) as server:
        url = f"{server.url}/userinfo"
        auth = _login(server)
        assert auth.token is not None
        static = BearerAuth(auth.token.access_token)
        base, oauth = [], []
        for _ in range(args.repeat):
            base.append(asyncio.run(_sequential(url, static, args.n)))
            oauth.append(asyncio.run(_sequential(url, auth, args.n)))
        b, o = statistics.median(base), statistics.median(oauth)
        print(
            f"per-request  BearerAuth {b / args.n * 1e3:.3f} ms  "
            f"OAuth2Auth {o / args.n * 1e3:.3f} ms  ratio {o / b:.3f}"
        )

        fresh_times, expired_times, refreshes = [], [], []
        for _ in range(args.repeat):
            t_fresh, codes = asyncio.run(_burst(url, auth, args.concurrency))
            assert codes == [200] * args.concurrency
            assert auth.token is not None
            auth._token = Token(
                auth.token.access_token, refresh_token=auth.token.refresh_token, expires_at=time.time() - 1
            )
            before = server.stats["refresh_token"]
            t_expired, codes = asyncio.run(_burst(url, auth, args.concurrency))
            assert codes == [200] * args.concurrency
            refreshes.append(server.stats["refresh_token"] - before)
            fresh_times.append(t_fresh)
            expired_times.append(t_expired)
        f, e = statistics.median(fresh_times), statistics.median(expired_times)
        print(
            f"burst x{args.concurrency}  fresh {f * 1e3:.1f} ms  expired {e * 1e3:.1f} ms  "
            f"ratio {e / f:.2f}  "
            f"refresh calls per burst {refreshes}"
        )

        naive_auth = _login(server)
        assert naive_auth.token is not None
        before = server.stats["refresh_token"]
        codes = asyncio.run(_naive_burst(server, naive_auth.token, args.concurrency))
        print(
            f"naive x{args.concurrency}  refresh calls {server.stats['refresh_token'] - before}  "
            f"ok {codes.count(200)}  failed {len(codes) - codes.count(200)} (rotated refresh token reused)"
        )


if __name__ == "__main__":
    main()

"""Local stand-ins for Microsoft's services, run as real aiohttp servers on 127.0.0.1.

* `openid.FakeOpenIdServer`: OpenID metadata + JWKS, and a minter of Bot Framework tokens.
* `connector.FakeConnector`: the Bot Connector REST API (replies, updates, TeamsInfo calls),
  recording every request and able to fail on demand.

Both listen on an ephemeral loopback port (`async with ...`). The connector runs in the
test's event loop; the OpenID server in a thread of its own (see its docstring for why).
"""
from __future__ import annotations

from aiohttp import web


async def serve_on_loopback(app: web.Application) -> tuple[web.AppRunner, str]:
    """Start `app` on 127.0.0.1 with an ephemeral port; returns the runner and the base URL
    (no trailing slash)."""
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    return runner, f"http://127.0.0.1:{port}"

"""A minimal Bot Connector for benchmarks: answers every send, reply and update at once."""
from __future__ import annotations

import itertools
import sys

from aiohttp import web

_ids = itertools.count(1)
MEMBER = {"id": "user-id-0", "name": "Bench User", "aadObjectId": "bench-aad", "userPrincipalName": "bench@contoso.com"}


async def _any(request: web.Request) -> web.Response:
    await request.read()
    if request.method == "GET":
        return web.json_response(MEMBER)
    return web.json_response({"id": f"bench-{next(_ids)}"}, status=200 if request.method == "PUT" else 201)


def main(port: int) -> None:
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", _any)
    web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None)


if __name__ == "__main__":
    main(int(sys.argv[1]))

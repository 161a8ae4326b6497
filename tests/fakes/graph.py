"""A fake Microsoft Graph (the team channel endpoints) for HTTP tests.

It runs on 127.0.0.1 on an ephemeral port in the test's own event loop, keeps teams and their
channels in memory and answers like Graph does (see `bot/teams/graph.py` for the sources):

    GET  /v1.0/teams/{tid}/channels                   200 {"value": [...]} (deleted ones unlisted)
         ?$filter=displayName eq 'x'                  only that name (case-insensitive)
    POST /v1.0/teams/{tid}/channels                   201 {"id": "19:...@thread.tacv2",
         {"displayName", "description"}                    "displayName", "webUrl", ...}
         name taken (any case; deleted ones too)      409 NameAlreadyExists
         team at its channel cap (deleted ones too)   403 Forbidden "...Max allowed channels"
         over 50 chars or a character Teams forbids   400 BadRequest
    missing or wrong bearer token                     401 InvalidAuthenticationToken
    unknown team, or any other path                   404 NotFound (recorded too)

API:

    async with FakeGraph() as g:
        client = GraphClient(base_url=g.url, token_provider=g.token_provider, session_provider=...)
        g.add_team("team-1", channels=["General", "inc-1-db-down"], max_channels=1000)
        g.delete_channel("team-1", "inc-1-db-down")       # still holds its name and counts
        g.fail_next(r"/channels$", 429, headers={"Retry-After": "7"}, method="POST")
        g.fail_next(r"/channels$", 403, times=2)
        g.delay_next(r"/channels$", 20.0)                  # longer than the client's timeout
        ... exercise the code ...
        assert [c["displayName"] for c in g.channels("team-1")] == ["General", ...]
        assert g.find(method="POST")[0].json["displayName"] == "inc-7-payments-api-down"

`g.url` is the Graph base URL (`http://127.0.0.1:PORT/v1.0`). `g.token` is the token it accepts
(`g.token_provider` returns it). `g.requests` is every `RecordedRequest(method, path, json,
headers, status, query)` in arrival order. Scripts match `re.search(path_regex, path)` (and
`method` if given), are consumed in the order added, each applying `times` times (`None` =
forever); a delayed request is answered from the state at the end of its delay. `page_size`
splits lists into pages linked by `@odata.nextLink`. Closing releases delayed requests at once.
"""
from __future__ import annotations

import asyncio
import json
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Self
from urllib.parse import quote

from aiohttp import web

from tests.fakes import serve_on_loopback
from tests.fakes.scripting import RecordedRequest, ScriptedFake

FORBIDDEN_IN_NAMES = set('~#%&*{}+/\\:<>?|\'",')
TENANT_ID = "72f988bf-86f1-41af-91ab-2d7cd011db47"
_FILTER = re.compile(r"^\s*displayName\s+eq\s+'((?:[^']|'')*)'\s*$")


@dataclass
class _Team:
    channels: list[dict[str, Any]] = field(default_factory=list)
    deleted: list[dict[str, Any]] = field(default_factory=list)
    max_channels: int | None = None

    def holds_name(self, name: str) -> bool:
        wanted = name.casefold()
        return any(c["displayName"].casefold() == wanted for c in self.channels + self.deleted)


def graph_error(code: str, message: str) -> dict[str, Any]:
    """Graph's error body."""
    return {
        "error": {
            "code": code,
            "message": message,
            "innerError": {"request-id": str(uuid.uuid4()), "date": "2026-01-01T00:00:00"},
        }
    }


class FakeGraph(ScriptedFake):
    """See the module docstring."""

    def __init__(self, *, token: str = "fake-graph-token", page_size: int | None = None) -> None:
        self.token = token
        self.page_size = page_size
        super().__init__()
        self._teams: dict[str, _Team] = {}
        self._runner: web.AppRunner | None = None
        self._closing = asyncio.Event()
        self.origin = ""

    # -- public API ---------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """The base URL to give GraphClient (like `https://graph.microsoft.com/v1.0`)."""
        return f"{self.origin}/v1.0"

    async def token_provider(self) -> str:
        """A token provider for GraphClient that returns the token this fake accepts."""
        return self.token

    def add_team(
        self, team_id: str, *, channels: Sequence[str] = (), max_channels: int | None = None
    ) -> None:
        """A team (replacing any of that id) with these channel names and an optional cap."""
        team = self._teams[team_id] = _Team(max_channels=max_channels)
        for name in channels:
            team.channels.append(self._new_channel(team_id, name, ""))

    def channels(self, team_id: str) -> list[dict[str, Any]]:
        """The team's listed (not deleted) channels, as Graph would describe them."""
        return list(self._teams[team_id].channels)

    def delete_channel(self, team_id: str, name: str) -> None:
        """Delete a channel the Teams way: unlisted, but its name and its slot stay taken."""
        team = self._teams[team_id]
        channel = next(c for c in team.channels if c["displayName"].casefold() == name.casefold())
        team.channels.remove(channel)
        team.deleted.append(channel)

    def fail_next(
        self,
        path_regex: str,
        status: int,
        *,
        headers: dict[str, str] | None = None,
        times: int | None = 1,
        method: str | None = None,
        body: Any = None,
    ) -> None:
        """The next `times` matching requests get `status` with Graph's error body."""
        if body is None:
            body = graph_error(_CODES.get(status, f"Http{status}"), "scripted failure")
        self.script(path_regex, status=status, body=body, headers=headers, times=times,
                    method=method)

    # -- Graph behaviour ----------------------------------------------------------------------

    def _new_channel(self, team_id: str, name: str, description: str) -> dict[str, Any]:
        channel_id = f"19:{uuid.uuid4().hex}@thread.tacv2"
        return {
            "id": channel_id,
            "createdDateTime": "2026-01-01T00:00:00Z",
            "displayName": name,
            "description": description,
            "membershipType": "standard",
            "webUrl": (
                f"https://teams.microsoft.com/l/channel/{quote(channel_id, safe='')}/"
                f"{quote(name, safe='')}?groupId={team_id}&tenantId={TENANT_ID}"
            ),
        }

    def _answer(self, request: web.Request, payload: Any) -> tuple[int, Any]:
        if request.headers.get("Authorization", "") != f"Bearer {self.token}":
            message = "Access token is empty." if "Authorization" not in request.headers else (
                "Access token validation failure. Invalid audience.")
            return 401, graph_error("InvalidAuthenticationToken", message)
        if request.match_info.route.name != "channels":
            return 404, graph_error("NotFound", f"Resource not found: {request.path!r}.")
        team_id = request.match_info["team_id"]
        team = self._teams.get(team_id)
        if team is None:
            return 404, graph_error("NotFound", f"No team found with Group Id {team_id}")
        if request.method == "GET":
            return self._list(request, team)
        if request.method == "POST":
            return self._create(team_id, team, payload)
        return 405, graph_error("BadRequest", "Method not allowed.")

    def _list(self, request: web.Request, team: _Team) -> tuple[int, Any]:
        channels = team.channels
        flt = request.query.get("$filter")
        if flt is not None:
            match = _FILTER.match(flt)
            if match is None:
                return 400, graph_error("BadRequest", f"Invalid filter clause: {flt}")
            wanted = match.group(1).replace("''", "'").casefold()
            channels = [c for c in channels if c["displayName"].casefold() == wanted]
        body: dict[str, Any] = {"@odata.context": f"{self.url}/$metadata#teams/channels"}
        start = int(request.query.get("$skiptoken", "0"))
        if self.page_size is None:
            body["value"] = channels
        else:
            body["value"] = channels[start:start + self.page_size]
            if start + self.page_size < len(channels):
                query = request.query.copy()
                query["$skiptoken"] = str(start + self.page_size)
                body["@odata.nextLink"] = str(request.url.with_query(query))
        return 200, body

    def _create(self, team_id: str, team: _Team, payload: Any) -> tuple[int, Any]:
        name = payload.get("displayName") if isinstance(payload, dict) else None
        if not isinstance(name, str) or not name.strip():
            return 400, graph_error("BadRequest", "Channel name must not be empty.")
        if len(name) > 50 or FORBIDDEN_IN_NAMES & set(name) or ".." in name or \
                name.startswith(("_", ".")) or name.endswith("."):
            return 400, graph_error("BadRequest", "Channel name contains invalid characters.")
        if team.holds_name(name):
            return 409, graph_error(
                "NameAlreadyExists", "Channel name already existed, please use other name")
        used = len(team.channels) + len(team.deleted)  # deleted ones count for 30 days
        if team.max_channels is not None and used >= team.max_channels:
            return 403, graph_error("Forbidden", "This team has exceeded the Max allowed channels")
        channel = self._new_channel(team_id, name, str(payload.get("description") or ""))
        team.channels.append(channel)
        return 201, channel

    # -- server -------------------------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        try:
            payload = json.loads(raw) if raw else None
        except ValueError:
            payload = raw.decode("utf-8", "replace")
        record = RecordedRequest(request.method, request.path, payload, dict(request.headers),
                                 query=dict(request.query))
        self.requests.append(record)

        script = self._next_script(request.method, request.path)
        headers: dict[str, str] = {}
        if script is not None:
            if script.delay_s:
                try:
                    await asyncio.wait_for(self._closing.wait(), script.delay_s)
                except TimeoutError:
                    pass
            headers = script.headers
        if script is not None and script.status is not None:
            status, body = script.status, script.body
        else:
            status, body = self._answer(request, payload)
        record.status = status
        if body is None:
            return web.Response(status=status, headers=headers)
        return web.json_response(body, status=status, headers=headers)

    async def start(self) -> Self:
        app = web.Application()
        app.router.add_route("*", "/v1.0/teams/{team_id}/channels", self._handle, name="channels")
        app.router.add_route("*", "/{tail:.*}", self._handle, name="unknown")
        self._runner, self.origin = await serve_on_loopback(app)
        return self

    async def close(self) -> None:
        self._closing.set()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> Self:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


_CODES = {
    400: "BadRequest",
    401: "InvalidAuthenticationToken",
    403: "Forbidden",
    404: "NotFound",
    409: "Conflict",
    429: "TooManyRequests",
    500: "InternalServerError",
    502: "BadGateway",
    503: "ServiceNotAvailable",
    504: "GatewayTimeout",
}

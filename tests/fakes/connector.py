"""A fake Bot Connector (the `serviceUrl` side of Teams) for HTTP tests.

It runs on 127.0.0.1 on an ephemeral port in the test's own event loop, records every request
and answers like the real service, using the documented responses in
`../shared/fixtures/teams/connector-responses/`:

    POST /v3/conversations                                  201 {"id", "activityId", "serviceUrl"}
                                                            (a new post in a channel: id = "<channel>;messageid=<activityId>")
    POST /v3/conversations/{cid}/activities                 201 {"id"}   (send)
    POST /v3/conversations/{cid}/activities/{aid}           200 {"id"}   (reply)
    PUT  /v3/conversations/{cid}/activities/{aid}           200 {"id": aid} (update)
    DELETE /v3/conversations/{cid}/activities/{aid}         200
    GET  /v3/conversations/{cid}/members/{uid}              docs-GET-member.json
    GET  /v3/conversations/{cid}/members                    docs-GET-pagedmembers.json's members
    GET  /v3/conversations/{cid}/pagedmembers               docs-GET-pagedmembers.json
    GET  /v3/teams/{tid}                                    docs-GET-team-details.json
    GET  /v3/teams/{tid}/conversations                      docs-GET-team-channels.json
    anything else                                           404 (recorded too)

No token endpoint: in dev mode (empty app id) the SDK sends no Authorization header.

API:

    async with FakeConnector() as fc:
        activity["serviceUrl"] = fc.url               # "http://127.0.0.1:PORT/"
        fc.fail_next(r"/activities/", 429, headers={"Retry-After": "2"}, method="PUT")
        fc.fail_next(r"/v3/teams/", 403, times=2)
        fc.delay_next(r"/activities$", 20.0)           # longer than the client's timeout
        fc.script(r"/members/", status=200, body={...}, times=None)   # a standing override
        ... exercise the app ...
        sent = fc.find(method="POST", path=r"/activities")
        assert sent[0].json["text"] == "..."
        assert fc.requests[-1].status == 429

`fc.requests` is every `RecordedRequest(method, path, json, headers, status)` in arrival
order (path URL-decoded, e.g. `/v3/conversations/19:x@thread.tacv2;messageid=1/activities`).
Scripts match `re.search(path_regex, path)` (and `method` if given), are consumed in the
order added, and each applies `times` times (`None` = forever). `fc.clear()` forgets requests
and scripts. Closing the fake releases delayed requests at once.
"""
from __future__ import annotations

import asyncio
import itertools
import json
from pathlib import Path
from typing import Any

from aiohttp import web

from tests.fakes import serve_on_loopback
from tests.fakes.scripting import RecordedRequest, ScriptedFake

SHARED = Path(__file__).resolve().parents[3] / "shared"
DEFAULT_FIXTURES = SHARED / "fixtures" / "teams" / "connector-responses"


class FakeConnector(ScriptedFake):
    """See the module docstring."""

    def __init__(self, *, fixtures_dir: Path | str = DEFAULT_FIXTURES) -> None:
        self.fixtures_dir = Path(fixtures_dir)
        super().__init__()
        self._ids = itertools.count(1)
        self._runner: web.AppRunner | None = None
        self._closing = asyncio.Event()
        self.base_url = ""

    # -- public API ---------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """The serviceUrl to put in activities (trailing slash, like Teams)."""
        return f"{self.base_url}/"

    def fail_next(
        self,
        path_regex: str,
        status: int,
        *,
        headers: dict[str, str] | None = None,
        times: int = 1,
        method: str | None = None,
        body: Any = None,
    ) -> None:
        """The next `times` matching requests get `status` (e.g. 429 with Retry-After)."""
        if body is None:
            body = {"error": {"code": f"Http{status}", "message": "scripted failure"}}
        self.script(
            path_regex, status=status, body=body, headers=headers, times=times, method=method
        )

    # -- server -------------------------------------------------------------------------------

    def _fixture(self, name: str) -> Any:
        return json.loads((self.fixtures_dir / name).read_text(encoding="utf-8"))

    def _new_id(self, prefix: str) -> str:
        return f"{prefix}{next(self._ids)}"

    def _normal_answer(self, request: web.Request, payload: Any = None) -> tuple[int, Any]:
        """The real connector's answer for this route (route name set in `start`)."""
        route = request.match_info.route.name
        info = request.match_info
        if route == "create_conversation":
            activity_id = self._new_id("fake-activity-")
            channel = ((payload if isinstance(payload, dict) else {}).get("channelData") or {}).get("channel") or {}
            # a new post in a channel: Teams answers with the thread's conversation id
            conversation = f"{channel['id']};messageid={activity_id}" if channel.get("id") else self._new_id("a:fake-conversation-")
            return 201, {"id": conversation, "activityId": activity_id, "serviceUrl": self.url}
        if route == "send":
            return 201, {"id": self._new_id("fake-activity-")}
        if route == "reply":
            return 200, {"id": self._new_id("fake-activity-")}
        if route == "update":
            return 200, {"id": info["activity_id"]}
        if route == "delete":
            return 200, None
        if route == "member":
            return 200, self._fixture("docs-GET-member.json")
        if route == "members":
            return 200, self._fixture("docs-GET-pagedmembers.json")["members"]
        if route == "paged_members":
            return 200, self._fixture("docs-GET-pagedmembers.json")
        if route == "team":
            return 200, self._fixture("docs-GET-team-details.json")
        if route == "team_channels":
            return 200, self._fixture("docs-GET-team-channels.json")
        return 404, {"error": {"code": "NotFound", "message": "no such route in the fake"}}

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        try:
            payload = json.loads(raw) if raw else None
        except ValueError:
            payload = raw.decode("utf-8", "replace")
        record = RecordedRequest(request.method, request.path, payload, dict(request.headers))
        self.requests.append(record)

        script = self._next_script(request.method, request.path)
        status, body = self._normal_answer(request, payload)
        headers: dict[str, str] = {}
        if script is not None:
            if script.delay_s:
                try:
                    await asyncio.wait_for(self._closing.wait(), script.delay_s)
                except asyncio.TimeoutError:
                    pass
            if script.status is not None:
                status, body = script.status, script.body
            headers = script.headers
        record.status = status
        if body is None:
            return web.Response(status=status, headers=headers)
        return web.json_response(body, status=status, headers=headers)

    async def start(self) -> "FakeConnector":
        app = web.Application()
        add = app.router.add_route
        conv = "/v3/conversations/{conversation_id}"
        add("POST", "/v3/conversations", self._handle, name="create_conversation")
        add("POST", f"{conv}/activities", self._handle, name="send")
        add("POST", f"{conv}/activities/{{activity_id}}", self._handle, name="reply")
        add("PUT", f"{conv}/activities/{{activity_id}}", self._handle, name="update")
        add("DELETE", f"{conv}/activities/{{activity_id}}", self._handle, name="delete")
        add("GET", f"{conv}/members/{{user_id}}", self._handle, name="member")
        add("GET", f"{conv}/members", self._handle, name="members")
        add("GET", f"{conv}/pagedmembers", self._handle, name="paged_members")
        add("GET", "/v3/teams/{team_id}", self._handle, name="team")
        add("GET", "/v3/teams/{team_id}/conversations", self._handle, name="team_channels")
        add("*", "/{tail:.*}", self._handle, name="unknown")
        self._runner, self.base_url = await serve_on_loopback(app)
        return self

    async def close(self) -> None:
        self._closing.set()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> "FakeConnector":
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

"""A fake Bot Connector that answers at once and records every request with its arrival time.

For `bench/escalation.py` and `tests/test_escalation_durability.py`: both need to know when
each page card reached "Teams", and that none arrived twice. It throttles nothing (unlike
`bench/throttled_connector.py`); Firebreak's own rate shaping still applies.

    python bench/recording_connector.py PORT [--log FILE]

Every request becomes one event:

- `t`: arrival, `time.time()` (the wall clock, comparable with the UTC times in the database);
- `method`, `path`, `route` (create_conversation | send | reply | update | delete | member |
  members | unknown) and `conversation` (the conversation id in the path; for a new chat, the
  AAD id of its member as `new-chat:<aad>`);
- `page_id`, `escalation_id`, `incident_id`: from the data of a page card's buttons, if the
  activity carries one; `text`: the activity's text (first 300 characters);
- `status`: what the fake answered; `id`: the id it answered with.

`GET /_events` returns {"events": [...]}; `GET /_count` {"events": n, "pages": page cards};
`POST /_reset` forgets them; `POST /_hold_next_page?seconds=S` makes the fake sit on its
answer to the next page card POST for S seconds (0 disarms; recorded on arrival, `held_s` set), as a
Bot Connector that hangs would; `/_count` says how many it has held so far. `GET /healthz` answers
once the fake listens. With `--log FILE` each event is also appended to FILE as one JSON line,
flushed at once, so a reader needs no HTTP.
"""
from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import time
from pathlib import Path

from aiohttp import web

from common import add_connector_routes  # run as a script: bench/ is on sys.path

MEMBER = {"id": "29:bench-user", "objectId": "bench-aad", "name": "Bench User",
          "userPrincipalName": "bench@contoso.com", "email": "bench@contoso.com"}


def page_data(activity: object) -> dict | None:
    """The data of a page card's first button (`page_id`, `escalation_id`, `incident_id`), if any."""
    if not isinstance(activity, dict):
        return None
    for attachment in activity.get("attachments") or []:
        content = attachment.get("content") if isinstance(attachment, dict) else None
        if not isinstance(content, dict):
            continue
        for action in content.get("actions") or []:
            data = action.get("data") if isinstance(action, dict) else None
            if isinstance(data, dict) and "page_id" in data:
                return data
    return None


class RecordingConnector:
    """The fake's state: every request seen, in arrival order."""

    def __init__(self, *, log: Path | None = None) -> None:
        self._ids = itertools.count(1)
        self._log = open(log, "a", buffering=1) if log else None
        self.events: list[dict] = []
        self.hold_next: float | None = None
        self.held = 0

    async def handle(self, request: web.Request) -> web.Response:
        t = time.time()
        raw = await request.read()
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        route = request.match_info.route.name or "unknown"
        info = request.match_info
        event: dict = {"t": t, "method": request.method, "path": request.path, "route": route}
        if route == "create_conversation":
            members = (body or {}).get("members") or [{}]
            channel = ((body or {}).get("channelData") or {}).get("channel") or {}
            event["conversation"] = channel.get("id") or f"new-chat:{members[0].get('id')}"
            activity = (body or {}).get("activity")
        else:
            event["conversation"] = info.get("conversation_id", "")
            activity = body
        data = page_data(activity)
        if data is not None:
            event.update(page_id=data.get("page_id"), escalation_id=data.get("escalation_id"),
                         incident_id=data.get("incident_id"))
        if isinstance(activity, dict) and isinstance(activity.get("text"), str):
            event["text"] = activity["text"][:300]
        status, answer = self._answer(route, info)
        event["status"] = status
        if isinstance(answer, dict):
            event["id"] = answer.get("id")
        hold, self.hold_next = (self.hold_next, None) if data is not None else (None, self.hold_next)
        if hold is not None:
            event["held_s"] = hold
            self.held += 1
        self.events.append(event)
        if self._log is not None:
            self._log.write(json.dumps(event) + "\n")
        if hold is not None:  # recorded on arrival; the answer waits (a caller killed meanwhile never gets it)
            await asyncio.sleep(hold)
        return web.json_response(answer, status=status) if answer is not None else web.Response(status=status)

    def _answer(self, route: str, info) -> tuple[int, object]:
        n = next(self._ids)
        if route == "create_conversation":
            return 201, {"id": f"a:rec-chat-{n}", "activityId": str(1_900_000_000_000 + n)}
        if route in ("send", "reply"):
            return (201 if route == "send" else 200), {"id": str(1_900_000_000_000 + n)}
        if route == "update":
            return 200, {"id": info["activity_id"]}
        if route == "delete":
            return 200, None
        if route == "member":
            return 200, MEMBER
        if route == "members":
            return 200, [MEMBER]
        return 404, {"error": {"code": "NotFound", "message": "no such route in the recording connector"}}

    async def get_events(self, _request: web.Request) -> web.Response:
        return web.json_response({"events": self.events})

    async def get_count(self, _request: web.Request) -> web.Response:
        pages = sum(1 for e in self.events if e.get("page_id") is not None)
        return web.json_response({"events": len(self.events), "pages": pages, "held": self.held})

    async def post_hold(self, request: web.Request) -> web.Response:
        """Hold the answer to the next page card POST for `?seconds=S` (default an hour; 0 disarms)."""
        seconds = float(request.query.get("seconds", "3600"))
        self.hold_next = seconds if seconds > 0 else None
        return web.json_response({"holding_next_page_for": self.hold_next})

    async def post_reset(self, _request: web.Request) -> web.Response:
        self.events = []
        return web.json_response({"reset": True})

    def app(self) -> web.Application:
        app = web.Application(client_max_size=8 * 1024 * 1024)
        add = app.router.add_route
        add("GET", "/_events", self.get_events)
        add("GET", "/_count", self.get_count)
        add("POST", "/_reset", self.post_reset)
        add("POST", "/_hold_next_page", self.post_hold)
        add_connector_routes(app, self.handle)
        return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("port", type=int)
    parser.add_argument("--log", type=Path, help="also append every event to this file as a JSON line")
    args = parser.parse_args()
    connector = RecordingConnector(log=args.log)
    web.run_app(connector.app(), host="127.0.0.1", port=args.port, print=None, access_log=None)


if __name__ == "__main__":
    main()

"""A fake Bot Connector that throttles like Teams, for `bench/announce.py`.

Teams limits what one bot may do in one conversation ("per bot per thread"): 7 requests in
any 1 s, 8 in 2 s, 60 in 30 s and 1800 in 3600 s. Beyond that it answers HTTP 429. Teams
says every request is subject to the same policy, so this fake counts every request into a
conversation, whatever its method:

- POST /v3/conversations with `channelData.channel.id` counts in that channel;
- POST/PUT/DELETE/GET under /v3/conversations/{id}/... counts in `{id}`. A thread
  (`<channel>;messageid=<root>`) is a conversation of its own;
- creating a chat (POST /v3/conversations without a channel) is not limited.

Only accepted requests occupy a window. A 429 carries `Retry-After`: whole seconds, rounded
up, until every window has room again.

The fake records every request, and how it answered, and parses what was delivered:

- `card`: the texts of the first Adaptive Card, joined with " | " (e.g. "INC-7: Payments down | ...");
- `text`: the message text;
- `refs`: every INC-n in either.

It also flags requests that arrive "early": into a conversation that a 429 told, less than
Retry-After ago, to wait.

    python bench/throttled_connector.py PORT [--throttle all|none|ID[,ID...]] [--member-email E]

`--throttle` names the conversations to limit. `all` is the default, as in Teams. `none`
limits nothing. A list of ids limits only those conversations (exact match).

Endpoints for the bench:

- `GET /_stats` -> {"conversations": {id: {"ok", "throttled", "early"}}, "events": [...]}
- `POST /_reset` forgets everything.

Event times are `time.monotonic()`, which is one clock for every process on Linux.
"""
from __future__ import annotations

import argparse
import itertools
import json
import math
import re
import time
from collections import deque

from aiohttp import web

from common import add_connector_routes  # run as a script: bench/ is on sys.path

# (window length in seconds, requests allowed in it): Teams' per bot per thread limits
LIMITS = ((1.0, 7), (2.0, 8), (30.0, 60), (3600.0, 1800))
HORIZON = max(length for length, _ in LIMITS)
REF = re.compile(r"\bINC-(\d+)\b")
NEW_CHAT = "(new chat)"


class Throttle:
    """Sliding windows of accepted request times, per conversation."""

    def __init__(self, limits=LIMITS) -> None:
        self.limits = limits
        self._times: dict[str, deque[float]] = {}

    def wait(self, key: str, now: float) -> float:
        """Seconds until one more request fits every window (0 = now)."""
        times = self._times.get(key)
        if not times:
            return 0.0
        while times and times[0] <= now - HORIZON:
            times.popleft()
        wait = 0.0
        for length, limit in self.limits:
            inside = [t for t in times if t > now - length]
            excess = len(inside) - limit + 1
            if excess > 0:
                # the oldest `excess` of them must leave this window first
                wait = max(wait, inside[excess - 1] + length - now)
        return wait

    def admit(self, key: str, now: float) -> None:
        self._times.setdefault(key, deque()).append(now)

    def clear(self) -> None:
        self._times.clear()


def _card_texts(node: object, out: list[str]) -> list[str]:
    """Every TextBlock/TextRun text of an Adaptive Card, in document order."""
    if isinstance(node, dict):
        if node.get("type") in ("TextBlock", "TextRun") and isinstance(node.get("text"), str):
            out.append(node["text"])
        for key, value in node.items():
            if key != "actions" and isinstance(value, (dict, list)):
                _card_texts(value, out)
    elif isinstance(node, list):
        for item in node:
            _card_texts(item, out)
    return out


def describe(activity: object) -> dict:
    """What a delivered activity says: its text, its card's texts, and the INC-n refs in them."""
    if not isinstance(activity, dict):
        return {"text": "", "card": "", "refs": []}
    text = activity.get("text") if isinstance(activity.get("text"), str) else ""
    card = ""
    for attachment in activity.get("attachments") or []:
        if isinstance(attachment, dict) and "adaptive" in str(attachment.get("contentType", "")):
            card = " | ".join(_card_texts(attachment.get("content"), []))[:2000]
            break
    refs = sorted({int(n) for n in REF.findall(text)} | {int(n) for n in REF.findall(card)})
    return {"text": text, "card": card, "refs": refs}


class ThrottledConnector:
    """The fake's state: windows per conversation, every request seen, and counts per conversation."""

    def __init__(self, *, throttle: str = "all", member_email: str = "priya.raman@contoso.com") -> None:
        self.mode = throttle
        self.limited = set() if throttle in ("all", "none") else {s for s in throttle.split(",") if s}
        self.member = {"id": "29:bench-user", "objectId": "bench-aad", "name": "Bench User",
                       "givenName": "Bench", "surname": "User", "email": member_email,
                       "userPrincipalName": member_email, "userRole": "user"}
        self.windows = Throttle()
        self._ids = itertools.count(1)
        self.reset()

    def reset(self) -> None:
        self.windows.clear()
        self.events: list[dict] = []
        self.stats: dict[str, dict[str, int]] = {}
        self.blocked_until: dict[str, float] = {}

    def _limits(self, key: str) -> bool:
        if key == NEW_CHAT:  # creating a 1:1 or group chat: no thread to count in yet
            return False
        if self.mode == "all":
            return True
        if self.mode == "none":
            return False
        return key in self.limited

    def _new_activity_id(self) -> str:
        return str(1_800_000_000_000 + next(self._ids))

    async def handle(self, request: web.Request) -> web.Response:
        raw = await request.read()
        now = time.monotonic()
        try:
            payload = json.loads(raw) if raw else None
        except ValueError:
            payload = None
        route = request.match_info.route.name or "unknown"
        info = request.match_info
        if route == "create_conversation":
            channel = ((payload or {}).get("channelData") or {}).get("channel") or {}
            key = channel.get("id") or NEW_CHAT
            activity = (payload or {}).get("activity")
        else:
            key = info.get("conversation_id", request.path)
            activity = payload
        counts = self.stats.setdefault(key, {"ok": 0, "throttled": 0, "early": 0})
        early = now < self.blocked_until.get(key, 0.0)
        counts["early"] += early
        event = {"t": now, "method": request.method, "route": route, "conversation": key,
                 "early": early, **describe(activity)}
        self.events.append(event)

        wait = self.windows.wait(key, now) if self._limits(key) else 0.0
        if wait > 0:
            retry_after = max(1, math.ceil(wait))
            self.blocked_until[key] = max(self.blocked_until.get(key, 0.0), now + retry_after)
            counts["throttled"] += 1
            event.update(status=429, retry_after=retry_after)
            return web.json_response(
                {"error": {"code": "Throttled", "message": "Too many requests in this conversation"}},
                status=429, headers={"Retry-After": str(retry_after)})
        self.windows.admit(key, now)
        counts["ok"] += 1
        status, body = self._answer(route, info, key)
        event["status"] = status
        if isinstance(body, dict):
            event["id"] = body.get("activityId") or body.get("id")
        return web.json_response(body, status=status) if body is not None else web.Response(status=status)

    def _answer(self, route: str, info, key: str) -> tuple[int, object]:
        if route == "create_conversation":
            activity_id = self._new_activity_id()
            conversation = f"{key};messageid={activity_id}" if key != NEW_CHAT else f"a:bench-{activity_id}"
            return 201, {"id": conversation, "activityId": activity_id, "serviceUrl": self.url}
        if route == "send":
            return 201, {"id": self._new_activity_id()}
        if route == "reply":
            return 200, {"id": self._new_activity_id()}
        if route == "update":
            return 200, {"id": info["activity_id"]}
        if route == "delete":
            return 200, None
        if route == "member":
            return 200, self.member
        if route == "members":
            return 200, [self.member]
        return 404, {"error": {"code": "NotFound", "message": "no such route in the bench connector"}}

    async def get_stats(self, _request: web.Request) -> web.Response:
        return web.json_response({"mode": self.mode, "limits": LIMITS, "conversations": self.stats,
                                  "events": self.events})

    async def post_reset(self, _request: web.Request) -> web.Response:
        self.reset()
        return web.json_response({"reset": True})

    def app(self, port: int) -> web.Application:
        self.url = f"http://127.0.0.1:{port}/"
        app = web.Application(client_max_size=8 * 1024 * 1024)
        add = app.router.add_route
        add("GET", "/_stats", self.get_stats)
        add("POST", "/_reset", self.post_reset)
        add_connector_routes(app, self.handle)
        return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("port", type=int)
    parser.add_argument("--throttle", default="all",
                        help="conversations to limit: all (default, like Teams), none, or a comma list of ids")
    parser.add_argument("--member-email", default="priya.raman@contoso.com",
                        help="the e-mail every member lookup answers (default: the example plan's owner)")
    args = parser.parse_args()
    connector = ThrottledConnector(throttle=args.throttle, member_email=args.member_email)
    web.run_app(connector.app(args.port), host="127.0.0.1", port=args.port, print=None, access_log=None)


if __name__ == "__main__":
    main()

"""`GET /calendar/{schedule}.ics?token=...`: a schedule's on-call feed for calendar apps.

Calendar apps subscribe to a URL and cannot send headers or sign in, so the URL carries a
per-schedule token: HMAC-SHA256 of the schedule id under FIREBREAK_CALENDAR_SECRET. Nothing is
stored; rotating the secret revokes every link at once, and a link for one schedule opens no
other. The token is checked before the schedule is looked up, so without a valid token the
answer says nothing about which schedule ids exist.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import hmac
import logging
from collections.abc import Awaitable, Callable, Sequence

from aiohttp import web

from bot.clock import Clock
from bot.domain.oncall import Override, shift_at, shifts_between
from bot.plan_model import Plan

log = logging.getLogger(__name__)

PAST = dt.timedelta(days=7)
AHEAD = dt.timedelta(days=28)
"""The feed covers a week back (what just happened) and four weeks ahead (what to plan for)."""
DISABLED = "calendar feeds are not enabled; set FIREBREAK_CALENDAR_SECRET"
BAD_TOKEN = "missing or invalid calendar token"
NOT_FOUND = "no such calendar"

OverridesFor = Callable[[str, dt.datetime, dt.datetime], Awaitable[Sequence[Override]]]


def calendar_token(secret: str, schedule_id: str) -> str:
    """The feed token for one schedule: HMAC-SHA256(secret, schedule id), first 32 hex chars."""
    digest = hmac.new(secret.encode("utf-8"), schedule_id.encode("utf-8"), hashlib.sha256)
    return digest.hexdigest()[:32]


def add_calendar_routes(app: web.Application, *, plan: Callable[[], Plan], overrides: OverridesFor,
                        secret: str, clock: Clock) -> None:
    """Serve each schedule's feed; `plan` is called per request so a reloaded plan is served."""

    async def feed(request: web.Request) -> web.Response:
        if not secret:
            return _text(404, DISABLED)
        schedule_id = request.match_info["schedule"]
        given = request.query.get("token", "")
        expected = calendar_token(secret, schedule_id)
        if not hmac.compare_digest(given.encode("utf-8"), expected.encode("utf-8")):
            return _text(401, BAD_TOKEN)
        from bot.domain.calendar_feed import schedule_ics  # icalendar only in processes that serve feeds

        current = plan()
        schedule = next((s for s in current.schedules if s.id == schedule_id), None)
        if schedule is None:
            return _text(404, NOT_FOUND)
        now = clock.now()
        start, end = now - PAST, now + AHEAD
        found = await overrides(schedule.id, start, end)
        spans = shifts_between(schedule, start, end, found)
        if spans:
            # The window's edge cuts the first span; give it its real start so its UID (schedule
            # + start) stays the same from one fetch to the next.
            whole = shift_at(schedule, start, found)
            if whole.people == spans[0].people:
                spans[0] = dataclasses.replace(spans[0], start=whole.start)
        names = {p.email: p.name for p in current.people}
        body = schedule_ics(schedule, spans, names=names, now=now)
        return web.Response(body=body, headers={
            "Content-Type": "text/calendar; charset=utf-8",
            # The URL is a credential: keep responses out of shared caches.
            "Cache-Control": "private, no-store",
        })

    app.router.add_get("/calendar/{schedule}.ics", feed)


def _text(status: int, message: str) -> web.Response:
    return web.Response(status=status, text=message, content_type="text/plain",
                        headers={"Cache-Control": "no-store"})

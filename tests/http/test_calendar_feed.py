"""GET /calendar/{schedule}.ics: the on-call feed over HTTP, read back with icalendar.

The example plan's schedules, with the clock at Wednesday 2026-03-04 12:00 UTC:
platform-primary has Lukas on the weekly Berlin layer (Mon 02 08:00 UTC .. Mon 09 08:00 UTC)
and the Denver business-hours layer on top from 16:00 to 00:00 UTC (day 58 from 2026-01-05:
Diego; day 59: Grace).
"""
import datetime as dt
from itertools import pairwise

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from icalendar import Calendar

from bot.domain.oncall import Override
from bot.plan import load_plan
from bot.web_calendar import DISABLED, add_calendar_routes, calendar_token
from tests.support import EXAMPLE_PLAN, FakeClock

SECRET = "test-calendar-secret"
UTC = dt.UTC
NOW = dt.datetime(2026, 3, 4, 12, tzinfo=UTC)
PLAN = load_plan(EXAMPLE_PLAN)
SEAN = Override("platform-primary", "sean.obrien@contoso.com",
                dt.datetime(2026, 3, 5, 20, tzinfo=UTC), dt.datetime(2026, 3, 5, 22, tzinfo=UTC))


class FakeOverrides:
    """The override store: returns what it holds for the schedule, and records each query."""

    def __init__(self, *held: Override) -> None:
        self.held = list(held)
        self.calls: list[tuple[str, dt.datetime, dt.datetime]] = []

    async def __call__(self, schedule_id, start, end):
        self.calls.append((schedule_id, start, end))
        return [o for o in self.held if o.schedule_id == schedule_id and o.end > start and o.start < end]


async def _client(secret=SECRET, store=None, clock=None):
    app = web.Application()
    add_calendar_routes(app, plan=lambda: PLAN, overrides=store or FakeOverrides(), secret=secret,
                        clock=clock or FakeClock(NOW))
    client = TestClient(TestServer(app, host="127.0.0.1"))
    await client.start_server()
    return client


@pytest.fixture
async def store():
    return FakeOverrides(SEAN)


@pytest.fixture
async def clock():
    return FakeClock(NOW)


@pytest.fixture
async def client(store, clock):
    c = await _client(store=store, clock=clock)
    yield c
    await c.close()


def url(schedule_id, token=None):
    token = calendar_token(SECRET, schedule_id) if token is None else token
    return f"/calendar/{schedule_id}.ics?token={token}"


async def fetch(client, schedule_id):
    resp = await client.get(url(schedule_id))
    assert resp.status == 200, await resp.text()
    assert resp.headers["Content-Type"] == "text/calendar; charset=utf-8"
    return Calendar.from_ical(await resp.read())


def events(cal):
    return [(e.decoded("dtstart"), e.decoded("dtend"), str(e["summary"])) for e in cal.walk("VEVENT")]


async def test_feed_lists_shifts_with_names_and_overrides(client, store):
    cal = await fetch(client, "platform-primary")
    assert str(cal["X-WR-CALNAME"]) == "Platform primary on-call"
    assert cal.decoded("REFRESH-INTERVAL") == dt.timedelta(hours=1) and str(cal["X-PUBLISHED-TTL"]) == "PT1H"
    got = events(cal)
    t = lambda day, hour: dt.datetime(2026, 3, day, hour, tzinfo=UTC)
    name = "(Platform primary on-call)"
    assert (t(4, 0), t(4, 16), f"On call: Lukas Nowak {name}") in got
    assert (t(4, 16), t(5, 0), f"On call: Diego Hernández {name}") in got
    # The override from the store, with a non-ASCII name: Grace, Seán, Grace.
    i = got.index((t(5, 20), t(5, 22), f"On call: Seán O'Brien {name}"))
    assert got[i - 1] == (t(5, 16), t(5, 20), f"On call: Grace Kim {name}")
    assert got[i + 1] == (t(5, 22), t(6, 0), f"On call: Grace Kim {name}")
    # A week back to four weeks ahead, contiguous; the first span is given its real start.
    assert store.calls == [("platform-primary", NOW - dt.timedelta(days=7), NOW + dt.timedelta(days=28))]
    assert got[0][0] == dt.datetime(2026, 2, 25, tzinfo=UTC)  # Sofia's night span began at 00:00
    assert got[0][2] == f"On call: Sofia Martins {name}"
    assert got[-1][1] == NOW + dt.timedelta(days=28)
    assert all(a[1] == b[0] for a, b in pairwise(got))
    stamps = {e.decoded("dtstamp") for e in cal.walk("VEVENT")}
    assert stamps == {NOW}


async def test_gaps_are_events_for_the_owner(client):
    cal = await fetch(client, "tier1-follow-the-sun")
    assert str(cal["X-WR-CALNAME"]) == "Tier 1 follow-the-sun"
    got = events(cal)
    gap = "Gap: nobody on call"
    # Chicago on CST until 2026-03-08: 20:00 is 02:00 UTC; London opens 08:00 UTC.
    assert (dt.datetime(2026, 3, 4, 2, tzinfo=UTC), dt.datetime(2026, 3, 4, 8, tzinfo=UTC), gap) in got
    # After the US change Chicago's 20:00 is 01:00 UTC, so the gap grows an hour.
    assert (dt.datetime(2026, 3, 10, 1, tzinfo=UTC), dt.datetime(2026, 3, 10, 8, tzinfo=UTC), gap) in got
    assert (dt.datetime(2026, 3, 4, 8, tzinfo=UTC), dt.datetime(2026, 3, 4, 14, tzinfo=UTC),
            "On call: Priya Raman (Tier 1 follow-the-sun)") in got


async def test_uids_stay_the_same_between_fetches(client, clock):
    first = {str(e["uid"]): e.decoded("dtstart") for e in (await fetch(client, "platform-primary")).walk("VEVENT")}
    clock.advance(hours=1)
    second = {str(e["uid"]): e.decoded("dtstart") for e in (await fetch(client, "platform-primary")).walk("VEVENT")}
    assert first == second
    assert "platform-primary-20260304T000000Z@firebreak" in first


@pytest.mark.parametrize("token", ["", "0" * 32, calendar_token(SECRET, "tier1-follow-the-sun"),
                                   calendar_token("another-secret", "platform-primary"), "é"])
async def test_wrong_or_missing_token_is_401(client, token):
    resp = await client.get(f"/calendar/platform-primary.ics?token={token}" if token else
                            "/calendar/platform-primary.ics")
    assert resp.status == 401
    assert await resp.text() == "missing or invalid calendar token"


async def test_unknown_schedule_is_404_without_naming_the_others(client):
    resp = await client.get(url("no-such-schedule"))
    assert resp.status == 404
    text = await resp.text()
    assert text == "no such calendar" and "platform-primary" not in text
    # Without a valid token, the same request cannot tell a real id from a made-up one.
    assert (await client.get(url("no-such-schedule", token="0" * 32))).status == 401


async def test_disabled_without_a_secret():
    client = await _client(secret="")
    try:
        resp = await client.get(url("platform-primary"))
        assert resp.status == 404
        assert await resp.text() == DISABLED
        assert "FIREBREAK_CALENDAR_SECRET" in DISABLED
    finally:
        await client.close()


def test_token_is_a_truncated_hmac():
    import hashlib
    import hmac
    token = calendar_token(SECRET, "platform-primary")
    assert token == hmac.new(SECRET.encode(), b"platform-primary", hashlib.sha256).hexdigest()[:32]
    assert len(token) == 32 and token != calendar_token(SECRET, "tier1-follow-the-sun")

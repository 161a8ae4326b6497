"""A schedule's shifts as an iCalendar (RFC 5545) feed, for Outlook/Google/Apple subscriptions.

People want their on-call shifts in the calendar they already look at. The feed is rebuilt on
every fetch, so each event's UID is derived from what it is (schedule id + shift start) rather
than stored: a calendar client then updates an event in place when a shift's end or person
changes, instead of piling up duplicates. Gaps are events too, so an owner subscribed to the
feed sees the holes in the rota next to the shifts. Times are UTC; clients show them in the
viewer's zone, which is what a rota spanning zones needs.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence

from icalendar import Calendar, Event, vDuration

from bot.domain.oncall import Shift
from bot.plan_oncall import Schedule

PRODID = "-//Firebreak//On-call calendar//EN"
REFRESH = dt.timedelta(hours=1)
"""How often clients are asked to refetch; handoffs are rarely edited more often than that."""
GAP_SUMMARY = "Gap: nobody on call"


def _utc(value: dt.datetime) -> dt.datetime:
    if value.tzinfo is None:
        raise ValueError(f"calendar times must be timezone-aware (got {value!r})")
    return value.astimezone(dt.UTC)


def shift_uid(schedule: Schedule, shift: Shift) -> str:
    """The stable UID of a shift's event: the schedule and the instant the span starts."""
    return f"{schedule.id}-{_utc(shift.start):%Y%m%dT%H%M%SZ}@firebreak"


def _summary(schedule: Schedule, shift: Shift, names: Mapping[str, str]) -> str:
    if not shift.people:
        return GAP_SUMMARY
    people = ", ".join(names.get(email, email) for email in shift.people)
    return f"On call: {people} ({schedule.name})"


def _description(schedule: Schedule, shift: Shift) -> str:
    if not shift.people:
        return (f"Nobody is on call for {schedule.name} in this window; pages to "
                f"schedule:{schedule.id} reach no one. Owner: {schedule.owner}.")
    why = "an override made in Teams" if shift.source == "override" else f"the plan's {shift.source}"
    return f"{', '.join(shift.people)} on call for {schedule.name} ({why})."


def schedule_ics(schedule: Schedule, shifts: Sequence[Shift], *, names: Mapping[str, str],
                 now: dt.datetime) -> bytes:
    """The iCalendar feed for `schedule`: one event per shift (gaps included), UTC times.

    `names` maps e-mail to display name (people missing from it are shown by e-mail); `now`
    is the DTSTAMP, passed in so the feed is a pure function of its inputs.
    """
    cal = Calendar()
    cal.add("prodid", PRODID)
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("method", "PUBLISH")
    cal.add("x-wr-calname", f"{schedule.name}")
    cal.add("x-wr-caldesc", f"Who is on call for {schedule.name} (Firebreak schedule {schedule.id})")
    cal.add("refresh-interval", REFRESH, parameters={"VALUE": "DURATION"})
    cal.add("x-published-ttl", vDuration(REFRESH).to_ical().decode())  # the older spelling Outlook and Google read
    stamp = _utc(now)
    for shift in shifts:
        event = Event()
        event.add("uid", shift_uid(schedule, shift))
        event.add("dtstamp", stamp)
        event.add("dtstart", _utc(shift.start))
        event.add("dtend", _utc(shift.end))
        event.add("summary", _summary(schedule, shift, names))
        event.add("description", _description(schedule, shift))
        event.add("categories", ["On call" if shift.people else "Gap"])
        # On call is not "busy": the event must not block meetings in the person's free/busy.
        event.add("transp", "TRANSPARENT")
        cal.add_component(event)
    return cal.to_ical()

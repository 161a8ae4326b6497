"""Who is on call when: rotations, layers, restrictions, overrides and DST, as tables.

Expected values are worked out by hand in the comments, from the rules in bot/domain/oncall.py.
2026-01-05 is a Monday.
"""
import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from bot.domain.oncall import (
    Handoff,
    Override,
    Shift,
    gaps_between,
    handoffs_between,
    on_call_at,
    shift_at,
    shifts_between,
)
from bot.plan import load_plan
from bot.plan_oncall import Schedule
from tests.support import EXAMPLE_PLAN

A, B, C, D = "a@example.com", "b@example.com", "c@example.com", "d@example.com"
X, N, O1, O2 = "x@example.com", "night@example.com", "o1@example.com", "o2@example.com"
EU1, EU2, US1, US2 = "eu1@example.com", "eu2@example.com", "us1@example.com", "us2@example.com"


def utc(*args) -> dt.datetime:
    return dt.datetime(*args, tzinfo=dt.UTC)


def local(zone: str, *args) -> dt.datetime:
    return dt.datetime(*args, tzinfo=ZoneInfo(zone))


def layer(rotation="daily", participants=(A, B), start="2026-01-05", handoff="09:00", **extra) -> dict:
    return {"rotation": rotation, "participants": list(participants), "start": start,
            "handoff": handoff, **extra}


def schedule(*layers: dict, time_zone="UTC", id="ops") -> Schedule:
    return Schedule.model_validate({"id": id, "name": "Ops on-call", "time_zone": time_zone,
                                    "owner": "owner@example.com", "layers": list(layers)})


DAILY_ABC = schedule(layer(participants=(A, B, C)))
WEEKLY_AB = schedule(layer("weekly"))
TWO_WEEKS_AB = schedule(layer("weekly", length="2w"))
TWO_DAYS_AB = schedule(layer("daily", length="2d"))
CUSTOM_12H = schedule(layer("custom", participants=(A, B, C), length="12h", handoff="08:00"))
BUSINESS_OVER_247 = schedule(
    layer("daily"),
    layer("weekly", participants=(X,), restrictions=[{"days": ["mon", "tue", "wed", "thu", "fri"],
                                                      "from": "09:00", "to": "17:00"}]))
NIGHT_OVER_BASE = schedule(
    layer("daily", participants=(A,)),
    layer("daily", participants=(N,), restrictions=[{"days": ["fri"], "from": "22:00", "to": "06:00"}]))
MON_WED_ONLY = schedule(layer("weekly", participants=(X,), restrictions=[
    {"days": ["mon"], "from": "09:00", "to": "17:00"}, {"days": ["wed"], "from": "13:00", "to": "15:00"}]))
NIGHT_BERLIN = schedule(layer("daily", participants=(N,), restrictions=[
    {"days": ["sat"], "from": "22:00", "to": "06:00"}]), time_zone="Europe/Berlin")
SPRING_GAP_WINDOW = schedule(layer("daily", participants=(N,), restrictions=[
    {"from": "02:00", "to": "02:45"}]), time_zone="Europe/Berlin")
FOLLOW_THE_SUN = schedule(
    layer("weekly", participants=(EU1, EU2), handoff="08:00", time_zone="Europe/London",
          restrictions=[{"from": "08:00", "to": "17:00"}]),
    layer("weekly", participants=(US1, US2), handoff="08:00", time_zone="America/Chicago",
          restrictions=[{"from": "08:00", "to": "17:00"}]))

ON_CALL = [
    # daily a,b,c from Mon 09:00: shift k starts Jan 5+k at 09:00; k<0 wraps modulo 3.
    ("daily first shift", DAILY_ABC, utc(2026, 1, 5, 9), (A,)),
    ("daily one minute before start", DAILY_ABC, utc(2026, 1, 5, 8, 59), (C,)),
    ("daily second", DAILY_ABC, utc(2026, 1, 6, 9), (B,)),
    ("daily third, midday", DAILY_ABC, utc(2026, 1, 7, 12), (C,)),
    ("daily wraps to first", DAILY_ABC, utc(2026, 1, 8, 9), (A,)),
    ("daily before start, k=-5", DAILY_ABC, utc(2025, 12, 31, 12), (B,)),
    ("daily a year on, k=365", DAILY_ABC, utc(2027, 1, 5, 9, 30), (C,)),  # 365 % 3 == 2
    ("weekly end of week one", WEEKLY_AB, utc(2026, 1, 12, 8, 59), (A,)),
    ("weekly handoff", WEEKLY_AB, utc(2026, 1, 12, 9), (B,)),
    ("weekly wraps", WEEKLY_AB, utc(2026, 1, 19, 9), (A,)),
    ("weekly before start", WEEKLY_AB, utc(2026, 1, 4, 12), (B,)),
    ("two-week shift still a", TWO_WEEKS_AB, utc(2026, 1, 19, 8, 59), (A,)),
    ("two-week shift b", TWO_WEEKS_AB, utc(2026, 1, 19, 9), (B,)),
    ("two-day shift still a", TWO_DAYS_AB, utc(2026, 1, 6, 20), (A,)),
    ("two-day shift b", TWO_DAYS_AB, utc(2026, 1, 7, 9), (B,)),
    # custom 12h from Jan 5 08:00: 08:00 a, 20:00 b, next 08:00 c, 20:00 a.
    ("custom first", CUSTOM_12H, utc(2026, 1, 5, 8), (A,)),
    ("custom evening", CUSTOM_12H, utc(2026, 1, 5, 20), (B,)),
    ("custom next morning", CUSTOM_12H, utc(2026, 1, 6, 8), (C,)),
    ("custom wraps", CUSTOM_12H, utc(2026, 1, 6, 20), (A,)),
    ("custom before start", CUSTOM_12H, utc(2026, 1, 5, 7, 59), (C,)),
    # business-hours x over a 24/7 daily a,b
    ("business hours win", BUSINESS_OVER_247, utc(2026, 1, 5, 10), (X,)),
    ("after hours: base shows", BUSINESS_OVER_247, utc(2026, 1, 5, 17), (A,)),
    ("before hours: base k=-1", BUSINESS_OVER_247, utc(2026, 1, 5, 8), (B,)),
    ("saturday: base only", BUSINESS_OVER_247, utc(2026, 1, 10, 10), (B,)),  # k=5
    # overnight window starting fridays 22:00 until 06:00
    ("overnight window on", NIGHT_OVER_BASE, utc(2026, 1, 9, 23), (N,)),
    ("overnight window past midnight", NIGHT_OVER_BASE, utc(2026, 1, 10, 5, 59), (N,)),
    ("overnight window over", NIGHT_OVER_BASE, utc(2026, 1, 10, 6), (A,)),
    ("before the window", NIGHT_OVER_BASE, utc(2026, 1, 9, 21, 59), (A,)),
    ("thursday not listed", NIGHT_OVER_BASE, utc(2026, 1, 8, 23), (A,)),
    ("sunday night not listed", NIGHT_OVER_BASE, utc(2026, 1, 11, 2), (A,)),
    # Sat 2026-03-28 22:00 CET (21:00 UTC) to Sun 06:00 CEST (04:00 UTC): 7 hours over the change.
    ("overnight window over DST: on", NIGHT_BERLIN, utc(2026, 3, 28, 21), (N,)),
    ("overnight window over DST: still on", NIGHT_BERLIN, utc(2026, 3, 29, 3, 59), (N,)),
    ("overnight window over DST: off at 06:00 CEST", NIGHT_BERLIN, utc(2026, 3, 29, 4), ()),
    ("overnight window over DST: off before", NIGHT_BERLIN, utc(2026, 3, 28, 20, 59), ()),
    ("monday window", MON_WED_ONLY, utc(2026, 1, 5, 10), (X,)),
    ("tuesday: nobody", MON_WED_ONLY, utc(2026, 1, 6, 10), ()),
    ("wednesday short window", MON_WED_ONLY, utc(2026, 1, 7, 14), (X,)),
    ("wednesday outside it", MON_WED_ONLY, utc(2026, 1, 7, 10), ()),
    # follow-the-sun: London 08-17 (GMT in January), Chicago 08-17 (CST = UTC-6: 14-23 UTC).
    ("europe morning", FOLLOW_THE_SUN, utc(2026, 1, 7, 9), (EU1,)),
    ("overlap: chicago is higher", FOLLOW_THE_SUN, utc(2026, 1, 7, 15), (US1,)),
    ("after chicago: gap", FOLLOW_THE_SUN, utc(2026, 1, 7, 23, 30), ()),
    ("europe second week", FOLLOW_THE_SUN, utc(2026, 1, 12, 8), (EU2,)),
    ("chicago still week one", FOLLOW_THE_SUN, utc(2026, 1, 12, 13, 59), (EU2,)),  # not 08:00 CST yet
    ("chicago week two", FOLLOW_THE_SUN, utc(2026, 1, 12, 14), (US2,)),
    # July: BST (UTC+1) and CDT (UTC-5); week 26 from Jan 5 (even: eu1/us1).
    ("july: london 08:00 BST", FOLLOW_THE_SUN, utc(2026, 7, 8, 7), (EU1,)),
    ("july: before london", FOLLOW_THE_SUN, utc(2026, 7, 8, 6, 59), ()),
    ("july: chicago 08:00 CDT", FOLLOW_THE_SUN, utc(2026, 7, 8, 13), (US1,)),
    ("july: chicago until 22:00 UTC", FOLLOW_THE_SUN, utc(2026, 7, 8, 22), ()),
    ("any zone in, same answer", FOLLOW_THE_SUN, local("America/Chicago", 2026, 7, 8, 16), (US1,)),
]


@pytest.mark.parametrize("schedule, at, expected", [c[1:] for c in ON_CALL], ids=[c[0] for c in ON_CALL])
def test_on_call_at(schedule, at, expected):
    assert on_call_at(schedule, at) == expected


def _handoffs(zone, rotation="daily", handoff="09:00", start="2026-01-05", length=None, people=(A, B)):
    extra = {"length": length} if length else {}
    return schedule(layer(rotation, participants=people, start=start, handoff=handoff, **extra),
                    time_zone=zone)


DST = [
    # Berlin springs forward 2026-03-29 02:00 CET -> 03:00 CEST: 09:00 is 08:00 UTC, then 07:00 UTC.
    ("berlin spring, 09:00 stays local", _handoffs("Europe/Berlin", start="2026-03-27"),
     utc(2026, 3, 28), utc(2026, 3, 31),
     [(utc(2026, 3, 28, 8), A, B), (utc(2026, 3, 29, 7), B, A), (utc(2026, 3, 30, 7), A, B)]),
    # Berlin falls back 2026-10-25 03:00 CEST -> 02:00 CET: 09:00 is 07:00 UTC, then 08:00 UTC.
    ("berlin autumn, 09:00 stays local", _handoffs("Europe/Berlin", start="2026-10-23"),
     utc(2026, 10, 24), utc(2026, 10, 27),
     [(utc(2026, 10, 24, 7), A, B), (utc(2026, 10, 25, 8), B, A), (utc(2026, 10, 26, 8), A, B)]),
    # New York 2026-03-08: EST (UTC-5) -> EDT (UTC-4).
    ("new york spring", _handoffs("America/New_York", start="2026-03-06"),
     utc(2026, 3, 7), utc(2026, 3, 10),
     [(utc(2026, 3, 7, 14), A, B), (utc(2026, 3, 8, 13), B, A), (utc(2026, 3, 9, 13), A, B)]),
    ("new york autumn", _handoffs("America/New_York", start="2026-10-30"),
     utc(2026, 10, 31), utc(2026, 11, 3),
     [(utc(2026, 10, 31, 13), A, B), (utc(2026, 11, 1, 14), B, A), (utc(2026, 11, 2, 14), A, B)]),
    # 02:30 does not exist on 2026-03-29 in Berlin: the handoff is the first instant after the
    # gap, 03:00 CEST = 01:00 UTC. The days around it are 01:30 UTC (CET) and 00:30 UTC (CEST).
    ("berlin 02:30 handoff on spring-forward day", _handoffs("Europe/Berlin", handoff="02:30", start="2026-03-27",
                                                             people=(A, B, C)),
     utc(2026, 3, 28), utc(2026, 3, 31),
     [(utc(2026, 3, 28, 1, 30), A, B), (utc(2026, 3, 29, 1), B, C), (utc(2026, 3, 30, 0, 30), C, A)]),
    ("new york 02:30 handoff on spring-forward day", _handoffs("America/New_York", handoff="02:30",
                                                               start="2026-03-08"),
     utc(2026, 3, 8), utc(2026, 3, 9, 12),
     [(utc(2026, 3, 8, 7), B, A), (utc(2026, 3, 9, 6, 30), A, B)]),
    # 02:30 happens twice on 2026-10-25 in Berlin: the first occurrence (CEST) = 00:30 UTC.
    ("berlin 02:30 handoff on fall-back day", _handoffs("Europe/Berlin", handoff="02:30", start="2026-10-25"),
     utc(2026, 10, 24, 12), utc(2026, 10, 26, 12),
     [(utc(2026, 10, 25, 0, 30), B, A), (utc(2026, 10, 26, 1, 30), A, B)]),
    ("new york 01:30 handoff on fall-back day", _handoffs("America/New_York", handoff="01:30", start="2026-11-01"),
     utc(2026, 10, 31, 12), utc(2026, 11, 2, 12),
     [(utc(2026, 11, 1, 5, 30), B, A), (utc(2026, 11, 2, 6, 30), A, B)]),
    # custom 12h from 2026-03-28 08:00 CET = 07:00 UTC: elapsed time, so 07:00/19:00 UTC forever,
    # which is 09:00/21:00 local once Berlin is on CEST.
    ("berlin custom 12h drifts", _handoffs("Europe/Berlin", "custom", "08:00", "2026-03-28", "12h"),
     utc(2026, 3, 28, 12), utc(2026, 3, 29, 20),
     [(utc(2026, 3, 28, 19), A, B), (utc(2026, 3, 29, 7), B, A), (utc(2026, 3, 29, 19), A, B)]),
    # custom 12h from 2026-10-31 08:00 EDT = 12:00 UTC: 00:00/12:00 UTC, i.e. 07:00/19:00 EST after.
    ("new york custom 12h drifts", _handoffs("America/New_York", "custom", "08:00", "2026-10-31", "12h"),
     utc(2026, 10, 31, 12), utc(2026, 11, 2),
     [(utc(2026, 11, 1, 0), A, B), (utc(2026, 11, 1, 12), B, A), (utc(2026, 11, 2, 0), A, B)]),
]


@pytest.mark.parametrize("schedule, start, end, expected", [c[1:] for c in DST], ids=[c[0] for c in DST])
def test_handoffs_across_dst(schedule, start, end, expected):
    got = handoffs_between(schedule, start, end)
    assert [(h.at, h.outgoing, h.incoming) for h in got] == [(at, (o,), (i,)) for at, o, i in expected]
    assert all(h.at.tzinfo is dt.UTC for h in got)


@pytest.mark.parametrize("zone, day, wall", [
    ("Europe/Berlin", dt.date(2026, 3, 29), "09:00"), ("Europe/Berlin", dt.date(2026, 10, 25), "09:00"),
    ("America/New_York", dt.date(2026, 3, 8), "09:00"), ("America/New_York", dt.date(2026, 11, 1), "09:00"),
])
def test_daily_shift_over_dst_is_23_or_25_hours_and_keeps_its_wall_clock(zone, day, wall):
    sched = _handoffs(zone, start="2026-01-01")
    before = shift_at(sched, local(zone, day.year, day.month, day.day, 8))   # the shift ending this day
    after = shift_at(sched, local(zone, day.year, day.month, day.day, 10))
    assert before.end == after.start
    for s in (before, after):
        assert s.start.astimezone(ZoneInfo(zone)).strftime("%H:%M") == wall
    spring = day.month == 3
    assert before.end - before.start == dt.timedelta(hours=23 if spring else 25)
    assert after.end - after.start == dt.timedelta(hours=24)


PLAN_EDIT = [
    # daily from Jan 5; at Jan 7 12:00 shift k=2. Same `start`, new participants: k % len decides.
    ("as written", (A, B, C), C),
    ("b leaves", (A, C), A),
    ("d joins at the end", (A, B, C, D), C),
    ("order swapped", (C, B, A), A),
    ("single person", (D,), D),
]


@pytest.mark.parametrize("people, expected", [c[1:] for c in PLAN_EDIT], ids=[c[0] for c in PLAN_EDIT])
def test_plan_edit_changes_who_is_on_call_deterministically(people, expected):
    at = utc(2026, 1, 7, 12)
    first = on_call_at(schedule(layer(participants=people)), at)
    again = on_call_at(schedule(layer(participants=people)), at)  # a fresh load, e.g. another replica
    assert first == again == (expected,)


DAILY_AB = schedule(layer())
D5 = utc(2026, 1, 5, 9)


def ov(email, start, end, schedule_id="ops"):
    return Override(schedule_id, email, start, end)


OVERRIDES = [
    ("inside a shift", [ov(O1, utc(2026, 1, 5, 12), utc(2026, 1, 5, 14))], D5, utc(2026, 1, 6, 9),
     [(D5, utc(2026, 1, 5, 12), A, "layer 1"), (utc(2026, 1, 5, 12), utc(2026, 1, 5, 14), O1, "override"),
      (utc(2026, 1, 5, 14), utc(2026, 1, 6, 9), A, "layer 1")]),
    ("across a handoff", [ov(O1, utc(2026, 1, 6, 6), utc(2026, 1, 6, 12))], utc(2026, 1, 6), utc(2026, 1, 6, 18),
     [(utc(2026, 1, 6), utc(2026, 1, 6, 6), A, "layer 1"), (utc(2026, 1, 6, 6), utc(2026, 1, 6, 12), O1, "override"),
      (utc(2026, 1, 6, 12), utc(2026, 1, 6, 18), B, "layer 1")]),
    ("overlapping: later start wins", [ov(O1, utc(2026, 1, 5, 10), utc(2026, 1, 5, 16)),
                                       ov(O2, utc(2026, 1, 5, 12), utc(2026, 1, 5, 14))],
     D5, utc(2026, 1, 5, 17),
     [(D5, utc(2026, 1, 5, 10), A, "layer 1"), (utc(2026, 1, 5, 10), utc(2026, 1, 5, 12), O1, "override"),
      (utc(2026, 1, 5, 12), utc(2026, 1, 5, 14), O2, "override"),
      (utc(2026, 1, 5, 14), utc(2026, 1, 5, 16), O1, "override"), (utc(2026, 1, 5, 16), utc(2026, 1, 5, 17), A, "layer 1")]),
    ("overlapping: order given does not matter", [ov(O2, utc(2026, 1, 5, 12), utc(2026, 1, 5, 14)),
                                                  ov(O1, utc(2026, 1, 5, 10), utc(2026, 1, 5, 16))],
     utc(2026, 1, 5, 11), utc(2026, 1, 5, 15),
     [(utc(2026, 1, 5, 11), utc(2026, 1, 5, 12), O1, "override"), (utc(2026, 1, 5, 12), utc(2026, 1, 5, 14), O2, "override"),
      (utc(2026, 1, 5, 14), utc(2026, 1, 5, 15), O1, "override")]),
    ("same start: the later listed wins", [ov(O1, utc(2026, 1, 5, 10), utc(2026, 1, 5, 12)),
                                           ov(O2, utc(2026, 1, 5, 10), utc(2026, 1, 5, 11))],
     utc(2026, 1, 5, 10), utc(2026, 1, 5, 12),
     [(utc(2026, 1, 5, 10), utc(2026, 1, 5, 11), O2, "override"), (utc(2026, 1, 5, 11), utc(2026, 1, 5, 12), O1, "override")]),
    ("other schedule ignored", [ov(O1, utc(2026, 1, 5, 10), utc(2026, 1, 5, 12), "other")], D5, utc(2026, 1, 5, 18),
     [(D5, utc(2026, 1, 5, 18), A, "layer 1")]),
    ("same person as the layer: merged", [ov(A.upper(), utc(2026, 1, 5, 10), utc(2026, 1, 5, 12))], D5, utc(2026, 1, 5, 18),
     [(D5, utc(2026, 1, 5, 18), A, "layer 1")]),
    ("override extends a shift", [ov(A, utc(2026, 1, 6, 9), utc(2026, 1, 6, 11))], D5, utc(2026, 1, 6, 12),
     [(D5, utc(2026, 1, 6, 11), A, "layer 1"), (utc(2026, 1, 6, 11), utc(2026, 1, 6, 12), B, "layer 1")]),
    ("given in another zone", [ov(O1, local("Europe/Berlin", 2026, 1, 5, 11), local("Europe/Berlin", 2026, 1, 5, 12))],
     D5, utc(2026, 1, 5, 12),
     [(D5, utc(2026, 1, 5, 10), A, "layer 1"), (utc(2026, 1, 5, 10), utc(2026, 1, 5, 11), O1, "override"),
      (utc(2026, 1, 5, 11), utc(2026, 1, 5, 12), A, "layer 1")]),
]


@pytest.mark.parametrize("overrides, start, end, expected", [c[1:] for c in OVERRIDES], ids=[c[0] for c in OVERRIDES])
def test_overrides(overrides, start, end, expected):
    got = shifts_between(DAILY_AB, start, end, overrides)
    assert [(s.start, s.end, s.people, s.source) for s in got] == [(s, e, (p,), src) for s, e, p, src in expected]


GAPS = [
    ("restricted layer alone", MON_WED_ONLY, (), utc(2026, 1, 5), utc(2026, 1, 8),
     [(utc(2026, 1, 5), utc(2026, 1, 5, 9)), (utc(2026, 1, 5, 17), utc(2026, 1, 7, 13)), (utc(2026, 1, 7, 15), utc(2026, 1, 8))]),
    ("override fills part of a gap", MON_WED_ONLY, [ov(O1, utc(2026, 1, 5, 17), utc(2026, 1, 6, 9))], utc(2026, 1, 5), utc(2026, 1, 7),
     [(utc(2026, 1, 5), utc(2026, 1, 5, 9)), (utc(2026, 1, 6, 9), utc(2026, 1, 7))]),
    # 02:00-02:45 Berlin: 01:00-01:45 UTC on the 28th (CET), nothing on the 29th (inside the
    # skipped hour both ends map to 03:00 CEST), 00:00-00:45 UTC on the 30th (CEST).
    ("window inside the spring-forward gap is empty", SPRING_GAP_WINDOW, (), utc(2026, 3, 28), utc(2026, 3, 30, 12),
     [(utc(2026, 3, 28), utc(2026, 3, 28, 1)), (utc(2026, 3, 28, 1, 45), utc(2026, 3, 30)),
      (utc(2026, 3, 30, 0, 45), utc(2026, 3, 30, 12))]),
    ("24/7 base: no gaps", BUSINESS_OVER_247, (), utc(2026, 1, 5), utc(2026, 1, 12), []),
    ("follow-the-sun night gap", FOLLOW_THE_SUN, (), utc(2026, 1, 7), utc(2026, 1, 8),
     [(utc(2026, 1, 7), utc(2026, 1, 7, 8)), (utc(2026, 1, 7, 23), utc(2026, 1, 8))]),
]


@pytest.mark.parametrize("schedule, overrides, start, end, expected", [c[1:] for c in GAPS], ids=[c[0] for c in GAPS])
def test_gaps(schedule, overrides, start, end, expected):
    got = gaps_between(schedule, start, end, overrides)
    assert [(g.start, g.end, g.people, g.source) for g in got] == [(s, e, (), "") for s, e in expected]


HANDOFFS = [
    ("gap ends and starts", MON_WED_ONLY, utc(2026, 1, 5), utc(2026, 1, 6),
     [Handoff(utc(2026, 1, 5, 9), (), (X,)), Handoff(utc(2026, 1, 5, 17), (X,), ())]),
    ("start excluded, end included", MON_WED_ONLY, utc(2026, 1, 5, 9), utc(2026, 1, 5, 17),
     [Handoff(utc(2026, 1, 5, 17), (X,), ())]),
    ("business hours over 24/7", BUSINESS_OVER_247, utc(2026, 1, 5, 8), utc(2026, 1, 6, 8),
     [Handoff(utc(2026, 1, 5, 9), (B,), (X,)), Handoff(utc(2026, 1, 5, 17), (X,), (A,))]),
    ("weekly: one in a week", WEEKLY_AB, utc(2026, 1, 6), utc(2026, 1, 13),
     [Handoff(utc(2026, 1, 12, 9), (A,), (B,))]),
    ("nothing changes", WEEKLY_AB, utc(2026, 1, 6), utc(2026, 1, 12, 8, 59), []),
]


@pytest.mark.parametrize("schedule, start, end, expected", [c[1:] for c in HANDOFFS], ids=[c[0] for c in HANDOFFS])
def test_handoffs(schedule, start, end, expected):
    assert handoffs_between(schedule, start, end) == expected


def test_shifts_cover_the_window_exactly_and_merge_same_people():
    spans = shifts_between(BUSINESS_OVER_247, utc(2026, 1, 9, 12), utc(2026, 1, 12, 10))
    assert [(s.start, s.end, s.people, s.source) for s in spans] == [
        (utc(2026, 1, 9, 12), utc(2026, 1, 9, 17), (X,), "layer 2"),
        (utc(2026, 1, 9, 17), utc(2026, 1, 10, 9), (A,), "layer 1"),     # Fri k=4
        (utc(2026, 1, 10, 9), utc(2026, 1, 11, 9), (B,), "layer 1"),
        (utc(2026, 1, 11, 9), utc(2026, 1, 12, 9), (A,), "layer 1"),
        (utc(2026, 1, 12, 9), utc(2026, 1, 12, 10), (X,), "layer 2"),
    ]
    weekly_x = schedule(layer("daily", participants=(X,)))  # one person, daily shifts: one span
    assert shifts_between(weekly_x, utc(2026, 1, 5), utc(2026, 1, 12)) == [
        Shift(utc(2026, 1, 5), utc(2026, 1, 12), (X,), "layer 1")]


def test_shift_at_finds_the_whole_span():
    assert shift_at(DAILY_AB, utc(2026, 1, 5, 12)) == Shift(D5, utc(2026, 1, 6, 9), (A,), "layer 1")
    assert shift_at(WEEKLY_AB, local("Europe/Berlin", 2026, 1, 20)) == \
        Shift(utc(2026, 1, 19, 9), utc(2026, 1, 26, 9), (A,), "layer 1")
    assert shift_at(MON_WED_ONLY, utc(2026, 1, 6, 12)) == Shift(utc(2026, 1, 5, 17), utc(2026, 1, 7, 13), (), "")
    override = [ov(O1, utc(2026, 1, 5, 12), utc(2026, 1, 5, 14))]
    assert shift_at(DAILY_AB, utc(2026, 1, 5, 13), override) == \
        Shift(utc(2026, 1, 5, 12), utc(2026, 1, 5, 14), (O1,), "override")


def test_shift_at_clips_an_endless_span_at_90_days():
    at = utc(2026, 6, 1, 12)
    only_x = schedule(layer("weekly", participants=(X,)))
    assert shift_at(only_x, at) == Shift(at - dt.timedelta(days=90), at + dt.timedelta(days=90), (X,), "layer 1")


def test_naive_times_are_refused():
    with pytest.raises(ValueError, match="timezone-aware"):
        on_call_at(DAILY_AB, dt.datetime(2026, 1, 5, 12))
    assert shifts_between(DAILY_AB, utc(2026, 1, 6), utc(2026, 1, 5)) == []


EXAMPLE = [
    # platform-primary: weekly Berlin Monday 09:00 (tom, sofia, lukas) from 2026-01-05; week 8 -> lukas.
    ("platform-primary", utc(2026, 3, 2, 7, 59), ("sofia.martins@contoso.com",)),
    ("platform-primary", utc(2026, 3, 2, 8), ("lukas.nowak@contoso.com",)),
    # business-hours layer in Denver (MST, UTC-7: 16:00-00:00 UTC), day 56 from Jan 5 -> diego.
    ("platform-primary", utc(2026, 3, 2, 16), ("diego.hernandez@contoso.com",)),
    ("platform-primary", utc(2026, 3, 3, 16), ("grace.kim@contoso.com",)),
    ("platform-primary", utc(2026, 3, 7, 17), ("lukas.nowak@contoso.com",)),  # Saturday: base only
    # tier1 follow-the-sun: London 08-17, Chicago 08-20 on top; week 8 -> priya / aisha.
    ("tier1-follow-the-sun", utc(2026, 3, 2, 9), ("priya.raman@contoso.com",)),
    ("tier1-follow-the-sun", utc(2026, 3, 2, 15), ("aisha.patel@contoso.com",)),
    ("tier1-follow-the-sun", utc(2026, 3, 2, 3), ()),  # 21:00 in Chicago, 03:00 in London
    # 2026-03-09: Chicago is on CDT, London still GMT; Chicago's Monday 08:00 handoff is 13:00 UTC.
    ("tier1-follow-the-sun", utc(2026, 3, 9, 12, 59), ("tom.becker@contoso.com",)),
    ("tier1-follow-the-sun", utc(2026, 3, 9, 13), ("marcus.johnson@contoso.com",)),
]


@pytest.mark.parametrize("schedule_id, at, expected", EXAMPLE)
def test_example_plan_schedules(schedule_id, at, expected):
    plan = load_plan(EXAMPLE_PLAN)
    assert on_call_at(plan.schedule(schedule_id), at) == expected

"""Who is on call when: resolve a schedule's layers, restrictions and overrides into spans.

The plan model (`bot.plan_oncall`) describes a schedule; this module answers questions about
it. Everything here is pure: no clock (callers pass the instants), no I/O, no botbuilder, so
the same answers serve the escalation tick, the gap warnings, the handoff digests and the
calendar feed.

Rules, in the order they are applied:

- A layer rotates its participants; shift k (negative before `start`) goes to
  `participants[k % len]`. Daily and weekly shifts start at `handoff` local time on
  `start + k*days` in the layer's zone (wall-clock handoffs: a daily shift over a DST change is
  23h or 25h long). `custom` shifts start at local(start, handoff) + k*length of elapsed time,
  so their wall-clock handoff drifts by an hour across a DST change.
- Local times that do not exist (the spring-forward gap) happen at the first instant after the
  gap: a 02:30 handoff on a day when 02:00-03:00 is skipped happens at 03:00. Local times that
  happen twice (fall-back) happen at the first occurrence (`fold=0`). Either way every local
  time maps to one instant, so two runs, two replicas or a restart agree on who is on call.
- Restrictions: a layer has someone on call only inside one of its windows (each listed weekday,
  `from` to `to` local time, past midnight when `to <= from`); outside them a lower layer shows
  through.
- The last (highest) layer with someone on call wins. Overrides win over every layer; where two
  overrides overlap the later-starting one wins (on equal starts, the later in the sequence),
  because the newer arrangement is the one people made last and expect to be honoured.

Computation walks shift boundaries and restriction windows, never minute by minute: a 7-day
`shifts_between` for a few layers is a few dozen boundaries, cheap enough for a 1-second tick.
"""
from __future__ import annotations

import bisect
import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from itertools import pairwise
from zoneinfo import ZoneInfo

from bot.plan_oncall import WEEKDAYS, Layer, Restriction, Schedule

UTC = dt.UTC
_TICK = dt.timedelta(microseconds=1)
_HORIZON = dt.timedelta(days=90)
"""How far `shift_at` looks either side for a span's ends; a longer span is clipped there."""


@dataclass(frozen=True)
class Override:
    """A stored override: `email` is on call for `schedule_id` in [start, end) (tz-aware)."""

    schedule_id: str
    email: str
    start: dt.datetime
    end: dt.datetime


@dataclass(frozen=True)
class Shift:
    """A maximal span [start, end) with the same people on call; `people == ()` is a gap.

    `source` says why: "override", "layer N" (1-based, lowest first, as listed in the plan) or
    "" for a gap. When adjacent pieces with the same people are merged (an override for the
    person already on call), the span keeps the source of its first piece.
    """

    start: dt.datetime
    end: dt.datetime
    people: tuple[str, ...]
    source: str


@dataclass(frozen=True)
class Handoff:
    """The people on call change at `at`; an empty side means a gap starts or ends."""

    at: dt.datetime
    outgoing: tuple[str, ...]
    incoming: tuple[str, ...]


# --- local time -> instant ----------------------------------------------------------------------

@lru_cache(maxsize=8192)
def _instant(day: dt.date, time: dt.time, zone: str) -> dt.datetime:
    """The UTC instant of local `day time` in `zone`, with the gap/fold rules in the module doc.

    Cached: the same handoffs and window edges are asked for on every tick.
    """
    tz = ZoneInfo(zone)
    naive = dt.datetime.combine(day, time)
    first = naive.replace(tzinfo=tz, fold=0)
    utc = first.astimezone(UTC)
    if utc.astimezone(tz).replace(tzinfo=None) == naive:
        return utc  # exists (fold=0 is the first occurrence when it happens twice)
    # In a gap. fold=1 reads it with the offset after the change, fold=0 with the one before,
    # so the change happened between the two readings; find its exact second by bisection.
    lo, hi = naive.replace(tzinfo=tz, fold=1).astimezone(UTC), utc
    if lo > hi:
        lo, hi = hi, lo
    after = hi.astimezone(tz).utcoffset()
    while hi - lo > dt.timedelta(seconds=1):
        mid = lo + (hi - lo) / 2
        if mid.astimezone(tz).utcoffset() == after:
            hi = mid
        else:
            lo = mid
    return hi.replace(microsecond=0)  # zone changes fall on whole seconds; hi is within 1 s after


def _zone(schedule: Schedule, layer: Layer) -> str:
    return layer.time_zone or schedule.time_zone


def _local_date(at: dt.datetime, zone: str) -> dt.date:
    return at.astimezone(ZoneInfo(zone)).date()


# --- one layer ----------------------------------------------------------------------------------

def _shift_start(layer: Layer, zone: str, k: int) -> dt.datetime:
    """When shift k of the layer starts (wall-clock for daily/weekly, elapsed for custom)."""
    if layer.rotation == "custom":
        return _instant(layer.start, layer.handoff, zone) + k * layer.shift
    return _instant(layer.start + dt.timedelta(days=k * layer.shift.days), layer.handoff, zone)


def _shift_index(layer: Layer, zone: str, at: dt.datetime) -> int:
    """The k whose shift contains `at`."""
    if layer.rotation == "custom":
        return (at - _instant(layer.start, layer.handoff, zone)) // layer.shift
    k = (_local_date(at, zone) - layer.start).days // layer.shift.days
    # The local date is a guess off by at most one shift (before today's handoff, or a shift
    # boundary moved by the gap rule); shift starts are strictly increasing, so step to it.
    while _shift_start(layer, zone, k) > at:
        k -= 1
    while _shift_start(layer, zone, k + 1) <= at:
        k += 1
    return k


def _windows(restrictions: Sequence[Restriction], zone: str, lo: dt.datetime,
             hi: dt.datetime) -> list[tuple[dt.datetime, dt.datetime]]:
    """The restriction windows meeting [lo, hi), merged where they overlap or touch."""
    found = []
    day = _local_date(lo, zone) - dt.timedelta(days=1)  # an overnight window from the day before
    last = _local_date(hi, zone)
    while day <= last:
        weekday = WEEKDAYS[day.weekday()]
        for r in restrictions:
            if weekday not in r.days:
                continue
            start = _instant(day, r.start, zone)
            end_day = day + dt.timedelta(days=1) if r.end <= r.start else day
            end = _instant(end_day, r.end, zone)
            # A window squeezed to nothing by the gap rule (02:00-02:30 on spring-forward) is empty.
            if end > start and end > lo and start < hi:
                found.append((max(start, lo), min(end, hi)))
        day += dt.timedelta(days=1)
    found.sort()
    merged: list[tuple[dt.datetime, dt.datetime]] = []
    for start, end in found:
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def _layer_spans(schedule: Schedule, layer: Layer, lo: dt.datetime,
                 hi: dt.datetime) -> list[tuple[dt.datetime, dt.datetime, str]]:
    """(start, end, email) for each stretch in [lo, hi) when this layer has someone on call."""
    zone = _zone(schedule, layer)
    people = layer.participants
    spans = []
    k = _shift_index(layer, zone, lo)
    start = _shift_start(layer, zone, k)
    while start < hi:
        end = _shift_start(layer, zone, k + 1)
        spans.append((max(start, lo), min(end, hi), people[k % len(people)]))
        k, start = k + 1, end
    if not layer.restrictions:
        return spans
    windows = _windows(layer.restrictions, zone, lo, hi)
    clipped = []
    i = 0
    for s, e, who in spans:  # both lists are sorted: a linear sweep intersects them
        while i < len(windows) and windows[i][1] <= s:
            i += 1
        j = i
        while j < len(windows) and windows[j][0] < e:
            a, b = max(s, windows[j][0]), min(e, windows[j][1])
            if a < b:
                clipped.append((a, b, who))
            j += 1
    return clipped


# --- the whole schedule -------------------------------------------------------------------------

def _utc(value: dt.datetime, name: str) -> dt.datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"`{name}` must be timezone-aware (got {value!r})")
    return value.astimezone(UTC)


def _relevant(schedule: Schedule, overrides: Sequence[Override], lo: dt.datetime,
              hi: dt.datetime) -> list[tuple[dt.datetime, dt.datetime, str]]:
    """This schedule's overrides meeting [lo, hi), ordered so the winner is the last to cover."""
    keyed = []
    for index, o in enumerate(overrides):
        if o.schedule_id != schedule.id:
            continue
        start, end = _utc(o.start, "override start"), _utc(o.end, "override end")
        if end > lo and start < hi and end > start:
            keyed.append((start, index, end, o.email.lower()))
    keyed.sort()
    return [(start, end, email) for start, _, end, email in keyed]


def _pieces(schedule: Schedule, lo: dt.datetime, hi: dt.datetime,
            overrides: Sequence[Override]) -> list[Shift]:
    """Unmerged spans covering [lo, hi): cut at every boundary of every layer and override."""
    layers = [_layer_spans(schedule, layer, lo, hi) for layer in schedule.layers]
    starts = [[s for s, _, _ in spans] for spans in layers]
    mine = _relevant(schedule, overrides, lo, hi)
    cuts = {lo, hi}
    for spans in layers:
        for s, e, _ in spans:
            cuts.update((s, e))
    for s, e, _ in mine:
        cuts.update((max(s, lo), min(e, hi)))
    points = sorted(cuts)
    pieces = []
    for a, b in pairwise(points):
        pieces.append(Shift(a, b, *_winner(a, layers, starts, mine)))
    return pieces


def _winner(at, layers, starts, mine) -> tuple[tuple[str, ...], str]:
    for s, e, email in reversed(mine):
        if s <= at < e:
            return (email,), "override"
    for number in range(len(layers), 0, -1):
        i = bisect.bisect_right(starts[number - 1], at) - 1
        if i >= 0:
            s, e, email = layers[number - 1][i]
            if s <= at < e:
                return (email,), f"layer {number}"
    return (), ""


def shifts_between(schedule: Schedule, start: dt.datetime, end: dt.datetime,
                   overrides: Sequence[Override] = ()) -> list[Shift]:
    """Contiguous spans covering exactly [start, end) (first and last clipped), merged by people.

    Gaps are included as spans with `people == ()`, so a caller can render the whole window.
    """
    lo, hi = _utc(start, "start"), _utc(end, "end")
    if hi <= lo:
        return []
    merged: list[Shift] = []
    for piece in _pieces(schedule, lo, hi, overrides):
        if merged and merged[-1].people == piece.people:
            last = merged[-1]
            merged[-1] = Shift(last.start, piece.end, last.people, last.source)
        else:
            merged.append(piece)
    return merged


def on_call_at(schedule: Schedule, at: dt.datetime,
               overrides: Sequence[Override] = ()) -> tuple[str, ...]:
    """The people on call at `at` (empty when nobody is: a gap)."""
    at = _utc(at, "at")
    return _pieces(schedule, at, at + _TICK, overrides)[0].people


def shift_at(schedule: Schedule, at: dt.datetime, overrides: Sequence[Override] = ()) -> Shift:
    """The maximal span containing `at`, looking up to 90 days either side for its ends.

    The window grows (doubling) only in the direction where the span still touches its edge,
    so the usual case costs one short `shifts_between`.
    """
    at = _utc(at, "at")
    longest = max(layer.shift for layer in schedule.layers)
    before = after = longest + dt.timedelta(days=2)
    while True:
        spans = shifts_between(schedule, at - before, at + after, overrides)
        found = next(s for s in spans if s.start <= at < s.end)
        grew = False
        if found.start == at - before and before < _HORIZON:
            before, grew = min(before * 2, _HORIZON), True
        if found.end == at + after and after < _HORIZON:
            after, grew = min(after * 2, _HORIZON), True
        if not grew:
            return found


def gaps_between(schedule: Schedule, start: dt.datetime, end: dt.datetime,
                 overrides: Sequence[Override] = ()) -> list[Shift]:
    """The spans in [start, end) when nobody is on call (for the owner's gap warnings)."""
    return [s for s in shifts_between(schedule, start, end, overrides) if not s.people]


def handoffs_between(schedule: Schedule, start: dt.datetime, end: dt.datetime,
                     overrides: Sequence[Override] = ()) -> list[Handoff]:
    """Every change of people in (start, end], including a gap starting or ending."""
    lo, hi = _utc(start, "start"), _utc(end, "end")
    spans = shifts_between(schedule, lo, hi + _TICK, overrides)
    return [Handoff(b.start, a.people, b.people) for a, b in pairwise(spans)
            if lo < b.start <= hi]

"""On-call in the response plan: schedules, escalation policies and paging defaults.

A schedule is a stack of layers; each layer is a rotation of participants with a shift length
and a handoff time in its own time zone, optionally restricted to some hours of some days. At
any instant the last layer that has someone on call wins (a business-hours layer over a 24/7
one); overrides made in Teams win over every layer. Follow-the-sun is three layers, each
restricted to working hours in its own zone.

Daily and weekly shifts hand off at the same local wall-clock time every day, across daylight
saving changes; `custom` shifts are a fixed number of hours of elapsed time. The resolution
itself is in `bot.domain.oncall`; this module only describes and validates.
"""
from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, PlainSerializer, PlainValidator, WithJsonSchema, model_validator

from bot.durations import Duration
from bot.plan_fields import FieldProblem, Email, Slug, Text, TimeZoneName

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_CLOCK = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")
TARGET_PATTERN = r"^(person:[^@\s]+@[^@\s]+\.[^@\s]+|schedule:[a-z0-9][a-z0-9_-]*|group:[a-z0-9][a-z0-9_-]*|role:incident_manager)$"


def _clock_time(value: object) -> dt.time:
    if isinstance(value, dt.time):
        return value
    match = _CLOCK.match(value.strip()) if isinstance(value, str) else None
    if match is None:
        raise FieldProblem(f"`{value}` is not a time of day", fix='write it as "HH:MM" in 24-hour time, e.g. "09:00"')
    return dt.time(int(match.group(1)), int(match.group(2)))


ClockTime = Annotated[
    dt.time,
    PlainValidator(_clock_time),
    PlainSerializer(lambda t: t.strftime("%H:%M"), return_type=str),
    WithJsonSchema({"type": "string", "pattern": r"^([01]?\d|2[0-3]):[0-5]\d$",
                    "description": "A local time of day, 24-hour: 09:00, 17:30."}),
]
"""A time of day, written "HH:MM"."""

Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]

def _target(value: object) -> str:
    text = value.strip() if isinstance(value, str) else value
    if not isinstance(text, str) or not re.match(TARGET_PATTERN, text.lower() if text.startswith("person:") else text):
        raise FieldProblem(f"`{value}` is not a page target",
                           fix="write person:EMAIL, schedule:ID, group:ID or role:incident_manager")
    return text.lower() if text.startswith("person:") else text


Target = Annotated[
    str, PlainValidator(_target),
    WithJsonSchema({"type": "string", "pattern": TARGET_PATTERN,
                    "description": "person:EMAIL, schedule:ID, group:ID or role:incident_manager"}),
]
"""Who a level pages: `person:EMAIL`, `schedule:ID`, `group:ID` or `role:incident_manager`."""


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", use_attribute_docstrings=True)


class Restriction(_Frozen):
    """A window when the layer is on: some weekdays, from one local time to another."""

    days: tuple[Weekday, ...] = WEEKDAYS
    """Weekdays the window starts on (mon..sun); all days if omitted."""
    start: ClockTime = Field(alias="from")
    """Local start time, e.g. "09:00"."""
    end: ClockTime = Field(alias="to")
    """Local end time, e.g. "17:00"; earlier than `from` means the window runs past midnight."""

    model_config = ConfigDict(frozen=True, extra="forbid", use_attribute_docstrings=True, populate_by_name=True)

    @model_validator(mode="after")
    def _not_empty(self) -> Restriction:
        if self.start == self.end:
            raise FieldProblem("`from` and `to` are the same time, so the window is empty",
                               fix='give a window such as from: "09:00", to: "17:00"')
        return self


class Layer(_Frozen):
    """One rotation of participants; later layers override earlier ones where they have someone."""

    rotation: Literal["daily", "weekly", "custom"]
    """daily: one day per shift; weekly: seven days; custom: `length` of elapsed time."""
    length: Duration | None = None
    """Shift length for `custom` (e.g. 12h); for daily/weekly, how many days/weeks (1d, 2w)."""
    handoff: ClockTime = dt.time(9, 0)
    """Local time shifts change, e.g. "09:00"."""
    start: dt.date
    """The date the first participant's first shift starts (at `handoff`), e.g. 2026-01-05."""
    participants: tuple[Email, ...] = Field(min_length=1)
    """E-mails of the people taking turns, in order."""
    restrictions: tuple[Restriction, ...] = ()
    """Windows when this layer is on call; always, if omitted."""
    time_zone: TimeZoneName | None = None
    """The layer's own zone (follow-the-sun); the schedule's zone if omitted."""

    @model_validator(mode="after")
    def _length_fits_rotation(self) -> Layer:
        if self.rotation == "custom" and self.length is None:
            raise FieldProblem("a custom rotation needs a `length`", fix="add e.g. `length: 12h`")
        unit = {"daily": dt.timedelta(days=1), "weekly": dt.timedelta(weeks=1)}.get(self.rotation)
        if unit is not None and self.length is not None and self.length % unit:
            raise FieldProblem(f"a {self.rotation} rotation's length must be whole {'days' if unit.days == 1 else 'weeks'}",
                               fix="use e.g. 1d, 2d (daily) or 1w, 2w (weekly), or `rotation: custom`")
        return self

    @property
    def shift(self) -> dt.timedelta:
        """The shift length (one day or week unless `length` says more)."""
        if self.length is not None:
            return self.length
        return dt.timedelta(days=1) if self.rotation == "daily" else dt.timedelta(weeks=1)


class Schedule(_Frozen):
    """Who is on call when: layers of rotations, plus overrides made in Teams."""

    id: Slug
    name: Text
    time_zone: TimeZoneName
    """The zone handoffs and restrictions are written in (unless a layer has its own)."""
    owner: Email
    """Who keeps the schedule staffed; warned about gaps in the next 7 days."""
    group: Slug | None = None
    """The group asked for a volunteer when someone says `cover me`."""
    layers: tuple[Layer, ...] = Field(min_length=1)
    """Lowest first; a later layer overrides earlier ones whenever it has someone on call."""


class Level(_Frozen):
    """One escalation level: who is paged, and how long they have before the next level."""

    targets: tuple[Target, ...] = Field(min_length=1)
    """person:EMAIL, schedule:ID (whoever is on call then), group:ID (every member), role:incident_manager."""
    after: Duration
    """How long to wait for an acknowledgement before the next level, e.g. 5m (20s in drills)."""


class EscalationPolicy(_Frozen):
    """Ordered levels, repeated, then a final notification; a service names its policy."""

    id: Slug
    name: Text | None = None
    levels: tuple[Level, ...] = Field(min_length=1)
    repeat: int = Field(0, ge=0, le=10)
    """How many more times to run all levels when nobody acknowledges (0: once through)."""
    finally_notify: tuple[Target, ...] = ("role:incident_manager",)
    """Who is told when the policy is exhausted unacknowledged (default: the incident manager)."""


class Paging(_Frozen):
    """Defaults for pages sent by hand (`page @person`, `page schedule:ID`, `page group:ID`)."""

    default_timeout: Duration = dt.timedelta(minutes=5)
    """How long a one-level page waits for an acknowledgement before telling the incident manager."""
    ack_link_valid: Duration = dt.timedelta(hours=24)
    """How long the one-click acknowledge link in an e-mail page stays valid."""
